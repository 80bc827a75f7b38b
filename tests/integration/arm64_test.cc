// arm64 builds against amd64 ones, on one machine: the arm64 executables of a
// device build (scripts/cross-build-arm64) run under qemu-aarch64, the amd64
// ones natively. This binary is built with the amd64 tree and registered as
// ctest cases (label `arm64`) by the arm64 tree, which names its executables
// in the environment:
//   FSD_ARM64_BIN_DIR   the arm64 build's bin/ directory
//   FSD_ARM64_SYSROOT   the arm64 sysroot (qemu's loader prefix)
//   FSD_QEMU_AARCH64    the qemu-aarch64 user-mode emulator
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/errors.h"
#include "tests/testing/sim_run.h"
#include "tests/testing/temp_dir.h"

namespace fsd {
namespace {

using testing::Concat;
using testing::kFashionMnist;
using testing::RunToEnd;

std::string Amd64(const std::string& name) { return testing::BinDir() + "/" + name; }

std::string Environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// The command line that runs the arm64 executable `name` under qemu.
std::vector<std::string> Arm64(const std::string& name) {
  return {Environment("FSD_QEMU_AARCH64"), "-L", Environment("FSD_ARM64_SYSROOT"),
          Environment("FSD_ARM64_BIN_DIR") + "/" + name};
}

class Arm64Test : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"FSD_ARM64_BIN_DIR", "FSD_ARM64_SYSROOT", "FSD_QEMU_AARCH64"}) {
      ASSERT_FALSE(Environment(name).empty())
          << name << " is not set: run these tests from the arm64 build (ctest -L arm64)";
    }
    ASSERT_TRUE(std::filesystem::exists(Environment("FSD_ARM64_BIN_DIR") + "/fsd-client"))
        << "no arm64 fsd-client in " << Environment("FSD_ARM64_BIN_DIR");
  }

  testing::TempDir dir_;
};

// An exit exported on amd64 (fsd-sim's one round on 3,000 samples, exit 2
// with half the channels, fine-tuned) classifies all 10,000 test images with
// the same accuracy under the arm64 fsd-edge-infer as under the amd64 one.
TEST_F(Arm64Test, EdgeInferClassifiesTheTestSetWithTheAmd64Accuracy) {
  if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "no " << kFashionMnist;
  ASSERT_EQ(
      RunToEnd(testing::OneRoundFashionMnistArguments(dir_.File("run")), dir_.File("sim.log")),
      kExitOk)
      << testing::ReadFile(dir_.File("sim.log"));
  ASSERT_EQ(RunToEnd(testing::ExportArguments(dir_.File("run"), 2, dir_.File("edge/exit2.pt"), {},
                                              {"--keep-channels", "0.5", "--finetune-data",
                                               kFashionMnist, "--finetune-epochs", "1"}),
                     dir_.File("export.log")),
            kExitOk)
      << testing::ReadFile(dir_.File("export.log"));

  const std::vector<std::string> infer = {"--model",
                                          dir_.File("edge/exit2.json"),
                                          "--data",
                                          kFashionMnist,
                                          "--batch-sizes",
                                          "64",
                                          "--repeats",
                                          "1",
                                          "--early-exit-threshold",
                                          "0.9"};
  ASSERT_EQ(RunToEnd(Concat({Amd64("fsd-edge-infer")},
                            Concat(infer, {"--json", dir_.File("amd64.json")})),
                     dir_.File("amd64.log")),
            kExitOk)
      << testing::ReadFile(dir_.File("amd64.log"));
  ASSERT_EQ(
      RunToEnd(Concat(Arm64("fsd-edge-infer"), Concat(infer, {"--json", dir_.File("arm64.json")})),
               dir_.File("arm64.log")),
      kExitOk)
      << testing::ReadFile(dir_.File("arm64.log"));

  const auto amd64 = nlohmann::json::parse(testing::ReadFile(dir_.File("amd64.json")));
  const auto arm64 = nlohmann::json::parse(testing::ReadFile(dir_.File("arm64.json")));
  EXPECT_EQ(arm64["samples"].get<int>(), 10000);
  const double accuracy = amd64["timings"][0]["accuracy"].get<double>();
  EXPECT_GT(accuracy, 0.3);  // far above chance (0.1) after one round
  // Float sums in another order (NEON vs AVX kernels) may flip a sample that
  // sits on a decision boundary: at most 2 of 10,000.
  EXPECT_NEAR(arm64["timings"][0]["accuracy"].get<double>(), accuracy, 2e-4);
  EXPECT_NEAR(arm64["anytime"][0]["accuracy"].get<double>(),
              amd64["anytime"][0]["accuracy"].get<double>(), 2e-4);
  std::printf("amd64 accuracy %.4f, arm64 %.4f; anytime p=0.9: %s vs %s\n", accuracy,
              arm64["timings"][0]["accuracy"].get<double>(), amd64["anytime"][0].dump().c_str(),
              arm64["anytime"][0].dump().c_str());
}

// A device's key pair made by the arm64 fsd-keygen; the amd64 fsd-coordinator
// admits it, and the arm64 fsd-client trains and reports one round over CURVE.
TEST_F(Arm64Test, Arm64ClientCompletesARoundWithAnAmd64Coordinator) {
  ASSERT_EQ(RunToEnd({Amd64("fsd-keygen"), "--out", dir_.File("keys"), "--name", "coordinator"},
                     dir_.File("keygen.log")),
            kExitOk);
  ASSERT_EQ(
      RunToEnd(Concat(Arm64("fsd-keygen"), {"--out", dir_.File("allow"), "--name", "device-1"}),
               dir_.File("keygen-arm64.log")),
      kExitOk)
      << testing::ReadFile(dir_.File("keygen-arm64.log"));

  const std::vector<std::string> common = {
      "--config", testing::SourceDir() + "/configs/fmnist-sd.toml",
      "--set",    "data.source=synthetic",
      "--set",    "model.architecture=mlp",
      "--set",    "federation.partition=iid"};
  const int coordinator = testing::SpawnProcess(
      Concat(Concat({Amd64("fsd-coordinator")}, common),
             {"--out", dir_.File("coord"), "--key", dir_.File("keys/coordinator.key"), "--allow",
              dir_.File("allow"), "--bind", "tcp://127.0.0.1:*", "--rounds", "1", "--min-clients",
              "1"}),
      dir_.File("coord.log"));
  const std::string endpoint = testing::ListeningEndpoint(dir_.File("coord.log"));
  ASSERT_FALSE(endpoint.empty()) << testing::ReadFile(dir_.File("coord.log"));
  const int client = testing::SpawnProcess(
      Concat(Concat(Arm64("fsd-client"), common),
             {"--connect", endpoint, "--key", dir_.File("allow/device-1.key"), "--server-key",
              dir_.File("keys/coordinator.pub"), "--name", "device-1"}),
      dir_.File("client.log"));

  EXPECT_EQ(testing::WaitProcess(coordinator), kExitOk)
      << testing::ReadFile(dir_.File("coord.log"));
  EXPECT_EQ(testing::WaitProcess(client), kExitOk) << testing::ReadFile(dir_.File("client.log"));
  EXPECT_NE(testing::ReadFile(dir_.File("coord.log")).find("client device-1 joined"),
            std::string::npos)
      << testing::ReadFile(dir_.File("coord.log"));
  EXPECT_NE(testing::ReadFile(dir_.File("client.log")).find("federation finished"),
            std::string::npos)
      << testing::ReadFile(dir_.File("client.log"));
  std::istringstream lines(testing::ReadFile(dir_.File("coord/metrics.jsonl")));
  std::string line;
  int rounds = 0;
  while (std::getline(lines, line)) {
    const auto record = nlohmann::json::parse(line);
    EXPECT_EQ(record["clients_reported"].get<int>(), 1);
    EXPECT_GT(record["bytes_up"].get<long long>(), 0);
    ++rounds;
  }
  EXPECT_EQ(rounds, 1);
}

}  // namespace
}  // namespace fsd
