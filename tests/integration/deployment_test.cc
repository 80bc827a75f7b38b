// The deployment executables as separate processes over CURVE-encrypted TCP:
// fsd-keygen makes the keys, fsd-coordinator admits the clients' public keys,
// two fsd-client processes train until the coordinator says BYE; a client
// stopped with SIGTERM says BYE and exits 0.
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

pid_t Spawn(const std::vector<std::string>& arguments, const std::string& log) {
  return testing::SpawnProcess(arguments, log);
}

int Wait(pid_t pid) { return testing::WaitProcess(pid); }

std::string Bin(const std::string& name) { return testing::BinDir() + "/" + name; }

std::vector<std::string> Common() {
  return {"--config", testing::SourceDir() + "/configs/fmnist-sd.toml",
          "--set",    "data.source=synthetic",
          "--set",    "model.architecture=mlp",
          "--set",    "federation.partition=iid"};
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class DeploymentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Wait(Spawn({Bin("fsd-keygen"), "--out", dir_.File("keys"), "--name", "coordinator"},
                         dir_.File("k.log"))),
              0);
    for (const char* name : {"client-1", "client-2"}) {
      ASSERT_EQ(Wait(Spawn({Bin("fsd-keygen"), "--out", dir_.File("allow"), "--name", name},
                           dir_.File("k.log"))),
                0);
    }
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(20000 + getpid() % 20000);
  }

  pid_t Coordinator(int min_clients) {
    return Spawn(Concat({Bin("fsd-coordinator")},
                        Concat(Common(), {"--out", dir_.File("coord"), "--key",
                                          dir_.File("keys/coordinator.key"), "--allow",
                                          dir_.File("allow"), "--bind", endpoint_, "--rounds", "2",
                                          "--min-clients", std::to_string(min_clients)})),
                 dir_.File("coord.log"));
  }

  pid_t Client(const std::string& name) {
    return Spawn(Concat({Bin("fsd-client")},
                        Concat(Common(), {"--connect", endpoint_, "--key",
                                          dir_.File("allow/" + name + ".key"), "--server-key",
                                          dir_.File("keys/coordinator.pub"), "--name", name})),
                 dir_.File(name + ".log"));
  }

  testing::TempDir dir_;
  std::string endpoint_;
};

TEST_F(DeploymentTest, CoordinatorAndTwoClientProcessesCompleteTheRounds) {
  const pid_t coordinator = Coordinator(2);
  const pid_t a = Client("client-1");
  const pid_t b = Client("client-2");
  EXPECT_EQ(Wait(coordinator), kExitOk) << testing::ReadFile(dir_.File("coord.log"));
  EXPECT_EQ(Wait(a), kExitOk) << testing::ReadFile(dir_.File("client-1.log"));
  EXPECT_EQ(Wait(b), kExitOk) << testing::ReadFile(dir_.File("client-2.log"));
  std::istringstream lines(testing::ReadFile(dir_.File("coord/metrics.jsonl")));
  std::string line;
  int rounds = 0;
  while (std::getline(lines, line)) {
    const auto record = nlohmann::json::parse(line);
    EXPECT_EQ(record["clients_reported"].get<int>(), 2);
    ++rounds;
  }
  EXPECT_EQ(rounds, 2);
  EXPECT_NE(testing::ReadFile(dir_.File("client-1.log")).find("federation finished"),
            std::string::npos);
}

TEST_F(DeploymentTest, ClientStoppedWithSigtermSaysByeAndExitsZero) {
  const pid_t coordinator = Coordinator(3);  // never starts a round: a third client never comes
  const pid_t client = Client("client-1");
  // Signal only once the coordinator has seen the client join.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (testing::ReadFile(dir_.File("coord.log")).find("joined") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(client, SIGTERM);
  EXPECT_EQ(Wait(client), kExitOk);
  EXPECT_NE(testing::ReadFile(dir_.File("client-1.log")).find("said BYE"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(coordinator, SIGTERM);
  EXPECT_EQ(Wait(coordinator), kExitOk);
  EXPECT_NE(testing::ReadFile(dir_.File("coord.log")).find("left"), std::string::npos)
      << testing::ReadFile(dir_.File("coord.log"));
}

}  // namespace
}  // namespace fsd
