// fsd-coordinator: the server of a real deployment. Binds a CURVE ROUTER,
// admits the clients whose public keys are in --allow, runs the configured
// rounds and evaluates every exit on its own test split after each round.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <optional>

#include "common/data/loader.h"
#include "common/errors.h"
#include "common/metrics/metrics_sink.h"
#include "common/model/evaluate.h"
#include "common/model/flat_params.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"
#include "coordinator/coordinator.h"
#include "coordinator/run_flags.h"
#include "monitor/http_server.h"
#include "transport/zap_handler.h"

namespace {
fsd::coordinator::Coordinator* running = nullptr;
void OnSignal(int) {
  if (running != nullptr) running->Stop();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-coordinator: serve a federation over CURVE-encrypted ZeroMQ.\n"
      "Writes DIR/metrics.jsonl (one object per round) and DIR/checkpoint.bin.\n"
      "Exit codes: 0 ok, 1 internal error, 2 bad flags or config, 3 I/O error, 4 bad data, 5 key "
      "error."};
  fsd::coordinator::RunFlags flags;
  flags.AddTo(app,
              "serve a status page (/) and Prometheus metrics (/metrics) at HOST:PORT, e.g.\n"
              "127.0.0.1:9464 (no authentication: keep it on loopback or behind a proxy)");
  std::string key_path, allow_dir, bind;
  int min_clients = -1;
  app.add_option("--key", key_path, "coordinator secret key file (fsd-keygen)");
  app.add_option("--allow", allow_dir, "directory of admitted clients' .pub files");
  app.add_option("--bind", bind, "override transport.bind, e.g. tcp://0.0.0.0:5555");
  app.add_option("--min-clients", min_clients, "override federation.min_clients")
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? fsd::kExitOk : fsd::kExitUsage;
  }
  return fsd::RunGuarded("fsd-coordinator", [&]() -> int {
    using namespace fsd;
    if (!bind.empty()) flags.overrides.push_back("transport.bind=" + bind);
    if (min_clients >= 0)
      flags.overrides.push_back("federation.min_clients=" + std::to_string(min_clients));
    config::RunConfig cfg = flags.Load();
    runtime::ConfigureProcess(cfg.training.threads);
    if (!cfg.transport.insecure && (key_path.empty() || allow_dir.empty())) {
      throw ConfigError("--key and --allow are required unless --insecure");
    }
    if (cfg.transport.insecure)
      std::fprintf(stderr, "fsd-coordinator: WARNING: --insecure: plaintext transport\n");
    flags.CreateOutDir();
    const std::string& out_dir = flags.out_dir;

    data::RequireFixedClassCount(cfg.data, "fsd-coordinator");
    // With a natural partition the client folders are the clients' own: the
    // coordinator reads the test split alone (normalized as data.normalize_*
    // say, else by its own statistics).
    data::Splits splits;
    if (cfg.federation.partition == config::PartitionKind::kNatural) {
      splits.test = data::LoadTestSplit(cfg.data);
      data::AdoptFromData(*splits.test, cfg.data);
    } else {
      splits = data::LoadRunData(cfg);
    }
    const model::ModelSpec spec = data::ModelSpecFor(cfg.model, *splits.test);
    torch::manual_seed(cfg.model.init_seed);
    model::MultiExitNet net(spec);
    const auto schema = model::FlatSchema::Of(*net);

    const auto options = coordinator::OptionsFromConfig(cfg, schema, out_dir, flags.resume_mode());
    const transport::CurveKeyPair keys = cfg.transport.insecure
                                           ? transport::CurveKeyPair{}
                                           : transport::LoadCurveSecretKeyFile(key_path);
    const transport::AllowList allowed =
        cfg.transport.insecure ? transport::AllowList{} : transport::LoadAllowList(allow_dir);
    zmq::context_t context;
    monitor::Board board;  // outlives the coordinator, which publishes to it
    coordinator::Coordinator coordinator(
        context, options, keys, allowed, model::Flatten(*net, schema),
        [&](std::span<const float> global) {
          model::Unflatten(global, schema, *net);
          return model::EvaluateAccuracy(net, *splits.test, cfg.training.eval_batch_size);
        },
        [&](const nlohmann::json& record) { std::fprintf(stderr, "%s\n", record.dump().c_str()); });
    const std::string endpoint = coordinator.Bind();
    std::fprintf(stderr, "fsd-coordinator: listening on %s, %zu clients admitted, model %s\n",
                 endpoint.c_str(), allowed.size(), schema.FingerprintHex().c_str());
    if (options.privacy.enabled && !cfg.transport.insecure &&
        allowed.size() != static_cast<std::size_t>(cfg.federation.clients)) {
      // Not a privacy problem (the denominator is fixed either way), but the
      // model would move by admitted/federation.clients of the mean.
      std::fprintf(stderr,
                   "fsd-coordinator: WARNING: privacy.dp divides each release by "
                   "federation.fraction x federation.clients = %g, but %zu clients are admitted\n",
                   options.privacy.expected_cohort, allowed.size());
    }
    std::optional<monitor::HttpServer> http_server;
    if (!flags.http.empty()) {
      coordinator.Watch(board, "fsd-coordinator");
      http_server.emplace(board, flags.http);
      std::fprintf(stderr, "fsd-coordinator: status page at %s, Prometheus metrics at %smetrics\n",
                   http_server->url().c_str(), http_server->url().c_str());
    }
    running = &coordinator;
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    coordinator.Run();
    running = nullptr;
    // What the run did, beside metrics.jsonl: rounds, why it stopped, privacy spent.
    nlohmann::json summary = {{"rounds", coordinator.committed_round()},
                              {"rounds_configured", cfg.federation.rounds},
                              {"rejects", coordinator.reject_counts()}};
    if (!coordinator.stop_reason().empty()) summary["stop_reason"] = coordinator.stop_reason();
    if (const auto& spent = coordinator.privacy_spent(); spent.is_object()) summary.update(spent);
    summary["diverged"] = coordinator.diverged();
    metrics::WriteJsonFile(out_dir + "/summary.json", summary);
    if (coordinator.diverged()) {
      std::fprintf(stderr, "fsd-coordinator: %s\n", coordinator.stop_reason().c_str());
      return kExitDiverged;
    }
    return kExitOk;
  });
}
