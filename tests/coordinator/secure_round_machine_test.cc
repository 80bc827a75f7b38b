// A whole secure round without sockets: the RoundStateMachine and real
// ClientSessions (as fsd-client and fsd-sim run them) exchange frames in one
// thread, time from a ManualClock. A client's outgoing frames can be
// tampered with, which is how a colluding client is played: the round must
// never be unmasked twice over the same inputs.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "client/client_session.h"
#include "coordinator/round_state.h"
#include "coordinator/secure_round.h"
#include "tests/testing/temp_dir.h"

namespace fsd::coordinator {
namespace {

constexpr std::uint64_t kFingerprint = 0x5ec0ULL;
constexpr std::size_t kDim = 16;
constexpr std::size_t kClasses = 2;
constexpr int kClients = 6;

std::string Key(int i) { return "key-" + std::to_string(i); }
std::string Route(int i) { return "route-" + std::to_string(i); }

// Client i's delta on value j.
float DeltaOf(int client, std::size_t j) {
  return 0.01f * static_cast<float>(client + 1) * (static_cast<float>(j % 5) - 2.0f);
}

class SecureRoundMachineTest : public ::testing::Test {
 protected:
  // Edits a frame client i is about to send; returns false to drop it.
  using Tamper = std::function<bool(int client, wire::Message& message)>;

  void Make(int rounds, const std::function<void(CoordinatorOptions&)>& adjust = {},
            const std::function<void(client::ClientSessionOptions&)>& adjust_session = {}) {
    CoordinatorOptions options;
    options.federation.rounds = rounds;
    options.federation.clients = kClients;
    options.federation.quorum = 0.5;
    options.federation.round_deadline_s = 60.0;
    options.transport.client_timeout_s = 600.0;
    options.schema_fingerprint = kFingerprint;
    options.num_classes = kClasses;
    options.out_dir = dir_.path();
    options.secure_aggregation.enabled = true;
    options.secure_aggregation.threshold = 4;
    options.secure_aggregation.stage_deadline_s = 5.0;
    if (adjust) adjust(options);
    std::map<std::string, std::string> allowed;
    for (int i = 0; i < kClients; ++i) allowed[Key(i)] = "client-" + std::to_string(i);
    machine_ = std::make_unique<RoundStateMachine>(options, allowed, std::vector<float>(kDim, 1.0f),
                                                   nullptr, nullptr, clock_);
    sessions_.clear();
    round_starts_.clear();
    for (int i = 0; i < kClients; ++i) {
      client::ClientSessionOptions session;
      session.name = "client-" + std::to_string(i);
      session.num_samples = 100;
      session.schema_fingerprint = kFingerprint;
      session.layout = {{0, kDim, false}};
      session.num_classes = kClasses;
      session.require_secure = true;
      if (adjust_session) adjust_session(session);
      sessions_.emplace_back(std::move(session));
      Send(i, sessions_.back().JoinFrame());
    }
  }

  void Send(int i, const std::vector<std::uint8_t>& frame) {
    if (tamper_) {
      auto decoded = wire::DecodeFrame(frame, {});
      ASSERT_TRUE(decoded.ok());
      wire::Message message = decoded.value();
      if (!tamper_(i, message)) return;
      machine_->OnFrame({Key(i), Route(i)}, wire::EncodeFrame(message));
      return;
    }
    machine_->OnFrame({Key(i), Route(i)}, frame);
  }

  // Hands the machine's frames to the sessions, trains (global + DeltaOf)
  // and answers, until the run is done; the clock moves when nothing does.
  void Run() {
    for (int step = 0; step < 10000 && !machine_->done(); ++step) {
      machine_->Tick();
      auto outgoing = machine_->TakeOutgoing();
      if (outgoing.empty()) {
        clock_.Advance(std::chrono::seconds(1));
        continue;
      }
      for (auto& out : outgoing) {
        const int i = std::stoi(out.routing_id.substr(out.routing_id.find('-') + 1));
        auto decoded = wire::DecodeFrame(out.frame, {});
        ASSERT_TRUE(decoded.ok());
        if (wire::KindOf(decoded.value().body) == wire::MessageKind::kRoundStart) {
          round_starts_[i].push_back(out.frame);
        }
        auto result = sessions_[i].OnFrame(out.frame);
        for (const auto& reply : result.replies) Send(i, reply);
        if (result.train) {
          client::TrainedRound trained;
          trained.sample_count = 100;
          trained.train_loss = 0.5;
          trained.values = result.train->global_values;
          for (std::size_t j = 0; j < kDim; ++j) trained.values[j] += DeltaOf(i, j);
          trained.summary = {{40, 60}, {1.0f, -1.0f, -0.5f, 1.5f}};
          if (auto frame = sessions_[i].UpdateFrame(*result.train, std::move(trained))) {
            Send(i, *frame);
          }
        }
      }
    }
    ASSERT_TRUE(machine_->done());
  }

  std::vector<nlohmann::json> Records() const {
    std::ifstream in(dir_.path() + "/metrics.jsonl");
    std::vector<nlohmann::json> records;
    for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
    return records;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<RoundStateMachine> machine_;
  std::vector<client::ClientSession> sessions_;
  std::map<int, std::vector<std::vector<std::uint8_t>>> round_starts_;  // by client
  Tamper tamper_;
};

// Clients 3, 4 and 5 fall silent when asked to unmask round 1: three
// reveals, fewer than t = 4, after the other three revealed theirs.
bool SilentInRoundOneUnmask(int client, wire::Message& message) {
  return !(client >= 3 && message.round == 1 &&
           std::holds_alternative<wire::SecAggReveal>(message.body));
}

TEST_F(SecureRoundMachineTest, RoundWhoseRevealFailsIsNeverAttemptedAgain) {
  Make(/*rounds=*/2);
  tamper_ = SilentInRoundOneUnmask;
  Run();
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  // Round 1 reached unmasking and failed: counted, model untouched, not retried.
  EXPECT_EQ(records[0]["round"], 1);
  EXPECT_EQ(records[0]["outcome"], "failed");
  EXPECT_NE(records[0]["failure"].get<std::string>().find("fewer than the threshold"),
            std::string::npos);
  EXPECT_EQ(records[0]["attempts"], 1);
  EXPECT_EQ(records[0]["clients_reported"], 0);
  EXPECT_EQ(records[0]["global_change_rms"], 0.0);
  EXPECT_EQ(records[0]["secure_culprits"], nlohmann::json::array());
  // Round 2 is a new round with every client and commits their mean.
  EXPECT_EQ(records[1]["round"], 2);
  EXPECT_EQ(records[1]["outcome"], "committed");
  EXPECT_EQ(records[1]["clients_reported"], kClients);
  for (int i = 0; i < kClients; ++i) {
    ASSERT_EQ(round_starts_[i].size(), 2u) << "client " << i;
    for (int r = 0; r < 2; ++r) {
      EXPECT_EQ(wire::DecodeFrame(round_starts_[i][r], {}).value().round, r + 1u);
    }
  }
  double mean = 0.0;
  for (int i = 0; i < kClients; ++i) mean += DeltaOf(i, 0) / kClients;
  EXPECT_NEAR(machine_->global()[0], 1.0 + mean, 1e-4);
}

TEST_F(SecureRoundMachineTest, EachStageRecordsItsWallTimeAndAStalledUnmaskItsDeadline) {
  Make(/*rounds=*/2);
  tamper_ = SilentInRoundOneUnmask;
  Run();
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  // Round 1's unmask stage waited for three silent clients until
  // stage_deadline_s = 5 (the test clock moves 1 s while nothing happens);
  // its other stages closed as soon as every member had answered.
  const auto& stages = records[0]["secure_aggregation"]["stages"];
  EXPECT_GT(stages["unmask"]["seconds"].get<double>(), 5.0);
  EXPECT_LE(stages["unmask"]["seconds"].get<double>(), 7.0);
  for (const char* stage : {"advertise", "share_keys", "masked_input"}) {
    EXPECT_LT(stages[stage]["seconds"].get<double>(), 5.0) << stage;
  }
}

// A dropout at every stage of one round: client 5 falls silent after
// advertising its keys, client 4 after sharing them, client 3 after its
// masked input (asked to unmask, it says nothing).
bool DropsOutAtEveryStage(int client, wire::Message& message) {
  const auto& body = message.body;
  const bool shares = std::holds_alternative<wire::SecAggShares>(body);
  const bool masked = std::holds_alternative<wire::SecAggMasked>(body);
  const bool reveal = std::holds_alternative<wire::SecAggReveal>(body);
  if (client == 5) return !(shares || masked || reveal);
  if (client == 4) return !(masked || reveal);
  if (client == 3) return !reveal;
  return true;
}

TEST_F(SecureRoundMachineTest, DropoutsAtEveryStageCommitTheMeanOfTheMaskedInputs) {
  // t = 3 of 6 (the clients accept it: their own floor is 3), so the three
  // clients that reveal can unmask the round.
  Make(
      /*rounds=*/1, [](CoordinatorOptions& options) { options.secure_aggregation.threshold = 3; },
      [](client::ClientSessionOptions& session) { session.secure_requirements.min_threshold = 3; });
  tamper_ = DropsOutAtEveryStage;
  Run();
  const auto records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["outcome"], "committed");
  EXPECT_EQ(records[0]["attempts"], 1);
  EXPECT_EQ(records[0]["clients_reported"], 4);
  const auto& secure = records[0]["secure_aggregation"];
  EXPECT_EQ(secure["survivors"], 4);
  EXPECT_EQ(secure["stages"]["advertise"]["clients"], 6);
  EXPECT_EQ(secure["stages"]["share_keys"]["clients"], 5);
  EXPECT_EQ(secure["stages"]["masked_input"]["clients"], 4);
  EXPECT_EQ(secure["stages"]["unmask"]["clients"], 3);
  // Client 3's self mask and client 4's pairwise masks were reconstructed
  // from the others' shares: the sum is exactly clients 0..3's deltas.
  for (std::size_t j = 0; j < kDim; ++j) {
    double mean = 0.0;
    for (int i = 0; i < 4; ++i) mean += DeltaOf(i, j) / 4.0;
    EXPECT_NEAR(machine_->global()[j], 1.0 + mean, 1e-4) << j;
  }
}

// Client 0 reveals wrong self-mask shares in round 1.
bool BadShareInRoundOne(int client, wire::Message& message) {
  auto* reveal = std::get_if<wire::SecAggReveal>(&message.body);
  if (client == 0 && reveal != nullptr && message.round == 1) {
    for (auto& share : reveal->self_mask) share.y[0] ^= 1;
  }
  return true;
}

TEST_F(SecureRoundMachineTest, WrongShareIsOutvotedAndItsSenderExcluded) {
  Make(/*rounds=*/2);
  tamper_ = BadShareInRoundOne;
  Run();
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  // Five right shares per secret outvote client 0's: round 1 commits the
  // exact mean of all six, and names client 0.
  EXPECT_EQ(records[0]["outcome"], "committed");
  EXPECT_EQ(records[0]["clients_reported"], kClients);
  EXPECT_EQ(records[0]["secure_culprits"], nlohmann::json::array({"client-0"}));
  // Round 2 goes on without it.
  EXPECT_EQ(records[1]["outcome"], "committed");
  EXPECT_EQ(records[1]["clients_selected"], kClients - 1);
  EXPECT_EQ(records[1]["secure_culprits"], nlohmann::json::array());
  EXPECT_EQ(round_starts_[0].size(), 1u);
  double mean1 = 0.0, mean2 = 0.0;
  for (int i = 0; i < kClients; ++i) mean1 += DeltaOf(i, 0) / kClients;
  for (int i = 1; i < kClients; ++i) mean2 += DeltaOf(i, 0) / (kClients - 1);
  EXPECT_NEAR(machine_->global()[0], 1.0 + mean1 + mean2, 1e-4);
}

// Client 2 seals garbage for its first neighbour (client 0) in round 1.
bool BadSealInRoundOne(int client, wire::Message& message) {
  auto* shares = std::get_if<wire::SecAggShares>(&message.body);
  if (client == 2 && message.round == 1 && shares != nullptr && !shares->shares.empty()) {
    shares->shares.front().sealed.back() ^= 1;
  }
  return true;
}

TEST_F(SecureRoundMachineTest, ShareThatDoesNotOpenIsDisputedTheRoundCommitsAndBothSidesSitOut) {
  Make(/*rounds=*/2);
  tamper_ = BadSealInRoundOne;
  Run();
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  // Client 0 could not open client 2's shares, yet masked with it: the round
  // commits the exact mean of all six, and names the dispute.
  EXPECT_EQ(records[0]["outcome"], "committed");
  EXPECT_EQ(records[0]["clients_reported"], kClients);
  EXPECT_EQ(records[0]["secure_disputes"],
            nlohmann::json::parse(R"([{"accuser": "client-0", "accused": "client-2"}])"));
  EXPECT_EQ(records[0]["secure_culprits"], nlohmann::json::array());
  // A dispute that stands alone cannot be decided: both sit out round 2.
  EXPECT_EQ(records[1]["outcome"], "committed");
  EXPECT_EQ(records[1]["clients_selected"], kClients - 2);
  EXPECT_EQ(round_starts_[0].size(), 1u);
  EXPECT_EQ(round_starts_[2].size(), 1u);
  double mean1 = 0.0, mean2 = 0.0;
  for (int i = 0; i < kClients; ++i) mean1 += DeltaOf(i, 0) / kClients;
  for (int i : {1, 3, 4, 5}) mean2 += DeltaOf(i, 0) / (kClients - 2);
  EXPECT_NEAR(machine_->global()[0], 1.0 + mean1 + mean2, 1e-4);
}

TEST_F(SecureRoundMachineTest, CulpritStaysExcludedWhenTheCoordinatorRestarts) {
  Make(/*rounds=*/1);
  tamper_ = BadShareInRoundOne;
  Run();
  ASSERT_EQ(Records().front()["secure_culprits"], nlohmann::json::array({"client-0"}));
  // A new coordinator resumes from the checkpoint: client 0 is still out.
  tamper_ = {};
  Make(/*rounds=*/2, [](CoordinatorOptions& options) { options.resume = ResumeMode::kResume; });
  Run();
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["outcome"], "committed");
  EXPECT_EQ(records[1]["clients_selected"], kClients - 1);
  EXPECT_TRUE(round_starts_[0].empty());
}

TEST_F(SecureRoundMachineTest, ClientThatRevealedRefusesAnotherAttemptOfTheRound) {
  Make(/*rounds=*/1);
  Run();
  ASSERT_EQ(Records().size(), 1u);
  ASSERT_EQ(round_starts_[2].size(), 1u);
  // A coordinator that asks again for round 1 (the same ROUND_START, as a
  // retry would send) gets nothing: no training, no keys.
  const auto again = sessions_[2].OnFrame(round_starts_[2][0]);
  EXPECT_FALSE(again.train);
  EXPECT_TRUE(again.replies.empty());
}

TEST_F(SecureRoundMachineTest, FailedRevealIsChargedUnderDistributedDp) {
  Make(/*rounds=*/2,
       [](CoordinatorOptions& options) {
         options.privacy.enabled = true;
         options.privacy.distributed = true;
         options.privacy.weights = true;
         options.privacy.sampling_rate = 1.0;
         options.privacy.expected_cohort = kClients;
         options.privacy.min_survivors = 4;
         options.privacy.noise_multiplier = 1.0;
         options.privacy.clip_norm = 1.0;
         options.privacy.delta = 1e-5;
         options.privacy.seed = 7;
         options.aggregation.weighting = aggregation::Weighting::kUniform;
       },
       [](client::ClientSessionOptions& session) {
         // Each client's share of the noise: z·S/√t.
         session.local_dp = client::LocalDp{1.0, 0.5, 3, 4};
         session.ledger = client::LedgerOptions{1.0, 1.0, 0.0, 1e-5};
       });
  tamper_ = SilentInRoundOneUnmask;
  Run();
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["outcome"], "failed");
  EXPECT_EQ(records[0]["privacy_steps"], 1);
  EXPECT_EQ(records[0]["sampling_draws"], 1);
  EXPECT_GT(records[0]["epsilon"].get<double>(), 0.0);
  EXPECT_EQ(records[1]["outcome"], "committed");
  EXPECT_EQ(records[1]["privacy_steps"], 2);
}

TEST(DisputantsTest, TheClientInMostDisputesGoesAloneAndALonePairGoesTogether) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  // One client that sealed garbage for three neighbours (or accused three).
  EXPECT_EQ(Disputants(Pairs{{"a", "x"}, {"b", "x"}, {"c", "x"}}), std::set<std::string>{"x"});
  EXPECT_EQ(Disputants(Pairs{{"x", "a"}, {"x", "b"}}), std::set<std::string>{"x"});
  // A chain: the middle one is in both.
  EXPECT_EQ(Disputants(Pairs{{"a", "b"}, {"c", "b"}}), std::set<std::string>{"b"});
  // Alone, a dispute cannot be decided.
  EXPECT_EQ(Disputants(Pairs{{"a", "b"}}), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(Disputants(Pairs{{"a", "b"}, {"c", "d"}, {"e", "d"}}),
            (std::set<std::string>{"a", "b", "d"}));
  EXPECT_TRUE(Disputants(Pairs{}).empty());
}

}  // namespace
}  // namespace fsd::coordinator
