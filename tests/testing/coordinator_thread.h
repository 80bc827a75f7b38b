// CoordinatorThread: a Coordinator with real CURVE keys for `clients`
// enrolled clients ("client-0".."client-{n-1}"), bound to a loopback port
// and run on its own thread, the way the integration tests drive one. Stops
// and joins on destruction.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/coordinator.h"
#include "transport/curve_keys.h"

namespace fsd::testing {

class CoordinatorThread {
 public:
  // `options.federation.clients` is set to `clients`; the evaluator reports
  // the global model's first value as its one "accuracy".
  CoordinatorThread(zmq::context_t& context, int clients, coordinator::CoordinatorOptions options,
                    std::vector<float> initial_global)
      : server_keys_(transport::GenerateCurveKeyPair()) {
    transport::AllowList allowed;
    for (int i = 0; i < clients; ++i) {
      client_keys_.push_back(transport::GenerateCurveKeyPair());
      allowed.emplace(client_keys_.back().public_z85, "client-" + std::to_string(i));
    }
    options.federation.clients = clients;
    coordinator_ = std::make_unique<coordinator::Coordinator>(
        context, options, server_keys_, allowed, std::move(initial_global),
        [](std::span<const float> global) { return std::vector<double>{global[0]}; });
    endpoint_ = coordinator_->Bind();
    thread_ = std::thread([this] {
      coordinator_->Run();
      finished_ = true;
    });
  }
  ~CoordinatorThread() { StopAndJoin(); }
  CoordinatorThread(const CoordinatorThread&) = delete;
  CoordinatorThread& operator=(const CoordinatorThread&) = delete;

  // Whether Run() returned: the federation finished (or was stopped).
  bool finished() const { return finished_; }
  // Waits at most `timeout` for Run() to return; then stops the coordinator
  // and joins its thread. True when it had finished by itself.
  bool Finish(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!finished_ && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return StopAndJoin();
  }
  // Stops the coordinator and joins its thread; whether it had finished.
  bool StopAndJoin() {
    const bool finished = finished_;
    coordinator_->Stop();
    if (thread_.joinable()) thread_.join();
    return finished;
  }

  coordinator::Coordinator& coordinator() { return *coordinator_; }
  const std::string& endpoint() const { return endpoint_; }
  const transport::CurveKeyPair& server_keys() const { return server_keys_; }
  const transport::CurveKeyPair& client_keys(int i) const { return client_keys_.at(i); }

 private:
  transport::CurveKeyPair server_keys_;
  std::vector<transport::CurveKeyPair> client_keys_;
  std::unique_ptr<coordinator::Coordinator> coordinator_;
  std::string endpoint_;
  std::thread thread_;
  std::atomic<bool> finished_{false};
};

}  // namespace fsd::testing
