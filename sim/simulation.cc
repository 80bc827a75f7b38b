#include "sim/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include <zmq.hpp>

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
#include "sim/report.h"
#include "sim/worker_pool.h"

namespace fsd::sim {
namespace {

using Clock = std::chrono::steady_clock;

// One simulated client: its socket, keys, shard and protocol session.
struct SimClient {
  privacy::CurveKeyPair keys;
  zmq::socket_t socket;
  client::ClientSession session;
  bool finished = false;
  bool training = false;
};

std::string ClientName(std::size_t k) { return "client-" + std::to_string(k); }

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
  std::vector<SimClient> clients;
  std::set<std::string> allowed;
  clients.reserve(partition.size());
  for (std::size_t k = 0; k < partition.size(); ++k) {
    auto keys = privacy::GenerateCurveKeyPair();
    allowed.insert(keys.public_z85);
    clients.push_back(SimClient{
        std::move(keys), zmq::socket_t(context, zmq::socket_type::dealer),
        client::ClientSession(client::SessionOptionsFromConfig(
            cfg, ClientName(k), static_cast<std::int64_t>(partition[k].size()), schema))});
  }

  const auto coordinator_options =
      coordinator::OptionsFromConfig(cfg, schema, options_.out_dir, options_.resume);

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

  // Distillation-only mode: each client's own weights wait in a file between
  // its rounds, not in a live model (memory still grows with workers only).
  const bool distillation_only = cfg.federation.mode == config::FederationMode::kDistillation;
  std::optional<client::ClientStateStore> states;
  if (distillation_only) {
    const std::string state_dir = options_.out_dir + "/client-state";
    if (!options_.resume) std::filesystem::remove_all(state_dir);  // a new run starts fresh
    states.emplace(state_dir, schema.fingerprint(), initial.size());
  }
  WorkerPool pool(
      workers, cfg.training.threads,
      [&] { return std::make_unique<client::RoundWorker>(spec, cfg.training, cfg.loss); },
      [&](client::RoundWorker& worker, const RoundJob& job) {
        if (!job.round.global_values.empty()) {
          return worker.Run(*splits.train, partition[job.client], job.client, job.round);
        }
        const std::string name = ClientName(job.client);
        std::vector<float> own = states->LoadBefore(name, job.round.round).value_or(initial);
        auto trained = worker.Run(*splits.train, partition[job.client], job.client, job.round, &own);
        states->Save(name, job.round.round, own);
        return trained;
      });

  privacy::SocketLimits limits;
  limits.max_message_bytes = static_cast<std::int64_t>(cfg.transport.max_message_mb) << 20;
  limits.handshake_ms = cfg.transport.handshake_ms;
  for (auto& c : clients) {
    if (cfg.transport.insecure) {
      privacy::ConfigureInsecure(c.socket, limits);
    } else {
      privacy::ConfigureCurveClient(c.socket, c.keys, server_keys.public_z85, limits);
    }
    c.socket.connect(endpoint);
    const auto join = c.session.JoinFrame();
    c.socket.send(zmq::buffer(join), zmq::send_flags::dontwait);
  }

  // Hub loop: all client sockets live on this thread.
  std::vector<zmq::pollitem_t> items;
  for (auto& c : clients) items.push_back({c.socket.handle(), 0, ZMQ_POLLIN, 0});
  auto last_heartbeat = Clock::now();
  std::int64_t train_jobs = 0;
  double train_s_total = 0.0;
  while (!coordinator_done) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(10));
    for (std::size_t k = 0; k < clients.size(); ++k) {
      if ((items[k].revents & ZMQ_POLLIN) == 0) continue;
      zmq::message_t message;
      while (clients[k].socket.recv(message, zmq::recv_flags::dontwait)) {
        auto step = clients[k].session.OnFrame({message.data<std::uint8_t>(), message.size()});
        if (step.train) {
          clients[k].training = true;
          pool.Submit(RoundJob{k, static_cast<std::int64_t>(partition[k].size()),
                               std::move(*step.train)});
        }
        if (step.rejoin) {
          const auto join = clients[k].session.JoinFrame();
          clients[k].socket.send(zmq::buffer(join), zmq::send_flags::dontwait);
        }
        if (step.finished) clients[k].finished = true;
      }
    }
    for (auto& result : pool.TakeResults()) {
      auto& c = clients[result.client];
      c.training = false;
      ++train_jobs;
      train_s_total += result.train_s;
      const auto frame = c.session.UpdateFrame(result.round, std::move(result.trained));
      if (frame) c.socket.send(zmq::buffer(*frame), zmq::send_flags::dontwait);
    }
    pool.RethrowFailure();
    if (Clock::now() - last_heartbeat > std::chrono::milliseconds(cfg.transport.heartbeat_ms)) {
      last_heartbeat = Clock::now();
      for (auto& c : clients) {
        if (c.session.welcomed() && !c.finished) {
          const auto heartbeat = c.session.HeartbeatFrame();
          c.socket.send(zmq::buffer(heartbeat), zmq::send_flags::dontwait);
        }
      }
    }
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
