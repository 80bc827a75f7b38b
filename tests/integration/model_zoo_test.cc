// Networks beyond cnn3-s through every part of fsd, as a user runs them: a
// residual network of the zoo (resnet8) and a TorchScript file written in
// PyTorch (examples/torchscript/cnn3s.pt) in fsd-sim federations on synthetic
// data with each feature switched on (self-distillation, pruning with int8
// codecs, secure aggregation, central DP, a robust rule, heterogeneous
// clients); and federations on real Fashion-MNIST whose exit 2 fsd-export
// writes and fsd-infer / fsd-edge-infer run: the slimmed resnet8 under
// LibTorch and XNNPACK with the same accuracy, the TorchScript network as a
// truncated TorchScript module under LibTorch.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <tuple>

#include "common/errors.h"
#include "common/storage/file_digest.h"
#include "tests/testing/sim_run.h"
#include "tests/testing/temp_dir.h"

namespace fsd {
namespace {

using Records = std::vector<nlohmann::json>;

struct FeatureCase {
  std::string name;
  std::string config;
  int rounds = 2;
  int clients = 3;
  std::vector<std::string> settings;
  std::function<void(const Records&)> check;
};
void PrintTo(const FeatureCase& c, std::ostream* os) { *os << c.name; }

struct Network {
  std::string name;
  std::vector<std::string> settings;
};
void PrintTo(const Network& n, std::ostream* os) { *os << n.name; }

std::string ScriptedCnn3s() { return testing::SourceDir() + "/examples/torchscript/cnn3s.pt"; }

class FeatureTest : public ::testing::TestWithParam<std::tuple<Network, FeatureCase>> {};

TEST_P(FeatureTest, RunsAndLearns) {
  const auto& [network, feature] = GetParam();
  testing::TempDir out;
  auto arguments =
      testing::SyntheticSimArguments(out.path(), feature.rounds, feature.config, feature.clients);
  for (const auto& setting : network.settings)
    arguments.insert(arguments.end(), {"--set", setting});
  for (const auto& setting : feature.settings)
    arguments.insert(arguments.end(), {"--set", setting});
  ASSERT_EQ(testing::WaitProcess(testing::SpawnProcess(arguments, out.File("log.txt")), 300.0),
            kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = testing::ReadMetrics(out.path());
  ASSERT_EQ(static_cast<int>(records.size()), feature.rounds);
  for (const auto& record : records) {
    ASSERT_EQ(record["acc"].size(), 3u) << "one accuracy per exit";
    EXPECT_TRUE(record["rejects"].empty()) << record.dump();
  }
  feature.check(records);
}

const FeatureCase kFeatures[] = {
    {"SelfDistillation",
     "fmnist-sd.toml",
     2,
     3,
     {},
     [](const Records& r) {
       // Every exit well above chance (0.1) after two rounds.
       for (int exit = 0; exit < 3; ++exit)
         EXPECT_GT(r.back()["acc"][exit].get<double>(), 0.3) << "exit " << exit + 1;
     }},
    {"PrunedInt8",
     "fmnist-prune-int8.toml",
     3,
     3,
     {"pruning.end_round=2"},
     [](const Records& r) {
       EXPECT_DOUBLE_EQ(r[0]["sparsity"].get<double>(), 0.0);
       EXPECT_NEAR(r[2]["sparsity"].get<double>(), 0.8, 0.01);
       // Pruned: about a fifth of the prunable values travel.
       EXPECT_LT(r[2]["bytes_up_weights"].get<double>(),
                 0.35 * r[0]["bytes_up_weights"].get<double>());
       EXPECT_GT(r.back()["acc"][2].get<double>(), 0.3);
     }},
    {"SecureAggregation",
     "fmnist-sd-global.toml",
     2,
     3,
     {"secure_aggregation.enabled=true", "secure_aggregation.range=4"},
     [](const Records& r) {
       for (const auto& record : r) {
         EXPECT_EQ(record["secure_aggregation"]["survivors"].get<int>(), 3);
         EXPECT_EQ(record["secagg_clamped"].get<int>(), 0);
       }
       EXPECT_GT(r.back()["acc"][2].get<double>(), 0.3);
     }},
    {"CentralDp",
     "fmnist-sd.toml",
     2,
     4,
     {"federation.fraction=0.5", "aggregation.weighting=uniform", "loss.beta=0.3",
      "privacy.dp=central", "privacy.noise_multiplier=0.5", "privacy.summary_noise_multiplier=1.0",
      "privacy.clip_norm=2.0"},
     [](const Records& r) {
       EXPECT_GT(r[0]["epsilon"].get<double>(), 0.0);
       EXPECT_GT(r[1]["epsilon"].get<double>(), r[0]["epsilon"].get<double>());
       EXPECT_GE(r[1]["clipped_fraction"].get<double>(), 0.0);
     }},
    {"Median",
     "fmnist-sd.toml",
     2,
     3,
     {"aggregation.rule=median", "federation.partition=iid"},
     [](const Records& r) {
       for (const auto& record : r) EXPECT_EQ(record["rule"], "median");
       EXPECT_GT(r.back()["acc"][2].get<double>(), 0.3);
     }},
    {"HeterogeneousExits",
     "fmnist-sd.toml",
     2,
     4,
     {"heterogeneity.profile=[{share = 0.5, max_exit = 1}, {share = 0.5, max_exit = 0}]"},
     [](const Records& r) {
       for (const auto& record : r) {
         EXPECT_EQ(record["clients_by_exit"], (nlohmann::json{2, 0, 2}));
         EXPECT_EQ(record["clients_reported"], 4);
       }
       EXPECT_GT(r.back()["acc"][0].get<double>(), 0.3);
     }},
};

INSTANTIATE_TEST_SUITE_P(
    EveryFeature, FeatureTest,
    ::testing::Combine(::testing::Values(Network{"ResNet8", {"model.architecture=resnet8"}},
                                         Network{"TorchScript",
                                                 {"model.architecture=torchscript",
                                                  "model.path=" + ScriptedCnn3s()}}),
                       ::testing::ValuesIn(kFeatures)),
    [](const auto& info) {
      return std::get<0>(info.param).name + "_" + std::get<1>(info.param).name;
    });

TEST(TorchScriptFederationTest, AUserStyleNetworkWithTwoExitsFederatesAndReportsBoth) {
  testing::TempDir out;
  auto arguments = testing::SyntheticSimArguments(out.path(), 2);
  arguments.insert(arguments.end(),
                   {"--set", "model.architecture=torchscript", "--set",
                    "model.path=" + testing::SourceDir() + "/examples/torchscript/vgg_small.pt"});
  ASSERT_EQ(testing::WaitProcess(testing::SpawnProcess(arguments, out.File("log.txt")), 300.0),
            kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = testing::ReadMetrics(out.path());
  ASSERT_EQ(records.size(), 2u);
  ASSERT_EQ(records.back()["acc"].size(), 2u);
  // Chance is 0.1; exit 1 (a pooled linear layer on 16 channels) learns slowest.
  EXPECT_GT(records.back()["acc"][0].get<double>(), 0.15);
  EXPECT_GT(records.back()["acc"][1].get<double>(), 0.3);
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("summary.json")));
  EXPECT_EQ(summary["architecture"], "torchscript");
  EXPECT_EQ(summary["model_sha256"],
            storage::FileSha256Hex(testing::SourceDir() + "/examples/torchscript/vgg_small.pt"));
}

using testing::ExportArguments;
using testing::kFashionMnist;
using testing::RunToEnd;

TEST(ResNetExportTest, SlimmedExit2OfAFederatedResNet8RunsUnderLibTorchAndXnnpackAlike) {
  if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "no " << kFashionMnist;
  testing::TempDir dir;
  const std::string bin = testing::BinDir() + "/";
  const std::vector<std::string> network = {"--set", "model.architecture=resnet8"};
  ASSERT_EQ(RunToEnd(testing::OneRoundFashionMnistArguments(dir.File("run"), network),
                     dir.File("sim.log")),
            kExitOk)
      << testing::ReadFile(dir.File("sim.log"));
  ASSERT_EQ(RunToEnd(ExportArguments(dir.File("run"), 2, dir.File("edge/exit2.pt"), network,
                                     {"--keep-channels", "0.5", "--finetune-data", kFashionMnist,
                                      "--finetune-epochs", "2"}),
                     dir.File("export.log")),
            kExitOk)
      << testing::ReadFile(dir.File("export.log"));
  const auto manifest = nlohmann::json::parse(testing::ReadFile(dir.File("edge/exit2.json")));
  EXPECT_EQ(manifest["architecture"], "resnet8");
  EXPECT_EQ(manifest["exits"].get<int>(), 2);
  // Inner widths of the three blocks and both heads halved.
  EXPECT_EQ(manifest["channels"].get<std::vector<int>>(), (std::vector<int>{8, 16, 32, 16, 32}));
  // One round on 3000 samples and two epochs of fine-tuning: well above chance (0.1)
  // (on an AMD EPYC 0.67; one epoch gave 0.27 there).
  EXPECT_GT(manifest["test_accuracy"].get<double>(), 0.3);

  const std::vector<std::string> data = {
      "--data",    kFashionMnist, "--max-samples",          "500",
      "--repeats", "1",           "--early-exit-threshold", "0"};
  auto libtorch = std::vector<std::string>{bin + "fsd-infer", "--model", dir.File("edge/exit2.pt"),
                                           "--json", dir.File("libtorch.json")};
  libtorch.insert(libtorch.end(), data.begin(), data.end());
  auto xnnpack =
      std::vector<std::string>{bin + "fsd-infer", "--model", dir.File("edge/exit2.pt"), "--runtime",
                               "xnnpack",         "--json",  dir.File("xnnpack.json")};
  xnnpack.insert(xnnpack.end(), data.begin(), data.end());
  auto lean =
      std::vector<std::string>{bin + "fsd-edge-infer", "--model", dir.File("edge/exit2.json"),
                               "--json", dir.File("edge.json")};
  lean.insert(lean.end(), data.begin(), data.end());
  for (const auto& [arguments, log] :
       {std::pair{libtorch, "libtorch.log"}, std::pair{xnnpack, "xnnpack.log"},
        std::pair{lean, "edge.log"}}) {
    ASSERT_EQ(RunToEnd(arguments, dir.File(log)), kExitOk) << testing::ReadFile(dir.File(log));
  }
  const double expected = manifest["test_accuracy"].get<double>();
  for (const char* report : {"libtorch.json", "xnnpack.json", "edge.json"}) {
    const auto r = nlohmann::json::parse(testing::ReadFile(dir.File(report)));
    EXPECT_NEAR(r["timings"][0]["accuracy"].get<double>(), expected, 0.005) << report;
    // Threshold 0: every sample leaves at exit 1, with exit 1's accuracy.
    EXPECT_EQ(r["anytime"][0]["exits_taken"][0].get<int>(), 500) << report;
    EXPECT_NEAR(r["anytime"][0]["accuracy"].get<double>(),
                manifest["test_accuracy_per_exit"][0].get<double>(), 0.005)
        << report;
  }
}

TEST(TorchScriptExportTest, Exit2IsATruncatedTorchScriptModuleThatFsdInferRuns) {
  if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "no " << kFashionMnist;
  testing::TempDir dir;
  const std::string bin = testing::BinDir() + "/";
  const std::string config = testing::SourceDir() + "/configs/fmnist-sd.toml";
  const std::vector<std::string> network = {"--set", "model.architecture=torchscript", "--set",
                                            "model.path=" + ScriptedCnn3s()};
  ASSERT_EQ(RunToEnd(testing::OneRoundFashionMnistArguments(dir.File("run"), network),
                     dir.File("sim.log")),
            kExitOk)
      << testing::ReadFile(dir.File("sim.log"));
  const auto export_args = [&](const std::vector<std::string>& flags) {
    return ExportArguments(dir.File("run"), 2, dir.File("edge/exit2.pt"), network, flags);
  };
  // Slimming needs to know which layers read which channels: refused by name.
  EXPECT_EQ(RunToEnd(export_args({"--keep-channels", "0.5"}), dir.File("slim.log")), kExitUsage);
  EXPECT_NE(testing::ReadFile(dir.File("slim.log")).find("TorchScript network cannot be slimmed"),
            std::string::npos);
  ASSERT_EQ(RunToEnd(export_args({}), dir.File("export.log")), kExitOk)
      << testing::ReadFile(dir.File("export.log"));
  const auto manifest = nlohmann::json::parse(testing::ReadFile(dir.File("edge/exit2.json")));
  EXPECT_EQ(manifest["architecture"], "torchscript");
  EXPECT_EQ(manifest["exits"].get<int>(), 2);
  EXPECT_TRUE(manifest["runtime_model"].is_null());
  EXPECT_GT(manifest["test_accuracy"].get<double>(), 0.3);

  ASSERT_EQ(RunToEnd({bin + "fsd-infer", "--model", dir.File("edge/exit2.pt"), "--data",
                      kFashionMnist, "--max-samples", "500", "--repeats", "1",
                      "--early-exit-threshold", "0", "--json", dir.File("infer.json")},
                     dir.File("infer.log")),
            kExitOk)
      << testing::ReadFile(dir.File("infer.log"));
  const auto report = nlohmann::json::parse(testing::ReadFile(dir.File("infer.json")));
  EXPECT_NEAR(report["timings"][0]["accuracy"].get<double>(),
              manifest["test_accuracy"].get<double>(), 1e-9);
  EXPECT_EQ(report["anytime"][0]["exits_taken"][0].get<int>(), 500);
  EXPECT_EQ(RunToEnd({bin + "fsd-infer", "--model", dir.File("edge/exit2.pt"), "--runtime",
                      "xnnpack", "--data", kFashionMnist},
                     dir.File("xnnpack.log")),
            kExitUsage);
  EXPECT_NE(testing::ReadFile(dir.File("xnnpack.log")).find("runs under LibTorch only"),
            std::string::npos);
}

}  // namespace
}  // namespace fsd
