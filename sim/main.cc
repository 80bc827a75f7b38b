// fsd-sim: a simulated federation on one machine over encrypted loopback ZeroMQ.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "common/errors.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"
#include "coordinator/run_flags.h"
#include "sim/report.h"
#include "sim/simulation.h"

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-sim: run a coordinator and N clients in one process over CURVE-encrypted loopback\n"
      "ZeroMQ, clients multiplexed over a pool of worker threads — or, with --role, one part\n"
      "of such a run across processes and hosts (keys, coordinator, client pools).\n"
      "Writes DIR/metrics.jsonl (one object per round), summary.json, rounds.tsv, accuracy.png,\n"
      "bytes.png and checkpoint.bin.\n"
      "Exit codes: 0 ok, 1 internal error, 2 bad flags or config, 3 I/O error, 4 bad data, 5 key "
      "error."};
  fsd::coordinator::RunFlags flags;
  flags.AddTo(app,
              "serve a status page (/) and Prometheus metrics (/metrics) at HOST:PORT while\n"
              "the run lasts, e.g. 127.0.0.1:9464 (no authentication: keep it on loopback)");
  int clients = 0, workers = -1;
  std::int64_t seed = -1;
  std::string role = "all", key_dir, bind, connect, client_range;
  app.add_option("--role", role,
                 "all: coordinator and clients in this process (default); coordinator: the\n"
                 "coordinator only (--bind); clients: a pool of clients (--connect,\n"
                 "--client-range); keys: write the run's keys into --keys and exit")
      ->check(CLI::IsMember({"all", "coordinator", "clients", "keys"}));
  app.add_option("--keys", key_dir,
                 "key directory shared by the roles: coordinator.{key,pub}, clients/client-k.*");
  app.add_option("--bind", bind,
                 "role coordinator: override transport.bind, e.g. tcp://0.0.0.0:5555");
  app.add_option("--connect", connect, "role clients: the coordinator, e.g. tcp://10.0.0.1:5555");
  app.add_option("--client-range", client_range,
                 "role clients: the clients a:b (a included, b not) this pool runs");
  app.add_option("--clients", clients, "override federation.clients")->check(CLI::PositiveNumber);
  app.add_option("--workers", workers, "override sim.workers (0 = cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", seed, "override federation.seed")->check(CLI::NonNegativeNumber);
  std::string partition_out;
  app.add_option("--write-partition", partition_out,
                 "write the config's partition of the training set to FILE (one line per "
                 "client, space-separated sample indices) and exit without running");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? fsd::kExitOk : fsd::kExitUsage;
  }
  return fsd::RunGuarded("fsd-sim", [&]() -> int {
    using namespace fsd;
    auto& overrides = flags.overrides;
    if (clients > 0) overrides.push_back("federation.clients=" + std::to_string(clients));
    if (workers >= 0) overrides.push_back("sim.workers=" + std::to_string(workers));
    if (seed >= 0) overrides.push_back("federation.seed=" + std::to_string(seed));
    sim::SimulationOptions options;
    options.config = flags.Load();
    const std::string& out_dir = flags.out_dir;
    options.out_dir = out_dir;
    const std::string& http = flags.http;
    if (!partition_out.empty()) {
      const std::size_t clients = sim::WritePartition(options.config, partition_out);
      std::printf("wrote %s: the partition of %zu clients\n", partition_out.c_str(), clients);
      return kExitOk;
    }
    const auto requires_flag = [&](bool present, const char* flag) {
      if (!present) throw ConfigError(std::string("--role ") + role + " needs " + flag);
    };
    const auto refuses_flag = [&](bool present, const char* flag) {
      if (present) throw ConfigError(std::string("--role ") + role + " does not take " + flag);
    };
    if (role != "all") requires_flag(!key_dir.empty(), "--keys DIR");
    if (role == "all") refuses_flag(!key_dir.empty(), "--keys (its keys live in memory)");
    if (role != "coordinator") refuses_flag(!bind.empty(), "--bind");
    if (role == "clients" || role == "keys") refuses_flag(!http.empty(), "--http");
    options.http = http;
    if (role != "clients") {
      refuses_flag(!connect.empty(), "--connect");
      refuses_flag(!client_range.empty(), "--client-range");
    }
    if (role == "keys") {
      sim::WriteSimulationKeys(key_dir, sim::ClientNames(options.config));
      std::printf("wrote %s/coordinator.{key,pub} and %d client keys in %s/clients\n",
                  key_dir.c_str(), options.config.federation.clients, key_dir.c_str());
      return kExitOk;
    }
    options.key_dir = key_dir;
    if (role == "coordinator") {
      options.role = sim::SimulationRole::kCoordinator;
      options.endpoint = bind;
    } else if (role == "clients") {
      options.role = sim::SimulationRole::kClients;
      requires_flag(!connect.empty(), "--connect ENDPOINT");
      requires_flag(!client_range.empty(), "--client-range a:b");
      options.endpoint = connect;
      std::size_t a = 0, b = 0;
      char colon = 0;
      std::istringstream range(client_range);
      if (!(range >> a >> colon >> b) || colon != ':' || !range.eof()) {
        throw ConfigError("--client-range '" + client_range + "': expected a:b, e.g. 0:50");
      }
      options.client_range = {a, b};
    }
    options.resume = flags.resume_mode();
    runtime::ConfigureProcess(options.config.training.threads);
    if (options.config.transport.insecure) {
      std::fprintf(stderr, "fsd-sim: WARNING: --insecure: plaintext, unauthenticated transport\n");
    }
    flags.CreateOutDir();
    const bool pool = options.role == sim::SimulationRole::kClients;
    const auto summary = sim::Simulation(std::move(options)).Run();
    if (pool) {
      std::printf(
          "\nclient pool %s done: %lld check-ins, %lld rounds trained; wrote %s/summary.json\n",
          client_range.c_str(), static_cast<long long>(summary["check_ins"].get<std::int64_t>()),
          static_cast<long long>(summary["train_jobs"].get<std::int64_t>()), out_dir.c_str());
      return kExitOk;
    }
    // A diverged federation's figures are printed, then it exits with 6.
    const int exit_code = summary.value("diverged", false) ? kExitDiverged : kExitOk;
    if (exit_code != kExitOk) {
      std::fprintf(stderr, "fsd-sim: %s\n", summary["stop_reason"].get<std::string>().c_str());
    }
    if (summary["rounds"].get<int>() == 0) {
      std::printf("\nno round was committed%s%s\n", summary.contains("stop_reason") ? ": " : "",
                  summary.value("stop_reason", "").c_str());
      return exit_code;
    }
    const auto exits = summary["final_acc"].size();
    std::printf("\n%d rounds; test accuracy per exit (%s):\n", summary["rounds"].get<int>(),
                sim::ExitNames(exits).c_str());
    std::printf("  last round        %s\n", sim::Percentages(summary["final_acc"]).c_str());
    std::printf("  mean of last 3    %s\n", sim::Percentages(summary["acc_mean_last3"]).c_str());
    std::printf("  mean of last 5    %s\n", sim::Percentages(summary["acc_mean_last5"]).c_str());
    if (summary.contains("client_acc_mean")) {
      std::printf("distillation only: mean accuracy per exit of the clients' own models %s\n",
                  sim::Percentages(summary["client_acc_mean"]).c_str());
    }
    std::printf(
        "median round %.1f s (evaluation %.1f s)  bytes up %.1f MB  down %.1f MB  wall %.1f s\n",
        summary["round_s_median"].get<double>(), summary["eval_s_median"].get<double>(),
        summary["bytes_up_total"].get<double>() / 1e6,
        summary["bytes_down_total"].get<double>() / 1e6, summary["wall_s"].get<double>());
    if (summary.contains("epsilon")) {
      std::printf("privacy: epsilon %.4g at delta %g after %d released rounds%s%s\n",
                  summary["epsilon"].get<double>(), summary["delta"].get<double>(),
                  summary["privacy_steps"].get<int>(), summary.contains("stop_reason") ? "; " : "",
                  summary.value("stop_reason", "").c_str());
    }
    std::printf(
        "wrote %s/metrics.jsonl, summary.json, rounds.tsv, accuracy.png, bytes.png, "
        "schedule.png%s\n",
        out_dir.c_str(), summary.contains("epsilon") ? ", privacy.png" : "");
    return exit_code;
  });
}
