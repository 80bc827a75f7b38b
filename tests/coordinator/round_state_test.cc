// The round state machine without sockets: frames in, frames out, time from a
// ManualClock. Covers every phase × message kind, deadlines, quorum, expiry,
// retries without the clients that missed a round, over-selection, weighting,
// and the limits one hostile enrolled client runs into.
#include "coordinator/round_state.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <sstream>

#include "common/codec/values.h"
#include "common/errors.h"
#include "privacy/dp/rdp_accountant.h"
#include "tests/testing/temp_dir.h"

namespace fsd::coordinator {
namespace {

using wire::MessageKind;
using wire::RejectCode;

constexpr std::uint64_t kFingerprint = 0xfeedULL;
constexpr std::size_t kDim = 4;
constexpr std::size_t kClasses = 2;

std::string Key(int i) { return "key-" + std::to_string(i); }
Peer PeerOf(int i, const std::string& connection = "a") {
  return {Key(i), "route-" + std::to_string(i) + connection};
}

class RoundStateTest : public ::testing::Test {
 protected:
  // A machine for `clients` enrolled clients; `adjust` edits the options.
  void Make(int clients, const std::function<void(CoordinatorOptions&)>& adjust = {},
            ResumeMode resume = ResumeMode::kFresh) {
    CoordinatorOptions options;
    options.federation.rounds = 3;
    options.federation.clients = clients;
    options.federation.round_deadline_s = 60.0;
    options.transport.client_timeout_s = 30.0;
    options.schema_fingerprint = kFingerprint;
    options.num_classes = kClasses;
    options.out_dir = dir_.path();
    options.resume = resume;
    if (adjust) adjust(options);
    distributed_ = options.privacy.distributed;
    std::map<std::string, std::string> allowed;
    for (int i = 0; i < clients; ++i) allowed[Key(i)] = "client-" + std::to_string(i);
    machine_ = std::make_unique<RoundStateMachine>(options, allowed, std::vector<float>(kDim, 1.0f),
                                                   nullptr, nullptr, clock_);
  }

  void Deliver(const Peer& peer, const wire::Message& message) {
    const auto frame = wire::EncodeFrame(message);
    machine_->OnFrame(peer, frame);
  }

  void Join(int i, std::int64_t samples = 100, const std::string& connection = "a") {
    Deliver(PeerOf(i, connection), {0, wire::Join{wire::kProtocolVersion, wire::kProtocolVersion,
                                                  kFingerprint, samples, "c", 0}});
  }

  // Decoded frames sent since the last call, per routing id.
  std::map<std::string, std::vector<wire::Message>> Sent() {
    std::map<std::string, std::vector<wire::Message>> sent;
    for (const auto& out : machine_->TakeOutgoing()) {
      auto decoded = wire::DecodeFrame(out.frame, {});
      EXPECT_TRUE(decoded.ok());
      if (decoded.ok()) sent[out.routing_id].push_back(decoded.value());
    }
    return sent;
  }

  static std::vector<MessageKind> Kinds(const std::vector<wire::Message>& messages) {
    std::vector<MessageKind> kinds;
    for (const auto& m : messages) kinds.push_back(wire::KindOf(m.body));
    return kinds;
  }

  static std::optional<RejectCode> RejectIn(const std::vector<wire::Message>& messages) {
    for (const auto& m : messages) {
      if (const auto* reject = std::get_if<wire::Reject>(&m.body)) return reject->code;
    }
    return std::nullopt;
  }

  // A valid update of `samples` samples with every value `value`.
  static wire::Update MakeUpdate(std::int64_t samples, float value) {
    return wire::Update{samples,
                        0.5,
                        0,
                        {samples / 2, samples - samples / 2},
                        0,
                        codec::EncodeValues(std::vector<float>(kDim, value), {}, {}),
                        {1.0f, 0.0f, 0.0f, 1.0f},
                        {},
                        {}};
  }

  // MakeUpdate as a client of this machine sends it: under distributed DP
  // with its sample count, loss and summary withheld.
  wire::Update UpdateFor(std::int64_t samples, float value) const {
    wire::Update update = MakeUpdate(samples, value);
    if (distributed_) {
      update.sample_count = 0;
      update.train_loss = 0.0;
      update.withheld = wire::kWithheldSampleCount | wire::kWithheldTrainLoss;
      update.summary_counts.clear();
      update.summary_logits.clear();
    }
    return update;
  }

  void Report(int i, std::int64_t samples, float value, std::uint64_t round = 1) {
    Deliver(PeerOf(i), {round, UpdateFor(samples, value)});
  }

  bool distributed_ = false;
  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<RoundStateMachine> machine_;
};

// Every phase × client-sent kind: accepted (nullopt) or the REJECT code.
struct PhaseKindCase {
  Phase phase;
  MessageKind kind;
  std::optional<RejectCode> refusal;
};
const PhaseKindCase kPhaseTable[] = {
    {Phase::kWaiting, MessageKind::kJoin, std::nullopt},
    {Phase::kWaiting, MessageKind::kWelcome, RejectCode::kUnexpectedKind},
    {Phase::kWaiting, MessageKind::kRoundStart, RejectCode::kUnexpectedKind},
    {Phase::kWaiting, MessageKind::kUpdate, RejectCode::kRoundClosed},
    {Phase::kWaiting, MessageKind::kReject, RejectCode::kUnexpectedKind},
    {Phase::kWaiting, MessageKind::kHeartbeat, std::nullopt},
    {Phase::kWaiting, MessageKind::kBye, std::nullopt},
    {Phase::kCollecting, MessageKind::kJoin, std::nullopt},
    {Phase::kCollecting, MessageKind::kWelcome, RejectCode::kUnexpectedKind},
    {Phase::kCollecting, MessageKind::kRoundStart, RejectCode::kUnexpectedKind},
    {Phase::kCollecting, MessageKind::kUpdate, std::nullopt},
    {Phase::kCollecting, MessageKind::kReject, RejectCode::kUnexpectedKind},
    {Phase::kCollecting, MessageKind::kHeartbeat, std::nullopt},
    {Phase::kCollecting, MessageKind::kBye, std::nullopt},
    {Phase::kCollecting, MessageKind::kSecAggMasked, RejectCode::kRoundClosed},
    {Phase::kCollecting, MessageKind::kSecAggKeys, RejectCode::kRoundClosed},
    {Phase::kCollecting, MessageKind::kSecAggRoster, RejectCode::kUnexpectedKind},
    {Phase::kMaskedInput, MessageKind::kSecAggMasked, std::nullopt},
    {Phase::kMaskedInput, MessageKind::kUpdate, RejectCode::kUnexpectedKind},
    {Phase::kMaskedInput, MessageKind::kSecAggKeys, RejectCode::kRoundClosed},
    {Phase::kMaskedInput, MessageKind::kJoin, std::nullopt},
    {Phase::kWaiting, MessageKind::kSecAggMasked, RejectCode::kRoundClosed},
    {Phase::kWaiting, MessageKind::kSecAggReveal, RejectCode::kRoundClosed},
    {Phase::kWaiting, MessageKind::kSecAggUnmask, RejectCode::kUnexpectedKind},
    {Phase::kAdvertising, MessageKind::kSecAggKeys, std::nullopt},
    {Phase::kAdvertising, MessageKind::kSecAggShares, RejectCode::kRoundClosed},
    {Phase::kAdvertising, MessageKind::kUpdate, RejectCode::kRoundClosed},
    {Phase::kAdvertising, MessageKind::kHeartbeat, std::nullopt},
    {Phase::kSharingKeys, MessageKind::kSecAggShares, std::nullopt},
    {Phase::kSharingKeys, MessageKind::kSecAggKeys, RejectCode::kRoundClosed},
    {Phase::kSharingKeys, MessageKind::kSecAggDelivered, RejectCode::kUnexpectedKind},
    {Phase::kUnmasking, MessageKind::kSecAggReveal, std::nullopt},
    {Phase::kUnmasking, MessageKind::kSecAggMasked, RejectCode::kRoundClosed},
    {Phase::kUnmasking, MessageKind::kJoin, std::nullopt},
    {Phase::kUnmasking, MessageKind::kBye, std::nullopt},
};

TEST(RoundPhaseTableTest, EveryPhaseListsWhatItAcceptsAndRefusesTheRest) {
  for (const auto& c : kPhaseTable) {
    EXPECT_EQ(RefusalFor(c.phase, c.kind), c.refusal)
        << PhaseName(c.phase) << " × " << wire::MessageKindName(c.kind);
  }
}

// The table as the machine applies it: a joined client sends each refused
// kind in each phase and gets that REJECT; the model is untouched.
TEST_F(RoundStateTest, RefusedKindsGetTheirRejectInEveryPhase) {
  Make(/*clients=*/2, [](CoordinatorOptions& o) { o.federation.min_clients = 2; });
  Join(0);
  Sent();
  ASSERT_EQ(machine_->phase(), Phase::kWaiting);  // 1 of 2 joined
  const std::vector<wire::Body> coordinator_kinds = {wire::Welcome{}, wire::RoundStart{},
                                                     wire::Reject{}};
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& body : coordinator_kinds) {
      Deliver(PeerOf(0), {1, body});
      EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kUnexpectedKind)
          << PhaseName(machine_->phase()) << " " << wire::MessageKindName(wire::KindOf(body));
    }
    if (pass == 0) {
      Report(0, 100, 5.0f);  // UPDATE while waiting
      EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kRoundClosed);
      Join(1);
      machine_->Tick();
      ASSERT_EQ(machine_->phase(), Phase::kCollecting);
      Sent();
    }
  }
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 1.0f));
}

TEST_F(RoundStateTest, StartsWhenMinClientsJoinedAndCommitsWhenAllReported) {
  Make(2);
  Join(0, 100);
  machine_->Tick();
  EXPECT_EQ(machine_->phase(), Phase::kWaiting);
  Join(1, 300);
  machine_->Tick();
  ASSERT_EQ(machine_->phase(), Phase::kCollecting);
  auto sent = Sent();
  EXPECT_EQ(Kinds(sent[PeerOf(1).routing_id]),
            (std::vector<MessageKind>{MessageKind::kWelcome, MessageKind::kRoundStart}));
  Report(0, 100, 1.0f);
  Report(1, 300, 5.0f);
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);
  // Capped weighting (the default) with ratio 4 does not bind: (100·1 + 300·5) / 400.
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 4.0f));
  EXPECT_EQ(machine_->phase(), Phase::kWaiting);
  machine_->Tick();
  EXPECT_EQ(machine_->phase(), Phase::kCollecting);  // round 2 starts at the next tick
}

// kDim values as a two-exit network: stage 1, head 1, stage 2, head 2.
const model::ModelLayout kTwoExits = {{0, 1, false, 1, false},
                                      {1, 1, false, 1, true},
                                      {2, 1, false, 2, false},
                                      {3, 1, false, 2, true}};

wire::Join JoinWithMaxExit(std::uint32_t max_exit) {
  return wire::Join{
      wire::kProtocolVersion, wire::kProtocolVersion, kFingerprint, 100, "c", max_exit};
}

TEST_F(RoundStateTest, ClientsTrainTheirSubnetworkAndEachTensorIsAveragedOverItsTrainers) {
  Make(2, [](CoordinatorOptions& o) { o.layout = kTwoExits; });
  Join(0);
  Deliver(PeerOf(1), {0, JoinWithMaxExit(1)});
  machine_->Tick();
  ASSERT_EQ(machine_->phase(), Phase::kCollecting);
  auto sent = Sent();
  const auto start_of = [&](int i) {
    for (const auto& m : sent[PeerOf(i).routing_id])
      if (const auto* start = std::get_if<wire::RoundStart>(&m.body)) return *start;
    ADD_FAILURE() << "no ROUND_START for client " << i;
    return wire::RoundStart{};
  };
  EXPECT_EQ(start_of(0).subnet_exit, 2u);
  EXPECT_EQ(start_of(0).global_values.count, 4u);
  EXPECT_EQ(start_of(1).subnet_exit, 1u);
  EXPECT_EQ(start_of(1).global_values.count, 2u);  // exit 2's tensors are not sent
  Report(0, 100, 1.0f);
  // The whole network's values from the small client do not fit its sub-network.
  Report(1, 100, 5.0f);
  EXPECT_EQ(RejectIn(Sent()[PeerOf(1).routing_id]), RejectCode::kSchemaMismatch);
  wire::Update partial = MakeUpdate(100, 5.0f);
  partial.values = codec::EncodeValues(std::vector<float>(2, 5.0f), {}, {});
  Deliver(PeerOf(1), {1, partial});
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  // Exit 1's tensors over both clients, exit 2's over the one that trained them.
  EXPECT_EQ(machine_->global(), (std::vector<float>{3.0f, 3.0f, 1.0f, 1.0f}));
}

TEST_F(RoundStateTest, MainExitVariantSendsAndAggregatesTheMainPathOnly) {
  Make(1, [](CoordinatorOptions& o) {
    o.layout = kTwoExits;
    o.main_head_only = true;
  });
  Join(0);
  machine_->Tick();
  auto sent = Sent();
  ASSERT_EQ(sent[PeerOf(0).routing_id].size(), 2u);
  const auto& start = std::get<wire::RoundStart>(sent[PeerOf(0).routing_id][1].body);
  EXPECT_EQ(start.subnet_exit, 2u);
  EXPECT_EQ(start.subnet_heads, 1u);
  EXPECT_EQ(start.global_values.count, 3u);
  wire::Update update = MakeUpdate(100, 7.0f);
  update.values = codec::EncodeValues(std::vector<float>(3, 7.0f), {}, {});
  Deliver(PeerOf(0), {1, update});
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), (std::vector<float>{7.0f, 1.0f, 7.0f, 7.0f}));  // head 1 untouched
}

TEST_F(RoundStateTest, RefusesMaxExitsTheModelLacksOrTheFederationExcludes) {
  Make(2, [](CoordinatorOptions& o) {
    o.layout = kTwoExits;
    o.min_exit = 2;
  });
  Deliver(PeerOf(0), {0, JoinWithMaxExit(3)});
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kInvalidValue);
  Deliver(PeerOf(0), {0, JoinWithMaxExit(1)});  // below heterogeneity.min_exit
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kInvalidValue);
  EXPECT_FALSE(machine_->registry().joined(Key(0)));
  Deliver(PeerOf(0), {0, JoinWithMaxExit(2)});
  EXPECT_TRUE(machine_->registry().joined(Key(0)));
}

TEST_F(RoundStateTest, MissedQuorumAtDeadlineRetriesWithoutTheClientThatMissedIt) {
  Make(3, [](CoordinatorOptions& o) { o.federation.quorum = 1.0; });
  for (int i = 0; i < 3; ++i) Join(i);
  machine_->Tick();
  Sent();
  Report(0, 100, 2.0f);
  Report(1, 100, 2.0f);
  clock_.Advance(std::chrono::seconds(59));
  for (int i = 0; i < 3; ++i) Deliver(PeerOf(i), {0, wire::Heartbeat{}});
  machine_->Tick();
  EXPECT_EQ(machine_->attempt(), 0u);  // not yet
  clock_.Advance(std::chrono::seconds(2));
  machine_->Tick();  // deadline: 2 of 3, quorum 3 → retry without client 2
  EXPECT_EQ(machine_->committed_round(), 0u);
  EXPECT_EQ(machine_->attempt(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 1.0f));
  machine_->Tick();
  ASSERT_EQ(machine_->phase(), Phase::kCollecting);
  EXPECT_EQ(machine_->selected(), (std::set<std::string>{Key(0), Key(1)}));
  // The staller's late update is refused; the others' retry commits.
  Report(2, 100, 9.0f);
  EXPECT_EQ(RejectIn(Sent()[PeerOf(2).routing_id]), RejectCode::kRoundClosed);
  Report(0, 100, 3.0f);
  Report(1, 100, 3.0f);
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 3.0f));
  // Round 2 samples everyone again.
  machine_->Tick();
  EXPECT_EQ(machine_->selected().size(), 3u);
}

TEST_F(RoundStateTest, WhenEveryClientMissedTheRoundAllAreSampledAgain) {
  Make(2);
  Join(0);
  Join(1);
  machine_->Tick();
  clock_.Advance(std::chrono::seconds(61));
  Deliver(PeerOf(0), {0, wire::Heartbeat{}});
  Deliver(PeerOf(1), {0, wire::Heartbeat{}});
  machine_->Tick();  // deadline, nobody reported
  EXPECT_EQ(machine_->attempt(), 1u);
  machine_->Tick();
  EXPECT_EQ(machine_->selected(), (std::set<std::string>{Key(0), Key(1)}));
}

TEST_F(RoundStateTest, QuorumAtDeadlineCommitsWithTheClientsThatReported) {
  Make(3, [](CoordinatorOptions& o) { o.federation.quorum = 0.6; });
  for (int i = 0; i < 3; ++i) Join(i);
  machine_->Tick();
  Report(0, 100, 2.0f);
  Report(1, 100, 4.0f);
  clock_.Advance(std::chrono::seconds(61));
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 3.0f));
}

TEST_F(RoundStateTest, SilentClientExpiresAndLeavesItsRound) {
  Make(3, [](CoordinatorOptions& o) { o.federation.quorum = 0.6; });
  for (int i = 0; i < 3; ++i) Join(i);
  machine_->Tick();
  Report(0, 100, 2.0f);
  Report(1, 100, 4.0f);
  clock_.Advance(std::chrono::seconds(31));  // past client_timeout_s, before the deadline
  Deliver(PeerOf(0), {0, wire::Heartbeat{}});
  Deliver(PeerOf(1), {0, wire::Heartbeat{}});
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);  // client 2 expired: everyone left reported
  EXPECT_FALSE(machine_->registry().joined(Key(2)));
  // Its heartbeat now asks it to JOIN again.
  Deliver(PeerOf(2), {0, wire::Heartbeat{}});
  EXPECT_EQ(RejectIn(Sent()[PeerOf(2).routing_id]), RejectCode::kNotAuthorized);
}

TEST_F(RoundStateTest, BusyClientThatKeepsHeartbeatingIsWaitedForUntilTheDeadline) {
  Make(2);
  Join(0);
  Join(1);
  machine_->Tick();
  Report(0, 100, 2.0f);
  for (int s = 0; s < 5; ++s) {  // trains 50 s, far beyond the 30 s timeout, pinging
    clock_.Advance(std::chrono::seconds(10));
    Deliver(PeerOf(1), {0, wire::Heartbeat{}});
    Deliver(PeerOf(0), {0, wire::Heartbeat{}});
    machine_->Tick();
  }
  EXPECT_EQ(machine_->committed_round(), 0u);
  EXPECT_TRUE(machine_->registry().joined(Key(1)));
  Report(1, 100, 4.0f);
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 3.0f));
}

TEST_F(RoundStateTest, OverSelectionClosesTheRoundAtTheTargetCount) {
  Make(4, [](CoordinatorOptions& o) {
    o.federation.fraction = 0.5;     // k = 2 of 4
    o.federation.over_select = 0.5;  // sample 3
  });
  for (int i = 0; i < 4; ++i) Join(i);
  machine_->Tick();
  const auto selected = machine_->selected();
  ASSERT_EQ(selected.size(), 3u);
  std::vector<int> sampled;
  for (int i = 0; i < 4; ++i) {
    if (selected.contains(Key(i))) sampled.push_back(i);
  }
  Report(sampled[0], 100, 2.0f);
  Report(sampled[1], 100, 4.0f);
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 3.0f));
  Sent();
  Report(sampled[2], 100, 9.0f, /*round=*/1);  // the spare, too late
  EXPECT_EQ(RejectIn(Sent()[PeerOf(sampled[2]).routing_id]), RejectCode::kStaleRound);
}

TEST_F(RoundStateTest, CappedWeightingBoundsAClientThatDeclaresABillionSamples) {
  for (const auto weighting : {aggregation::Weighting::kSamples, aggregation::Weighting::kCapped}) {
    Make(3, [&](CoordinatorOptions& o) { o.aggregation.weighting = weighting; });
    Join(0, 100);
    Join(1, 100);
    Join(2, 1'000'000'000);  // hostile: declares 10^9 samples
    machine_->Tick();
    Report(0, 100, 1.0f);
    Report(1, 100, 1.0f);
    Report(2, 1'000'000'000, -100.0f);
    machine_->Tick();
    ASSERT_EQ(machine_->committed_round(), 1u);
    if (weighting == aggregation::Weighting::kCapped) {
      // Weight at most 4 × the median (100): (100 + 100 − 400·100) / 600.
      EXPECT_FLOAT_EQ(machine_->global()[0], (100.0f + 100.0f - 40000.0f) / 600.0f);
      const std::string metrics = testing::ReadFile(dir_.File("metrics.jsonl"));
      EXPECT_NE(metrics.find("\"max_weight_share\":0.666666"), std::string::npos) << metrics;
    } else {
      EXPECT_NEAR(machine_->global()[0], -100.0f, 1e-3f);  // owned by the attacker
    }
  }
}

TEST_F(RoundStateTest, MedianRuleIgnoresAHostileUpdateAndMetricsNameTheRule) {
  Make(3, [](CoordinatorOptions& o) { o.aggregation.rule = aggregation::Rule::kMedian; });
  for (int i = 0; i < 3; ++i) Join(i);
  machine_->Tick();
  Report(0, 100, 2.0f);
  Report(1, 100, 3.0f);
  Report(2, 100, -9000.0f);
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 2.0f));
  const std::string metrics = testing::ReadFile(dir_.File("metrics.jsonl"));
  EXPECT_NE(metrics.find("\"rule\":\"median\""), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"summary_rule\":\"mean\""), std::string::npos) << metrics;
}

TEST_F(RoundStateTest, ServerAdamStepsFromTheRobustRulesOutput) {
  Make(3, [](CoordinatorOptions& o) {
    o.aggregation.rule = aggregation::Rule::kMedian;
    o.server_optimizer = {aggregation::ServerOptimizerKind::kAdam, 0.1, 0.9, 0.9, 0.99, 0.1};
  });
  for (int i = 0; i < 3; ++i) Join(i);
  machine_->Tick();
  Report(0, 100, 2.0f);
  Report(1, 100, 3.0f);
  Report(2, 100, -9000.0f);
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  // Median 2, so Δ = 1: m = 0.1, v = 0.99·0.01 + 0.01·1 = 0.0199,
  // x = 1 + 0.1·0.1/(√0.0199 + 0.1) = 1.0414822. The hostile value never counts.
  for (const float x : machine_->global()) EXPECT_NEAR(x, 1.0414822f, 1e-6f);
  const std::string metrics = testing::ReadFile(dir_.File("metrics.jsonl"));
  EXPECT_NE(metrics.find("\"server_optimizer\":\"adam\""), std::string::npos) << metrics;
}

TEST_F(RoundStateTest, KrumWaitsForTwoFPlusThreeClientsAndRetriesARoundWithFewerUpdates) {
  Make(6, [](CoordinatorOptions& o) {
    o.federation.min_clients = 1;
    o.federation.fraction = 0.5;
    o.federation.quorum = 0.5;
    o.aggregation.rule = aggregation::Rule::kKrum;
    o.aggregation.byzantine = 1;  // needs 5 updates
  });
  for (int i = 0; i < 4; ++i) Join(i);
  machine_->Tick();
  EXPECT_EQ(machine_->phase(), Phase::kWaiting);  // min_clients 1, but Krum needs 5
  Join(4);
  Join(5);
  machine_->Tick();
  ASSERT_EQ(machine_->phase(), Phase::kCollecting);
  // fraction 0.5 of 6 would sample 3; the rule raises the cohort to 5.
  ASSERT_EQ(machine_->selected().size(), 5u);
  std::vector<int> sampled;
  for (int i = 0; i < 6; ++i) {
    if (machine_->selected().contains(Key(i))) sampled.push_back(i);
  }
  for (int k = 0; k < 4; ++k) Report(sampled[k], 100, static_cast<float>(k));
  clock_.Advance(std::chrono::seconds(61));
  for (int i = 0; i < 6; ++i) Deliver(PeerOf(i), {0, wire::Heartbeat{}});
  machine_->Tick();  // deadline: 4 updates ≥ quorum 3 but < 5 → a retry, not a crash
  EXPECT_EQ(machine_->committed_round(), 0u);
  EXPECT_EQ(machine_->attempt(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 1.0f));
  machine_->Tick();
  ASSERT_EQ(machine_->phase(), Phase::kCollecting);
  // Only 5 of 6 have not missed the round, so all 5 are sampled; four agree.
  ASSERT_EQ(machine_->selected().size(), 5u);
  int k = 0;
  for (int i = 0; i < 6; ++i) {
    if (machine_->selected().contains(Key(i))) Report(i, 100, k++ == 4 ? 500.0f : 7.0f, 1);
  }
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 7.0f));
}

TEST_F(RoundStateTest, DeclarationIsFixedForTheRoundOnceSampled) {
  Make(1);
  Join(0, 100);
  machine_->Tick();
  Join(0, 1'000'000);  // raises its declaration mid-round
  Sent();
  Report(0, 1'000'000, 1.0f);
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kLimitExceeded);
  Report(0, 100, 2.0f);
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);
}

TEST_F(RoundStateTest, RefusesDeclarationsAboveMaxSamplesPerClient) {
  Make(1, [](CoordinatorOptions& o) { o.federation.max_samples_per_client = 60'000; });
  Join(0, 60'001);
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kLimitExceeded);
  EXPECT_FALSE(machine_->registry().joined(Key(0)));
}

TEST_F(RoundStateTest, RoundStartResendsToARejoiningClientAreBounded) {
  Make(1, [](CoordinatorOptions& o) { o.limits.max_round_start_resends = 3; });
  Join(0);
  machine_->Tick();
  Sent();
  int round_starts = 0;
  for (int i = 0; i < 10; ++i) {
    Join(0);
    for (const auto kind : Kinds(Sent()[PeerOf(0).routing_id])) {
      round_starts += kind == MessageKind::kRoundStart;
    }
  }
  EXPECT_EQ(round_starts, 3);
}

TEST_F(RoundStateTest, OneKeyHoldsAtMostTheConfiguredConnections) {
  Make(1, [](CoordinatorOptions& o) { o.limits.max_connections_per_key = 2; });
  Join(0, 100, "a");
  Deliver(PeerOf(0, "b"), {0, wire::Heartbeat{}});
  Deliver(PeerOf(0, "c"), {0, wire::Heartbeat{}});
  auto sent = Sent();
  EXPECT_FALSE(RejectIn(sent[PeerOf(0, "b").routing_id]).has_value());
  EXPECT_EQ(RejectIn(sent[PeerOf(0, "c").routing_id]), RejectCode::kBusy);
  // Once an old connection has been silent for three heartbeats (it crashed
  // or its client reconnected), a new one is fine.
  clock_.Advance(std::chrono::milliseconds(3100));
  Deliver(PeerOf(0, "b"), {0, wire::Heartbeat{}});
  Deliver(PeerOf(0, "c"), {0, wire::Heartbeat{}});
  sent = Sent();
  EXPECT_FALSE(RejectIn(sent[PeerOf(0, "c").routing_id]).has_value());
}

TEST_F(RoundStateTest, UpdateFromAClientNotSampledIsRefusedBeforeItsBytesAreHashed) {
  Make(2, [](CoordinatorOptions& o) { o.federation.fraction = 0.5; });
  Join(0);
  Join(1);
  machine_->Tick();
  const int outsider = machine_->selected().contains(Key(0)) ? 1 : 0;
  Sent();
  auto frame = wire::EncodeFrame({1, MakeUpdate(100, 1.0f)});
  frame.back() ^= 0xff;  // the digest no longer matches: only a decode would notice
  machine_->OnFrame(PeerOf(outsider), frame);
  EXPECT_EQ(RejectIn(Sent()[PeerOf(outsider).routing_id]), RejectCode::kRoundClosed);
  // An oversized JOIN is refused on its size alone.
  std::vector<std::uint8_t> big = wire::EncodeFrame({0, wire::Join{}});
  big.resize(1 << 20);
  machine_->OnFrame(PeerOf(outsider), big);
  EXPECT_EQ(RejectIn(Sent()[PeerOf(outsider).routing_id]), RejectCode::kLimitExceeded);
}

TEST_F(RoundStateTest, AbsurdValuesLogitsAndLossAreRefusedAndNeverAggregated) {
  Make(1, [](CoordinatorOptions& o) {
    o.limits.max_abs_value = 1e3;
    o.limits.max_abs_logit = 50.0;
    o.limits.max_train_loss = 100.0;
    o.limits.max_refused_updates = 10;
  });
  Join(0);
  machine_->Tick();
  Sent();
  Report(0, 100, 5e3f);
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kInvalidValue);
  auto logits = MakeUpdate(100, 1.0f);
  logits.summary_logits[0] = 1e6f;
  Deliver(PeerOf(0), {1, logits});
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kInvalidValue);
  auto loss = MakeUpdate(100, 1.0f);
  loss.train_loss = 1e9;
  Deliver(PeerOf(0), {1, loss});
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kInvalidValue);
  loss.train_loss = -1.0;
  Deliver(PeerOf(0), {1, loss});
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kInvalidValue);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 1.0f));
  EXPECT_EQ(machine_->reject_counts().at("INVALID_VALUE"), 4);
  Report(0, 100, 7.0f);
  machine_->Tick();
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 7.0f));
}

TEST_F(RoundStateTest, ClientWhoseUpdatesAreRefusedRepeatedlyIsLeftOutOfTheRound) {
  Make(2, [](CoordinatorOptions& o) {
    o.limits.max_refused_updates = 2;
    o.federation.quorum = 0.5;
  });
  Join(0);
  Join(1);
  machine_->Tick();
  Sent();
  Report(1, 100, 5e9f);  // refused (INVALID_VALUE)
  Report(1, 100, 5e9f);  // refused again: out of the round
  EXPECT_FALSE(machine_->selected().contains(Key(1)));
  Sent();
  Report(1, 100, 1.0f);  // a valid one now: refused on its envelope
  EXPECT_EQ(RejectIn(Sent()[PeerOf(1).routing_id]), RejectCode::kRoundClosed);
  Report(0, 100, 4.0f);
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 4.0f));
}

TEST_F(RoundStateTest, CoordinatorOnlyKindsAreRefusedBeforeTheirBytesAreHashed) {
  Make(1);
  Join(0);
  Sent();
  auto frame = wire::EncodeFrame({1, wire::RoundStart{}});
  frame.back() ^= 0xff;  // a digest mismatch that only a decode would see
  machine_->OnFrame(PeerOf(0), frame);
  EXPECT_EQ(RejectIn(Sent()[PeerOf(0).routing_id]), RejectCode::kUnexpectedKind);
}

TEST_F(RoundStateTest, CapPerClassCapsEachClassOfTheSoftTargets) {
  // Four clients with 100 samples split over both classes; client 4 declares
  // 400 (its weight, 4 × the median, is not capped) and puts all of it on
  // class 0 with logit 100. Class 0's weights are 50, 50, 50, 50 and 400:
  // the per-class cap, 4 × 50, halves client 4's say on that soft target.
  Make(5, [](CoordinatorOptions& o) { o.aggregation.cap_per_class = true; });
  for (int i = 0; i < 4; ++i) Join(i, 100);
  Join(4, 400);
  machine_->Tick();
  for (int i = 0; i < 4; ++i) Report(i, 100, 1.0f);
  auto skewed = MakeUpdate(400, 1.0f);
  skewed.summary_counts = {400, 0};
  skewed.summary_logits = {100.0f, 0.0f, 0.0f, 0.0f};
  Deliver(PeerOf(4), {1, skewed});
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  EXPECT_FLOAT_EQ(machine_->soft_state().mean_logits[0], (4 * 50.0f + 200.0f * 100.0f) / 400.0f);
}

TEST_F(RoundStateTest, AggregateDoesNotDependOnArrivalOrder) {
  std::vector<std::vector<float>> results;
  for (const bool reversed : {false, true}) {
    Make(3);
    for (int i = 0; i < 3; ++i) Join(i, 100 + 37 * i);
    machine_->Tick();
    const float values[] = {0.1f, 3e4f, -3e4f};
    for (int n = 0; n < 3; ++n) {
      const int i = reversed ? 2 - n : n;
      Report(i, 100 + 37 * i, values[i]);
    }
    machine_->Tick();
    ASSERT_EQ(machine_->committed_round(), 1u);
    results.push_back(machine_->global());
  }
  EXPECT_EQ(results[0], results[1]);
}

TEST_F(RoundStateTest, ResumeContinuesAfterTheCommittedRoundAndRequiresACheckpoint) {
  EXPECT_THROW(Make(1, {}, ResumeMode::kResume), IoError);
  Make(1);
  Join(0);
  machine_->Tick();
  Report(0, 100, 6.0f);
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  Make(1, {}, ResumeMode::kResume);
  EXPECT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 6.0f));
  Join(0);
  machine_->Tick();
  const auto sent = Sent()[PeerOf(0).routing_id];
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].round, 2u);  // the next ROUND_START is round 2
}

// kDim values: three trained, the last a running statistic.
const model::ModelLayout kWithStatistics = {{0, 3, false}, {3, 1, false, 0, false, true}};

TEST_F(RoundStateTest, ServerMomentumStepsTrainedValuesOnlyAndResumesItsState) {
  const auto momentum = [](CoordinatorOptions& o) {
    o.layout = kWithStatistics;
    o.server_optimizer = {aggregation::ServerOptimizerKind::kMomentum, 1.0, 0.5};
  };
  Make(1, momentum);
  Join(0);
  // Round 1: Δ = 3 − 1 = 2, m = 2, x = 1 + 2 = 3. Round 2: Δ = 4 − 3 = 1,
  // m = 0.5·2 + 1 = 2, x = 3 + 2 = 5. The statistic takes the rule's output.
  for (const float value : {3.0f, 4.0f}) {
    machine_->Tick();
    Report(0, 100, value, machine_->committed_round() + 1);
    machine_->Tick();
  }
  ASSERT_EQ(machine_->committed_round(), 2u);
  EXPECT_EQ(machine_->global(), (std::vector<float>{5.0f, 5.0f, 5.0f, 4.0f}));
  // Resumed, round 3: Δ = 5 − 5 = 0, m = 0.5·2 = 1, x = 6 (5 had m been lost).
  Make(1, momentum, ResumeMode::kResume);
  Join(0);
  machine_->Tick();
  Report(0, 100, 5.0f, 3);
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 3u);
  EXPECT_EQ(machine_->global(), (std::vector<float>{6.0f, 6.0f, 6.0f, 5.0f}));
  const std::string metrics = testing::ReadFile(dir_.File("metrics.jsonl"));
  EXPECT_NE(metrics.find("\"server_optimizer\":\"momentum\""), std::string::npos);
  // A checkpoint of another optimizer is refused, naming the key.
  try {
    Make(
        1,
        [](CoordinatorOptions& o) {
          o.layout = kWithStatistics;
          o.server_optimizer.kind = aggregation::ServerOptimizerKind::kAdam;
        },
        ResumeMode::kResume);
    ADD_FAILURE() << "resumed a momentum checkpoint with adam";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("aggregation.server_optimizer"), std::string::npos);
  }
}

// Every update is within limits.max_abs_value = 4.5, but server momentum
// takes the model of round 2 to 5 (round 1: x = 3, m = 2; round 2: Δ = 1,
// m = 2, x = 5), which would have every later update refused.
void DivergingMomentum(CoordinatorOptions& o) {
  o.server_optimizer = {aggregation::ServerOptimizerKind::kMomentum, 1.0, 0.5};
  o.limits.max_abs_value = 4.5;
}

TEST_F(RoundStateTest, DivergedModelStopsTheRunWithTheLastGoodModel) {
  Make(1, DivergingMomentum);
  Join(0);
  for (const float value : {3.0f, 4.0f}) {
    machine_->Tick();
    Report(0, 100, value, machine_->committed_round() + 1);
    machine_->Tick();
  }
  EXPECT_TRUE(machine_->done());
  EXPECT_EQ(machine_->stop_kind(), RoundStateMachine::StopKind::kDiverged);
  EXPECT_NE(machine_->stop_reason().find("round 2: the global model diverged"), std::string::npos)
      << machine_->stop_reason();
  EXPECT_EQ(machine_->committed_round(), 2u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 3.0f));
  const std::string metrics = testing::ReadFile(dir_.File("metrics.jsonl"));
  EXPECT_NE(metrics.find("\"outcome\":\"rolled_back\""), std::string::npos) << metrics;
  // The checkpoint holds the last good model too.
  Make(1, DivergingMomentum, ResumeMode::kResume);
  EXPECT_EQ(machine_->committed_round(), 2u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 3.0f));
}

// A model within [limits] whose every trained update lies beyond them (an
// attacked FedAvg a round before the model itself diverges): when the round
// closes, the run stops instead of retrying it forever.
TEST_F(RoundStateTest, RoundWhoseEveryUpdateIsBeyondTheLimitsStopsTheRun) {
  Make(3, [](CoordinatorOptions& o) {
    o.limits.max_abs_value = 100.0;
    o.transport.client_timeout_s = 600.0;
  });
  for (int i = 0; i < 3; ++i) Join(i);
  machine_->Tick();
  for (int i = 0; i < 3; ++i) Report(i, 100, 1e3f);
  machine_->Tick();
  EXPECT_FALSE(machine_->done()) << "a client may still resend until the deadline";
  clock_.Advance(std::chrono::seconds(61));
  machine_->Tick();
  EXPECT_TRUE(machine_->done());
  EXPECT_EQ(machine_->stop_kind(), RoundStateMachine::StopKind::kDiverged);
  EXPECT_NE(machine_->stop_reason().find("round 1: every update (3 clients) was refused for "
                                         "values beyond [limits]"),
            std::string::npos)
      << machine_->stop_reason();
  EXPECT_EQ(machine_->committed_round(), 0u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 1.0f));
}

// One refusal of another kind (here a stale mask) is not divergence: the
// round waits for a resend or its deadline, as before.
TEST_F(RoundStateTest, RoundWithOtherRefusalsIsNotStopped) {
  Make(2, [](CoordinatorOptions& o) { o.limits.max_abs_value = 100.0; });
  for (int i = 0; i < 2; ++i) Join(i);
  machine_->Tick();
  Report(0, 100, 1e3f);
  wire::Update stale = MakeUpdate(100, 1.0f);
  stale.mask_round = 7;
  Deliver(PeerOf(1), {1, stale});
  machine_->Tick();
  EXPECT_FALSE(machine_->done());
  EXPECT_EQ(machine_->stop_kind(), RoundStateMachine::StopKind::kNone);
}

TEST_F(RoundStateTest, DivergedModelRollsBackAndTheRunGoesOnWhenAskedTo) {
  Make(1, [](CoordinatorOptions& o) {
    DivergingMomentum(o);
    o.federation.on_divergence = config::DivergencePolicy::kRollback;
  });
  Join(0);
  for (const float value : {3.0f, 4.0f, 3.0f}) {
    machine_->Tick();
    Report(0, 100, value, machine_->committed_round() + 1);
    machine_->Tick();
  }
  EXPECT_EQ(machine_->stop_kind(), RoundStateMachine::StopKind::kNone);
  ASSERT_EQ(machine_->committed_round(), 3u);
  // Round 3 steps from round 1's model and momentum: Δ = 0, m = 1, x = 4.
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 4.0f));
}

TEST_F(RoundStateTest, RoundStartAnnouncesTheScheduledLearningRateFactor) {
  Make(1, [](CoordinatorOptions& o) {
    // Warm-up round 1: 1/2; then cosine over rounds 2..3: 1, (1 + cos(π/2))/2.
    o.lr = aggregation::LearningRateSchedule(aggregation::LearningRateSchedule::Kind::kCosine, 1,
                                             0.0, 5, 0.5);
  });
  Join(0);
  std::vector<double> announced;
  for (std::uint64_t round = 1; round <= 3; ++round) {
    machine_->Tick();
    for (const auto& m : Sent()[PeerOf(0).routing_id]) {
      if (const auto* start = std::get_if<wire::RoundStart>(&m.body))
        announced.push_back(start->lr_factor);
    }
    Report(0, 100, 2.0f, round);
    machine_->Tick();
  }
  ASSERT_EQ(announced.size(), 3u);
  EXPECT_DOUBLE_EQ(announced[0], 0.5);
  EXPECT_DOUBLE_EQ(announced[1], 1.0);
  EXPECT_NEAR(announced[2], 0.5, 1e-12);
  std::istringstream lines(testing::ReadFile(dir_.File("metrics.jsonl")));
  std::vector<double> recorded;
  for (std::string line; std::getline(lines, line);)
    recorded.push_back(nlohmann::json::parse(line)["lr_factor"].get<double>());
  EXPECT_EQ(recorded, announced);
}

// Central DP (coordinator/private_release.h): Poisson-sampled cohorts, the
// clipped noisy mean over the expected cohort, an account that stops the run.
class PrivateRoundTest : public RoundStateTest {
 protected:
  static void Private(CoordinatorOptions& o, double q, double z) {
    o.aggregation.weighting = aggregation::Weighting::kUniform;
    o.federation.fraction = q;
    o.privacy.enabled = true;
    o.privacy.sampling_rate = q;
    o.privacy.expected_cohort = q * o.federation.clients;
    o.privacy.clip_norm = 1.0;
    o.privacy.noise_multiplier = z;
    o.privacy.seed = 7;
  }

  // Distributed DP with q = 1, z = 1 and `min_survivors` t.
  static void Distributed(CoordinatorOptions& o, int min_survivors) {
    Private(o, 1.0, 1.0);
    o.privacy.distributed = true;
    o.privacy.min_survivors = min_survivors;
  }

  // Starts a round and answers every ROUND_START with `value` everywhere (an
  // empty cohort's round is released by the Tick that starts it).
  void RunRound(float value) {
    const auto round = machine_->committed_round();
    machine_->Tick();
    if (machine_->committed_round() > round) return;
    for (const auto& [route, messages] : Sent()) {
      for (const auto& m : messages) {
        if (std::holds_alternative<wire::RoundStart>(m.body)) {
          const int client = std::stoi(route.substr(6, route.size() - 7));  // "route-<i>a"
          Deliver(PeerOf(client), {m.round, UpdateFor(100, value)});
        }
      }
    }
    machine_->Tick();
  }

  std::vector<nlohmann::json> Metrics() {
    std::vector<nlohmann::json> records;
    std::istringstream lines(testing::ReadFile(dir_.File("metrics.jsonl")));
    for (std::string line; std::getline(lines, line);)
      records.push_back(nlohmann::json::parse(line));
    return records;
  }
};

TEST_F(PrivateRoundTest, ReleasesTheClippedMeanOverTheExpectedCohortAndChargesTheAccount) {
  Make(4, [](CoordinatorOptions& o) { Private(o, 1.0, 0.01); });
  for (int i = 0; i < 4; ++i) Join(i);
  machine_->Tick();
  Report(0, 100, 1.5f);    // delta 0.5 per value: norm exactly S = 1, kept as is
  Report(1, 100, 101.0f);  // norm 200: clipped to 1 (0.5 per value)
  Report(2, 100, 1.0f);    // no change
  Report(3, 100, 0.5f);    // norm 1, the other way
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  // 1 + (0.5 + 0.5 + 0 − 0.5) / (q·N = 4), noise std z·S/4 = 0.0025.
  for (const float v : machine_->global()) EXPECT_NEAR(v, 1.125f, 0.02f);
  EXPECT_NE(machine_->global()[0], machine_->global()[1]);  // the noise is there
  const auto record = Metrics().back();
  EXPECT_EQ(record["dp"], "central");
  EXPECT_DOUBLE_EQ(record["clipped_fraction"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(record["delta_norm_max"].get<double>(), 200.0);
  EXPECT_LE(record["contribution_norm_max"].get<double>(), 1.0 + 1e-6);
  EXPECT_EQ(record["privacy_steps"], 1);
  EXPECT_EQ(record["variances_floored"], 0);  // the test model has no BatchNorm
  EXPECT_DOUBLE_EQ(record["epsilon"].get<double>(),
                   privacy::EpsilonAfter(1.0, 0.01, 1, 1e-5).epsilon);
}

TEST_F(PrivateRoundTest, PoissonCohortsVaryAndAnEmptyOneReleasesNoiseAlone) {
  Make(3, [](CoordinatorOptions& o) {
    Private(o, 0.3, 1.0);
    o.federation.rounds = 12;
  });
  for (int i = 0; i < 3; ++i) Join(i);
  std::vector<float> before = machine_->global();
  std::set<std::size_t> sizes;
  int empty_rounds = 0;
  while (!machine_->done()) {
    const auto round = machine_->committed_round();
    RunRound(1.0f);  // honest clients that do not move the model
    ASSERT_EQ(machine_->committed_round(), round + 1) << "every round is released";
    const auto record = Metrics().back();
    sizes.insert(record["clients_selected"].get<std::size_t>());
    if (record["clients_selected"] == 0) {
      ++empty_rounds;
      EXPECT_EQ(record["clients_reported"], 0);
      EXPECT_TRUE(record["loss"].is_null());
      EXPECT_NE(machine_->global(), before);  // noise alone moved it
    }
    EXPECT_EQ(record["privacy_steps"], round + 1);
    before = machine_->global();
  }
  EXPECT_GE(sizes.size(), 2u) << "a Poisson sample's size is random";
  EXPECT_GE(empty_rounds, 1);
}

TEST_F(PrivateRoundTest, StopsBeforeTheRoundThatWouldExceedTheBudgetAndResumesTheSameAccount) {
  const double q = 0.5, z = 1.0, delta = 1e-5;
  const double two = privacy::EpsilonAfter(q, z, 2, delta).epsilon;
  const double three = privacy::EpsilonAfter(q, z, 3, delta).epsilon;
  const auto budget = [&](CoordinatorOptions& o) {
    Private(o, q, z);
    o.federation.rounds = 5;
    o.privacy.target_epsilon = 0.5 * (two + three);
    o.privacy.delta = delta;
  };
  Make(2, budget);
  for (int i = 0; i < 2; ++i) Join(i);
  RunRound(1.0f);
  RunRound(1.0f);
  ASSERT_EQ(machine_->committed_round(), 2u);
  EXPECT_NEAR(Metrics().back()["epsilon"].get<double>(), two, two * 1e-9);
  machine_->Tick();
  EXPECT_TRUE(machine_->done());
  EXPECT_EQ(machine_->committed_round(), 2u);
  EXPECT_NE(machine_->stop_reason().find("privacy budget"), std::string::npos)
      << machine_->stop_reason();
  EXPECT_NEAR(machine_->privacy_spent()["epsilon"].get<double>(), two, two * 1e-9);
  // A resumed run continues the account: still no room for round 3.
  Make(2, budget, ResumeMode::kResume);
  EXPECT_EQ(machine_->privacy_spent()["privacy_steps"], 2);
  for (int i = 0; i < 2; ++i) Join(i);
  machine_->Tick();
  EXPECT_TRUE(machine_->done());
  EXPECT_EQ(machine_->committed_round(), 2u);
}

TEST_F(PrivateRoundTest, ResumeRefusesToMixRoundsWithAndWithoutDp) {
  Make(1,
       [](CoordinatorOptions& o) { o.aggregation.weighting = aggregation::Weighting::kUniform; });
  Join(0);
  RunRound(2.0f);
  ASSERT_EQ(machine_->committed_round(), 1u);
  EXPECT_THROW(Make(
                   1, [](CoordinatorOptions& o) { Private(o, 1.0, 1.0); }, ResumeMode::kResume),
               ConfigError);
}

// Distributed DP: the clients clipped and noised their deltas; the
// coordinator sums and divides, and releases nothing below min_survivors.
TEST_F(PrivateRoundTest, DistributedReleasesTheSumOverTheExpectedCohortWithoutClippingOrNoise) {
  Make(4, [](CoordinatorOptions& o) { Distributed(o, 2); });
  for (int i = 0; i < 4; ++i) Join(i);
  machine_->Tick();
  Report(0, 100, 1.5f);
  Report(1, 100, 101.0f);  // the client's own noise can be large: not clipped again here
  Report(2, 100, 1.0f);
  Report(3, 100, 0.5f);
  machine_->Tick();
  ASSERT_EQ(machine_->committed_round(), 1u);
  // 1 + (0.5 + 100 + 0 − 0.5) / 4, exactly: the noise came with the updates.
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 26.0f));
  const auto record = Metrics().back();
  EXPECT_EQ(record["dp"], "distributed");
  EXPECT_EQ(record["min_survivors"], 2);
  EXPECT_DOUBLE_EQ(record["client_noise_std"].get<double>(), 1.0 / std::sqrt(2.0));
  EXPECT_FALSE(record.contains("clipped_fraction")) << "the clients clipped, not the coordinator";
  EXPECT_DOUBLE_EQ(record["epsilon"].get<double>(),
                   privacy::EpsilonAfter(1.0, 1.0, 1, 1e-5).epsilon);
}

TEST_F(PrivateRoundTest, DistributedRoundWithFewerReportsThanMinSurvivorsIsNotReleased) {
  Make(3, [](CoordinatorOptions& o) { Distributed(o, 3); });
  for (int i = 0; i < 3; ++i) Join(i);
  machine_->Tick();
  ASSERT_EQ(machine_->selected().size(), 3u);
  Report(0, 100, 2.0f);
  Report(1, 100, 2.0f);
  clock_.Advance(std::chrono::seconds(61));  // client 2 never reports and times out
  Deliver(PeerOf(0), {0, wire::Heartbeat{}});
  Deliver(PeerOf(1), {0, wire::Heartbeat{}});
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 0u) << "2 reports carry 2/3 of the noise";
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 1.0f));
  EXPECT_EQ(machine_->privacy_spent()["privacy_steps"], 1) << "the draw is charged";
  // Two clients left cannot make a cohort of 3: nobody is asked to train.
  Sent();
  machine_->Tick();
  machine_->Tick();
  for (const auto& [route, messages] : Sent()) {
    for (const auto& m : messages) EXPECT_FALSE(std::holds_alternative<wire::RoundStart>(m.body));
  }
  // With the third client back, round 1 is released from three reports.
  Join(2);
  machine_->Tick();
  ASSERT_EQ(machine_->selected().size(), 3u);
  for (int i = 0; i < 3; ++i) Report(i, 100, 2.0f);
  machine_->Tick();
  EXPECT_EQ(machine_->committed_round(), 1u);
  EXPECT_EQ(machine_->global(), std::vector<float>(kDim, 2.0f));
  EXPECT_EQ(machine_->privacy_spent()["privacy_steps"], 2);
  EXPECT_EQ(Metrics().back()["sampling_draws"], 2);
}

// A Poisson draw smaller than min_survivors is released as nothing and drawn
// again: it is still a step, or a client's real inclusion rate per charged
// step would exceed q.
TEST_F(PrivateRoundTest, EveryDrawIsChargedIncludingThoseTooSmallToRelease) {
  Make(6, [](CoordinatorOptions& o) {
    Private(o, 0.5, 1.0);
    o.privacy.distributed = true;
    o.privacy.min_survivors = 4;  // P(|S| >= 4) = 22/64 per draw
    o.federation.rounds = 6;
  });
  for (int i = 0; i < 6; ++i) Join(i);
  while (!machine_->done()) RunRound(2.0f);
  std::int64_t draws = 0;
  bool redrawn = false;
  for (const auto& record : Metrics()) {
    draws += record["attempts"].get<std::int64_t>();
    redrawn = redrawn || record["attempts"] > 1;
    EXPECT_EQ(record["sampling_draws"], draws) << record.dump();
    EXPECT_EQ(record["privacy_steps"], draws) << record.dump();
  }
  EXPECT_TRUE(redrawn) << "no draw was too small: the test shows nothing";
  EXPECT_DOUBLE_EQ(machine_->privacy_spent()["epsilon"].get<double>(),
                   privacy::EpsilonAfter(0.5, 1.0, static_cast<int>(draws), 1e-5).epsilon);
}

}  // namespace
}  // namespace fsd::coordinator
