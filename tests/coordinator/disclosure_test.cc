// What the coordinator sees of a client, mode by mode: the table of
// docs/SECURE_AGGREGATION.md ("What the coordinator sees"), checked on real
// frames. One round runs with the RoundStateMachine and real ClientSessions
// built from one config (as fsd-sim and fsd-client build them), without
// sockets; every frame a client sends is decoded and each field compared
// with what the client trained: exact, noised, masked or absent.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "client/client_session.h"
#include "common/config/toml_loader.h"
#include "common/model/multi_exit_net.h"
#include "coordinator/options.h"
#include "coordinator/round_state.h"
#include "tests/testing/temp_dir.h"

namespace fsd::coordinator {
namespace {

constexpr int kClients = 6;
constexpr std::size_t kClasses = 10;
constexpr std::int64_t kSamples = 100;
constexpr double kLoss = 0.5;

struct Mode {
  const char* name;
  const char* toml;  // [privacy] and [secure_aggregation] of the mode
  bool distributed;
  bool secure;
};

const Mode kModes[] = {
    {"plain", "", false, false},
    {"central_dp",
     "[privacy]\ndp = \"central\"\nnoise_multiplier = 1.0\nsummary_noise_multiplier = 1.0\n"
     "[aggregation]\nweighting = \"uniform\"\n",
     false, false},
    {"distributed_dp",
     "[privacy]\ndp = \"distributed\"\nnoise_multiplier = 1.0\nsummary_noise_multiplier = 1.0\n"
     "min_survivors = 3\n[aggregation]\nweighting = \"uniform\"\n",
     true, false},
    {"secure", "[secure_aggregation]\nenabled = true\nthreshold = 4\n", false, true},
    {"secure_distributed_dp",
     "[privacy]\ndp = \"distributed\"\nnoise_multiplier = 1.0\nsummary_noise_multiplier = 1.0\n"
     "min_survivors = 3\n[aggregation]\nweighting = \"uniform\"\n"
     "[secure_aggregation]\nenabled = true\nthreshold = 4\n",
     true, true},
};

// What client i trained: the global values plus a small delta, and a summary
// of its (hypothetical) samples.
client::TrainedRound TrainedBy(int i, const std::vector<float>& global) {
  client::TrainedRound trained;
  trained.sample_count = kSamples;
  trained.train_loss = kLoss;
  trained.values = global;
  for (std::size_t j = 0; j < trained.values.size(); ++j)
    trained.values[j] += 0.001f * static_cast<float>((i + j) % 7) - 0.003f;
  trained.summary.counts.assign(kClasses, 0);
  trained.summary.counts[static_cast<std::size_t>(i) % kClasses] = 60;
  trained.summary.counts[static_cast<std::size_t>(i + 1) % kClasses] = 40;
  trained.summary.mean_logits.assign(kClasses * kClasses, 0.0f);
  for (std::size_t c = 0; c < kClasses; ++c) {
    if (trained.summary.counts[c] == 0) continue;
    for (std::size_t j = 0; j < kClasses; ++j)
      trained.summary.mean_logits[c * kClasses + j] = c == j ? 4.0f : -0.5f;
  }
  return trained;
}

class DisclosureTest : public ::testing::TestWithParam<Mode> {
 protected:
  // One round under the mode; fills sent_ with every client frame, decoded.
  void RunOneRound() {
    const Mode& mode = GetParam();
    const std::string toml = std::string("[federation]\nclients = ") + std::to_string(kClients) +
                             "\nrounds = 1\nquorum = 0.5\nround_deadline_s = 60\n"
                             "[data]\nnum_classes = 10\n"
                             "[model]\narchitecture = \"mlp\"\n[loss]\nbeta = 0.3\n" +
                             mode.toml;
    const config::RunConfig config = config::ParseConfig(toml, mode.name);
    torch::manual_seed(0);
    model::ModelSpec spec;
    spec.architecture = model::Architecture::kMlp;
    spec.height = spec.width = 8;
    model::MultiExitNet net(spec);
    const auto schema = model::FlatSchema::Of(*net);
    CoordinatorOptions options = OptionsFromConfig(config, schema, dir_.path(), ResumeMode::kFresh);
    options.privacy.seed = 7;  // simulation: sampling and central noise from a seed
    std::map<std::string, std::string> allowed;
    for (int i = 0; i < kClients; ++i) allowed[Key(i)] = "client-" + std::to_string(i);
    machine_ = std::make_unique<RoundStateMachine>(options, allowed, model::Flatten(*net, schema),
                                                   nullptr, nullptr, clock_);
    for (int i = 0; i < kClients; ++i) {
      auto session =
          client::SessionOptionsFromConfig(config, "client-" + std::to_string(i), kSamples, schema);
      if (session.local_dp) session.local_dp->seed = 11;
      sessions_.emplace_back(std::move(session));
      Send(i, sessions_.back().JoinFrame());
    }
    for (int step = 0; step < 10000 && !machine_->done(); ++step) {
      machine_->Tick();
      auto outgoing = machine_->TakeOutgoing();
      if (outgoing.empty()) {
        clock_.Advance(std::chrono::seconds(1));
        continue;
      }
      for (auto& out : outgoing) {
        const int i = std::stoi(out.routing_id.substr(out.routing_id.find('-') + 1));
        auto result = sessions_[static_cast<std::size_t>(i)].OnFrame(out.frame);
        for (const auto& reply : result.replies) Send(i, reply);
        if (result.train) {
          client::TrainedRound trained = TrainedBy(i, result.train->global_values);
          trained_[i] = trained;
          globals_[i] = result.train->global_values;
          if (auto frame = sessions_[static_cast<std::size_t>(i)].UpdateFrame(*result.train,
                                                                              std::move(trained)))
            Send(i, *frame);
        }
      }
    }
    ASSERT_TRUE(machine_->done());
  }

  void Send(int i, const std::vector<std::uint8_t>& frame) {
    auto decoded = wire::DecodeFrame(frame, {});
    ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
    sent_[i].push_back(decoded.value());
    machine_->OnFrame({Key(i), "route-" + std::to_string(i)}, frame);
  }

  template <typename T>
  std::vector<T> SentBy(int i) const {
    std::vector<T> out;
    for (const auto& message : sent_.at(i))
      if (const auto* body = std::get_if<T>(&message.body)) out.push_back(*body);
    return out;
  }

  nlohmann::json LastRecord() const {
    std::ifstream in(dir_.path() + "/metrics.jsonl");
    std::string line, last;
    while (std::getline(in, line)) last = line;
    return nlohmann::json::parse(last);
  }

  static std::string Key(int i) { return "key-" + std::to_string(i); }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<RoundStateMachine> machine_;
  std::vector<client::ClientSession> sessions_;
  std::map<int, std::vector<wire::Message>> sent_;
  std::map<int, client::TrainedRound> trained_;
  std::map<int, std::vector<float>> globals_;
};

TEST_P(DisclosureTest, EveryFieldACoordinatorReceivesIsExactNoisedMaskedOrAbsentAsDocumented) {
  const Mode& mode = GetParam();
  RunOneRound();
  const nlohmann::json record = LastRecord();
  ASSERT_EQ(record.value("outcome", ""), "committed") << record.dump();
  ASSERT_FALSE(trained_.empty());
  for (const auto& [i, trained] : trained_) {
    SCOPED_TRACE("client " + std::to_string(i));
    // JOIN: the declared sample count.
    const auto joins = SentBy<wire::Join>(i);
    ASSERT_FALSE(joins.empty());
    EXPECT_EQ(joins.front().num_samples, mode.distributed ? 1 : kSamples);
    const auto updates = SentBy<wire::Update>(i);
    const auto masked = SentBy<wire::SecAggMasked>(i);
    if (mode.secure) {
      // Nothing leaves in the clear: no UPDATE, one masked input.
      EXPECT_TRUE(updates.empty());
      ASSERT_EQ(masked.size(), 1u);
      const auto& m = masked.front();
      const std::size_t kept = globals_.at(i).size();
      if (mode.distributed) {
        EXPECT_EQ(m.withheld, wire::kWithheldSampleCount | wire::kWithheldTrainLoss);
        EXPECT_EQ(m.sample_count, 0);
        EXPECT_EQ(m.train_loss, 0.0);
        // Masked: noised deltas, then the noised private summary record.
        EXPECT_EQ(m.masked.count, kept + kClasses * kClasses + kClasses);
      } else {
        EXPECT_EQ(m.withheld, 0u);
        EXPECT_EQ(m.sample_count, kSamples);  // exact
        EXPECT_EQ(m.train_loss, kLoss);       // exact
        // Masked: deltas, counts, class weights, weighted logits.
        EXPECT_EQ(m.masked.count, kept + kClasses * (kClasses + 2));
      }
      continue;
    }
    EXPECT_TRUE(masked.empty());
    ASSERT_EQ(updates.size(), 1u);
    const wire::Update& u = updates.front();
    const std::vector<std::uint64_t> one_segment = {u.values.count};
    const auto values = codec::DecodeValues(u.values, one_segment);
    ASSERT_TRUE(values.ok());
    ASSERT_EQ(values.value().size(), trained.values.size());
    double moved = 0.0;  // how far the sent values are from the trained ones
    for (std::size_t j = 0; j < trained.values.size(); ++j)
      moved =
          std::max(moved, std::fabs(static_cast<double>(values.value()[j]) - trained.values[j]));
    if (mode.distributed) {
      EXPECT_EQ(u.withheld, wire::kWithheldSampleCount | wire::kWithheldTrainLoss);
      EXPECT_EQ(u.sample_count, 0);
      EXPECT_EQ(u.train_loss, 0.0);
      EXPECT_TRUE(u.summary_counts.empty());
      EXPECT_TRUE(u.summary_logits.empty());
      // Noised: values, and the private record (presence 0/1 plus noise).
      EXPECT_GT(moved, 0.01);
      ASSERT_EQ(u.private_summary_presence.size(), kClasses);
      ASSERT_EQ(u.private_summary_rows.size(), kClasses * kClasses);
      int off_bits = 0;
      for (const float p : u.private_summary_presence)
        off_bits += std::fabs(p) > 1e-3f && std::fabs(p - 1.0f) > 1e-3f ? 1 : 0;
      EXPECT_EQ(off_bits, static_cast<int>(kClasses));
    } else {
      // Plain and central DP: the coordinator is trusted with the exact update.
      EXPECT_EQ(u.withheld, 0u);
      EXPECT_EQ(u.sample_count, kSamples);
      EXPECT_EQ(u.train_loss, kLoss);
      EXPECT_EQ(u.summary_counts, trained.summary.counts);
      EXPECT_EQ(u.summary_logits, trained.summary.mean_logits);
      EXPECT_TRUE(u.private_summary_presence.empty());
      EXPECT_EQ(moved, 0.0);
    }
  }
  // What the metrics line can say follows: nothing exact under distributed DP.
  EXPECT_EQ(record["loss"].is_null(), mode.distributed) << record["loss"];
  EXPECT_EQ(record["samples"].is_null(), mode.distributed) << record["samples"];
  // Summaries were released in every mode (loss.beta = 0.3).
  if (mode.distributed || std::string(mode.name) == "central_dp") {
    EXPECT_GT(record.value("summary_classes_released", 0), 0) << record.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, DisclosureTest, ::testing::ValuesIn(kModes),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace fsd::coordinator
