#include "coordinator/round_phase.h"

#include "common/errors.h"

namespace fsd::coordinator {

using wire::MessageKind;
using wire::RejectCode;

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kWaiting:
      return "waiting";
    case Phase::kAdvertising:
      return "advertising";
    case Phase::kSharingKeys:
      return "sharing keys";
    case Phase::kCollecting:
      return "collecting";
    case Phase::kMaskedInput:
      return "masked input";
    case Phase::kUnmasking:
      return "unmasking";
  }
  return "unknown";
}

std::optional<RejectCode> RefusalFor(Phase phase, MessageKind kind) {
  switch (kind) {
    case MessageKind::kJoin:
    case MessageKind::kHeartbeat:
    case MessageKind::kBye:
      return std::nullopt;
    case MessageKind::kUpdate:
      // Between rounds an update is late (or early): the client waits for
      // the next ROUND_START.
      if (phase == Phase::kCollecting) return std::nullopt;
      // A secure round collects masked inputs, never updates in the clear.
      if (phase == Phase::kMaskedInput) return RejectCode::kUnexpectedKind;
      return RejectCode::kRoundClosed;
    // A secure stage's message outside its stage is late (or early).
    case MessageKind::kSecAggKeys:
      return phase == Phase::kAdvertising ? std::nullopt : std::optional(RejectCode::kRoundClosed);
    case MessageKind::kSecAggShares:
      return phase == Phase::kSharingKeys ? std::nullopt : std::optional(RejectCode::kRoundClosed);
    case MessageKind::kSecAggMasked:
      return phase == Phase::kMaskedInput ? std::nullopt : std::optional(RejectCode::kRoundClosed);
    case MessageKind::kSecAggReveal:
      return phase == Phase::kUnmasking ? std::nullopt : std::optional(RejectCode::kRoundClosed);
    default:
      return RejectCode::kUnexpectedKind;  // WELCOME, ROUND_START, REJECT: coordinator's
  }
}

std::string FrameTooLarge(MessageKind kind, std::size_t bytes, std::size_t limit) {
  std::string text = wire::MessageKindName(kind);
  text.append(" frame of ").append(std::to_string(bytes));
  text.append(" bytes, limit ").append(std::to_string(limit));
  return text;
}

std::optional<wire::Reject> RoundPhase::Screen(const Peer& peer, MessageKind kind,
                                               std::size_t frame_bytes) const {
  (void)peer;
  (void)frame_bytes;
  if (kind == MessageKind::kUpdate)
    return wire::Reject{RejectCode::kRoundClosed, "round is not collecting"};
  return wire::Reject{RejectCode::kRoundClosed, "no secure round in progress"};
}

void RoundPhase::OnMessage(const Peer& peer, wire::Body& body, std::size_t frame_bytes) {
  (void)peer;
  (void)frame_bytes;
  // RefusalFor accepts no round message in a phase that does not handle them.
  throw InternalError(std::string(PhaseName(phase())) + " was handed a " +
                      wire::MessageKindName(wire::KindOf(body)));
}

const std::set<std::string>& RoundPhase::selected() const {
  static const std::set<std::string> kNobody;
  return kNobody;
}

}  // namespace fsd::coordinator
