// Simulation: a coordinator and N clients in one process, talking over the
// same CURVE-encrypted ZeroMQ path as a deployment (loopback TCP, one DEALER
// and one keypair per client, ZAP allow-list on the coordinator).
//
// Clients are cheap records (keys, shard indices); only the checked-in ones
// hold a socket and a protocol session (sim/client_pool.h, which also
// injects [faults]). Training runs on a pool of `sim.workers` threads, each
// owning one model and one torch thread, that take pending rounds largest
// shard first so uneven clients pack well. Memory grows with workers and the
// cohort, not with the registered clients.
// Threads: coordinator thread (ROUTER, evaluation), hub thread = the caller
// of Run() (all client sockets), and the workers (models); see docs/THREADING.md.
// Errors: ConfigError/IoError/DataError from set-up; a failure on any thread
// stops the run and is rethrown from Run().
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/config/config.h"
#include "coordinator/options.h"

namespace fsd::sim {

// The simulated clients' names in logs, keys' allow-list and metrics, by
// client index: "client-k", or with federation.partition = "natural" the
// client folders' names (data::NaturalClients).
std::vector<std::string> ClientNames(const config::RunConfig& config);

// Which part of the federation this process runs. A run across processes
// (hosts, Slurm job steps) has one coordinator and client pools that share
// a config and a key directory (WriteSimulationKeys), and gives the same
// model as one process for the same seed.
enum class SimulationRole {
  kAll,          // the coordinator and every client, in this process
  kCoordinator,  // the coordinator only, bound to `endpoint`
  kClients,      // the clients in `client_range`, connecting to `endpoint`
};

struct SimulationOptions {
  config::RunConfig config;
  std::string out_dir;
  // Whether to continue from out_dir/checkpoint.bin (coordinator/options.h).
  coordinator::ResumeMode resume = coordinator::ResumeMode::kFresh;
  SimulationRole role = SimulationRole::kAll;
  // kCoordinator: where to bind (empty: transport.bind); kClients: the
  // coordinator's endpoint to connect to.
  std::string endpoint;
  // kCoordinator / kClients: KEYDIR/coordinator.{key,pub} and
  // KEYDIR/clients/NAME.{key,pub} (ClientNames; the coordinator reads only .pub
  // files of the clients, a pool only its own clients' .key files).
  std::string key_dir;
  // kClients: the clients [first, second) this pool runs.
  std::pair<std::size_t, std::size_t> client_range{0, 0};
  // "HOST:PORT": serve the status page and /metrics there while the run
  // lasts (monitor/http_server.h); empty: off. Not for kClients.
  std::string http;
};

// Writes the keys of a run across processes into `key_dir`, keeping any
// that exist: the coordinator's and those of the clients `names` (IoError
// on failure).
void WriteSimulationKeys(const std::string& key_dir, const std::vector<std::string>& names);

// Loads `config`'s data, builds its partition (federation.partition) and
// writes it to `path` as a partition file (common/data/partition.h), so
// another framework can reproduce the split; returns the number of clients.
std::size_t WritePartition(config::RunConfig config, const std::string& path);

class Simulation {
 public:
  explicit Simulation(SimulationOptions options);
  // Runs all rounds; writes out_dir/{metrics.jsonl,summary.json,rounds.tsv} and
  // returns the summary. A client pool (kClients) runs until the coordinator
  // says the federation finished and writes only summary.json: its clients,
  // check-ins and injected faults per round.
  nlohmann::json Run();

 private:
  SimulationOptions options_;
};

}  // namespace fsd::sim
