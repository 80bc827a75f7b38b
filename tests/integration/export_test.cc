// fsd-export and fsd-infer on real Fashion-MNIST: a one-round federation, its
// exit 2 exported with half the channels and fine-tuned, then run by
// fsd-infer, whose accuracy on the same samples must equal the manifest's; bad
// inputs get their exit codes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "common/wire/sha256.h"
#include "tests/testing/sim_run.h"
#include "tests/testing/temp_dir.h"

namespace fsd {
namespace {

using testing::ExportArguments;
using testing::kFashionMnist;
using testing::RunToEnd;

std::string Bin(const std::string& name) { return testing::BinDir() + "/" + name; }

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "no " << kFashionMnist;
    ASSERT_EQ(
        RunToEnd(testing::OneRoundFashionMnistArguments(dir_.File("run")), dir_.File("sim.log")),
        kExitOk)
        << testing::ReadFile(dir_.File("sim.log"));
  }

  testing::TempDir dir_;
};

TEST_F(ExportTest, ExportedHalfWidthExitRunsInFsdInferWithTheManifestsAccuracy) {
  const std::string model = dir_.File("edge/exit2.pt");
  ASSERT_EQ(RunToEnd(ExportArguments(dir_.File("run"), 2, model, {},
                                     {"--keep-channels", "0.5", "--finetune-data", kFashionMnist,
                                      "--finetune-epochs", "1"}),
                     dir_.File("export.log")),
            kExitOk)
      << testing::ReadFile(dir_.File("export.log"));
  const auto manifest = nlohmann::json::parse(testing::ReadFile(dir_.File("edge/exit2.json")));
  EXPECT_EQ(manifest["exit"].get<int>(), 2);
  EXPECT_EQ(manifest["exits"].get<int>(), 2);
  EXPECT_EQ(manifest["channels"].get<std::vector<int>>(), (std::vector<int>{8, 16, 32, 16, 32}));
  EXPECT_LT(manifest["parameters"].get<int>() * 4, manifest["full_model_parameters"].get<int>());
  const std::string bytes = testing::ReadFile(model);
  EXPECT_EQ(manifest["sha256"].get<std::string>(),
            wire::ToHex(wire::Sha256({std::span<const std::uint8_t>(
                reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size())})));
  // Fine-tuning on 3000 samples lifts the slimmed exit well above chance.
  EXPECT_GT(manifest["test_accuracy"].get<double>(), 0.5);
  EXPECT_GT(manifest["test_accuracy"].get<double>(),
            manifest["finetune"]["accuracy_before"].get<double>());

  ASSERT_EQ(RunToEnd({Bin("fsd-infer"), "--model", model, "--data", kFashionMnist, "--max-samples",
                      "500", "--batch-sizes", "1", "64", "--repeats", "1", "--early-exit-threshold",
                      "0", "1", "--json", dir_.File("infer.json")},
                     dir_.File("infer.log")),
            kExitOk)
      << testing::ReadFile(dir_.File("infer.log"));
  const auto report = nlohmann::json::parse(testing::ReadFile(dir_.File("infer.json")));
  ASSERT_EQ(report["timings"].size(), 2u);
  for (const auto& timing : report["timings"]) {
    EXPECT_NEAR(timing["accuracy"].get<double>(), manifest["test_accuracy"].get<double>(), 1e-9);
    EXPECT_GT(timing["ms_per_batch"].get<double>(), 0.0);
  }
  ASSERT_EQ(report["anytime"].size(), 2u);
  // p = 0: every sample leaves at exit 1; p = 1: (almost) none is that sure before the last exit.
  EXPECT_EQ(report["anytime"][0]["exits_taken"][0].get<int>(), 500);
  EXPECT_NEAR(report["anytime"][0]["accuracy"].get<double>(),
              manifest["test_accuracy_per_exit"][0].get<double>(), 1e-9);
  EXPECT_GT(report["anytime"][1]["exits_taken"][1].get<int>(), 450);

  // The same exit under XNNPACK: its runtime file's digest in the manifest,
  // the manifest's accuracy (XNNPACK's float rounding may flip a borderline
  // sample or two), and the lean binary agreeing with fsd-infer --runtime xnnpack.
  const std::string runtime_bytes = testing::ReadFile(dir_.File("edge/exit2.fsdm"));
  EXPECT_EQ(
      manifest["runtime_sha256"].get<std::string>(),
      wire::ToHex(wire::Sha256({std::span<const std::uint8_t>(
          reinterpret_cast<const std::uint8_t*>(runtime_bytes.data()), runtime_bytes.size())})));
  ASSERT_EQ(RunToEnd({Bin("fsd-infer"), "--model", model, "--runtime", "xnnpack", "--data",
                      kFashionMnist, "--max-samples", "500", "--repeats", "1",
                      "--early-exit-threshold", "0", "--json", dir_.File("xnnpack.json")},
                     dir_.File("xnnpack.log")),
            kExitOk)
      << testing::ReadFile(dir_.File("xnnpack.log"));
  ASSERT_EQ(RunToEnd({Bin("fsd-edge-infer"), "--model", dir_.File("edge/exit2.json"), "--data",
                      kFashionMnist, "--max-samples", "500", "--repeats", "1",
                      "--early-exit-threshold", "0", "--json", dir_.File("edge.json")},
                     dir_.File("edge.log")),
            kExitOk)
      << testing::ReadFile(dir_.File("edge.log"));
  const auto xnnpack = nlohmann::json::parse(testing::ReadFile(dir_.File("xnnpack.json")));
  const auto lean = nlohmann::json::parse(testing::ReadFile(dir_.File("edge.json")));
  EXPECT_EQ(xnnpack["runtime"], "xnnpack");
  for (const auto* r : {&xnnpack, &lean}) {
    ASSERT_EQ((*r)["timings"].size(), 2u);
    EXPECT_NEAR((*r)["timings"][0]["accuracy"].get<double>(),
                manifest["test_accuracy"].get<double>(), 0.005);
    EXPECT_EQ((*r)["anytime"][0]["exits_taken"][0].get<int>(), 500);
  }
  EXPECT_EQ(xnnpack["timings"][0]["accuracy"], lean["timings"][0]["accuracy"]);
  EXPECT_EQ(xnnpack["anytime"][0]["accuracy"], lean["anytime"][0]["accuracy"]);
  // A runtime file that does not match its manifest: refused before it is parsed (exit 4).
  testing::WriteFile(dir_.File("edge/exit2.fsdm"), runtime_bytes.substr(0, 100));
  EXPECT_EQ(RunToEnd({Bin("fsd-edge-infer"), "--model", dir_.File("edge/exit2.json"), "--data",
                      kFashionMnist},
                     dir_.File("edge-bad.log")),
            kExitData);
  EXPECT_NE(testing::ReadFile(dir_.File("edge-bad.log")).find("does not match the manifest"),
            std::string::npos);
}

TEST_F(ExportTest, BadInputsGetTheirExitCodes) {
  // A model file that does not match its manifest: bad data (4).
  const std::string model = dir_.File("m.pt");
  ASSERT_EQ(RunToEnd(ExportArguments(dir_.File("run"), 3, model), dir_.File("export.log")),
            kExitOk);
  testing::WriteFile(model, "not a LibTorch archive");
  EXPECT_EQ(RunToEnd({Bin("fsd-infer"), "--model", model, "--data", kFashionMnist},
                     dir_.File("infer.log")),
            kExitData)
      << testing::ReadFile(dir_.File("infer.log"));
  // Refused on its digest, before torch::load reads a byte of it.
  EXPECT_NE(testing::ReadFile(dir_.File("infer.log")).find("does not match the manifest"),
            std::string::npos)
      << testing::ReadFile(dir_.File("infer.log"));
  // An exit the model does not have, or slimming by more than everything: bad flags (2).
  EXPECT_EQ(RunToEnd(ExportArguments(dir_.File("run"), 4, model), dir_.File("export4.log")),
            kExitUsage);
  EXPECT_NE(testing::ReadFile(dir_.File("export4.log")).find("exit 4 does not exist"),
            std::string::npos);
  // A corrupted checkpoint: bad data (4), named.
  std::string checkpoint = testing::ReadFile(dir_.File("run/checkpoint.bin"));
  checkpoint[100] ^= 0x01;
  std::filesystem::create_directories(dir_.File("bad"));
  testing::WriteFile(dir_.File("bad/checkpoint.bin"), checkpoint);
  EXPECT_EQ(RunToEnd(ExportArguments(dir_.File("bad"), 2, model), dir_.File("export-bad.log")),
            kExitData);
  EXPECT_NE(testing::ReadFile(dir_.File("export-bad.log")).find("digest mismatch"),
            std::string::npos);
}

}  // namespace
}  // namespace fsd
