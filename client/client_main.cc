// fsd-client: one real client, as on an edge device. Trains on the training
// split of its own data directory whenever the coordinator starts a round;
// rejoins after a coordinator restart; says BYE on SIGINT/SIGTERM.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <future>
#include <numeric>
#include <optional>
#include <zmq.hpp>

#include "client/client_node.h"
#include "client/client_session.h"
#include "client/round_worker.h"
#include "client/state_store.h"
#include "common/config/toml_loader.h"
#include "common/data/loader.h"
#include "common/errors.h"
#include "common/random/streams.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"
#include "transport/curve_socket.h"

namespace {
using Clock = std::chrono::steady_clock;
std::atomic<bool> stop_requested{false};
void OnSignal(int) { stop_requested = true; }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-client: train with a coordinator over CURVE-encrypted ZeroMQ.\n"
      "Exit codes: 0 ok (federation finished or stopped by signal), 1 internal error,\n"
      "2 bad flags or config (or a model the coordinator refuses), 3 I/O error, 4 bad data,\n"
      "5 key error."};
  std::string config_path, key_path, server_key_path, endpoint, name = "client";
  std::string state_dir = "fsd-client-state";
  bool insecure = false;
  int max_exit = -1;
  std::vector<std::string> overrides;
  app.add_option("--config", config_path, "TOML config (see configs/README.md)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--connect", endpoint, "coordinator endpoint, e.g. tcp://10.0.0.1:5555")
      ->required();
  app.add_option("--key", key_path, "this client's secret key file (fsd-keygen)");
  app.add_option("--server-key", server_key_path, "the coordinator's .pub file");
  app.add_option("--name", name, "name shown in the coordinator's logs ([A-Za-z0-9_.-]+)");
  app.add_option("--state-dir", state_dir,
                 "where this client keeps its own weights between rounds in distillation-only "
                 "mode (default: fsd-client-state)");
  app.add_option("--max-exit", max_exit,
                 "the deepest exit this device trains (override heterogeneity.max_exit; "
                 "0: the whole network)");
  app.add_option("--set", overrides, "override a config key: section.key=value (repeatable)");
  app.add_flag("--insecure", insecure, "plaintext, unauthenticated transport (debugging only)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? fsd::kExitOk : fsd::kExitUsage;
  }
  return fsd::RunGuarded("fsd-client", [&] {
    using namespace fsd;
    if (insecure) overrides.push_back("transport.insecure=true");
    if (max_exit >= 0) overrides.push_back("heterogeneity.max_exit=" + std::to_string(max_exit));
    config::RunConfig cfg = config::LoadConfig(config_path, overrides);
    runtime::ConfigureProcess(cfg.training.threads);
    if (!cfg.transport.insecure && (key_path.empty() || server_key_path.empty())) {
      throw ConfigError("--key and --server-key are required unless --insecure");
    }
    data::RequireFixedClassCount(cfg.data, "fsd-client");
    // Its own folder's training split (the test split is the coordinator's).
    const data::SharedDataset own_data = data::LoadTrainingSplit(cfg.data);
    data::AdoptFromData(*own_data, cfg.data);
    std::vector<std::int64_t> indices(static_cast<std::size_t>(own_data->size()));
    std::iota(indices.begin(), indices.end(), 0);
    const model::ModelSpec spec = data::ModelSpecFor(cfg.model, *own_data);
    torch::manual_seed(cfg.model.init_seed);  // the same initial weights as the coordinator's
    client::RoundWorker worker(spec, cfg.training, cfg.loss,
                               cfg.data.augment.value_or(data::Augmentation::kNone));
    const auto schema = model::FlatSchema::Of(*worker.model());
    if (cfg.heterogeneity.max_exit > worker.model()->num_exits()) {
      throw ConfigError("heterogeneity.max_exit: " + std::to_string(cfg.heterogeneity.max_exit) +
                        ", the model has exits 1.." + std::to_string(worker.model()->num_exits()) +
                        " (0: the whole network)");
    }
    client::ClientSessionOptions session_options = client::SessionOptionsFromConfig(
        cfg, name, static_cast<std::int64_t>(indices.size()), schema);
    if (session_options.local_dp) {
      std::fprintf(stderr,
                   "fsd-client: distributed DP: every update clipped to %g and noised with std "
                   "%g per value (CSPRNG)\n",
                   session_options.local_dp->clip_norm, session_options.local_dp->noise_std);
      if (session_options.local_dp->summary_clip_norm > 0.0) {
        std::fprintf(stderr,
                     "fsd-client: distributed DP: the soft-target summary leaves as a record "
                     "clipped to %g and noised with std %g per value; sample count and loss "
                     "are withheld\n",
                     session_options.local_dp->summary_clip_norm,
                     session_options.local_dp->summary_noise_std);
      }
    }
    if (session_options.ledger && session_options.ledger->target_epsilon > 0.0) {
      std::fprintf(stderr,
                   "fsd-client: privacy ledger: takes part until its own epsilon would pass %g "
                   "at delta %g\n",
                   session_options.ledger->target_epsilon, session_options.ledger->delta);
    }
    client::ClientSession session(std::move(session_options));
    // Distillation-only rounds continue from this client's own weights.
    const auto initial = model::Flatten(*worker.model(), schema);
    std::optional<client::ClientStateStore> states;
    if (cfg.federation.mode == config::FederationMode::kDistillation) {
      states.emplace(state_dir, worker.schema_fingerprint(), worker.dim());
    }

    zmq::context_t context;
    client::ClientNodeOptions node_options = client::NodeOptionsFromConfig(cfg, endpoint);
    node_options.watch_handshake = true;
    if (cfg.transport.insecure) {
      std::fprintf(stderr, "fsd-client: WARNING: --insecure: plaintext transport\n");
    } else {
      node_options.keys = transport::LoadCurveSecretKeyFile(key_path);
      node_options.server_public_z85 = transport::LoadCurvePublicKeyFile(server_key_path);
    }
    client::ClientNode node(context, std::move(session), std::move(node_options));
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    node.Start(Clock::now());
    std::fprintf(stderr, "fsd-client: joining %s as %s\n", endpoint.c_str(), name.c_str());

    // Training runs on its own thread while this one keeps the connection
    // alive (heartbeats), so a round longer than the coordinator's client
    // timeout still completes.
    // Shuffling and augmentation draw from streams of this client's name, so
    // clients of one deployment (same training.seed) do not share draws.
    const std::uint64_t client_number = random::ClientNumber(name);
    const auto train = [&](client::LocalRound round) {  // by value: owned by the training thread
      if (round.global_values.empty() && states) {
        auto own = states->LoadBefore(name, round.round).value_or(initial);
        auto trained = worker.Run(*own_data, indices, client_number, round, &own);
        states->Save(name, round.round, own);
        return trained;
      }
      if (round.global_values.empty()) {
        throw ConfigError(
            "the coordinator runs distillation-only rounds: set federation.mode = "
            "\"distillation\" in this client's config");
      }
      return worker.Run(*own_data, indices, client_number, round);
    };
    std::optional<client::LocalRound> pending;      // the newest round announced while training
    std::optional<client::LocalRound> in_training;  // declared before the future that reads it
    std::optional<std::future<client::TrainedRound>> training;
    while (!stop_requested) {
      zmq::pollitem_t item{node.socket().handle(), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, std::chrono::milliseconds(100));
      } catch (const zmq::error_t& error) {
        if (error.num() != EINTR) throw;
        continue;  // a signal: the loop condition sees it
      }
      for (auto& round : node.Receive(Clock::now())) {
        // A re-sent ROUND_START of the round in training is not trained twice.
        if (!in_training || round.round > in_training->round) pending = std::move(round);
      }
      if (training && training->wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        client::TrainedRound trained = training->get();  // rethrows a training failure
        std::fprintf(stderr, "round %llu: trained on %lld samples, loss %.4f",
                     static_cast<unsigned long long>(in_training->round),
                     static_cast<long long>(trained.sample_count), trained.train_loss);
        if (const auto epsilon = node.session().privacy_epsilon())
          std::fprintf(stderr, ", own privacy ledger: epsilon %.3f", *epsilon);
        std::fprintf(stderr, "\n");
        node.SendUpdate(*in_training, std::move(trained), Clock::now());
        training.reset();
        in_training.reset();
      }
      if (!training && pending) {
        in_training = std::move(pending);
        pending.reset();
        training = std::async(std::launch::async, train, *in_training);
      }
      if (node.finished()) {
        if (training) training->wait();
        // The coordinator's reason: "federation finished", or why it stopped early.
        std::fprintf(stderr, "fsd-client: the coordinator ended the federation: %s\n",
                     node.finish_reason().c_str());
        return kExitOk;
      }
      if (const auto& refusal = node.refusal()) {
        const bool version = refusal->starts_with("UNSUPPORTED_VERSION");
        throw ConfigError("the coordinator at " + endpoint + " refused this client: " + *refusal +
                          (version ? "; run fsd-client and fsd-coordinator of one protocol version"
                                   : "; run it with the coordinator's model: the same model.* "
                                     "keys, model.path file and data.num_classes"));
      }
      if (const auto failure = node.handshake_failure()) {
        throw AuthError(std::string("cannot connect to ") + endpoint + ": " +
                        client::HandshakeFailureText(*failure));
      }
      node.Tick(Clock::now());
    }
    node.SayBye("stopped by signal");
    std::fprintf(stderr, "fsd-client: stopped, said BYE\n");
    return kExitOk;  // (a round still training finishes first: the future waits)
  });
}
