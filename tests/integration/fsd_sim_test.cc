// fsd-sim end to end over CURVE loopback: a 3-client federation on synthetic
// data, and a run killed with SIGKILL mid-way then resumed, which must end with
// the byte-identical model of an uninterrupted run and count no round twice.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/errors.h"
#include "privacy/dp/rdp_accountant.h"
#include "tests/testing/sim_run.h"
#include "tests/testing/temp_dir.h"

namespace fsd {
namespace {

std::vector<std::string> SimArguments(const std::string& out, int rounds,
                                      const std::string& config = "fmnist-sd.toml",
                                      int clients = 3) {
  return testing::SyntheticSimArguments(out, rounds, config, clients);
}

pid_t Spawn(const std::vector<std::string>& arguments, const std::string& log) {
  return testing::SpawnProcess(arguments, log);
}

int Wait(pid_t pid) { return testing::WaitProcess(pid, /*timeout_s=*/300.0); }

std::vector<nlohmann::json> Metrics(const std::string& dir) { return testing::ReadMetrics(dir); }

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

TEST(FsdSimTest, GlobalSoftTargetsFollowTheAdaptiveTemperature) {
  testing::TempDir out;
  const auto arguments = SimArguments(out.path(), 3, "fmnist-sd-global.toml");
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 3u);
  // Round 1 has nothing aggregated: loss.temperature and no soft targets.
  EXPECT_DOUBLE_EQ(records[0]["temperature"].get<double>(), 3.0);
  EXPECT_FALSE(records[0]["soft_targets_sent"].get<bool>());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    EXPECT_DOUBLE_EQ(r["beta"].get<double>(), 0.3);
    // Per client: count list (8 + 10·8) + logits section (24 + 100·4) = 512 bytes.
    // Per UPDATE: 8 + 10·8 count bytes, 3 × 24 section headers, 100·4 logit bytes.
    EXPECT_EQ(r["bytes_up_summary"].get<std::int64_t>(), 3 * 560);
    if (i == 0) continue;
    EXPECT_TRUE(r["soft_targets_sent"].get<bool>());
    const double t = r["temperature"].get<double>();
    EXPECT_GE(t, 1.0);
    EXPECT_LE(t, 10.0);
    // The adaptive temperature hits half of log C unless clamped at a bound.
    if (t > 1.0 && t < 10.0) {
      EXPECT_NEAR(r["soft_target_entropy"].get<double>(), 0.5 * std::log(10.0), 1e-4);
    }
  }
  EXPECT_GT(records.back()["acc"][2].get<double>(), 0.5);
  EXPECT_TRUE(std::filesystem::exists(out.File("schedule.png")) ||
              std::system("command -v gnuplot > /dev/null 2>&1") != 0);
}

TEST(FsdSimTest, DistillationOnlyClientsKeepTheirOwnWeightsAndUploadOnlySummaries) {
  testing::TempDir out;
  ASSERT_EQ(Wait(Spawn(SimArguments(out.path(), 3, "fmnist-fd.toml"), out.File("log.txt"))),
            kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 3u);
  for (const auto& r : records) {
    EXPECT_TRUE(r["acc"].empty());  // no global model
    // Three UPDATEs of summary + envelope + payload, no weights.
    EXPECT_LT(r["bytes_up"].get<std::int64_t>(), 3 * 720) << r.dump();
    // Per UPDATE: 8 + 10·8 count bytes, 3 × 24 section headers, 100·4 logit bytes.
    EXPECT_EQ(r["bytes_up_summary"].get<std::int64_t>(), 3 * 560);
  }
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(std::filesystem::exists(
        out.File("client-state/client-" + std::to_string(k) + ".r3.state")));
  }
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("summary.json")));
  ASSERT_EQ(summary["client_acc"].size(), 3u);
  ASSERT_EQ(summary["client_acc_mean"].size(), 3u);
  EXPECT_GT(summary["client_acc_mean"][2].get<double>(), 0.3);  // chance is 0.1
}

TEST(FsdSimTest, PrunedInt8FederationUploadsOnlyKeptQuantizedValues) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 4, "fmnist-prune-int8.toml");
  arguments.insert(arguments.end(), {"--set", "pruning.end_round=3"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 4u);
  EXPECT_DOUBLE_EQ(records[0]["sparsity"].get<double>(), 0.0);
  EXPECT_NEAR(records[2]["sparsity"].get<double>(), 0.8, 0.01);
  EXPECT_NEAR(records[3]["sparsity"].get<double>(), 0.8, 0.01);
  // The mask travels when it changes (rounds 2 and 3: 3 clients each), not in round 4.
  EXPECT_EQ(records[0]["bytes_down_mask"].get<std::int64_t>(), 0);
  EXPECT_GT(records[2]["bytes_down_mask"].get<std::int64_t>(), 0);
  EXPECT_EQ(records[3]["bytes_down_mask"].get<std::int64_t>(), 0);
  // Round 1 uploads every value as int8 (1 byte each + scales); round 4 about a fifth
  // of the prunable ones.
  const double dense_int8 = records[0]["bytes_up_weights"].get<double>();
  const double pruned_int8 = records[3]["bytes_up_weights"].get<double>();
  EXPECT_LT(pruned_int8, 0.3 * dense_int8);
  const double values = 3 * 30000.0;  // 3 clients × > 30k values of the synthetic cnn3-s
  EXPECT_LT(dense_int8, 0.3 * 4 * values * 1.5);
  EXPECT_GT(records.back()["acc"][2].get<double>(), 0.4);  // chance is 0.1
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("summary.json")));
  EXPECT_NEAR(summary["sparsity_final"].get<double>(), 0.8, 0.01);
}

// Weights with global soft targets, pruning, distillation only, and a server
// optimizer with the round learning-rate schedule: all resume exactly.
struct ResumeCase {
  std::string name;
  std::string config;
  std::vector<std::string> overrides;
};
void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.name; }
class FsdSimResumeTest : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(FsdSimResumeTest, KilledAndResumedRunEndsWithTheSameStateAsAnUninterruptedOne) {
  constexpr int kRounds = 5;
  const ResumeCase& param = GetParam();
  const auto arguments_for = [&](const std::string& out) {
    auto arguments = SimArguments(out, kRounds, param.config);
    for (const auto& assignment : param.overrides) {
      arguments.push_back("--set");
      arguments.push_back(assignment);
    }
    return arguments;
  };
  testing::TempDir reference, resumed;
  ASSERT_EQ(Wait(Spawn(arguments_for(reference.path()), reference.File("log.txt"))), kExitOk)
      << testing::ReadFile(reference.File("log.txt"));

  // SIGKILL once at least two rounds are committed, then resume.
  const pid_t pid = Spawn(arguments_for(resumed.path()), resumed.File("log1.txt"));
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
  ASSERT_TRUE(std::filesystem::exists(resumed.File("checkpoint.bin")))
      << "killed before a round was committed: nothing to resume";

  auto arguments = arguments_for(resumed.path());
  arguments.push_back("--resume");
  ASSERT_EQ(Wait(Spawn(arguments, resumed.File("log2.txt"))), kExitOk)
      << testing::ReadFile(resumed.File("log2.txt"));
  // It really resumed: its first round was after the last committed one.
  EXPECT_NE(testing::ReadFile(resumed.File("log2.txt")).find("resuming after round"),
            std::string::npos);

  EXPECT_EQ(testing::ReadFile(resumed.File("checkpoint.bin")),
            testing::ReadFile(reference.File("checkpoint.bin")));
  const auto records = Metrics(resumed.path());
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kRounds));
  for (int i = 0; i < kRounds; ++i) EXPECT_EQ(records[i]["round"].get<int>(), i + 1);
  if (!param.overrides.empty()) {  // the server optimizer stepped and the factor followed cosine
    EXPECT_EQ(records[0]["server_optimizer"], "adam");
    EXPECT_DOUBLE_EQ(records[0]["lr_factor"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(records[1]["lr_factor"].get<double>(), 1.0);
    EXPECT_LT(records[4]["lr_factor"].get<double>(), records[2]["lr_factor"].get<double>());
  }
  if (param.config == "fmnist-fd.toml") {
    for (int k = 0; k < 3; ++k) {
      const std::string state = "client-state/client-" + std::to_string(k) + ".r5.state";
      EXPECT_EQ(testing::ReadFile(resumed.File(state)), testing::ReadFile(reference.File(state)))
          << state;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Modes, FsdSimResumeTest,
    ::testing::Values(ResumeCase{"GlobalSoftTargets", "fmnist-sd-global.toml", {}},
                      ResumeCase{"Distillation", "fmnist-fd.toml", {}},
                      ResumeCase{"Pruning", "fmnist-prune.toml", {}},
                      ResumeCase{"PrunedServerAdamWithCosineLearningRate",
                                 "fmnist-prune.toml",
                                 {"aggregation.server_optimizer=adam", "aggregation.server_lr=0.01",
                                  "aggregation.tau=0.01", "schedule.lr=cosine",
                                  "schedule.lr_warmup_rounds=1"}}),
    [](const auto& info) { return info.param.name; });

TEST(FsdSimTest, OneWorkerAndTwoWorkersEndWithByteIdenticalCheckpoints) {
  testing::TempDir one, two;
  auto arguments = SimArguments(one.path(), 3);
  *(std::find(arguments.begin(), arguments.end(), "--workers") + 1) = "1";
  ASSERT_EQ(Wait(Spawn(arguments, one.File("log.txt"))), kExitOk)
      << testing::ReadFile(one.File("log.txt"));
  ASSERT_EQ(Wait(Spawn(SimArguments(two.path(), 3), two.File("log.txt"))), kExitOk)  // 2 workers
      << testing::ReadFile(two.File("log.txt"));
  const std::string checkpoint = testing::ReadFile(one.File("checkpoint.bin"));
  ASSERT_FALSE(checkpoint.empty());
  EXPECT_EQ(checkpoint, testing::ReadFile(two.File("checkpoint.bin")));
}

// fsd-sim --role: keys, a coordinator and two client pools in four
// processes (as on separate hosts or Slurm job steps) end with the model of
// one process for the same seed, byte for byte.
TEST(FsdSimTest, CoordinatorAndTwoClientPoolsInOtherProcessesMatchOneProcess) {
  testing::TempDir one, split;
  ASSERT_EQ(Wait(Spawn(SimArguments(one.path(), 3), one.File("log.txt"))), kExitOk)
      << testing::ReadFile(one.File("log.txt"));
  const auto with = [](std::vector<std::string> arguments, std::vector<std::string> extra) {
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    return arguments;
  };
  const std::string keys = split.File("keys");
  ASSERT_EQ(
      Wait(Spawn(with(SimArguments(split.File("keys-out"), 3), {"--role", "keys", "--keys", keys}),
                 split.File("keys.log"))),
      kExitOk)
      << testing::ReadFile(split.File("keys.log"));
  const pid_t coordinator =
      Spawn(with(SimArguments(split.File("coordinator"), 3),
                 {"--role", "coordinator", "--keys", keys, "--bind", "tcp://127.0.0.1:*"}),
            split.File("coordinator.log"));
  const std::string endpoint = testing::ListeningEndpoint(split.File("coordinator.log"));
  ASSERT_FALSE(endpoint.empty()) << testing::ReadFile(split.File("coordinator.log"));
  const auto pool = [&](const std::string& range, const std::string& name) {
    auto arguments = SimArguments(split.File(name), 3);
    *(std::find(arguments.begin(), arguments.end(), "--workers") + 1) = "1";
    return Spawn(with(arguments, {"--role", "clients", "--keys", keys, "--connect", endpoint,
                                  "--client-range", range}),
                 split.File(name + ".log"));
  };
  const pid_t first = pool("0:2", "pool-a"), second = pool("2:3", "pool-b");
  EXPECT_EQ(Wait(coordinator), kExitOk) << testing::ReadFile(split.File("coordinator.log"));
  EXPECT_EQ(Wait(first), kExitOk) << testing::ReadFile(split.File("pool-a.log"));
  EXPECT_EQ(Wait(second), kExitOk) << testing::ReadFile(split.File("pool-b.log"));
  const std::string checkpoint = testing::ReadFile(one.File("checkpoint.bin"));
  ASSERT_FALSE(checkpoint.empty());
  EXPECT_TRUE(checkpoint == testing::ReadFile(split.File("coordinator/checkpoint.bin")))
      << "the coordinator's checkpoint differs from the one-process run's";
  const auto pool_a = nlohmann::json::parse(testing::ReadFile(split.File("pool-a/summary.json")));
  EXPECT_EQ(pool_a["clients_with_samples"], 2);
  EXPECT_EQ(pool_a["train_jobs"], 2 * 3);
}

TEST(FsdSimTest, RoleFlagsThatDoNotFitAreRefusedByName) {
  testing::TempDir out;
  const auto refused = [&](std::vector<std::string> extra, const std::string& needle) {
    auto arguments = SimArguments(out.path(), 1);
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    EXPECT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitUsage);
    const std::string log = testing::ReadFile(out.File("log.txt"));
    EXPECT_NE(log.find(needle), std::string::npos) << log;
  };
  refused({"--role", "clients", "--keys", out.File("k")}, "--role clients needs --connect");
  refused({"--role", "coordinator"}, "--role coordinator needs --keys DIR");
  refused({"--connect", "tcp://127.0.0.1:1"}, "--role all does not take --connect");
  refused({"--role", "clients", "--keys", out.File("k"), "--connect", "tcp://127.0.0.1:1",
           "--client-range", "3-1"},
          "--client-range '3-1': expected a:b");
}

// The samples of a Prometheus text page as parsed by the Python client's
// parser (Debian's python3-prometheus-client): "name{label=value,...}" → value,
// labels sorted; empty if the parser refused the page.
std::map<std::string, double> ParsedByPrometheusClient(const std::string& text) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("metrics.txt"), text);
  const std::string command =
      "/usr/bin/python3 -c 'import json, sys\n"
      "from prometheus_client.parser import text_string_to_metric_families as parse\n"
      "print(json.dumps({s.name + json.dumps(s.labels, sort_keys=True, separators=(\",\", \"=\")): "
      "s.value for f in parse(sys.stdin.read()) for s in f.samples}))' < " +
      dir.File("metrics.txt") + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  std::size_t n;
  while (pipe != nullptr && (n = fread(buffer, 1, sizeof buffer, pipe)) > 0)
    output.append(buffer, n);
  if (pipe == nullptr || pclose(pipe) != 0) {
    ADD_FAILURE() << "the Prometheus parser refused the page: " << output;
    return {};
  }
  return nlohmann::json::parse(output).get<std::map<std::string, double>>();
}

TEST(FsdSimTest, MetricsAndStatusAreServedWhileTheFederationRuns) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 8);
  arguments.insert(arguments.end(), {"--http", "127.0.0.1:0"});
  const pid_t pid = Spawn(arguments, out.File("log.txt"));
  ASSERT_TRUE(testing::WaitForText(out.File("log.txt"), "status page at http://127.0.0.1:"))
      << testing::ReadFile(out.File("log.txt"));
  const std::string log = testing::ReadFile(out.File("log.txt"));
  const int port = std::stoi(log.substr(log.find("status page at http://127.0.0.1:") + 32));
  httplib::Client http("127.0.0.1", port);
  // Poll while the run goes on until two rounds are committed.
  std::map<std::string, double> samples;
  for (int i = 0; i < 600 && samples["fsd_rounds_committed_total{}"] < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto page = http.Get("/metrics");
    ASSERT_TRUE(page) << "fsd-sim stopped serving before round 2";
    samples = ParsedByPrometheusClient(page->body);
    ASSERT_FALSE(samples.empty());
  }
  EXPECT_EQ(samples["fsd_clients_enrolled{}"], 3);
  EXPECT_EQ(samples["fsd_rounds_configured{}"], 8);
  EXPECT_EQ(samples["fsd_finished{}"], 0);
  EXPECT_GT(samples["fsd_bytes_total{\"direction\"=\"up\",\"kind\"=\"weights\"}"], 0);
  EXPECT_GT(samples["fsd_bytes_total{\"direction\"=\"down\",\"kind\"=\"weights\"}"], 0);
  for (int exit = 1; exit <= 3; ++exit) {
    const auto key = "fsd_exit_accuracy{\"exit\"=\"" + std::to_string(exit) + "\"}";
    ASSERT_TRUE(samples.contains(key)) << key;
    EXPECT_GT(samples[key], 0.0);
  }
  const auto status = http.Get("/api/status");
  ASSERT_TRUE(status);
  const auto json = nlohmann::json::parse(status->body);
  EXPECT_GE(json["rounds"].size(), 2u);
  EXPECT_EQ(json["rounds"][0]["round"], 1);
  EXPECT_EQ(json["run"]["program"], "fsd-sim");
  ASSERT_EQ(Wait(pid), kExitOk) << testing::ReadFile(out.File("log.txt"));
  // What the page plotted is what metrics.jsonl holds.
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 8u);
  EXPECT_EQ(json["rounds"][0]["acc"], records[0]["acc"]);
}

TEST(FsdSimTest, AnHttpAddressThatIsNotHostPortIsRefusedBeforeTraining) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 1);
  arguments.insert(arguments.end(), {"--http", "9464"});
  EXPECT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitUsage);
  EXPECT_NE(testing::ReadFile(out.File("log.txt")).find("--http '9464'"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out.File("metrics.jsonl")));
}

TEST(FsdSimTest, PlaintextSimulationCompletesItsRounds) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 2);
  arguments.push_back("--insecure");
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["clients_reported"].get<int>(), 3);
  EXPECT_NE(testing::ReadFile(out.File("log.txt")).find("WARNING: --insecure"), std::string::npos);
}

// The same federation with and without secure aggregation: the coordinator
// sees only sums, the model and the global soft targets come out the same
// up to fixed-point rounding, and the masked uploads are packed below fp32.
// The same federation aggregated in plaintext (into `plain`) and under
// secure aggregation (into `secure`), `extra` flags for both; each must exit 0.
void RunPlainAndSecure(const std::string& plain, const std::string& secure, int rounds,
                       const std::string& config, const std::vector<std::string>& extra = {}) {
  auto plain_arguments = SimArguments(plain, rounds, config);
  plain_arguments.insert(plain_arguments.end(), extra.begin(), extra.end());
  ASSERT_EQ(Wait(Spawn(plain_arguments, plain + "/log.txt")), kExitOk)
      << testing::ReadFile(plain + "/log.txt");
  auto secure_arguments = SimArguments(secure, rounds, config);
  secure_arguments.insert(secure_arguments.end(), extra.begin(), extra.end());
  // range 4: round 1 moves BatchNorm variances by more than the default ±1.
  secure_arguments.insert(secure_arguments.end(), {"--set", "secure_aggregation.enabled=true",
                                                   "--set", "secure_aggregation.range=4"});
  ASSERT_EQ(Wait(Spawn(secure_arguments, secure + "/log.txt")), kExitOk)
      << testing::ReadFile(secure + "/log.txt");
}

TEST(FsdSimTest, SecureAggregationMatchesThePlaintextRunAndMasksSummariesToo) {
  testing::TempDir plain, secure;
  RunPlainAndSecure(plain.path(), secure.path(), 3, "fmnist-sd-global.toml");
  const auto p = Metrics(plain.path());
  const auto s = Metrics(secure.path());
  ASSERT_EQ(s.size(), 3u);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto& sa = s[i]["secure_aggregation"];
    EXPECT_EQ(sa["cohort"].get<int>(), 3);
    EXPECT_EQ(sa["survivors"].get<int>(), 3);
    EXPECT_EQ(sa["threshold"].get<int>(), 2);
    EXPECT_EQ(sa["ring_bits"].get<int>(), 26);  // 16 bits + 8 weight bits + log2(3)
    for (const char* stage : {"advertise", "share_keys", "masked_input", "unmask"}) {
      EXPECT_EQ(sa["stages"][stage]["clients"].get<int>(), 3) << stage;
    }
    EXPECT_TRUE(s[i]["rejects"].empty()) << s[i].dump();
    EXPECT_EQ(s[i]["secagg_clamped"].get<int>(), 0);
    EXPECT_LT(s[i]["bytes_up"].get<double>(), p[i]["bytes_up"].get<double>());
    // Fixed point at 16 bits over ±4 moves each round's model by ~1e-4 per
    // value; three rounds of training amplify that to a few of the 600 test images.
    EXPECT_NEAR(s[i]["acc"][2].get<double>(), p[i]["acc"][2].get<double>(), 0.05);
  }
  // Round 2 on trains with global soft targets aggregated from masked summaries.
  EXPECT_TRUE(s[2]["soft_targets_sent"].get<bool>());
  EXPECT_NEAR(s[2]["soft_target_entropy"].get<double>(), p[2]["soft_target_entropy"].get<double>(),
              0.05);
  EXPECT_GT(s.back()["acc"][2].get<double>(), 0.5);
}

// The server optimizer steps from the unmasked sum as it does from the plain
// mean: the two runs move the global model alike.
TEST(FsdSimTest, ServerMomentumAfterSecureAggregationMovesTheModelAsAfterThePlainMean) {
  testing::TempDir plain, secure;
  RunPlainAndSecure(plain.path(), secure.path(), 2, "fmnist-sd.toml",
                    {"--set", "aggregation.server_optimizer=momentum", "--set",
                     "aggregation.server_momentum=0.5"});
  const auto p = Metrics(plain.path());
  const auto s = Metrics(secure.path());
  ASSERT_EQ(s.size(), 2u);
  for (std::size_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(s[i]["server_optimizer"], "momentum");
    EXPECT_EQ(s[i]["secure_aggregation"]["survivors"].get<int>(), 3);
    // Fixed-point rounding aside, the same step: global_change_rms within 2%.
    EXPECT_NEAR(s[i]["global_change_rms"].get<double>(), p[i]["global_change_rms"].get<double>(),
                0.02 * p[i]["global_change_rms"].get<double>());
  }
}

// faults.dropout_after_upload: seeded clients never answer the unmask
// request; every round commits, or fails when fewer than t answered (and is
// not retried: the others had revealed), and the injected faults are counted.
TEST(FsdSimTest, ClientsDroppingAfterTheirMaskedInputAreCountedAndRoundsStillCommit) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 3);
  arguments.insert(arguments.end(), {"--set", "secure_aggregation.enabled=true", "--set",
                                     "faults.dropout_after_upload=0.4", "--set",
                                     "secure_aggregation.stage_deadline_s=1"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 3u);
  int dropped = 0;
  for (const auto& r : records) {
    dropped += r["faults_dropped_after_upload"].get<int>();
    const auto& sa = r["secure_aggregation"];
    const bool committed = r["outcome"] == "committed";
    EXPECT_EQ(sa["stages"]["unmask"]["clients"].get<int>() >= sa["threshold"].get<int>(), committed)
        << r.dump();
    EXPECT_EQ(r["clients_reported"], sa["survivors"]);
    EXPECT_EQ(r["attempts"], 1) << "no failed reveal is retried";
  }
  EXPECT_GT(dropped, 0);
}

// attack.kind = "bad_share": one of six clients reveals a wrong share in
// round 1. The other shares outvote it (t = 4 of 6), the round commits, the
// client is named and sits out the rest of the run; no round is retried.
TEST(FsdSimTest, ClientThatRevealsAWrongShareIsOutvotedNamedAndExcluded) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 3, "fmnist-sd.toml", 6);
  arguments.insert(arguments.end(), {"--set", "secure_aggregation.enabled=true", "--set",
                                     "secure_aggregation.range=4", "--set", "attack.clients=1",
                                     "--set", "attack.kind=bad_share"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 3u);
  ASSERT_EQ(records[0]["secure_culprits"].size(), 1u) << records[0].dump();
  const auto culprit = records[0]["secure_culprits"][0].get<std::string>();
  EXPECT_EQ(records[0]["attackers"], nlohmann::json::array({culprit}));
  for (const auto& r : records) {
    EXPECT_EQ(r["outcome"], "committed") << r.dump();
    EXPECT_EQ(r["attempts"], 1);
    EXPECT_EQ(r["attack"], "bad_share");
  }
  EXPECT_EQ(records[0]["clients_reported"], 6);
  for (std::size_t i = 1; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["clients_selected"], 5) << "the culprit sits out";
    EXPECT_EQ(records[i]["secure_culprits"], nlohmann::json::array());
  }
  EXPECT_GT(records.back()["acc"][2].get<double>(), 0.5);
}

// A federation whose server step drives the model past limits.max_abs_value
// (every later update would be refused): the round is rolled back, the run
// stops with exit code 6, and summary.json says which round.
TEST(FsdSimTest, DivergedFederationStopsWithItsExitCodeAndNamesTheRound) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 3);
  arguments.insert(arguments.end(),
                   {"--set", "aggregation.server_optimizer=momentum", "--set",
                    "aggregation.server_lr=1000", "--set", "limits.max_abs_value=4"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitDiverged)
      << testing::ReadFile(out.File("log.txt"));
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("summary.json")));
  EXPECT_TRUE(summary["diverged"].get<bool>());
  EXPECT_NE(summary["stop_reason"].get<std::string>().find("round 1: the global model diverged"),
            std::string::npos)
      << summary.dump();
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["outcome"], "rolled_back");
  EXPECT_EQ(records[0]["global_change_rms"], 0.0);
}

// Cross-device check-in: 60 registered clients, 12 checked in at a time, a
// cohort of 6 (fraction 0.1 of the population) sampled among them; clients
// that uploaded check out and others check in.
TEST(FsdSimTest, CohortIsSampledFromTheCheckedInClientsWhileOthersComeAndGo) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 3, "fmnist-sd.toml", 60);
  arguments.insert(arguments.end(), {"--set", "federation.partition=iid", "--set",
                                     "federation.fraction=0.1", "--set", "sim.checked_in=12"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 3u);
  for (const auto& r : records) {
    EXPECT_EQ(r["clients_selected"], 6);
    EXPECT_EQ(r["clients_reported"], 6);
    EXPECT_LE(r["clients_checked_in"].get<int>(), 12);
    EXPECT_GE(r["coordinator_cpu_s"].get<double>(), 0.0);
  }
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("summary.json")));
  EXPECT_EQ(summary["clients"], 60);
  EXPECT_EQ(summary["checked_in"], 12);
  // The first 12, then 6 replacements after each of the first two rounds at least.
  EXPECT_GE(summary["check_ins"].get<int>(), 12 + 2 * 6);
  // Every round trained 6 clients' shards of 3000 / 60 samples.
  EXPECT_EQ(records.back()["samples"], 6 * 50);
}

// Heterogeneous clients: half train exit 1's sub-network, half the whole
// network; and the exclusion baseline where only the latter take part.
TEST(FsdSimTest, HeterogeneousClientsTrainTheirSubnetworksAndExclusionLeavesThemOut) {
  const std::string profiles =
      "heterogeneity.profile=[{share = 0.5, max_exit = 1}, {share = 0.5, max_exit = 0}]";
  testing::TempDir mixed, excluded;
  auto arguments = SimArguments(mixed.path(), 2, "fmnist-sd.toml", 4);
  arguments.insert(arguments.end(), {"--set", profiles});
  ASSERT_EQ(Wait(Spawn(arguments, mixed.File("log.txt"))), kExitOk)
      << testing::ReadFile(mixed.File("log.txt"));
  arguments = SimArguments(excluded.path(), 2, "fmnist-sd.toml", 4);
  arguments.insert(arguments.end(), {"--set", profiles, "--set", "heterogeneity.min_exit=3"});
  ASSERT_EQ(Wait(Spawn(arguments, excluded.File("log.txt"))), kExitOk)
      << testing::ReadFile(excluded.File("log.txt"));
  const auto with_all = Metrics(mixed.path()), full_only = Metrics(excluded.path());
  ASSERT_EQ(with_all.size(), 2u);
  ASSERT_EQ(full_only.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(with_all[i]["clients_by_exit"], (nlohmann::json{2, 0, 2}));
    EXPECT_EQ(full_only[i]["clients_by_exit"], (nlohmann::json{0, 0, 2}));
    EXPECT_EQ(full_only[i]["clients_reported"], 2);
    EXPECT_EQ(with_all[i]["acc"].size(), 3u);
    // The two small clients move their sub-network only: far less than the
    // two full ones, both ways.
    const double full_up = full_only[i]["bytes_up_weights"].get<double>();
    const double small_up = with_all[i]["bytes_up_weights"].get<double>() - full_up;
    EXPECT_GT(small_up, 0.0);
    EXPECT_LT(small_up, 0.3 * full_up);
    const double full_down = full_only[i]["bytes_down_weights"].get<double>();
    const double small_down = with_all[i]["bytes_down_weights"].get<double>() - full_down;
    EXPECT_GT(small_down, 0.0);
    EXPECT_LT(small_down, 0.3 * full_down);
  }
  // Exit 1 learns from all four shards in the mixed run.
  EXPECT_GT(with_all.back()["acc"][0].get<double>(), 0.3);
}

// Every kind of injected fault at once, over-selection and a quorum: every
// round commits, each fault is counted, and each garbage frame was refused.
TEST(FsdSimTest, InjectedDropoutsCrashesGarbageAndStragglersAreCountedAndRoundsCommit) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 4, "fmnist-sd.toml", 10);
  arguments.insert(arguments.end(), {"--set", "faults.dropout_before_train=0.15",
                                     "--set", "faults.dropout_during_train=0.15",
                                     "--set", "faults.dropout_after_upload=0.15",
                                     "--set", "faults.crash_rate=0.15",
                                     "--set", "faults.restart_after_s=0.2",
                                     "--set", "faults.garbage_rate=0.3",
                                     "--set", "faults.straggler_fraction=0.2",
                                     "--set", "faults.straggler_factor=3",
                                     "--set", "federation.fraction=0.6",
                                     "--set", "federation.over_select=0.5",
                                     "--set", "federation.quorum=0.5",
                                     "--set", "federation.round_deadline_s=8",
                                     "--set", "transport.client_timeout_s=4"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 4u);
  std::map<std::string, int> total;
  int rejects = 0;
  for (const auto& r : records) {
    for (const char* key : {"faults_dropped", "faults_dropped_before_train",
                            "faults_dropped_during_train", "faults_dropped_after_upload",
                            "faults_crashed", "faults_garbage_frames", "faults_straggling"}) {
      total[key] += r[key].get<int>();
    }
    EXPECT_GE(r["clients_reported"].get<int>(), r["quorum"].get<int>());
    for (const auto& [code, count] : r["rejects"].items()) rejects += count.get<int>();
  }
  for (const auto& [key, count] : total) EXPECT_GT(count, 0) << key;
  EXPECT_EQ(total["faults_dropped"], total["faults_dropped_before_train"] +
                                         total["faults_dropped_during_train"] +
                                         total["faults_dropped_after_upload"]);
  EXPECT_GE(rejects, total["faults_garbage_frames"]);
}

// A client process that crashes after training and starts again rejoins
// its round, gets the round again and reports: with quorum 1 every round
// still has all three clients.
TEST(FsdSimTest, CrashedClientsRestartRejoinTheirRoundAndReport) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 3);
  arguments.insert(arguments.end(),
                   {"--set", "faults.crash_rate=0.5", "--set", "faults.restart_after_s=0.3",
                    "--set", "federation.round_deadline_s=120",
                    // A client may crash on several deliveries in a row (p = 0.5 each):
                    // enough re-sends that every one gets its round again.
                    "--set", "limits.max_round_start_resends=20"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 3u);
  int crashed = 0;
  for (const auto& r : records) {
    EXPECT_EQ(r["clients_reported"], 3);
    EXPECT_EQ(r["attempts"], 1);
    crashed += r["faults_crashed"].get<int>();
  }
  EXPECT_GT(crashed, 0);
}

TEST(FsdSimTest, HostileClientDeclaringABillionSamplesGetsABoundedShareWhenCapped) {
  // One client (drawn from the seed) declares 10^9 samples and uploads its
  // progress reversed, over the same encrypted wire as the others.
  for (const std::string weighting : {"samples", "capped"}) {
    testing::TempDir out;
    auto arguments = SimArguments(out.path(), 2);
    arguments.insert(arguments.end(),
                     {"--set", "attack.clients=1", "--set", "attack.declared_samples=1e9", "--set",
                      "aggregation.weighting=" + weighting});
    ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
        << testing::ReadFile(out.File("log.txt"));
    const auto records = Metrics(out.path());
    ASSERT_EQ(records.size(), 2u);
    for (const auto& r : records) {
      EXPECT_EQ(r["attack"], "sign_flip");
      ASSERT_EQ(r["attackers"].size(), 1u) << r.dump();
      EXPECT_EQ(r["max_weight_client"], r["attackers"][0]);
      if (weighting == "samples") {
        EXPECT_GT(r["max_weight_share"].get<double>(), 0.999);
      } else {
        // At most 4 × the median of 3 clients: 4m / (4m + a + b) < 4/5 with a, b ≥ m... or
        // the lower median: below 0.8 whatever the honest counts.
        EXPECT_LT(r["max_weight_share"].get<double>(), 0.8);
      }
    }
  }
}

// Five clients, one of which scales its update by 100 from round 1: the
// coordinate-wise median keeps learning where the mean does not. (The value
// limit is lifted so that the mean's blown-up model is still aggregated
// rather than refused.)
TEST(FsdSimTest, MedianOutvotesAHostileClientThatScalesItsUpdate) {
  std::map<std::string, double> final_accuracy;
  for (const std::string rule : {"fedavg", "median"}) {
    testing::TempDir out;
    auto arguments = SimArguments(out.path(), 2, "fmnist-sd.toml", 5);
    arguments.insert(
        arguments.end(),
        {"--set", "attack.clients=1", "--set", "attack.kind=scale", "--set", "attack.factor=100",
         "--set", "limits.max_abs_value=1e30", "--set", "aggregation.rule=" + rule,
         // IID shards: two rounds of the median over five non-IID clients
         // learn too little to tell the rules apart.
         "--set", "federation.partition=iid"});
    ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
        << testing::ReadFile(out.File("log.txt"));
    const auto records = Metrics(out.path());
    ASSERT_EQ(records.size(), 2u);
    for (const auto& r : records) {
      EXPECT_EQ(r["rule"], rule);
      EXPECT_EQ(r["attack"], "scale");
      EXPECT_EQ(r["attackers"].size(), 1u) << r.dump();
    }
    final_accuracy[rule] = records.back()["acc"][2].get<double>();
  }
  EXPECT_GT(final_accuracy["median"], 0.4) << final_accuracy["fedavg"];
  EXPECT_GT(final_accuracy["median"], final_accuracy["fedavg"] + 0.2);
}

// ALIE attackers act together: the simulation holds their honest results
// until every attacker of the round has trained, so rounds complete and
// every attacker is logged; Krum (f = 1, so n = 5 ≥ 2f + 3) keeps one client.
TEST(FsdSimTest, CoordinatedAttackersAreReleasedTogetherAndKrumKeepsOneClient) {
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 2, "fmnist-sd.toml", 5);
  arguments.insert(arguments.end(),
                   {"--set", "attack.clients=2", "--set", "attack.kind=alie", "--set",
                    "attack.factor=0", "--set", "aggregation.rule=krum", "--set",
                    "aggregation.byzantine=1", "--set", "federation.round_deadline_s=120"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    EXPECT_EQ(r["attackers"].size(), 2u) << r.dump();
    EXPECT_EQ(r["krum_selected"].size(), 1u) << r.dump();
    EXPECT_EQ(r["clients_reported"].get<int>(), 5);
    EXPECT_EQ(r["attempts"].get<int>(), 1);
  }
}

// Distillation-only federations can be poisoned only through summaries:
// label_flip trains on flipped labels, logit_poison crafts the rows; both
// are injected and logged every round, under the robust summary rule.
TEST(FsdSimTest, DistillationOnlyAttackersPoisonSummariesAndAreLogged) {
  for (const std::string kind : {"label_flip", "logit_poison"}) {
    testing::TempDir out;
    auto arguments = SimArguments(out.path(), 2, "fmnist-fd.toml", 4);
    arguments.insert(arguments.end(),
                     {"--set", "attack.clients=1", "--set", "attack.kind=" + kind, "--set",
                      "attack.factor=5", "--set", "aggregation.summary_rule=median"});
    ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
        << testing::ReadFile(out.File("log.txt"));
    const auto records = Metrics(out.path());
    ASSERT_EQ(records.size(), 2u);
    for (const auto& r : records) {
      EXPECT_EQ(r["attack"], kind);
      EXPECT_EQ(r["attackers"].size(), 1u) << r.dump();
      EXPECT_EQ(r["summary_rule"], "median");
      EXPECT_EQ(r["clients_reported"].get<int>(), 4);
    }
  }
}

// Central DP with global soft targets: Poisson cohorts, weights and
// summaries released under one account, the run stopped at its budget (the
// reason in summary.json), and a resumed run continuing the same account.
TEST(FsdSimTest, CentralDpRunStopsAtItsBudgetAndResumesTheSameAccount) {
  const double q = 0.5, z = 1.0, delta = 1e-5;
  const double step = privacy::CombinedNoiseMultiplier(z, z);
  const double three = privacy::EpsilonAfter(q, step, 3, delta).epsilon;
  const double four = privacy::EpsilonAfter(q, step, 4, delta).epsilon;
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 6, "fmnist-sd.toml", 6);
  arguments.insert(
      arguments.end(),
      {"--set", "federation.fraction=0.5", "--set", "aggregation.weighting=uniform", "--set",
       "loss.beta=0.3", "--set", "privacy.dp=central", "--set", "privacy.noise_multiplier=1.0",
       "--set", "privacy.summary_noise_multiplier=1.0", "--set", "privacy.clip_norm=2.0", "--set",
       "privacy.target_epsilon=" + std::to_string(0.5 * (three + four))});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 3u);
  double previous = 0.0;
  for (const auto& r : records) {
    EXPECT_EQ(r["dp"], "central");
    EXPECT_GT(r["epsilon"].get<double>(), previous);
    previous = r["epsilon"].get<double>();
    EXPECT_DOUBLE_EQ(r["step_noise_multiplier"].get<double>(), step);
    EXPECT_LE(r["clients_selected"].get<int>(), 6);
    EXPECT_TRUE(r.contains("summary_classes_released")) << r.dump();
  }
  EXPECT_NEAR(previous, three, three * 1e-9);
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("summary.json")));
  EXPECT_NE(summary.value("stop_reason", "").find("privacy budget"), std::string::npos)
      << summary.dump();
  EXPECT_NEAR(summary["epsilon"].get<double>(), three, three * 1e-9);
  EXPECT_TRUE(std::filesystem::exists(out.File("privacy.png")) ||
              std::system("command -v gnuplot > /dev/null 2>&1") != 0);
  // Resumed: the account is the checkpoint's, so no round fits any more.
  arguments.push_back("--resume");
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log2.txt"))), kExitOk)
      << testing::ReadFile(out.File("log2.txt"));
  EXPECT_EQ(Metrics(out.path()).size(), 3u);
  EXPECT_NE(testing::ReadFile(out.File("log2.txt")).find("privacy budget"), std::string::npos);
}

TEST(FsdSimTest, DistributedDpReleasesTheClientsNoiseSummedOverTheCohort) {
  // Every client sends the global values back (attack.kind = zero): what the
  // global model moves by is the noise the clients added, z·S·sqrt(k/t)/(q·N)
  // per coordinate for k reports, and no round is released with k < t.
  testing::TempDir out;
  auto arguments = SimArguments(out.path(), 4, "fmnist-sd.toml", 6);
  arguments.insert(
      arguments.end(),
      {"--set", "federation.fraction=0.5", "--set", "aggregation.weighting=uniform", "--set",
       "compression.uplink=fp32", "--set", "privacy.dp=distributed", "--set",
       "privacy.noise_multiplier=1.0", "--set", "privacy.clip_norm=1.0", "--set",
       "privacy.min_survivors=2", "--set", "attack.clients=6", "--set", "attack.kind=zero"});
  ASSERT_EQ(Wait(Spawn(arguments, out.File("log.txt"))), kExitOk)
      << testing::ReadFile(out.File("log.txt"));
  const auto records = Metrics(out.path());
  ASSERT_EQ(records.size(), 4u);
  double previous = 0.0;
  std::int64_t draws = 0;
  for (const auto& r : records) {
    EXPECT_EQ(r["dp"], "distributed");
    // Every draw is charged, those too small for min_survivors too.
    draws += r["attempts"].get<std::int64_t>();
    EXPECT_EQ(r["sampling_draws"], draws);
    EXPECT_EQ(r["privacy_steps"], draws);
    EXPECT_EQ(r["min_survivors"], 2);
    const int reported = r["clients_reported"].get<int>();
    EXPECT_GE(reported, 2) << r.dump();
    const double expected = 1.0 * 1.0 * std::sqrt(reported / 2.0) / 3.0;
    EXPECT_NEAR(r["global_change_rms"].get<double>(), expected, 0.05 * expected) << r.dump();
    EXPECT_GT(r["epsilon"].get<double>(), previous);
    previous = r["epsilon"].get<double>();
  }
  EXPECT_NEAR(previous, privacy::EpsilonAfter(0.5, 1.0, draws, 1e-5).epsilon, previous * 1e-9);
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
