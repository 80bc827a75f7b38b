// RoundStateMachine: the coordinator's rounds as explicit phases, without a
// socket. The socket loop (coordinator.h) feeds it every frame with the
// sender's authenticated identity, calls Tick() between batches of frames,
// and sends what TakeOutgoing() returns; tests drive it the same way with a
// ManualClock (tests/coordinator/round_state_test.cc).
//
// The machine is the driver: it admits a frame's sender (registry.h), runs
// the cheap checks on its envelope before it is hashed and decoded (an
// UPDATE from a client that may not send one now is refused without
// hashing its bytes), answers JOIN, HEARTBEAT and BYE, and hands every
// round message to the phase in progress; on Tick() it expires silent
// clients and moves to the phase the current one returns. The phases
// (round_phase.h) own what each stage collects; what they share — the
// clients, the state between rounds, the strategies chosen once from the
// options, the outbox — is a RoundContext (round_context.h). Phases and
// the messages each accepts (RefusalFor; anything else is REJECTed):
//   waiting       JOIN, HEARTBEAT, BYE             waiting_phase.h
//   collecting    + UPDATE                          collecting_phase.h
//   advertising   + SECAGG_KEYS                     secure_phases.h
//   sharing keys  + SECAGG_SHARES                   secure_phases.h
//   masked input  + SECAGG_MASKED                   secure_phases.h
//   unmasking     + SECAGG_REVEAL                   secure_phases.h
//
// Defences against one enrolled, hostile client: declarations bounded by
// federation.max_samples_per_client and fixed for a round once sampled;
// aggregation weights per aggregation.weighting (capped: at most
// max_weight_ratio × the round's median); clients that missed a deadline are
// not resampled in that round's retries; ROUND_START re-sends per client and
// round are bounded; connections per key are bounded; values, logits and
// loss are bounded (coordinator/update_validator.h).
//
// After the rule (or the secure sum), the server optimizer
// (aggregation.server_optimizer) moves the global model over its trained,
// kept coordinates, and its moments are checkpointed with the model. Each
// round announces the learning-rate factor of schedule.lr in ROUND_START.
//
// Differential privacy (privacy.dp, coordinator/round_release.h): the
// cohort is a Poisson sample (possibly empty: the round then releases
// noise alone), every sampling draw is charged when drawn to the ledger
// kept in the checkpoint — released, retried or released as nothing — and
// no draw is made that would take ε past privacy.target_epsilon: the run
// stops, and stop_reason() says why.
//
// A committed model that is not finite or beyond limits.max_abs_value is
// rolled back, and by federation.on_divergence the run stops (stop_kind()).
//
// Determinism: sampling is seeded by (seed, round, attempt) over clients
// ordered by name, and updates are summed in name order, so a seeded run
// gives the same model whatever the arrival order. (Under DP in a
// deployment the sampling seed and the noise come from the CSPRNG.)
// Thread-safety: not thread-safe; one owner thread. Errors: nothing a peer
// sends makes a method throw; IoError/DataError from checkpoint I/O.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "coordinator/round_context.h"
#include "coordinator/round_phase.h"

namespace fsd::coordinator {

class RoundStateMachine {
 public:
  using StopKind = coordinator::StopKind;

  // `allowed`: Z85 key → name (empty in plaintext mode). `clock` must outlive
  // the machine. Reads the checkpoint when options.resume asks for it.
  RoundStateMachine(CoordinatorOptions options, std::map<std::string, std::string> allowed,
                    std::vector<float> initial_global, Evaluator evaluator, RoundListener listener,
                    const Clock& clock);

  // One frame from `peer`: screened, decoded, validated and acted on.
  void OnFrame(const Peer& peer, std::span<const std::uint8_t> frame);
  // Refuses a message the socket loop could not hand over (e.g. a
  // multi-part message), counting it like any other REJECT.
  void Refuse(const Peer& peer, wire::RejectCode code, const std::string& text);
  // Lets time act: expire silent clients, start or close a round.
  void Tick();
  // Frames to send, in order; the machine forgets them.
  std::vector<Outgoing> TakeOutgoing();
  // BYE to every joined client (the federation is over).
  void SayGoodbye(const std::string& reason);

  bool done() const {
    return context_.state.committed_round >=
               static_cast<std::uint64_t>(context_.options.federation.rounds) ||
           !context_.stop_reason.empty();
  }
  // Why the run stopped before its last round; empty otherwise.
  const std::string& stop_reason() const { return context_.stop_reason; }
  StopKind stop_kind() const { return context_.stop_kind; }
  // Under privacy.dp: {"epsilon", "delta", "privacy_steps"} spent so far; null otherwise.
  nlohmann::json privacy_spent() const;
  Phase phase() const { return phase_->phase(); }
  std::uint64_t committed_round() const { return context_.state.committed_round; }
  std::uint64_t attempt() const { return context_.retries.attempt; }
  const std::vector<float>& global() const { return context_.state.global; }
  const aggregation::SoftTargetSummary& soft_state() const { return context_.state.soft_state; }
  const aggregation::Mask& mask() const { return context_.state.mask; }
  // The attempt in progress (none while waiting): the clients sampled and
  // still present, how many were sampled, and how many have reported
  // (UPDATE; in secure rounds SECAGG_MASKED) so far.
  const std::set<std::string>& selected() const { return phase_->selected(); }
  std::size_t sampled() const { return phase_->sampled(); }
  std::size_t reported() const { return phase_->reported(); }
  const CoordinatorOptions& options() const { return context_.options; }
  const ClientRegistry& registry() const { return context_.registry; }
  std::map<std::string, std::int64_t> reject_counts() const;

 private:
  std::optional<wire::Reject> Screen(const Peer& peer, std::span<const std::uint8_t> frame) const;
  void OnJoin(const Peer& peer, const wire::Join& join);
  void OnClientGone(const std::string& key, const char* why);

  RoundContext context_;
  std::unique_ptr<RoundPhase> phase_;
};

}  // namespace fsd::coordinator
