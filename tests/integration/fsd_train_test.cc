// End-to-end runs of the fsd-train executable: real Fashion-MNIST (a subset, so
// the test takes seconds), its output files, and its exit codes on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/errors.h"
#include "tests/testing/temp_dir.h"

namespace fsd {
namespace {

struct Result {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

Result RunFsdTrain(const std::string& arguments) {
  const std::string command = testing::BinDir() + "/fsd-train " + arguments + " 2>&1";
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string CentralConfig() { return testing::SourceDir() + "/configs/central.toml"; }

TEST(FsdTrainTest, TrainsOnFashionMnistAndWritesMetrics) {
  testing::TempDir out;
  const Result r =
      RunFsdTrain("--config " + CentralConfig() + " --out " + out.path() +
                  " --epochs 2 --set data.max_train_samples=6000 --set data.max_test_samples=2000");
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;

  std::ifstream metrics(out.File("metrics.jsonl"));
  std::string line;
  int epochs = 0;
  nlohmann::json last;
  while (std::getline(metrics, line)) {
    last = nlohmann::json::parse(line);
    ++epochs;
    EXPECT_EQ(last["epoch"].get<int>(), epochs);
    for (const char* key : {"loss", "samples_per_s", "wall_s"})
      EXPECT_TRUE(last.contains(key)) << key;
  }
  ASSERT_EQ(epochs, 2);
  const auto acc = last["acc"].get<std::vector<double>>();
  ASSERT_EQ(acc.size(), 3u);
  for (double a : acc) {
    EXPECT_GE(a, 0.0);
    EXPECT_LE(a, 1.0);
  }
  // 12,000 samples seen: far above chance (0.10) on every exit.
  EXPECT_GT(acc[2], 0.70) << r.output;
  EXPECT_GT(acc[0], 0.55) << r.output;
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("summary.json")));
  EXPECT_EQ(summary["final_acc"].get<std::vector<double>>(), acc);
  EXPECT_EQ(summary["exits"][2]["path_parameters"].get<int>(), 24170);
  EXPECT_NE(r.output.find("main"), std::string::npos);
}

TEST(FsdTrainTest, UnknownConfigKeyExitsWithUsageCodeNamingTheKey) {
  testing::TempDir out;
  const Result r = RunFsdTrain("--config " + CentralConfig() + " --out " + out.path() +
                               " --set training.epohcs=1");
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_NE(r.output.find("training.epohcs: unknown key"), std::string::npos) << r.output;
}

TEST(FsdTrainTest, MissingDataDirectoryExitsWithIoCode) {
  testing::TempDir out;
  const Result r = RunFsdTrain("--config " + CentralConfig() + " --out " + out.path() +
                               " --set data.dir=/nonexistent");
  EXPECT_EQ(r.exit_code, kExitIo);
  EXPECT_NE(r.output.find("/nonexistent/train-images-idx3-ubyte"), std::string::npos) << r.output;
}

TEST(FsdTrainTest, HelpDescribesFlagsAndExitsZero) {
  const Result r = RunFsdTrain("--help");
  EXPECT_EQ(r.exit_code, kExitOk);
  for (const char* flag : {"--config", "--out", "--epochs", "--set"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  }
}

TEST(FsdTrainTest, MissingRequiredFlagExitsWithUsageCode) {
  EXPECT_EQ(RunFsdTrain("--out /tmp/x").exit_code, kExitUsage);
}

}  // namespace
}  // namespace fsd
