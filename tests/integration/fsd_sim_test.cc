// fsd-sim end to end over CURVE loopback: a 3-client federation on synthetic
// data, and a run killed with SIGKILL mid-way then resumed, which must end with
// the byte-identical model of an uninterrupted run and count no round twice.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/errors.h"
#include "tests/testing/temp_dir.h"

namespace fsd {
namespace {

std::vector<std::string> SimArguments(const std::string& out, int rounds) {
  return {testing::BinDir() + "/fsd-sim",
          "--config",
          testing::SourceDir() + "/configs/fmnist-sd.toml",
          "--out",
          out,
          "--rounds",
          std::to_string(rounds),
          "--clients",
          "3",
          "--workers",
          "2",
          "--set",
          "data.source=synthetic",
          "--set",
          "data.synthetic_noise=1.0",
          "--set",
          "data.synthetic_side=16",
          "--set",
          "data.synthetic_train_samples=3000",
          "--set",
          "data.synthetic_test_samples=600",
          "--set",
          "federation.partition=dirichlet",
          "--set",
          "federation.dirichlet_alpha=1.0"};
}

pid_t Spawn(const std::vector<std::string>& arguments, const std::string& log) {
  return testing::SpawnProcess(arguments, log);
}

int Wait(pid_t pid) { return testing::WaitProcess(pid); }

std::vector<nlohmann::json> Metrics(const std::string& dir) {
  std::vector<nlohmann::json> records;
  std::istringstream lines(testing::ReadFile(dir + "/metrics.jsonl"));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  }
  return records;
}

TEST(FsdSimTest, ThreeClientEncryptedFederationLearnsAndReports) {
  testing::TempDir out;
  const int code = Wait(Spawn(SimArguments(out.path(), 3), out.File("log.txt")));
  ASSERT_EQ(code, kExitOk) << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 3u);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    EXPECT_EQ(r["round"].get<std::size_t>(), i + 1);
    EXPECT_EQ(r["clients_selected"].get<int>(), 3);
    EXPECT_EQ(r["clients_reported"].get<int>(), 3);
    EXPECT_EQ(r["acc"].size(), 3u);
    EXPECT_GT(r["bytes_up"].get<double>(), 3 * 4 * 30000.0);  // 3 clients x 4 bytes x >30k values
    EXPECT_TRUE(r["rejects"].empty()) << r.dump();
    for (const char* key : {"loss", "temperature", "alpha", "bytes_down", "wall_s"}) {
      EXPECT_TRUE(r.contains(key)) << key;
    }
  }
  EXPECT_GT(records.back()["acc"][2].get<double>(), 0.5);  // chance is 0.1
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("summary.json")));
  EXPECT_EQ(summary["rounds"].get<int>(), 3);
  EXPECT_TRUE(std::filesystem::exists(out.File("checkpoint.bin")));
  EXPECT_TRUE(std::filesystem::exists(out.File("rounds.tsv")));
}

TEST(FsdSimTest, KilledAndResumedRunEndsWithTheSameModelAsAnUninterruptedOne) {
  constexpr int kRounds = 5;
  testing::TempDir reference, resumed;
  ASSERT_EQ(Wait(Spawn(SimArguments(reference.path(), kRounds), reference.File("log.txt"))),
            kExitOk)
      << testing::ReadFile(reference.File("log.txt"));

  // SIGKILL once at least two rounds are committed, then resume.
  const pid_t pid = Spawn(SimArguments(resumed.path(), kRounds), resumed.File("log1.txt"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(resumed.File("checkpoint.bin")) &&
        Metrics(resumed.path()).size() >= 2)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  Wait(pid);
  const std::size_t before = Metrics(resumed.path()).size();
  ASSERT_LT(before, static_cast<std::size_t>(kRounds)) << "run finished before it could be killed";

  auto arguments = SimArguments(resumed.path(), kRounds);
  arguments.push_back("--resume");
  ASSERT_EQ(Wait(Spawn(arguments, resumed.File("log2.txt"))), kExitOk)
      << testing::ReadFile(resumed.File("log2.txt"));

  EXPECT_EQ(testing::ReadFile(resumed.File("checkpoint.bin")),
            testing::ReadFile(reference.File("checkpoint.bin")));
  const auto records = Metrics(resumed.path());
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kRounds));
  for (int i = 0; i < kRounds; ++i) EXPECT_EQ(records[i]["round"].get<int>(), i + 1);
}

TEST(FsdSimTest, PartitionFileWithWrongClientCountIsAConfigError) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 1);
  arguments.insert(arguments.end(), {"--set", "federation.partition=file", "--set",
                                     "federation.partition_file=" + testing::SourceDir() +
                                         "/configs/partitions/fmnist_dir0.5_seed42.txt",
                                     "--set", "data.source=idx"});
  EXPECT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitUsage)
      << testing::ReadFile(out.File("log.txt"));
  EXPECT_NE(testing::ReadFile(out.File("log.txt")).find("federation.clients is 3"),
            std::string::npos);
}

}  // namespace
}  // namespace fsd
