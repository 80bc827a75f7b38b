// RoundPhase: one phase of a round, the unit the round state machine
// (round_state.h) drives. A phase owns what its stage collects, handles the
// message kinds it accepts, and on Tick() returns the phase that follows it
// (nullptr: it goes on) — the shape of fcp's SecAggServerState.
//
//   WaitingPhase        (waiting_phase.h) → CollectingPhase, or AdvertisingPhase in a secure round
//   CollectingPhase     (collecting_phase.h) → WaitingPhase (committed or retried)
//   AdvertisingPhase → SharingKeysPhase → MaskedInputPhase → UnmaskingPhase
//                       (secure_phases.h) → WaitingPhase (committed, failed or retried)
//
// What every phase shares (the clients, the state between rounds, the
// outbox) is the RoundContext it is given; it must outlive the phase.
// Thread-safety: one owner thread. Errors: nothing a peer sends makes a
// method throw; IoError/DataError from checkpoint I/O when a round commits.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/wire/messages.h"
#include "coordinator/round_context.h"

namespace fsd::coordinator {

// kCollecting is a plain round's; kAdvertising, kSharingKeys, kMaskedInput
// and kUnmasking are a secure round's.
enum class Phase { kWaiting, kCollecting, kAdvertising, kSharingKeys, kMaskedInput, kUnmasking };
const char* PhaseName(Phase phase);

// nullopt when `phase` accepts messages of `kind` from clients; otherwise
// the REJECT code they get.
std::optional<wire::RejectCode> RefusalFor(Phase phase, wire::MessageKind kind);

// "KIND frame of N bytes, limit L": a REJECT's text for a frame refused on its size.
std::string FrameTooLarge(wire::MessageKind kind, std::size_t bytes, std::size_t limit);

class RoundPhase {
 public:
  explicit RoundPhase(RoundContext& context) : context_(context) {}
  virtual ~RoundPhase() = default;
  RoundPhase(const RoundPhase&) = delete;
  RoundPhase& operator=(const RoundPhase&) = delete;

  virtual Phase phase() const = 0;
  // The cheap checks on a round message (UPDATE or SECAGG_*) for the
  // current round from a joined client, before its frame of `frame_bytes`
  // is hashed and decoded: the REJECT, or nullopt to decode it. By
  // default: no round is collecting updates, no secure round is running.
  virtual std::optional<wire::Reject> Screen(const Peer& peer, wire::MessageKind kind,
                                             std::size_t frame_bytes) const;
  // A decoded message of a kind RefusalFor(phase(), ·) accepts, other than
  // JOIN, HEARTBEAT and BYE, which the machine handles.
  virtual void OnMessage(const Peer& peer, wire::Body& body, std::size_t frame_bytes);
  // `peer` joined again (the machine welcomed it).
  virtual void OnRejoin(const Peer& peer) { (void)peer; }
  // A client left or timed out: if it was sampled and has not reported, it
  // will not report in this attempt.
  virtual void OnClientGone(const std::string& key) { (void)key; }
  // Lets time act; the next phase, or nullptr to stay.
  virtual std::unique_ptr<RoundPhase> Tick() = 0;

  // The attempt in progress: the clients sampled and still present, how
  // many were sampled, and how many have reported (UPDATE; SECAGG_MASKED).
  virtual const std::set<std::string>& selected() const;
  virtual std::size_t sampled() const { return 0; }
  virtual std::size_t reported() const { return 0; }

 protected:
  RoundContext& context_;
};

}  // namespace fsd::coordinator
