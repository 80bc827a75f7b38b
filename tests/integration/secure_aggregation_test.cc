// Secure aggregation over real CURVE sockets: a Coordinator and ten real
// client sessions (ClientNode + ClientSession, as fsd-client and fsd-sim run
// them) whose "training" adds a known delta, so the committed global model
// can be compared with the plaintext mean of exactly the clients whose
// masked inputs the coordinator used. Clients drop out at each stage: silent
// (they stop answering; the stage deadline moves on) or gone (BYE).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "client/client_node.h"
#include "coordinator/coordinator.h"
#include "transport/curve_socket.h"
#include "tests/testing/coordinator_thread.h"
#include "tests/testing/temp_dir.h"

namespace fsd::coordinator {
namespace {


constexpr std::uint64_t kFingerprint = 0x5ecaULL;
constexpr std::size_t kDim = 40;
constexpr std::size_t kClasses = 2;
constexpr int kClients = 10;
constexpr int kThreshold = 6;

// When a client stops: after its keys, after its shares, after its masked
// input (it leaves with BYE), or when asked to unmask (it stays silent).
enum class Drop { kAfterAdvertising, kAfterSharingKeys, kAfterMaskedInput, kDuringUnmasking };

const char* DropName(Drop drop) {
  switch (drop) {
    case Drop::kAfterAdvertising:
      return "AfterAdvertising";
    case Drop::kAfterSharingKeys:
      return "AfterSharingKeys";
    case Drop::kAfterMaskedInput:
      return "AfterMaskedInput";
    case Drop::kDuringUnmasking:
      return "DuringUnmasking";
  }
  return "?";
}

// Client i's delta on value j: distinct per client and value, within ±0.5.
float DeltaOf(int client, std::size_t j) {
  return 0.01f * static_cast<float>(client + 1) * (static_cast<float>(j % 7) - 3.0f);
}

class SecureAggregationTest : public ::testing::Test {
 protected:
  void Start(const std::function<void(CoordinatorOptions&)>& adjust = {}) {
    CoordinatorOptions options;
    options.federation.rounds = 1;
    options.federation.quorum = 0.5;
    options.federation.round_deadline_s = 3.0;
    options.schema_fingerprint = kFingerprint;
    options.num_classes = kClasses;
    options.out_dir = dir_.path();
    options.secure_aggregation.enabled = true;
    options.secure_aggregation.threshold = kThreshold;
    options.secure_aggregation.stage_deadline_s = 1.0;
    if (adjust) adjust(options);
    server_.emplace(context_, kClients, options, std::vector<float>(kDim, 1.0f));
    coordinator_ = &server_->coordinator();
    for (int i = 0; i < kClients; ++i) {
      client::ClientSessionOptions session;
      session.name = "client-" + std::to_string(i);
      session.num_samples = 100;
      session.schema_fingerprint = kFingerprint;
      session.layout = {{0, kDim, false}};
      session.num_classes = kClasses;
      session.require_secure = true;
      client::ClientNodeOptions node;
      node.endpoint = server_->endpoint();
      node.keys = server_->client_keys(i);
      node.server_public_z85 = server_->server_keys().public_z85;
      node.heartbeat_ms = 200;
      nodes_.emplace_back(context_, client::ClientSession(std::move(session)), std::move(node));
      nodes_.back().Start(std::chrono::steady_clock::now());
    }
  }

  // Drives every client until the coordinator finished (at most 60 s);
  // client i stops at `drops[i]` when set.
  bool Drive(const std::map<int, Drop>& drops) {
    std::vector<bool> stopped(kClients, false);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!server_->finished() && std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < kClients; ++i) {
        if (stopped[i]) continue;
        auto& node = nodes_[i];
        const auto now = std::chrono::steady_clock::now();
        for (auto& round : node.Receive(now, /*max_frames=*/1)) {
          client::TrainedRound trained;
          trained.sample_count = 100;
          trained.train_loss = 0.5;
          trained.values = round.global_values;
          for (std::size_t j = 0; j < kDim; ++j) trained.values[j] += DeltaOf(i, j);
          trained.summary.counts = {40, 60};
          trained.summary.mean_logits = {2.0f + 0.1f * static_cast<float>(i), -1.0f, -0.5f, 1.5f};
          node.SendUpdate(round, std::move(trained), now);
        }
        node.Tick(now);
        const auto drop = drops.find(i);
        const auto stage = node.session().secure_stage();
        if (drop == drops.end() || !stage) continue;
        const bool stop =
            (drop->second == Drop::kAfterAdvertising && *stage == privacy::SecAggStage::kShareKeys) ||
            (drop->second == Drop::kAfterSharingKeys && *stage == privacy::SecAggStage::kMaskedInput) ||
            (drop->second == Drop::kAfterMaskedInput && *stage == privacy::SecAggStage::kUnmask) ||
            (drop->second == Drop::kDuringUnmasking && *stage == privacy::SecAggStage::kUnmask);
        if (!stop) continue;
        stopped[i] = true;
        // Five gone for good would leave fewer joined clients than
        // federation.min_clients for the retry: those stay connected, silent.
        if (drop->second == Drop::kAfterMaskedInput && drops.size() < 5)
          node.SayBye("dropping out");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return server_->StopAndJoin();
  }

  nlohmann::json LastRecord() const {
    std::ifstream in(dir_.path() + "/metrics.jsonl");
    std::string line, last;
    while (std::getline(in, line)) last = line;
    return nlohmann::json::parse(last);
  }

  // The plaintext mean delta of `clients`.
  static std::vector<double> MeanDelta(const std::vector<int>& clients) {
    std::vector<double> mean(kDim, 0.0);
    for (const int i : clients) {
      for (std::size_t j = 0; j < kDim; ++j) mean[j] += DeltaOf(i, j) / clients.size();
    }
    return mean;
  }

  testing::TempDir dir_;
  zmq::context_t context_;
  std::optional<testing::CoordinatorThread> server_;
  Coordinator* coordinator_ = nullptr;  // server_'s
  std::vector<client::ClientNode> nodes_;
};

// Quantization: deltas at 16 bits over ±1 are within 2/65535 of their code.
constexpr double kQuantizationError = 2.0 / 65535.0;

struct DropCase {
  Drop stage;
  int k;  // clients that drop (the last k)
};

class SecureAggregationDropTest : public SecureAggregationTest,
                                  public ::testing::WithParamInterface<DropCase> {};

// k < n − t + 1: the round completes in its first attempt with exactly the
// masked inputs the coordinator received; k = 5 (fewer than t = 6 left):
// that attempt fails without touching the model and the retry, without the
// five, commits their mean — except when the five fell silent after their
// masked inputs: asked to unmask, only the other five reveal, so the round
// is over, failed, model untouched, and never attempted again.
TEST_P(SecureAggregationDropTest, GlobalModelIsTheMeanOfExactlyTheMaskedInputsUsed) {
  const auto [stage, k] = GetParam();
  Start();
  std::map<int, Drop> drops;
  for (int i = kClients - k; i < kClients; ++i) drops[i] = stage;
  ASSERT_TRUE(Drive(drops));
  const bool completes = kClients - k >= kThreshold;
  const bool masked_in = stage == Drop::kAfterMaskedInput || stage == Drop::kDuringUnmasking;
  const auto record = LastRecord();
  EXPECT_EQ(record["round"], 1);
  if (!completes && masked_in) {
    EXPECT_EQ(record["outcome"], "failed");
    EXPECT_EQ(record["attempts"], 1);
    EXPECT_EQ(record["clients_reported"], 0);
    for (const float value : coordinator_->global()) EXPECT_EQ(value, 1.0f);
    return;
  }
  std::vector<int> used;
  for (int i = 0; i < kClients; ++i) {
    if ((completes && masked_in) || !drops.contains(i)) used.push_back(i);
  }
  EXPECT_EQ(record["outcome"], "committed");
  EXPECT_EQ(record["attempts"], completes ? 1 : 2);
  EXPECT_EQ(record["clients_reported"], used.size());
  EXPECT_EQ(record["secure_aggregation"]["survivors"], used.size());
  EXPECT_EQ(record["secure_aggregation"]["cohort"], completes ? kClients : kClients - k);
  EXPECT_EQ(record["secagg_clamped"], 0);
  const auto mean = MeanDelta(used);
  const auto& global = coordinator_->global();
  ASSERT_EQ(global.size(), kDim);
  for (std::size_t j = 0; j < kDim; ++j) {
    EXPECT_NEAR(global[j], 1.0 + mean[j], kQuantizationError) << "value " << j;
  }
}

std::vector<DropCase> DropCases() {
  std::vector<DropCase> cases;
  for (const Drop stage : {Drop::kAfterAdvertising, Drop::kAfterSharingKeys,
                           Drop::kAfterMaskedInput, Drop::kDuringUnmasking}) {
    for (int k = 1; k <= 5; ++k) cases.push_back({stage, k});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(EveryStage, SecureAggregationDropTest, ::testing::ValuesIn(DropCases()),
                         [](const ::testing::TestParamInfo<DropCase>& info) {
                           return std::string(DropName(info.param.stage)) + "_" +
                                  std::to_string(info.param.k) + "Clients";
                         });

}  // namespace
}  // namespace fsd::coordinator
