#include "sim/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <zmq.hpp>

#include "client/client_node.h"
#include "client/client_session.h"
#include "client/state_store.h"
#include "common/data/loader.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/metrics/metrics_sink.h"
#include "common/model/evaluate.h"
#include "common/progress.h"
#include "common/runtime/process_setup.h"
#include "coordinator/coordinator.h"
#include "privacy/curve_socket.h"
#include "sim/attack.h"
#include "sim/report.h"
#include "sim/worker_pool.h"

namespace fsd::sim {
namespace {

using Clock = std::chrono::steady_clock;

std::string Accuracies(const nlohmann::json& acc) {
  std::string text;
  char item[16];
  for (const auto& a : acc) {
    std::snprintf(item, sizeof(item), "%s%.4f", text.empty() ? "" : " ", a.get<double>());
    text += item;
  }
  return text;
}

// Whether client k drops out after its upload in `round` (its `attempt`-th secure round)
// (faults.dropout_after_upload), drawn from (seed, client, round, attempt) so
// a run injects the same faults every time.
bool DropsAfterUpload(const config::RunConfig& cfg, std::size_t k, std::uint64_t round,
                      std::uint64_t attempt) {
  std::mt19937_64 rng(cfg.federation.seed * 0x9e3779b97f4a7c15ULL + k * 1000003ULL +
                      round * 1009ULL + attempt);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < cfg.faults.dropout_after_upload;
}

}  // namespace

std::string ClientName(std::size_t k) { return "client-" + std::to_string(k); }

Simulation::Simulation(SimulationOptions options) : options_(std::move(options)) {}

nlohmann::json Simulation::Run() {
  const config::RunConfig& cfg = options_.config;
  const auto wall_start = Clock::now();
  const int workers = cfg.sim.workers > 0
                          ? cfg.sim.workers
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  const data::Splits splits = data::LoadSplits(cfg.data);
  const data::Partition partition = data::BuildPartition(cfg.federation, *splits.train);
  for (std::size_t k = 0; k < partition.size(); ++k) {
    if (partition[k].empty())
      throw ConfigError("client " + std::to_string(k) + " has no samples in the partition");
  }

  const model::ModelSpec spec = data::ModelSpecFor(cfg.model, *splits.train);
  torch::manual_seed(cfg.model.init_seed);
  model::MultiExitNet eval_model(spec);
  const model::FlatSchema schema = model::FlatSchema::Of(*eval_model);
  std::vector<float> initial = model::Flatten(*eval_model, schema);

  // Keys live only in memory: the allow-list is exactly the simulated clients.
  const privacy::CurveKeyPair server_keys = privacy::GenerateCurveKeyPair();
  zmq::context_t context;
  std::vector<privacy::CurveKeyPair> client_keys;
  privacy::AllowList allowed;
  for (std::size_t k = 0; k < partition.size(); ++k) {
    client_keys.push_back(privacy::GenerateCurveKeyPair());
    allowed.emplace(client_keys.back().public_z85, ClientName(k));
  }
  const Attack attack(cfg.attack, partition.size(), cfg.federation.seed);
  // label_flip attackers train on this view: the same images, labels c → C−1−c.
  const data::Dataset flipped{splits.train->images,
                              (splits.train->num_classes - 1) - splits.train->labels,
                              splits.train->num_classes};

  auto coordinator_options =
      coordinator::OptionsFromConfig(cfg, schema, options_.out_dir, options_.resume);
  // Reproducible runs: client sampling and DP noise from the run's seed.
  coordinator_options.privacy.seed = cfg.federation.seed;
  // Injected faults ([faults]), counted per round; the hub thread counts,
  // the coordinator thread reports.
  std::mutex faults_mutex;
  std::map<std::uint64_t, int> dropped_after_upload;
  // Hub thread only: per client, the last secure round (counted by
  // ClientSession::secure_rounds_started) whose upload was decided.
  std::vector<std::uint64_t> decided(partition.size(), 0);
  const bool faults = cfg.faults.dropout_after_upload > 0.0;
  if (cfg.attack.clients > 0 || faults) {
    coordinator_options.round_annotations = [&](std::uint64_t round,
                                                const std::vector<std::string>& aggregated) {
      nlohmann::json extra =
          cfg.attack.clients > 0 ? attack.InjectedIn(round, aggregated) : nlohmann::json::object();
      if (faults) {
        const std::lock_guard lock(faults_mutex);
        extra["faults_dropped_after_upload"] = dropped_after_upload[round];
      }
      return extra;
    };
  }

  ProgressLine progress;
  const int rounds = cfg.federation.rounds;
  const auto evaluate = [&](std::span<const float> global) {
    model::Unflatten(global, schema, *eval_model);
    return model::EvaluateAccuracy(eval_model, *splits.test, cfg.training.eval_batch_size);
  };
  const auto on_round = [&](const nlohmann::json& record) {
    char line[256];
    std::snprintf(line, sizeof(line),
                  "round %d/%d  acc [%s]  up %.2f MB  down %.2f MB  %d/%d clients  %.1fs",
                  record["round"].get<int>(), rounds, Accuracies(record["acc"]).c_str(),
                  record["bytes_up"].get<double>() / 1e6, record["bytes_down"].get<double>() / 1e6,
                  record["clients_reported"].get<int>(), record["clients_selected"].get<int>(),
                  record["round_s"].get<double>());
    progress.Finish(line);
  };
  coordinator::Coordinator coordinator(context, coordinator_options, server_keys, allowed, initial,
                                       evaluate, on_round);
  const std::string endpoint = coordinator.Bind();
  std::atomic<bool> coordinator_done{false};
  std::exception_ptr coordinator_failure;
  std::thread coordinator_thread([&] {
    try {
      // LibTorch's thread count is process-wide: the coordinator keeps the
      // workers' setting, so a round's result never depends on timing.
      coordinator.Run();
    } catch (...) {
      coordinator_failure = std::current_exception();
    }
    coordinator_done = true;
  });
  // An exception in the loop below stops the coordinator and joins its
  // thread before it propagates (a joinable thread would terminate the process).
  struct JoinOnExit {
    coordinator::Coordinator& coordinator;
    std::thread& thread;
    ~JoinOnExit() {
      if (!thread.joinable()) return;
      coordinator.Stop();
      thread.join();
    }
  } join_on_exit{coordinator, coordinator_thread};

  // Distillation-only mode: each client's own weights wait in a file between
  // its rounds, not in a live model (memory still grows with workers only).
  const bool distillation_only = cfg.federation.mode == config::FederationMode::kDistillation;
  std::optional<client::ClientStateStore> states;
  if (distillation_only) {
    const std::string state_dir = options_.out_dir + "/client-state";
    const bool resuming =
        options_.resume == coordinator::ResumeMode::kResume ||
        (options_.resume == coordinator::ResumeMode::kResumeIfPresent &&
         std::filesystem::exists(options_.out_dir + "/checkpoint.bin"));
    if (!resuming) std::filesystem::remove_all(state_dir);  // a new run starts fresh
    states.emplace(state_dir, schema.fingerprint(), initial.size());
  }
  WorkerPool pool(
      workers, cfg.training.threads,
      [&] { return std::make_unique<client::RoundWorker>(spec, cfg.training, cfg.loss); },
      [&](client::RoundWorker& worker, const RoundJob& job) {
        const data::Dataset& dataset =
            attack.FlipsLabels(job.client, job.round.round) ? flipped : *splits.train;
        if (!job.round.global_values.empty()) {
          auto trained = worker.Run(dataset, partition[job.client], job.client, job.round);
          attack.Apply(job.client, job.round, trained);
          return trained;
        }
        const std::string name = ClientName(job.client);
        std::vector<float> own = states->LoadBefore(name, job.round.round).value_or(initial);
        auto trained = worker.Run(dataset, partition[job.client], job.client, job.round, &own);
        states->Save(name, job.round.round, own);
        attack.Apply(job.client, job.round, trained);
        return trained;
      });

  // One ClientNode per client (client/client_node.h, the same driver as
  // fsd-client); all sockets live on this hub thread.
  std::vector<client::ClientNode> clients;
  clients.reserve(partition.size());
  for (std::size_t k = 0; k < partition.size(); ++k) {
    client::ClientNodeOptions node;
    node.endpoint = endpoint;
    node.insecure = cfg.transport.insecure;
    node.keys = client_keys[k];
    node.server_public_z85 = server_keys.public_z85;
    node.limits.max_message_bytes = static_cast<std::int64_t>(cfg.transport.max_message_mb) << 20;
    node.limits.handshake_ms = cfg.transport.handshake_ms;
    node.heartbeat_ms = cfg.transport.heartbeat_ms;
    const auto samples = attack.DeclaredSamples(k, static_cast<std::int64_t>(partition[k].size()));
    auto session = client::SessionOptionsFromConfig(cfg, ClientName(k), samples, schema);
    // Distributed DP noise from the run's seed, like the coordinator's in central mode.
    if (session.local_dp) session.local_dp->seed = cfg.federation.seed;
    clients.emplace_back(context, client::ClientSession(std::move(session)), std::move(node));
    clients.back().Start(Clock::now());
  }

  std::vector<zmq::pollitem_t> items;
  for (auto& c : clients) items.push_back({c.socket().handle(), 0, ZMQ_POLLIN, 0});
  std::int64_t train_jobs = 0;
  double train_s_total = 0.0;
  // Coordinated attacks: per round, the attackers still training and the
  // honest results of those that finished, held until all are in.
  std::map<std::uint64_t, int> colluders_training;
  std::map<std::uint64_t, std::vector<RoundResult>> colluders_done;
  while (!coordinator_done) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(10));
    const auto now = Clock::now();
    for (std::size_t k = 0; k < clients.size(); ++k) {
      if ((items[k].revents & ZMQ_POLLIN) == 0) continue;
      for (auto& round : clients[k].Receive(now)) {
        if (attack.coordinated() && attack.Attacks(k, round.round)) ++colluders_training[round.round];
        pool.Submit(RoundJob{k, static_cast<std::int64_t>(partition[k].size()), std::move(round)});
      }
    }
    for (auto& result : pool.TakeResults()) {
      ++train_jobs;
      train_s_total += result.train_s;
      const std::uint64_t round = result.round.round;
      if (attack.coordinated() && attack.Attacks(result.client, round)) {
        // A client retried within the round counts once, with its latest result.
        auto& done = colluders_done[round];
        std::erase_if(done, [&](const RoundResult& r) { return r.client == result.client; });
        done.push_back(std::move(result));
        if (--colluders_training[round] > 0) continue;
        std::vector<std::size_t> names;
        std::vector<client::TrainedRound*> trained;
        for (auto& r : done) {
          names.push_back(r.client);
          trained.push_back(&r.trained);
        }
        attack.ApplyCoordinated(round, names, trained);
        for (auto& r : done) clients[r.client].SendUpdate(r.round, std::move(r.trained), Clock::now());
        colluders_training.erase(round);
        colluders_done.erase(round);
        continue;
      }
      clients[result.client].SendUpdate(result.round, std::move(result.trained), Clock::now());
    }
    pool.RethrowFailure();
    if (faults) {
      for (std::size_t k = 0; k < clients.size(); ++k) {
        auto& session = clients[k].session();
        if (session.secure_stage() != client::SecureStage::kMasked ||
            decided[k] == session.secure_rounds_started()) {
          continue;
        }
        decided[k] = session.secure_rounds_started();
        const std::uint64_t round = *session.secure_round();
        // A retried round draws again (else the same clients drop forever).
        if (!DropsAfterUpload(cfg, k, round, decided[k])) continue;
        session.AbandonSecureRound();
        const std::lock_guard lock(faults_mutex);
        ++dropped_after_upload[round];
      }
    }
    for (auto& c : clients) c.Tick(Clock::now());
  }
  coordinator_thread.join();
  if (coordinator_failure) std::rethrow_exception(coordinator_failure);

  const double wall_s = std::chrono::duration<double>(Clock::now() - wall_start).count();
  nlohmann::json summary = WriteReport(options_.out_dir);
  summary["clients"] = clients.size();
  summary["workers"] = workers;
  summary["architecture"] = model::ArchitectureName(spec.architecture);
  summary["model_values"] = schema.total_numel();
  summary["model_fingerprint"] = schema.FingerprintHex();
  summary["train_jobs"] = train_jobs;
  summary["client_train_s_total"] = train_s_total;
  summary["wall_s"] = wall_s;
  summary["rejects"] = coordinator.reject_counts();
  if (!coordinator.stop_reason().empty()) summary["stop_reason"] = coordinator.stop_reason();
  if (distillation_only) {
    // No global model: report every client's own model on the test set.
    std::vector<double> mean;
    nlohmann::json per_client = nlohmann::json::array();
    for (std::size_t k = 0; k < clients.size(); ++k) {
      const auto own = states->LoadBefore(ClientName(k), static_cast<std::uint64_t>(rounds) + 1);
      const auto acc = evaluate(own ? *own : initial);
      per_client.push_back(acc);
      mean.resize(acc.size(), 0.0);
      for (std::size_t e = 0; e < acc.size(); ++e) mean[e] += acc[e] / static_cast<double>(clients.size());
    }
    summary["client_acc"] = per_client;
    summary["client_acc_mean"] = mean;
  }
  metrics::WriteJsonFile(options_.out_dir + "/summary.json", summary);
  return summary;
}

}  // namespace fsd::sim
