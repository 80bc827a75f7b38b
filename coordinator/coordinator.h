// Coordinator: the ROUTER side of a federation — only the socket loop. It
// authenticates clients (CURVE + ZAP allow-list; identity = the ZAP User-Id,
// never the routing id), hands every frame with its sender to the round
// state machine (coordinator/round_state.h: phases, registry, validation,
// aggregation, checkpoints) and sends what the machine returns. Under a
// flood the receive loop returns to Tick() (deadlines, timeouts) every
// transport.poll_budget_ms; per-connection inbound queues hold
// transport.queue_messages frames (outbound: 1000 of its own replies).
// With Watch(), the loop publishes what an operator sees (monitor/board.h)
// a few times a second and after every round.
// Thread-safety: Bind(), Watch() and Run() on one thread (which then owns
// the socket); Stop() from any thread. Errors: IoError/AuthError from set-up;
// nothing a peer sends makes Run() throw.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "coordinator/clock.h"
#include "coordinator/options.h"
#include "coordinator/round_state.h"
#include "monitor/board.h"
#include "transport/curve_keys.h"
#include "transport/zap_handler.h"

namespace fsd::coordinator {

class Coordinator {
 public:
  // `context` must outlive the coordinator. `allowed`: Z85 key → name of
  // every admitted client (transport::LoadAllowList); unused with --insecure.
  Coordinator(zmq::context_t& context, CoordinatorOptions options,
              transport::CurveKeyPair server_keys, transport::AllowList allowed,
              std::vector<float> initial_global, Evaluator evaluator, RoundListener listener = {});
  ~Coordinator();

  // Starts the ZAP handler (unless insecure), binds, returns the bound endpoint.
  std::string Bind();
  // Publishes the run to `board` (which must outlive the coordinator) from
  // now on; `program` and the model fingerprint name the run on it.
  void Watch(monitor::Board& board, const std::string& program);
  // Runs rounds until federation.rounds are committed or Stop() is called.
  void Run();
  void Stop() { stop_ = true; }

  // Valid after Run() returns (or between rounds on the Run() thread).
  const std::vector<float>& global() const { return rounds_.global(); }
  const aggregation::SoftTargetSummary& soft_state() const { return rounds_.soft_state(); }
  const aggregation::Mask& mask() const { return rounds_.mask(); }  // empty: dense
  std::uint64_t committed_round() const { return rounds_.committed_round(); }
  // Why Run() stopped before federation.rounds (the privacy budget); empty otherwise.
  const std::string& stop_reason() const { return rounds_.stop_reason(); }
  // Whether the run stopped because its global model diverged (exit code 6).
  bool diverged() const { return rounds_.stop_kind() == RoundStateMachine::StopKind::kDiverged; }
  // Under privacy.dp: {"epsilon", "delta", "privacy_steps"} spent so far; null otherwise.
  nlohmann::json privacy_spent() const { return rounds_.privacy_spent(); }
  std::map<std::string, std::int64_t> reject_counts() const { return rounds_.reject_counts(); }

 private:
  // Receives and handles messages until none is waiting or the budget is spent.
  void Drain();
  void Flush();
  // The live state to the board, at most every kPublishInterval (and when
  // `now_or_never`, at once).
  void Publish(bool now_or_never = false);

  zmq::context_t& context_;
  config::TransportConfig transport_;
  transport::CurveKeyPair server_keys_;
  transport::AllowList allowed_;
  std::unique_ptr<transport::ZapHandler> zap_;
  zmq::socket_t router_;
  SteadyClock clock_;
  monitor::Board* board_ = nullptr;  // before rounds_: its listener reads it
  RoundStateMachine rounds_;
  std::atomic<bool> stop_{false};
  Clock::TimePoint published_{};
};

}  // namespace fsd::coordinator
