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
#include "monitor/http_server.h"
#include "transport/curve_keys.h"
#include "transport/curve_socket.h"
#include "transport/zap_handler.h"
#include "sim/attack.h"
#include "sim/client_pool.h"
#include "sim/faults.h"
#include "sim/profiles.h"
#include "sim/report.h"
#include "sim/worker_pool.h"

namespace fsd::sim {
namespace {

using Clock = std::chrono::steady_clock;

// What every role derives from the config the same way: data, partition and
// the initial model (seeded), so processes that share a config agree.
struct Federation {
  data::Splits splits;
  data::Partition partition;
  std::vector<std::int64_t> shard_sizes;
  model::ModelSpec spec;
  model::MultiExitNet eval_model{nullptr};
  model::FlatSchema schema;
  std::vector<float> initial;
  std::size_t with_samples = 0;    // clients with a non-empty shard
  std::vector<int> max_exits;      // per client (sim/profiles.h); 0: the whole network
  std::vector<std::string> names;  // per client (ClientNames)
};

// Loads the data and adopts what the files decided into `cfg` (class count,
// normalization), so every part of the run reads the same values.
Federation Prepare(config::RunConfig& cfg) {
  Federation f;
  f.splits = data::LoadRunData(cfg);
  f.partition = data::BuildPartition(cfg.federation, f.splits);
  f.names = ClientNames(cfg);
  for (const auto& shard : f.partition)
    f.shard_sizes.push_back(static_cast<std::int64_t>(shard.size()));
  f.spec = data::ModelSpecFor(cfg.model, *f.splits.train);
  torch::manual_seed(cfg.model.init_seed);
  f.eval_model = model::MultiExitNet(f.spec);
  f.schema = model::FlatSchema::Of(*f.eval_model);
  f.initial = model::Flatten(*f.eval_model, f.schema);
  const auto& heterogeneity = cfg.heterogeneity;
  CheckProfilesFit(heterogeneity, f.eval_model->num_exits());
  f.max_exits = AssignMaxExits(heterogeneity.profiles, f.partition.size(), cfg.federation.seed);
  if (heterogeneity.min_exit > 0) {
    // The coordinator refuses their JOIN: they do not take part (exclusion).
    std::size_t excluded = 0;
    for (std::size_t k = 0; k < f.max_exits.size(); ++k) {
      if (f.max_exits[k] > 0 && f.max_exits[k] < heterogeneity.min_exit && f.shard_sizes[k] > 0) {
        f.shard_sizes[k] = 0;
        ++excluded;
      }
    }
    if (excluded > 0)
      FSD_LOG(INFO) << excluded << " clients train below heterogeneity.min_exit "
                    << heterogeneity.min_exit << " and do not take part";
  }
  f.with_samples = static_cast<std::size_t>(
      std::count_if(f.shard_sizes.begin(), f.shard_sizes.end(), [](auto n) { return n > 0; }));
  if (f.with_samples == 0)
    throw ConfigError("federation.partition gives every client an empty shard");
  if (f.with_samples < f.partition.size()) {
    FSD_LOG(WARNING) << f.partition.size() - f.with_samples << " of " << f.partition.size()
                     << " clients have no training samples (partition, or below "
                        "heterogeneity.min_exit); they never check in";
  }
  return f;
}

// The run's CURVE keys: in memory for one process, or a key directory that
// the roles of a run across processes share (KEYDIR/coordinator.{key,pub},
// KEYDIR/clients/client-k.{key,pub}).
struct Keys {
  transport::CurveKeyPair server;                // the secret half only where the coordinator runs
  std::vector<transport::CurveKeyPair> clients;  // by client id; empty where not needed
  transport::AllowList allowed;                  // where the coordinator runs
};

std::string ClientKeyDir(const std::string& key_dir) { return key_dir + "/clients"; }

Keys InMemoryKeys(const std::vector<std::string>& names) {
  Keys keys;
  keys.server = transport::GenerateCurveKeyPair();
  for (const std::string& name : names) {
    keys.clients.push_back(transport::GenerateCurveKeyPair());
    keys.allowed.emplace(keys.clients.back().public_z85, name);
  }
  return keys;
}

// The participants' share of the checked-in clients: `checked_in` over the
// whole population, in proportion to the clients (with samples) they hold.
std::size_t ShareOfCheckedIn(std::size_t checked_in, std::size_t with_samples, std::size_t ours) {
  if (ours == 0) return 0;
  return std::max<std::size_t>(1, (checked_in * ours + with_samples - 1) / with_samples);
}

}  // namespace

std::vector<std::string> ClientNames(const config::RunConfig& config) {
  if (config.federation.partition == config::PartitionKind::kNatural) {
    return data::NaturalClients(config);
  }
  std::vector<std::string> names;
  for (int k = 0; k < config.federation.clients; ++k)
    names.push_back("client-" + std::to_string(k));
  return names;
}

void WriteSimulationKeys(const std::string& key_dir, const std::vector<std::string>& names) {
  std::error_code ec;
  std::filesystem::create_directories(ClientKeyDir(key_dir), ec);
  if (ec) throw IoError(key_dir + ": cannot create key directory: " + ec.message());
  const auto missing = [](const std::string& dir, const std::string& name) {
    return !std::filesystem::exists(dir + "/" + name + ".key");
  };
  if (missing(key_dir, "coordinator"))
    transport::WriteCurveKeyPair(key_dir, "coordinator", transport::GenerateCurveKeyPair(), false);
  for (const std::string& name : names) {
    if (missing(ClientKeyDir(key_dir), name))
      transport::WriteCurveKeyPair(ClientKeyDir(key_dir), name, transport::GenerateCurveKeyPair(),
                                 false);
  }
}

std::size_t WritePartition(config::RunConfig config, const std::string& path) {
  const data::Splits splits = data::LoadRunData(config);
  const data::Partition partition = data::BuildPartition(config.federation, splits);
  data::WritePartitionFile(path, partition);
  return partition.size();
}

Simulation::Simulation(SimulationOptions options) : options_(std::move(options)) {}

nlohmann::json Simulation::Run() {
  config::RunConfig& cfg = options_.config;  // Prepare adopts the data's facts
  const SimulationRole role = options_.role;
  const bool runs_coordinator = role != SimulationRole::kClients;
  // DP noise from federation.seed makes a one-process run reproducible, and
  // its ε holds only against someone who does not know the seed.
  const bool seeded_privacy = role == SimulationRole::kAll;
  if (seeded_privacy && cfg.privacy.dp != config::DpMode::kOff) {
    FSD_LOG(WARNING) << "privacy.dp: this simulation draws its sampling and noise from "
                        "federation.seed (reproducible); its epsilon assumes the seed is secret. "
                        "Multi-process roles and deployments draw them from OpenSSL's CSPRNG";
  }
  const bool runs_clients = role != SimulationRole::kCoordinator;
  const auto wall_start = Clock::now();
  const int workers = cfg.sim.workers > 0
                          ? cfg.sim.workers
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Federation fed = Prepare(cfg);
  // Every generated partition is kept with the run (fsd-sim --write-partition
  // writes one without running).
  if (runs_coordinator)
    data::WritePartitionFile(options_.out_dir + "/partition.txt", fed.partition);
  const std::size_t population = fed.partition.size();

  // Clients this process runs: all of them, or --client-range.
  std::size_t first = 0, last = runs_clients ? population : 0;
  if (role == SimulationRole::kClients) {
    first = options_.client_range.first;
    last = options_.client_range.second;
    if (first >= last || last > population) {
      throw ConfigError("--client-range " + std::to_string(first) + ":" + std::to_string(last) +
                        ": must be a:b with 0 <= a < b <= federation.clients (" +
                        std::to_string(population) + ")");
    }
  }
  std::vector<std::int64_t> our_shards(population, 0);
  std::copy(fed.shard_sizes.begin() + static_cast<std::ptrdiff_t>(first),
            fed.shard_sizes.begin() + static_cast<std::ptrdiff_t>(last),
            our_shards.begin() + static_cast<std::ptrdiff_t>(first));
  const auto ours = static_cast<std::size_t>(
      std::count_if(our_shards.begin(), our_shards.end(), [](auto n) { return n > 0; }));
  const auto checked_in = std::min<std::size_t>(
      static_cast<std::size_t>(config::CheckedInClients(cfg)), fed.with_samples);

  Keys keys;
  if (role == SimulationRole::kAll) {
    keys = InMemoryKeys(fed.names);
  } else {
    const std::string& dir = options_.key_dir;
    if (runs_coordinator) {
      keys.server = transport::LoadCurveSecretKeyFile(dir + "/coordinator.key");
      if (!cfg.transport.insecure) keys.allowed = transport::LoadAllowList(ClientKeyDir(dir));
    } else {
      keys.server.public_z85 = transport::LoadCurvePublicKeyFile(dir + "/coordinator.pub");
      keys.clients.resize(population);
      for (std::size_t k = first; k < last; ++k) {
        if (our_shards[k] > 0)
          keys.clients[k] =
              transport::LoadCurveSecretKeyFile(ClientKeyDir(dir) + "/" + fed.names[k] + ".key");
      }
    }
  }
  zmq::context_t context;
  const Attack attack(cfg.attack, population, cfg.federation.seed);
  // label_flip attackers train on this view: the same images, labels c → C−1−c.
  const data::Dataset flipped = data::WithFlippedLabels(*fed.splits.train);

  // Who is checked in, and the faults injected into them (sim/client_pool.h).
  const FaultPlan faults(cfg.faults, cfg.federation.seed, population);
  std::string endpoint = options_.endpoint;  // the coordinator's: bound or given
  ClientPool clients(
      our_shards, ShareOfCheckedIn(checked_in, fed.with_samples, ours), cfg.federation.seed,
      [&](std::size_t k) {
        client::ClientNodeOptions node = client::NodeOptionsFromConfig(cfg, endpoint);
        node.keys = keys.clients[k];
        node.server_public_z85 = keys.server.public_z85;
        attack.InstallFrameEditors(k, node);
        const auto samples = attack.DeclaredSamples(k, fed.shard_sizes[k]);
        auto session = client::SessionOptionsFromConfig(cfg, fed.names[k], samples, fed.schema);
        session.max_exit = static_cast<std::uint32_t>(fed.max_exits[k]);
        // Distributed DP noise: in one process from the run's seed (a
        // reproducible run); client pools in other processes draw it from
        // the CSPRNG, as deployed clients do.
        if (session.local_dp && seeded_privacy) session.local_dp->seed = cfg.federation.seed;
        return client::ClientNode(context, client::ClientSession(std::move(session)),
                                  std::move(node));
      },
      faults);

  ProgressLine progress;
  const int rounds = cfg.federation.rounds;
  const auto evaluate = [&](std::span<const float> global) {
    model::Unflatten(global, fed.schema, *fed.eval_model);
    return model::EvaluateAccuracy(fed.eval_model, *fed.splits.test, cfg.training.eval_batch_size);
  };
  // Declared before the coordinator, which publishes to the board until joined.
  monitor::Board board;
  std::optional<monitor::HttpServer> http;
  std::optional<coordinator::Coordinator> coordinator;
  std::atomic<bool> coordinator_done{false};
  std::exception_ptr coordinator_failure;
  std::thread coordinator_thread;
  if (runs_coordinator) {
    auto coordinator_options =
        coordinator::OptionsFromConfig(cfg, fed.schema, options_.out_dir, options_.resume);
    // Reproducible runs: client sampling and DP noise from the run's seed
    // in one process; a coordinator of a multi-process run uses the CSPRNG.
    if (seeded_privacy) coordinator_options.privacy.seed = cfg.federation.seed;
    if (!options_.endpoint.empty()) coordinator_options.transport.bind = options_.endpoint;
    // A round starts once the clients checked in have joined (or the
    // config's federation.min_clients, if fewer).
    const int joined = static_cast<int>(checked_in);
    coordinator_options.federation.min_clients =
        cfg.federation.min_clients > 0 ? std::min(cfg.federation.min_clients, joined) : joined;
    coordinator_options.round_annotations = [&](std::uint64_t round,
                                                const std::vector<std::string>& aggregated) {
      // With client pools in other processes, their figures stay with them.
      nlohmann::json extra =
          runs_clients ? clients.TakeRoundFigures(round) : nlohmann::json::object();
      if (cfg.attack.clients > 0) extra.update(attack.InjectedIn(round, aggregated, fed.names));
      return extra;
    };
    const auto on_round = [&](const nlohmann::json& record) {
      clients.OnCommitted(record["round"].get<std::uint64_t>());
      char line[256];
      std::snprintf(line, sizeof(line),
                    "round %d/%d  acc %s  up %.2f MB  down %.2f MB  %d/%d clients  %.1f s",
                    record["round"].get<int>(), rounds, Percentages(record["acc"]).c_str(),
                    record["bytes_up"].get<double>() / 1e6,
                    record["bytes_down"].get<double>() / 1e6, record["clients_reported"].get<int>(),
                    record["clients_selected"].get<int>(), record["round_s"].get<double>());
      progress.Finish(line);
    };
    coordinator.emplace(context, coordinator_options, keys.server, keys.allowed, fed.initial,
                        evaluate, on_round);
    endpoint = coordinator->Bind();
    if (!options_.http.empty()) {
      coordinator->Watch(board, "fsd-sim");
      http.emplace(board, options_.http);
      FSD_LOG(INFO) << "status page at " << http->url() << ", Prometheus metrics at " << http->url()
                    << "metrics";
    }
    if (role == SimulationRole::kCoordinator)
      FSD_LOG(INFO) << "coordinator listening on " << endpoint << ", " << keys.allowed.size()
                    << " clients admitted";
    coordinator_thread = std::thread([&] {
      try {
        // LibTorch's thread count is process-wide: the coordinator keeps the
        // workers' setting, so a round's result never depends on timing.
        coordinator->Run();
      } catch (...) {
        coordinator_failure = std::current_exception();
      }
      coordinator_done = true;
    });
  }
  // An exception in the loop below stops the coordinator and joins its
  // thread before it propagates (a joinable thread would terminate the process).
  struct JoinOnExit {
    std::optional<coordinator::Coordinator>& coordinator;
    std::thread& thread;
    ~JoinOnExit() {
      if (!thread.joinable()) return;
      coordinator->Stop();
      thread.join();
    }
  } join_on_exit{coordinator, coordinator_thread};

  // Distillation-only mode: each client's own weights wait in a file between
  // its rounds, not in a live model (memory still grows with workers only).
  const bool distillation_only = cfg.federation.mode == config::FederationMode::kDistillation;
  std::optional<client::ClientStateStore> states;
  if (distillation_only && runs_clients) {
    const std::string state_dir = options_.out_dir + "/client-state";
    const bool resuming = options_.resume == coordinator::ResumeMode::kResume ||
                          (options_.resume == coordinator::ResumeMode::kResumeIfPresent &&
                           std::filesystem::exists(options_.out_dir + "/checkpoint.bin"));
    if (!resuming) std::filesystem::remove_all(state_dir);  // a new run starts fresh
    states.emplace(state_dir, fed.schema.fingerprint(), fed.initial.size());
  }
  WorkerPool pool(
      runs_clients ? workers : 0, cfg.training.threads,
      [&] {
        return std::make_unique<client::RoundWorker>(
            fed.spec, cfg.training, cfg.loss, cfg.data.augment.value_or(data::Augmentation::kNone));
      },
      [&](client::RoundWorker& worker, const RoundJob& job) {
        const data::Dataset& dataset =
            attack.FlipsLabels(job.client, job.round.round) ? flipped : *fed.splits.train;
        const auto& shard = fed.partition[job.client];
        if (!job.round.global_values.empty()) {
          auto trained = worker.Run(dataset, shard, job.client, job.round);
          attack.Apply(job.client, job.round, trained);
          return trained;
        }
        const std::string& name = fed.names[job.client];
        std::vector<float> own = states->LoadBefore(name, job.round.round).value_or(fed.initial);
        auto trained = worker.Run(dataset, shard, job.client, job.round, &own);
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
  // One process: until the coordinator is done. A client pool: until the
  // coordinator says the federation finished.
  const auto running = [&] { return runs_coordinator ? !coordinator_done : !clients.finished(); };
  while (runs_clients && running()) {
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
  if (coordinator_thread.joinable()) coordinator_thread.join();
  if (coordinator_failure) std::rethrow_exception(coordinator_failure);

  const double wall_s = std::chrono::duration<double>(Clock::now() - wall_start).count();
  if (!runs_coordinator) {
    // A client pool's own summary: its clients, check-ins and faults per round.
    nlohmann::json summary = {{"role", "clients"},
                              {"client_range", {first, last}},
                              {"clients_with_samples", clients.population()},
                              {"checked_in", clients.checked_in_target()},
                              {"check_ins", clients.check_ins()},
                              {"train_jobs", train_jobs},
                              {"client_train_s_total", train_s_total},
                              {"wall_s", wall_s},
                              {"faults", clients.AllRoundFigures()}};
    metrics::WriteJsonFile(options_.out_dir + "/summary.json", summary);
    return summary;
  }
  nlohmann::json summary = WriteReport(options_.out_dir);
  summary["clients"] = population;
  summary["clients_with_samples"] = fed.with_samples;
  summary["checked_in"] = checked_in;
  if (runs_clients) summary["check_ins"] = clients.check_ins();
  summary["workers"] = workers;
  summary["architecture"] = model::ArchitectureName(fed.spec.architecture);
  if (fed.spec.architecture == model::Architecture::kTorchScript) {
    summary["model_path"] = fed.spec.script_path;
    summary["model_sha256"] = fed.eval_model->spec().script_sha256;
  }
  const data::Dataset& train = *fed.splits.train;
  summary["data"] = {
      {"images", {train.channels(), train.height(), train.width()}},
      {"num_classes", train.num_classes},
      {"train_samples", train.size()},
      {"test_samples", fed.splits.test->size()},
      {"normalize_mean", train.normalization.mean},
      {"normalize_std", train.normalization.std},
      {"augment", cfg.data.augment == data::Augmentation::kCropFlip ? "crop_flip" : "none"}};
  summary["model_values"] = fed.schema.total_numel();
  summary["model_fingerprint"] = fed.schema.FingerprintHex();
  summary["train_jobs"] = train_jobs;
  summary["client_train_s_total"] = train_s_total;
  summary["wall_s"] = wall_s;
  summary["rejects"] = coordinator->reject_counts();
  if (!coordinator->stop_reason().empty()) summary["stop_reason"] = coordinator->stop_reason();
  summary["diverged"] = coordinator->diverged();
  if (distillation_only && runs_clients) {
    // No global model: report every client's own model on the test set.
    std::vector<double> mean;
    nlohmann::json per_client = nlohmann::json::array();
    for (std::size_t k = 0; k < population; ++k) {
      if (fed.shard_sizes[k] == 0) continue;
      const auto own = states->LoadBefore(fed.names[k], static_cast<std::uint64_t>(rounds) + 1);
      const auto acc = evaluate(own ? *own : fed.initial);
      per_client.push_back(acc);
      mean.resize(acc.size(), 0.0);
      for (std::size_t e = 0; e < acc.size(); ++e)
        mean[e] += acc[e] / static_cast<double>(fed.with_samples);
    }
    summary["client_acc"] = per_client;
    summary["client_acc_mean"] = mean;
  }
  metrics::WriteJsonFile(options_.out_dir + "/summary.json", summary);
  return summary;
}

}  // namespace fsd::sim
