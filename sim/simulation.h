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

#include "common/config/config.h"
#include "coordinator/options.h"

namespace fsd::sim {

// The name of simulated client k in logs, keys' allow-list and metrics: "client-k".
std::string ClientName(std::size_t k);

struct SimulationOptions {
  config::RunConfig config;
  std::string out_dir;
  // Whether to continue from out_dir/checkpoint.bin (coordinator/options.h).
  coordinator::ResumeMode resume = coordinator::ResumeMode::kFresh;
};

class Simulation {
 public:
  explicit Simulation(SimulationOptions options);
  // Runs all rounds; writes out_dir/{metrics.jsonl,summary.json,rounds.tsv} and
  // returns the summary.
  nlohmann::json Run();

 private:
  SimulationOptions options_;
};

}  // namespace fsd::sim
