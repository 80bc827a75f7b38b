// The deployment executables as separate processes over CURVE-encrypted TCP:
// fsd-keygen makes the keys, fsd-coordinator admits the clients' public keys,
// two fsd-client processes train until the coordinator says BYE; a client
// stopped with SIGTERM says BYE and exits 0; a client that trains several
// times longer than the coordinator's client timeout completes its round; a
// client whose key is refused, or that pins the wrong server key, exits with
// the key-error code; plaintext (--insecure) runs end to end. Every
// coordinator binds a free port (tcp://127.0.0.1:*) and every wait is bounded.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/errors.h"
#include "privacy/dp/rdp_accountant.h"
#include "tests/testing/sim_run.h"
#include "tests/testing/temp_dir.h"

namespace fsd {
namespace {

pid_t Spawn(const std::vector<std::string>& arguments, const std::string& log) {
  return testing::SpawnProcess(arguments, log);
}

int Wait(pid_t pid) { return testing::WaitProcess(pid, /*timeout_s=*/240.0); }

std::string Bin(const std::string& name) { return testing::BinDir() + "/" + name; }

std::vector<std::string> Common() {
  return {"--config", testing::SourceDir() + "/configs/fmnist-sd.toml",
          "--set",    "data.source=synthetic",
          "--set",    "model.architecture=mlp",
          "--set",    "federation.partition=iid"};
}

using testing::Concat;

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
  }

  // Starts fsd-coordinator on a free port and learns the port from its log.
  pid_t Coordinator(int min_clients, const std::vector<std::string>& extra = {}, int rounds = 2) {
    const pid_t pid = Spawn(
        Concat(
            Concat({Bin("fsd-coordinator")},
                   Concat(Common(),
                          {"--out", dir_.File("coord"), "--key", dir_.File("keys/coordinator.key"),
                           "--allow", dir_.File("allow"), "--bind", "tcp://127.0.0.1:*", "--rounds",
                           std::to_string(rounds), "--min-clients", std::to_string(min_clients)})),
            extra),
        dir_.File("coord.log"));
    endpoint_ = testing::ListeningEndpoint(dir_.File("coord.log"));
    EXPECT_FALSE(endpoint_.empty()) << testing::ReadFile(dir_.File("coord.log"));
    return pid;
  }

  pid_t Client(const std::string& name, const std::vector<std::string>& extra = {},
               const std::string& key = "", const std::string& server_key = "") {
    return Spawn(
        Concat(
            Concat({Bin("fsd-client")},
                   Concat(Common(),
                          {"--connect", endpoint_, "--key",
                           key.empty() ? dir_.File("allow/" + name + ".key") : key, "--server-key",
                           server_key.empty() ? dir_.File("keys/coordinator.pub") : server_key,
                           "--name", name})),
            extra),
        dir_.File(name + ".log"));
  }

  // fsd-coordinator (`coordinator_extra`, `rounds`) and client-1, client-2
  // (`client_extra`) to the end; each must exit 0.
  void RunTwoClients(const std::vector<std::string>& coordinator_extra,
                     const std::vector<std::string>& client_extra, int rounds = 2) {
    const pid_t coordinator = Coordinator(2, coordinator_extra, rounds);
    const pid_t a = Client("client-1", client_extra);
    const pid_t b = Client("client-2", client_extra);
    EXPECT_EQ(Wait(coordinator), kExitOk) << testing::ReadFile(dir_.File("coord.log"));
    EXPECT_EQ(Wait(a), kExitOk) << testing::ReadFile(dir_.File("client-1.log"));
    EXPECT_EQ(Wait(b), kExitOk) << testing::ReadFile(dir_.File("client-2.log"));
  }

  std::vector<nlohmann::json> CoordinatorMetrics() {
    return testing::ReadMetrics(dir_.File("coord"));
  }

  testing::TempDir dir_;
  std::string endpoint_;
};

TEST_F(DeploymentTest, CoordinatorAndTwoClientProcessesCompleteTheRounds) {
  RunTwoClients({}, {});
  const auto records = CoordinatorMetrics();
  ASSERT_EQ(records.size(), 2u);
  for (const auto& record : records) EXPECT_EQ(record["clients_reported"].get<int>(), 2);
  EXPECT_NE(testing::ReadFile(dir_.File("client-1.log")).find("federation finished"),
            std::string::npos);
  // Logs name clients by their allow-list file name.
  EXPECT_NE(testing::ReadFile(dir_.File("coord.log")).find("client client-1 joined"),
            std::string::npos)
      << testing::ReadFile(dir_.File("coord.log"));
}

TEST_F(DeploymentTest, CoordinatorServesItsStatusWhileWaitingForClients) {
  const pid_t coordinator = Coordinator(2, {"--http", "127.0.0.1:0"});
  ASSERT_TRUE(testing::WaitForText(dir_.File("coord.log"), "status page at http://127.0.0.1:"));
  const std::string log = testing::ReadFile(dir_.File("coord.log"));
  const int port = std::stoi(log.substr(log.find("status page at http://127.0.0.1:") + 32));
  httplib::Client http("127.0.0.1", port);
  const auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  for (const char* line : {"fsd_phase{phase=\"waiting\"} 1\n", "fsd_clients_enrolled 2\n",
                           "fsd_clients_connected 0\n", "fsd_rounds_committed_total 0\n"}) {
    EXPECT_NE(metrics->body.find(line), std::string::npos) << line << " not in\n" << metrics->body;
  }
  EXPECT_NE(metrics->body.find("fsd_info{program=\"fsd-coordinator\""), std::string::npos);
  const auto page = http.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  const pid_t a = Client("client-1");
  const pid_t b = Client("client-2");
  EXPECT_EQ(Wait(coordinator), kExitOk) << testing::ReadFile(dir_.File("coord.log"));
  EXPECT_EQ(Wait(a), kExitOk);
  EXPECT_EQ(Wait(b), kExitOk);
  EXPECT_EQ(CoordinatorMetrics().size(), 2u);
}

// The optimization keys as an operator sets them: the coordinator steps the
// global model with Yogi and announces a linear learning-rate decay; the
// clients add FedProx's proximal term from their own config.
TEST_F(DeploymentTest, ServerYogiLinearLearningRateAndFedProxClientsCompleteTheRounds) {
  RunTwoClients(
      {"--set", "aggregation.server_optimizer=yogi", "--set", "aggregation.server_lr=0.01", "--set",
       "aggregation.tau=0.01", "--set", "schedule.lr=linear", "--set", "schedule.lr_end=0.2"},
      {"--set", "training.proximal_mu=0.01"}, /*rounds=*/3);
  const auto records = CoordinatorMetrics();
  ASSERT_EQ(records.size(), 3u);
  // Linear from 1 toward 0.2 over p = 0, 1/3, 2/3.
  const double expected[] = {1.0, 1.0 - 0.8 / 3.0, 1.0 - 1.6 / 3.0};
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    EXPECT_EQ(r["server_optimizer"], "yogi");
    EXPECT_NEAR(r["lr_factor"].get<double>(), expected[i], 1e-12);
    EXPECT_EQ(r["clients_reported"], 2);
    EXPECT_GT(r["global_change_rms"].get<double>(), 0.0);
    EXPECT_TRUE(r["rejects"].empty()) << r.dump();
  }
}

// A device that affords only exit 1 states it at JOIN (fsd-client
// --max-exit), receives and sends only that sub-network, and the
// coordinator aggregates the rest over the other client.
TEST_F(DeploymentTest, ClientWithMaxExitTrainsItsSubnetworkBesideAFullClient) {
  const pid_t coordinator = Coordinator(2);
  const pid_t small = Client("client-1", {"--max-exit", "1"});
  const pid_t full = Client("client-2");
  EXPECT_EQ(Wait(coordinator), kExitOk) << testing::ReadFile(dir_.File("coord.log"));
  EXPECT_EQ(Wait(small), kExitOk) << testing::ReadFile(dir_.File("client-1.log"));
  EXPECT_EQ(Wait(full), kExitOk) << testing::ReadFile(dir_.File("client-2.log"));
  const auto records = CoordinatorMetrics();
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    EXPECT_EQ(r["clients_reported"], 2);
    EXPECT_EQ(r["clients_by_exit"], (nlohmann::json{1, 1})) << r.dump();  // the MLP has 2 exits
    EXPECT_TRUE(r["rejects"].empty()) << r.dump();
  }
  // A client asking for an exit the model lacks is refused by name and exits with the config code.
  EXPECT_EQ(Wait(Client("client-1", {"--max-exit", "3"})), kExitUsage);
}

// Central DP in a deployment: sampling seeded and noise drawn from the
// CSPRNG, the account charged per round, and the run stopped before the
// round that would exceed privacy.target_epsilon, with the reason in
// summary.json and in the clients' BYE.
TEST_F(DeploymentTest, CentralDpDeploymentStopsAtItsBudgetAndSaysWhy) {
  const double z = 2.0, delta = 1e-5;
  const double two = privacy::EpsilonAfter(1.0, z, 2, delta).epsilon;
  const double three = privacy::EpsilonAfter(1.0, z, 3, delta).epsilon;
  RunTwoClients({"--set", "aggregation.weighting=uniform", "--set", "privacy.dp=central", "--set",
                 "privacy.noise_multiplier=2.0", "--set", "privacy.clip_norm=0.01", "--set",
                 "privacy.target_epsilon=" + std::to_string(0.5 * (two + three))},
                {}, /*rounds=*/4);
  const auto records = CoordinatorMetrics();
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    EXPECT_EQ(r["dp"], "central");
    EXPECT_EQ(r["clients_reported"], 2);
    EXPECT_LE(r["contribution_norm_max"].get<double>(), 0.01 * (1 + 1e-6));
  }
  EXPECT_NEAR(records.back()["epsilon"].get<double>(), two, two * 1e-9);
  const auto summary = nlohmann::json::parse(testing::ReadFile(dir_.File("coord/summary.json")));
  EXPECT_EQ(summary["rounds"], 2);
  EXPECT_NEAR(summary["epsilon"].get<double>(), two, two * 1e-9);
  EXPECT_NE(summary["stop_reason"].get<std::string>().find("privacy budget"), std::string::npos)
      << summary.dump();
  EXPECT_NE(testing::ReadFile(dir_.File("client-1.log")).find("privacy budget"), std::string::npos)
      << testing::ReadFile(dir_.File("client-1.log"));
}

TEST_F(DeploymentTest, DistributedDpClientsAddTheNoiseThemselves) {
  // Coordinator and clients run the same [privacy]; each fsd-client clips its
  // delta to S = 0.01 and adds N(0, (z·S)²/t) from the CSPRNG. Two reports
  // of z·S/√2 each, over q·N = 2: the global model moves by z·S/2 = 0.01 per
  // coordinate, which only the clients' noise can explain (their clipped
  // deltas move it by at most S in norm).
  const std::vector<std::string> dp = {
      "--set", "aggregation.weighting=uniform", "--set", "compression.uplink=fp32",
      "--set", "privacy.dp=distributed",        "--set", "privacy.noise_multiplier=2.0",
      "--set", "privacy.clip_norm=0.01",        "--set", "privacy.min_survivors=2",
      "--set", "federation.clients=2"};
  RunTwoClients(dp, dp);
  const auto records = CoordinatorMetrics();
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    EXPECT_EQ(r["dp"], "distributed");
    EXPECT_EQ(r["clients_reported"], 2);
    EXPECT_NEAR(r["global_change_rms"].get<double>(), 0.01, 0.0015) << r.dump();
  }
  EXPECT_NEAR(records.back()["epsilon"].get<double>(),
              privacy::EpsilonAfter(1.0, 2.0, 2, 1e-5).epsilon, 1e-9);
  EXPECT_NE(testing::ReadFile(dir_.File("client-1.log"))
                .find("distributed DP: every update clipped to 0.01 and noised with std 0.0141421"),
            std::string::npos)
      << testing::ReadFile(dir_.File("client-1.log"));
}

// Secure aggregation between processes, with distributed DP underneath: each
// fsd-client clips and noises its delta, masks it, and the coordinator
// unmasks only the sum — which moves the model by the clients' noise alone,
// as without secure aggregation.
TEST_F(DeploymentTest, SecureAggregationDeploymentUnmasksOnlyTheSumOfNoisedUpdates) {
  const std::vector<std::string> secure = {
      "--set", "aggregation.weighting=uniform", "--set", "compression.uplink=fp32",
      "--set", "privacy.dp=distributed",        "--set", "privacy.noise_multiplier=2.0",
      "--set", "privacy.clip_norm=0.01",        "--set", "privacy.min_survivors=2",
      "--set", "federation.clients=2",          "--set", "secure_aggregation.enabled=true"};
  RunTwoClients(secure, secure);
  const auto records = CoordinatorMetrics();
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    EXPECT_EQ(r["dp"], "distributed");
    EXPECT_EQ(r["clients_reported"], 2);
    EXPECT_EQ(r["secure_aggregation"]["survivors"], 2);
    EXPECT_EQ(r["secure_aggregation"]["threshold"], 2);
    EXPECT_EQ(r["secagg_clamped"], 0);
    EXPECT_TRUE(r["rejects"].empty()) << r.dump();
    EXPECT_NEAR(r["global_change_rms"].get<double>(), 0.01, 0.0015) << r.dump();
  }
}

TEST_F(DeploymentTest, ClientStoppedWithSigtermSaysByeAndExitsZero) {
  const pid_t coordinator = Coordinator(3);  // never starts a round: a third client never comes
  const pid_t client = Client("client-1");
  // Signal only once the coordinator has seen the client join.
  ASSERT_TRUE(testing::WaitForText(dir_.File("coord.log"), "client client-1 joined"))
      << testing::ReadFile(dir_.File("coord.log"));
  kill(client, SIGTERM);
  EXPECT_EQ(Wait(client), kExitOk);
  EXPECT_NE(testing::ReadFile(dir_.File("client-1.log")).find("said BYE"), std::string::npos);
  EXPECT_TRUE(testing::WaitForText(dir_.File("coord.log"), "client client-1 left"))
      << testing::ReadFile(dir_.File("coord.log"));
  kill(coordinator, SIGTERM);
  EXPECT_EQ(Wait(coordinator), kExitOk);
}

TEST_F(DeploymentTest, ClientTrainingSeveralTimesLongerThanTheTimeoutCompletesItsRound) {
  // One client trains cnn3-s on 16,000 samples (several seconds on one
  // thread) against a coordinator that drops clients silent for 1 s: the
  // client's heartbeats during training keep it in the round.
  const std::vector<std::string> slow = {
      "--set", "model.architecture=cnn3-s",    "--set", "data.synthetic_train_samples=16000",
      "--set", "transport.client_timeout_s=1", "--set", "transport.heartbeat_ms=200"};
  const pid_t coordinator = Coordinator(1, slow, /*rounds=*/1);
  const auto start = std::chrono::steady_clock::now();
  const pid_t client = Client("client-1", slow);
  EXPECT_EQ(Wait(coordinator), kExitOk) << testing::ReadFile(dir_.File("coord.log"));
  EXPECT_EQ(Wait(client), kExitOk) << testing::ReadFile(dir_.File("client-1.log"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto records = CoordinatorMetrics();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["attempts"].get<int>(), 1);  // never dropped and retried
  EXPECT_EQ(records[0]["clients_reported"].get<int>(), 1);
  EXPECT_GT(records[0]["collect_s"].get<double>(), 3.0) << "training was not long enough";
  EXPECT_EQ(testing::ReadFile(dir_.File("coord.log")).find("timed out"), std::string::npos)
      << testing::ReadFile(dir_.File("coord.log"));
  EXPECT_LT(seconds, 200.0);
}

TEST_F(DeploymentTest, PlaintextCoordinatorAndClientsCompleteTheRounds) {
  RunTwoClients({"--insecure"}, {"--insecure"});
  const auto records = CoordinatorMetrics();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["clients_reported"].get<int>(), 2);
  EXPECT_NE(testing::ReadFile(dir_.File("coord.log")).find("WARNING: --insecure"),
            std::string::npos);
}

TEST_F(DeploymentTest, ClientWhoseKeyIsNotOnTheAllowListExitsWithTheKeyErrorCode) {
  ASSERT_EQ(Wait(Spawn({Bin("fsd-keygen"), "--out", dir_.File("outsiders"), "--name", "stranger"},
                       dir_.File("k.log"))),
            0);
  const pid_t coordinator = Coordinator(1);
  const pid_t client = Client("stranger", {}, dir_.File("outsiders/stranger.key"));
  EXPECT_EQ(Wait(client), kExitAuth) << testing::ReadFile(dir_.File("stranger.log"));
  EXPECT_NE(testing::ReadFile(dir_.File("stranger.log")).find("not on its allow-list"),
            std::string::npos)
      << testing::ReadFile(dir_.File("stranger.log"));
  kill(coordinator, SIGTERM);
  EXPECT_EQ(Wait(coordinator), kExitOk);
}

TEST_F(DeploymentTest, ClientPinningTheWrongServerKeyExitsWithTheKeyErrorCode) {
  ASSERT_EQ(Wait(Spawn({Bin("fsd-keygen"), "--out", dir_.File("other"), "--name", "impostor"},
                       dir_.File("k.log"))),
            0);
  const pid_t coordinator = Coordinator(1);
  const pid_t client = Client("client-1", {}, "", dir_.File("other/impostor.pub"));
  EXPECT_EQ(Wait(client), kExitAuth) << testing::ReadFile(dir_.File("client-1.log"));
  EXPECT_NE(testing::ReadFile(dir_.File("client-1.log")).find("wrong --server-key"),
            std::string::npos)
      << testing::ReadFile(dir_.File("client-1.log"));
  kill(coordinator, SIGTERM);
  EXPECT_EQ(Wait(coordinator), kExitOk);
}

TEST_F(DeploymentTest, ClientWithAnotherModelStopsWithTheConfigErrorCodeInsteadOfRetrying) {
  const pid_t coordinator = Coordinator(1);
  const pid_t client = Client("client-1", {"--set", "model.architecture=cnn3-s"});
  EXPECT_EQ(Wait(client), kExitUsage) << testing::ReadFile(dir_.File("client-1.log"));
  const std::string log = testing::ReadFile(dir_.File("client-1.log"));
  EXPECT_NE(log.find("refused this client: SCHEMA_MISMATCH: client model"), std::string::npos)
      << log;
  EXPECT_NE(log.find("TorchScript file (model.path)"), std::string::npos) << log;
  kill(coordinator, SIGTERM);
  EXPECT_EQ(Wait(coordinator), kExitOk);
}

TEST_F(DeploymentTest, ProcessesRefuseToTakeTheClassCountFromTheirOwnLabels) {
  // NumPy labels say nothing of the task's classes: each process would count its own.
  const std::vector<std::string> own_labels = {"--set", "data.source=npy", "--set",
                                               "data.num_classes=0"};
  const pid_t coordinator =
      Spawn(Concat(Concat({Bin("fsd-coordinator")}, Common()),
                   Concat(own_labels,
                          {"--out", dir_.File("coord"), "--key", dir_.File("keys/coordinator.key"),
                           "--allow", dir_.File("allow"), "--bind", "tcp://127.0.0.1:*"})),
            dir_.File("coord.log"));
  EXPECT_EQ(Wait(coordinator), kExitUsage) << testing::ReadFile(dir_.File("coord.log"));
  endpoint_ = "tcp://127.0.0.1:1";
  EXPECT_EQ(Wait(Client("client-1", own_labels)), kExitUsage);
  for (const char* log : {"coord.log", "client-1.log"}) {
    EXPECT_NE(testing::ReadFile(dir_.File(log)).find("data.num_classes: required by fsd-"),
              std::string::npos)
        << testing::ReadFile(dir_.File(log));
  }
}

TEST_F(DeploymentTest, ResumeWithoutACheckpointIsAnIoError) {
  const pid_t coordinator = Spawn(
      Concat(
          {Bin("fsd-coordinator")},
          Concat(Common(), {"--out", dir_.File("empty"), "--key", dir_.File("keys/coordinator.key"),
                            "--allow", dir_.File("allow"), "--resume"})),
      dir_.File("coord.log"));
  EXPECT_EQ(Wait(coordinator), kExitIo);
  EXPECT_NE(testing::ReadFile(dir_.File("coord.log")).find("no checkpoint to resume from"),
            std::string::npos)
      << testing::ReadFile(dir_.File("coord.log"));
}

}  // namespace
}  // namespace fsd
