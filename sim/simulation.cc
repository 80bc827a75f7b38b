#include "sim/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
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
#include "sim/client_pool.h"
#include "sim/faults.h"
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
  std::vector<std::int64_t> shard_sizes;
  for (const auto& shard : partition)
    shard_sizes.push_back(static_cast<std::int64_t>(shard.size()));
  if (const auto empty = std::count(shard_sizes.begin(), shard_sizes.end(), 0); empty > 0) {
    if (empty == static_cast<std::ptrdiff_t>(partition.size()))
      throw ConfigError("federation.partition gives every client an empty shard");
    FSD_LOG(WARNING) << empty << " of " << partition.size()
                     << " clients have no training samples in the partition; they never check in";
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
  // Who is checked in, and the faults injected into them (sim/client_pool.h).
  const FaultPlan faults(cfg.faults, cfg.federation.seed, partition.size());
  std::string endpoint;  // the coordinator's, once bound
  ClientPool clients(
      shard_sizes, static_cast<std::size_t>(config::CheckedInClients(cfg)), cfg.federation.seed,
      [&](std::size_t k) {
        client::ClientNodeOptions node;
        node.endpoint = endpoint;
        node.insecure = cfg.transport.insecure;
        node.keys = client_keys[k];
        node.server_public_z85 = server_keys.public_z85;
        node.limits.max_message_bytes = static_cast<std::int64_t>(cfg.transport.max_message_mb)
                                        << 20;
        node.limits.handshake_ms = cfg.transport.handshake_ms;
        node.heartbeat_ms = cfg.transport.heartbeat_ms;
        const auto samples = attack.DeclaredSamples(k, shard_sizes[k]);
        auto session = client::SessionOptionsFromConfig(cfg, ClientName(k), samples, schema);
        // Distributed DP noise from the run's seed, like the coordinator's in central mode.
        if (session.local_dp) session.local_dp->seed = cfg.federation.seed;
        return client::ClientNode(context, client::ClientSession(std::move(session)),
                                  std::move(node));
      },
      faults);
  // A round starts once the clients checked in have joined (or the config's
  // federation.min_clients, if fewer).
  const auto checked_in = static_cast<int>(clients.checked_in_target());
  coordinator_options.federation.min_clients =
      cfg.federation.min_clients > 0 ? std::min(cfg.federation.min_clients, checked_in)
                                     : checked_in;
  coordinator_options.round_annotations = [&](std::uint64_t round,
                                              const std::vector<std::string>& aggregated) {
    nlohmann::json extra = clients.TakeRoundFigures(round);
    if (cfg.attack.clients > 0) extra.update(attack.InjectedIn(round, aggregated));
    return extra;
  };

  ProgressLine progress;
  const int rounds = cfg.federation.rounds;
  const auto evaluate = [&](std::span<const float> global) {
    model::Unflatten(global, schema, *eval_model);
    return model::EvaluateAccuracy(eval_model, *splits.test, cfg.training.eval_batch_size);
  };
  const auto on_round = [&](const nlohmann::json& record) {
    clients.OnCommitted(record["round"].get<std::uint64_t>());
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
  endpoint = coordinator.Bind();
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

  std::int64_t train_jobs = 0;
  double train_s_total = 0.0;
  // Coordinated attacks: per round, the attackers still training and the
  // honest results of those that finished, held until all are in.
  std::map<std::uint64_t, int> colluders_training;
  std::map<std::uint64_t, std::vector<RoundResult>> colluders_done;
  while (!coordinator_done) {
    for (auto& job : clients.Poll(std::chrono::milliseconds(10))) {
      if (attack.coordinated() && attack.Attacks(job.client, job.round.round))
        ++colluders_training[job.round.round];
      pool.Submit(std::move(job));
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
        for (auto& r : done) clients.Upload(std::move(r));
        colluders_training.erase(round);
        colluders_done.erase(round);
        continue;
      }
      clients.Upload(std::move(result));
    }
    pool.RethrowFailure();
    clients.Tick();
  }
  coordinator_thread.join();
  if (coordinator_failure) std::rethrow_exception(coordinator_failure);

  const double wall_s = std::chrono::duration<double>(Clock::now() - wall_start).count();
  nlohmann::json summary = WriteReport(options_.out_dir);
  summary["clients"] = partition.size();
  summary["clients_with_samples"] = clients.population();
  summary["checked_in"] = clients.checked_in_target();
  summary["check_ins"] = clients.check_ins();
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
    for (std::size_t k = 0; k < partition.size(); ++k) {
      if (shard_sizes[k] == 0) continue;
      const auto own = states->LoadBefore(ClientName(k), static_cast<std::uint64_t>(rounds) + 1);
      const auto acc = evaluate(own ? *own : initial);
      per_client.push_back(acc);
      mean.resize(acc.size(), 0.0);
      for (std::size_t e = 0; e < acc.size(); ++e)
        mean[e] += acc[e] / static_cast<double>(clients.population());
    }
    summary["client_acc"] = per_client;
    summary["client_acc_mean"] = mean;
  }
  metrics::WriteJsonFile(options_.out_dir + "/summary.json", summary);
  return summary;
}

}  // namespace fsd::sim
