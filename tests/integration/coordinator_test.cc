// The coordinator over real CURVE sockets, driven by hand-written clients:
// every kind of bad message gets its specific REJECT and never changes the
// global model; a client that vanishes mid-round is dropped and the round
// completes with the others when the quorum holds.
#include "coordinator/coordinator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/codec/values.h"
#include "transport/curve_socket.h"
#include "tests/testing/coordinator_thread.h"
#include "tests/testing/temp_dir.h"

namespace fsd::coordinator {
namespace {

constexpr std::uint64_t kFingerprint = 0xfeedULL;
constexpr std::size_t kDim = 5;
constexpr std::size_t kClasses = 2;

class CoordinatorTest : public ::testing::Test {
 protected:
  void Start(int clients, double quorum, double client_timeout_s = 30.0,
             const std::function<void(CoordinatorOptions&)>& adjust = {}) {
    CoordinatorOptions options;
    options.federation.rounds = 1;
    options.federation.quorum = quorum;
    options.transport.client_timeout_s = client_timeout_s;
    options.schema_fingerprint = kFingerprint;
    options.num_classes = kClasses;
    options.out_dir = dir_.path();
    if (adjust) adjust(options);
    server_.emplace(context_, clients, options, std::vector<float>(kDim, 1.0f));
    coordinator_ = &server_->coordinator();
  }

  // Waits at most 60 s for the coordinator to finish its rounds; false (and
  // the coordinator stopped) when it did not.
  bool Finish() { return server_->Finish(); }

  zmq::socket_t Connect(int client) {
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    transport::ConfigureCurveClient(dealer, server_->client_keys(client),
                                  server_->server_keys().public_z85, {});
    dealer.connect(server_->endpoint());
    return dealer;
  }

  static void Send(zmq::socket_t& socket, const wire::Message& message) {
    const auto frame = wire::EncodeFrame(message);
    socket.send(zmq::buffer(frame), zmq::send_flags::none);
  }

  static wire::Message Receive(zmq::socket_t& socket) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(10000)), 1) << "no reply";
    zmq::message_t message;
    EXPECT_TRUE(socket.recv(message, zmq::recv_flags::dontwait));
    auto decoded = wire::DecodeFrame({message.data<std::uint8_t>(), message.size()}, {});
    EXPECT_TRUE(decoded.ok());
    return decoded.ok() ? decoded.value() : wire::Message{};
  }

  static wire::RejectCode ExpectReject(zmq::socket_t& socket) {
    const auto reply = Receive(socket);
    const auto* reject = std::get_if<wire::Reject>(&reply.body);
    EXPECT_NE(reject, nullptr) << "expected REJECT";
    return reject != nullptr ? reject->code : wire::RejectCode::kBusy;
  }

  // A valid update: every value `value`; the summary splits the samples over
  // both classes with mean logits `logit` on the diagonal, 0 elsewhere.
  static wire::Update MakeUpdate(std::int64_t samples, float value, float logit = 1.0f,
                                 std::size_t kept = kDim) {
    return wire::Update{samples,
                        0.5,
                        0,
                        {samples / 2, samples - samples / 2},
                        0,
                        codec::EncodeValues(std::vector<float>(kept, value), {}, {}),
                        {logit, 0.0f, 0.0f, logit},
                        {},
                        {}};
  }

  static std::vector<float> Values(const wire::RoundStart& start, std::size_t kept = kDim) {
    const auto decoded = codec::DecodeValues(start.global_values, std::vector<std::uint64_t>{kept});
    EXPECT_TRUE(decoded.ok()) << decoded.reject().text;
    return decoded.ok() ? decoded.value() : std::vector<float>{};
  }

  testing::TempDir dir_;
  zmq::context_t context_;
  std::optional<testing::CoordinatorThread> server_;
  Coordinator* coordinator_ = nullptr;  // server_'s
};

TEST_F(CoordinatorTest, RejectsEveryBadMessageAndAggregatesOnlyTheValidUpdate) {
  // Many refused UPDATEs in a row: more than a client may send before it
  // is left out of the round (limits.max_refused_updates), so raise it.
  Start(/*clients=*/1, /*quorum=*/1.0, 30.0,
        [](CoordinatorOptions& options) { options.limits.max_refused_updates = 100; });
  auto client = Connect(0);

  // Garbage bytes: MALFORMED.
  const std::string garbage = "not an fsd frame at all, just some bytes to fill 64+ chars........";
  client.send(zmq::buffer(garbage), zmq::send_flags::none);
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kMalformed);
  // UPDATE before JOIN: NOT_AUTHORIZED.
  Send(client, {1, MakeUpdate(10, 9.0f)});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kNotAuthorized);
  // JOIN with another model: SCHEMA_MISMATCH.
  Send(client, {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint + 1, 100,
                              "wrong model", 0}});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kSchemaMismatch);
  // JOIN speaking only a future version: UNSUPPORTED_VERSION.
  Send(client, {0, wire::Join{wire::kProtocolVersion + 1, wire::kProtocolVersion + 2, kFingerprint,
                              100, "future", 0}});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kUnsupportedVersion);

  Send(client, {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100,
                              "good", 0}});
  EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(client).body));
  const auto start = Receive(client);
  ASSERT_TRUE(std::holds_alternative<wire::RoundStart>(start.body));
  EXPECT_EQ(start.round, 1u);
  EXPECT_EQ(Values(std::get<wire::RoundStart>(start.body)), std::vector<float>(kDim, 1.0f));

  Send(client, {5, MakeUpdate(10, 9.0f)});  // future round
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kStaleRound);
  Send(client, {0, MakeUpdate(10, 9.0f)});  // past round
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kStaleRound);
  Send(client, {1, MakeUpdate(10, 9.0f, 1.0f, kDim + 1)});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kSchemaMismatch);
  auto not_finite = MakeUpdate(10, 9.0f);
  // A hostile peer's bytes: the encoder itself refuses NaN, so write them raw.
  const std::vector<float> with_nan = {9.0f, NAN, 9.0f, 9.0f, 9.0f};
  not_finite.values.bytes.resize(with_nan.size() * sizeof(float));
  std::memcpy(not_finite.values.bytes.data(), with_nan.data(), not_finite.values.bytes.size());
  Send(client, {1, not_finite});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kNonFinite);
  auto bad_scale = MakeUpdate(10, 9.0f);
  codec::EncodeOptions int8;
  int8.dtype = codec::Dtype::kInt8;
  bad_scale.values =
      codec::EncodeValues(std::vector<float>(kDim, 9.0f), std::vector<std::uint64_t>{kDim}, int8);
  const float negative = -1.0f;
  std::memcpy(bad_scale.values.bytes.data() + 4, &negative, 4);
  Send(client, {1, bad_scale});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kInvalidValue);
  auto other_mask = MakeUpdate(10, 9.0f);
  other_mask.mask_round = 7;
  Send(client, {1, other_mask});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kSchemaMismatch);
  auto three_classes = MakeUpdate(10, 9.0f);
  three_classes.summary_counts = {3, 3, 4};
  three_classes.summary_logits.assign(9, 0.0f);
  Send(client, {1, three_classes});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kSchemaMismatch);
  auto negative_count = MakeUpdate(10, 9.0f);
  negative_count.summary_counts = {-1, 5};
  Send(client, {1, negative_count});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kInvalidValue);
  auto too_many = MakeUpdate(10, 9.0f);
  too_many.summary_counts = {6, 5};  // 11 > the 10 samples of the update
  Send(client, {1, too_many});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kLimitExceeded);
  Send(client, {1, MakeUpdate(101, 9.0f)});  // more samples than declared
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kLimitExceeded);
  Send(client, {1, wire::Welcome{}});  // a coordinator-only message
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kUnexpectedKind);

  Send(client, {1, MakeUpdate(100, 2.0f)});  // the one valid update
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  EXPECT_EQ(coordinator_->committed_round(), 1u);
  EXPECT_EQ(coordinator_->global(), std::vector<float>(kDim, 2.0f));
  const auto counts = coordinator_->reject_counts();
  EXPECT_EQ(counts.at("MALFORMED"), 1);
  EXPECT_EQ(counts.at("STALE_ROUND"), 2);
  EXPECT_EQ(counts.at("NON_FINITE"), 1);
  EXPECT_EQ(counts.at("SCHEMA_MISMATCH"), 4);
  EXPECT_EQ(counts.at("INVALID_VALUE"), 2);
  EXPECT_EQ(counts.at("LIMIT_EXCEEDED"), 2);
}

TEST_F(CoordinatorTest, SendsSoftTargetsFromCountWeightedLogitsAtTheScheduledTemperature) {
  Start(/*clients=*/2, /*quorum=*/1.0, 30.0, [](CoordinatorOptions& options) {
    options.federation.rounds = 2;
    options.temperature = std::make_shared<aggregation::LinearTemperature>(4.0, 2.0);
    options.beta = aggregation::Ramp(0.5, 0.25);
  });
  auto a = Connect(0);
  auto b = Connect(1);
  Send(a,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "a", 0}});
  Send(b,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 300, "b", 0}});
  for (auto* socket : {&a, &b}) {
    EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(*socket).body));
    const auto first = std::get<wire::RoundStart>(Receive(*socket).body);
    EXPECT_DOUBLE_EQ(first.temperature, 4.0);
    EXPECT_DOUBLE_EQ(first.beta, 0.5);
    EXPECT_TRUE(first.soft_targets.empty());  // nothing aggregated yet
  }
  Send(a, {1, MakeUpdate(100, 1.0f, /*logit=*/2.0f)});
  Send(b, {1, MakeUpdate(300, 1.0f, /*logit=*/6.0f)});
  // Count-weighted mean diagonal logit: (50·2 + 150·6) / 200 = 5; at T = 2 the
  // target of label 0 is softmax([5, 0] / 2).
  const double p = 1.0 / (1.0 + std::exp(-2.5));
  for (auto* socket : {&a, &b}) {
    const auto second = Receive(*socket);
    ASSERT_EQ(second.round, 2u);
    const auto& start = std::get<wire::RoundStart>(second.body);
    EXPECT_DOUBLE_EQ(start.temperature, 2.0);
    EXPECT_DOUBLE_EQ(start.beta, 0.25);
    ASSERT_EQ(start.soft_targets.size(), 4u);
    EXPECT_NEAR(start.soft_targets[0], p, 1e-6);
    EXPECT_NEAR(start.soft_targets[1], 1.0 - p, 1e-6);
    EXPECT_NEAR(start.soft_targets[2], 1.0 - p, 1e-6);
    EXPECT_NEAR(start.soft_targets[3], p, 1e-6);
  }
  Send(a, {2, MakeUpdate(100, 1.0f, /*logit=*/1.0f)});
  Send(b, {2, MakeUpdate(300, 1.0f, /*logit=*/1.0f)});
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  EXPECT_EQ(coordinator_->committed_round(), 2u);
  EXPECT_EQ(coordinator_->soft_state().counts, (std::vector<std::int64_t>{200, 200}));
  EXPECT_EQ(coordinator_->soft_state().mean_logits, (std::vector<float>{1.0f, 0.0f, 0.0f, 1.0f}));
  const std::string metrics = testing::ReadFile(dir_.File("metrics.jsonl"));
  // 2 updates × (8 + 2·8 count bytes + 3 × 24 section headers (logits and the
  // two empty private sections) + 4·4 logit bytes).
  EXPECT_NE(metrics.find("\"bytes_up_summary\":224"), std::string::npos) << metrics;
}

TEST_F(CoordinatorTest, DistillationOnlyRoundsCarryNoWeightsAndRefuseUploadedWeights) {
  Start(/*clients=*/1, /*quorum=*/1.0, 30.0, [](CoordinatorOptions& options) {
    options.federation.mode = config::FederationMode::kDistillation;
  });
  auto client = Connect(0);
  Send(client,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "fd", 0}});
  EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(client).body));
  const auto start = std::get<wire::RoundStart>(Receive(client).body);
  EXPECT_EQ(start.global_values.count, 0u);
  Send(client, {1, MakeUpdate(100, 1.0f)});  // carries weights: not in this mode
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kSchemaMismatch);
  auto summary_only = MakeUpdate(100, 1.0f, /*logit=*/3.0f);
  summary_only.values = codec::Encoded{};
  Send(client, {1, summary_only});
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  EXPECT_EQ(coordinator_->committed_round(), 1u);
  EXPECT_TRUE(coordinator_->global().empty());
  EXPECT_EQ(coordinator_->soft_state().mean_logits, (std::vector<float>{3.0f, 0.0f, 0.0f, 3.0f}));
}

TEST_F(CoordinatorTest, RejectsDuplicateUpdateInSameRound) {
  Start(/*clients=*/2, /*quorum=*/1.0);
  auto a = Connect(0);
  auto b = Connect(1);
  Send(a,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "a", 0}});
  Send(b,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 300, "b", 0}});
  for (auto* socket : {&a, &b}) {
    EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(*socket).body));
    EXPECT_TRUE(std::holds_alternative<wire::RoundStart>(Receive(*socket).body));
  }
  Send(a, {1, MakeUpdate(100, 1.0f)});
  Send(a, {1, MakeUpdate(100, 50.0f)});  // replayed / second update
  EXPECT_EQ(ExpectReject(a), wire::RejectCode::kDuplicate);
  Send(b, {1, MakeUpdate(300, 5.0f)});
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  // Sample-weighted: (1 * 100 + 5 * 300) / 400.
  EXPECT_EQ(coordinator_->global(), std::vector<float>(kDim, 4.0f));
}

TEST_F(CoordinatorTest, ClientThatVanishesMidRoundIsDroppedAndQuorumCompletesTheRound) {
  Start(/*clients=*/3, /*quorum=*/0.6, /*client_timeout_s=*/1.0);
  std::vector<zmq::socket_t> sockets;
  for (int i = 0; i < 3; ++i) {
    sockets.push_back(Connect(i));
    Send(sockets.back(),
         {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100,
                        std::string(1, static_cast<char>('a' + i)), 0}});
  }
  for (auto& socket : sockets) {
    EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(socket).body));
    EXPECT_TRUE(std::holds_alternative<wire::RoundStart>(Receive(socket).body));
  }
  sockets[2].close();  // killed mid-round: never reports, never pings
  Send(sockets[0], {1, MakeUpdate(100, 3.0f)});
  Send(sockets[1], {1, MakeUpdate(100, 5.0f)});
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  EXPECT_EQ(coordinator_->committed_round(), 1u);
  EXPECT_EQ(coordinator_->global(), std::vector<float>(kDim, 4.0f));
  const std::string metrics = testing::ReadFile(dir_.File("metrics.jsonl"));
  EXPECT_NE(metrics.find("\"clients_reported\":2"), std::string::npos) << metrics;
}

TEST_F(CoordinatorTest, PrunesByMagnitudeSendsTheMaskOnceAndKeepsPrunedValuesZero) {
  // One prunable tensor of 4 values and one unprunable of 1; 50% sparsity from round 2.
  Start(/*clients=*/1, /*quorum=*/1.0, 30.0, [](CoordinatorOptions& options) {
    options.federation.rounds = 3;
    options.layout = {{0, 4, true}, {4, 1, false}};
    options.sparsity = aggregation::SparsitySchedule(0.5, 0.5, 2, 2, 1);
    options.min_keep = 0.1;
    options.downlink.dtype = codec::Dtype::kFp16;
  });
  auto client = Connect(0);
  Send(client,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "p", 0}});
  EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(client).body));
  const auto first = std::get<wire::RoundStart>(Receive(client).body);
  EXPECT_EQ(first.mask_round, 0u);
  EXPECT_EQ(first.mask.count, 0u);
  EXPECT_EQ(first.global_values.dtype, codec::Dtype::kFp16);
  EXPECT_EQ(first.global_values.bytes.size(), kDim * 2);
  auto update = MakeUpdate(100, 0.0f);
  update.values = codec::EncodeValues(std::vector<float>{0.5f, -3.0f, 0.1f, 2.0f, 0.25f}, {}, {});
  Send(client, {1, update});

  // Round 2: the two smallest prunable magnitudes (0.1, 0.5) are pruned; 0.25 is not prunable.
  const auto second = Receive(client);
  ASSERT_EQ(second.round, 2u);
  const auto& start = std::get<wire::RoundStart>(second.body);
  EXPECT_EQ(start.mask_round, 2u);
  const auto mask = codec::DecodeBitmask(start.mask, kDim);
  ASSERT_TRUE(mask.ok()) << mask.reject().text;
  EXPECT_EQ(mask.value(), (std::vector<std::uint8_t>{0, 1, 0, 1, 1}));
  EXPECT_EQ(start.global_values.count, 3u);  // kept values only
  const auto kept = codec::DecodeValues(start.global_values, std::vector<std::uint64_t>{2, 1});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept.value(), (std::vector<float>{-3.0f, 2.0f, 0.25f}));  // exact in fp16
  Send(client, {2, MakeUpdate(100, 1.0f)});  // dense values under a mask: refused
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kSchemaMismatch);
  auto pruned = MakeUpdate(100, 4.0f, 1.0f, 3);
  pruned.mask_round = 2;
  Send(client, {2, pruned});

  // Round 3: same mask, not sent again.
  const auto third = std::get<wire::RoundStart>(Receive(client).body);
  EXPECT_EQ(third.mask_round, 2u);
  EXPECT_EQ(third.mask.count, 0u);
  pruned.values = codec::EncodeValues(std::vector<float>{6.0f, 6.0f, 6.0f}, {}, {});
  Send(client, {3, pruned});
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  EXPECT_EQ(coordinator_->global(), (std::vector<float>{0.0f, 6.0f, 0.0f, 6.0f, 6.0f}));
  const std::string metrics = testing::ReadFile(dir_.File("metrics.jsonl"));
  EXPECT_NE(metrics.find("\"sparsity\":0.5"), std::string::npos) << metrics;
}

TEST_F(CoordinatorTest, StallingClientIsLeftOutOfTheRoundsRetry) {
  // c is sampled, keeps its connection alive, and never reports: the round
  // misses its quorum (1.0) at the 1 s deadline and is retried with a and b only.
  Start(/*clients=*/3, /*quorum=*/1.0, 30.0,
        [](CoordinatorOptions& options) { options.federation.round_deadline_s = 1.0; });
  std::vector<zmq::socket_t> sockets;
  for (int i = 0; i < 3; ++i) {
    sockets.push_back(Connect(i));
    Send(sockets.back(), {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion,
                                        kFingerprint, 100, std::string(1, 'a' + i), 0}});
  }
  for (auto& socket : sockets) {
    EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(socket).body));
    EXPECT_EQ(Receive(socket).round, 1u);  // ROUND_START, attempt 1
  }
  Send(sockets[0], {1, MakeUpdate(100, 9.0f)});
  Send(sockets[1], {1, MakeUpdate(100, 9.0f)});
  Send(sockets[2], {0, wire::Heartbeat{}});
  // Attempt 2 goes to a and b only.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(std::holds_alternative<wire::RoundStart>(Receive(sockets[i]).body));
  }
  Send(sockets[2], {1, MakeUpdate(100, 50.0f)});  // too late: not in this attempt
  EXPECT_EQ(ExpectReject(sockets[2]), wire::RejectCode::kRoundClosed);
  for (int i = 0; i < 2; ++i) Send(sockets[i], {1, MakeUpdate(100, 2.0f)});
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  EXPECT_EQ(coordinator_->global(), std::vector<float>(kDim, 2.0f));
  const auto record = nlohmann::json::parse(testing::ReadFile(dir_.File("metrics.jsonl")));
  EXPECT_EQ(record["attempts"].get<int>(), 2);
  EXPECT_EQ(record["clients_missed"].get<int>(), 1);
  EXPECT_EQ(record["clients_selected"].get<int>(), 2);
}

TEST_F(CoordinatorTest, FiniteButAbsurdValuesAreRefusedAndNeverAggregated) {
  Start(/*clients=*/1, /*quorum=*/1.0, 30.0,
        [](CoordinatorOptions& options) { options.limits.max_refused_updates = 10; });
  auto client = Connect(0);
  Send(client,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "a", 0}});
  EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(client).body));
  EXPECT_TRUE(std::holds_alternative<wire::RoundStart>(Receive(client).body));
  Send(client, {1, MakeUpdate(100, 3e38f)});  // finite, absurd
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kInvalidValue);
  Send(client, {1, MakeUpdate(100, 1.0f, /*logit=*/1e30f)});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kInvalidValue);
  auto loss = MakeUpdate(100, 1.0f);
  loss.train_loss = 1e300;
  Send(client, {1, loss});
  EXPECT_EQ(ExpectReject(client), wire::RejectCode::kInvalidValue);
  Send(client, {1, MakeUpdate(100, 5.0f)});
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  EXPECT_EQ(coordinator_->global(), std::vector<float>(kDim, 5.0f));
}

TEST_F(CoordinatorTest, OneKeyHoldsAtMostTheConfiguredLiveConnections) {
  // Three CURVE connections with the same client key; the limit is 2.
  Start(/*clients=*/2, /*quorum=*/1.0, 30.0,
        [](CoordinatorOptions& options) { options.limits.max_connections_per_key = 2; });
  std::vector<zmq::socket_t> same_key;
  for (int i = 0; i < 3; ++i) {
    same_key.push_back(Connect(0));
    Send(same_key.back(), {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion,
                                         kFingerprint, 100, "copy", 0}});
    // One at a time, so the third is the one over the limit.
    const auto reply = Receive(same_key.back());
    if (i < 2) {
      EXPECT_TRUE(std::holds_alternative<wire::Welcome>(reply.body)) << i;
    } else {
      const auto* reject = std::get_if<wire::Reject>(&reply.body);
      ASSERT_NE(reject, nullptr);
      EXPECT_EQ(reject->code, wire::RejectCode::kBusy);
    }
  }
  coordinator_->Stop();
  ASSERT_TRUE(Finish());
  EXPECT_EQ(coordinator_->reject_counts().at("BUSY"), 1);
}

TEST_F(CoordinatorTest, FloodingClientGetsBoundedRoundStartsAndCannotHoldTheDeadline) {
  // Client b floods JOINs and HEARTBEATs for 4 s and never reports; the round
  // (deadline 1 s, quorum 0.5) must still close on time with a's update.
  Start(/*clients=*/2, /*quorum=*/0.5, 30.0, [](CoordinatorOptions& options) {
    options.federation.round_deadline_s = 1.0;
    options.limits.max_round_start_resends = 3;
  });
  auto a = Connect(0);
  auto b = Connect(1);
  Send(a,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "a", 0}});
  Send(b,
       {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "b", 0}});
  EXPECT_TRUE(std::holds_alternative<wire::Welcome>(Receive(a).body));
  EXPECT_TRUE(std::holds_alternative<wire::RoundStart>(Receive(a).body));
  const auto started = std::chrono::steady_clock::now();
  Send(a, {1, MakeUpdate(100, 3.0f)});
  const auto join = wire::EncodeFrame(
      {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "b", 0}});
  const auto heartbeat = wire::EncodeFrame({0, wire::Heartbeat{}});
  int round_starts = 0, sent = 0;
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(4)) {
    for (int i = 0; i < 50; ++i, ++sent) {
      (void)b.send(zmq::buffer(i % 10 == 0 ? join : heartbeat), zmq::send_flags::dontwait);
    }
    zmq::message_t message;
    while (b.recv(message, zmq::recv_flags::dontwait)) {
      const auto decoded = wire::DecodeFrame({message.data<std::uint8_t>(), message.size()}, {});
      if (decoded.ok() && std::holds_alternative<wire::RoundStart>(decoded.value().body)) {
        ++round_starts;
      }
    }
  }
  ASSERT_TRUE(Finish()) << "the coordinator did not finish its rounds";
  EXPECT_GT(sent, 1000);
  EXPECT_EQ(coordinator_->committed_round(), 1u);
  EXPECT_EQ(coordinator_->global(), std::vector<float>(kDim, 3.0f));
  EXPECT_LE(round_starts, 1 + 3);  // the first, then at most max_round_start_resends
  const auto record = nlohmann::json::parse(testing::ReadFile(dir_.File("metrics.jsonl")));
  EXPECT_LT(record["collect_s"].get<double>(), 2.5) << record.dump();
}

}  // namespace
}  // namespace fsd::coordinator
