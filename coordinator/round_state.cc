#include "coordinator/round_state.h"

#include "common/errors.h"
#include "common/log.h"
#include "coordinator/waiting_phase.h"

namespace fsd::coordinator {
namespace {

using wire::MessageKind;
using wire::RejectCode;

bool IsSecureClientKind(MessageKind kind) {
  return kind == MessageKind::kSecAggKeys || kind == MessageKind::kSecAggShares ||
         kind == MessageKind::kSecAggMasked || kind == MessageKind::kSecAggReveal;
}

bool IsClientKind(MessageKind kind) {
  return kind == MessageKind::kJoin || kind == MessageKind::kUpdate ||
         kind == MessageKind::kHeartbeat || kind == MessageKind::kBye || IsSecureClientKind(kind);
}

}  // namespace

RoundStateMachine::RoundStateMachine(CoordinatorOptions options,
                                     std::map<std::string, std::string> allowed,
                                     std::vector<float> initial_global, Evaluator evaluator,
                                     RoundListener listener, const Clock& clock)
    : context_(std::move(options), std::move(allowed), std::move(initial_global),
               std::move(evaluator), std::move(listener), clock),
      phase_(std::make_unique<WaitingPhase>(context_)) {}

std::optional<wire::Reject> RoundStateMachine::Screen(const Peer& peer,
                                                      std::span<const std::uint8_t> frame) const {
  const auto head = wire::PeekEnvelope(frame);
  if (!head) return std::nullopt;  // the decoder names what is wrong
  const auto kind = static_cast<MessageKind>(head->kind);
  const bool defined = head->kind >= static_cast<std::uint16_t>(MessageKind::kJoin) &&
                       head->kind <= static_cast<std::uint16_t>(MessageKind::kSecAggReveal);
  if (defined && !IsClientKind(kind)) {
    // WELCOME, ROUND_START, REJECT: never accepted from a client, so never hashed.
    return wire::Reject{RejectCode::kUnexpectedKind, std::string(wire::MessageKindName(kind)) +
                                                         " is not accepted by a coordinator"};
  }
  if (kind == MessageKind::kUpdate || IsSecureClientKind(kind)) {
    if (!context_.registry.joined(peer.identity))
      return wire::Reject{RejectCode::kNotAuthorized, "unknown session: JOIN first"};
    if (head->round != context_.round()) {
      const char* what = kind == MessageKind::kUpdate ? "update" : "secure aggregation message";
      return wire::Reject{RejectCode::kStaleRound,
                          std::string(what) + " for round " + std::to_string(head->round) +
                              ", current round is " + std::to_string(context_.round())};
    }
    return phase_->Screen(peer, kind, frame.size());
  }
  const std::size_t limit = wire::kEnvelopeBytes + context_.limits.max_payload_bytes;
  if (IsClientKind(kind) && frame.size() > limit) {
    // JOIN, HEARTBEAT and BYE carry no tensors: no reason to hash megabytes.
    return wire::Reject{RejectCode::kLimitExceeded, FrameTooLarge(kind, frame.size(), limit)};
  }
  return std::nullopt;
}

void RoundStateMachine::OnFrame(const Peer& peer, std::span<const std::uint8_t> frame) {
  switch (context_.registry.Admit(peer.identity, peer.routing_id, context_.clock.Now())) {
    case ClientRegistry::Admission::kAdmitted:
      break;
    case ClientRegistry::Admission::kNotEnrolled:
      return context_.SendReject(peer, RejectCode::kNotAuthorized, "key is not on the allow-list");
    case ClientRegistry::Admission::kTooManyConnections:
      return context_.SendReject(
          peer, RejectCode::kBusy,
          "this key already holds " +
              std::to_string(context_.options.limits.max_connections_per_key) +
              " live connections");
  }
  if (auto refusal = Screen(peer, frame))
    return context_.SendReject(peer, refusal->code, refusal->text);
  auto decoded = wire::DecodeFrame(frame, context_.limits);
  if (!decoded.ok()) return context_.SendReject(peer, decoded.reject().code, decoded.reject().text);
  wire::Message& message = decoded.value();
  const MessageKind kind = wire::KindOf(message.body);
  if (auto refusal = RefusalFor(phase(), kind)) {
    return context_.SendReject(
        peer, *refusal,
        std::string(wire::MessageKindName(kind)) + " is not accepted while " + PhaseName(phase()));
  }
  switch (kind) {
    case MessageKind::kJoin:
      return OnJoin(peer, std::get<wire::Join>(message.body));
    case MessageKind::kHeartbeat:
      if (!context_.registry.joined(peer.identity))
        context_.SendReject(peer, RejectCode::kNotAuthorized, "unknown session: JOIN first");
      return;
    case MessageKind::kBye:
      if (context_.registry.joined(peer.identity)) OnClientGone(peer.identity, "left");
      return;
    default:  // UPDATE and SECAGG_*, which RefusalFor accepts only from the phase that handles them
      return phase_->OnMessage(peer, message.body, frame.size());
  }
}

void RoundStateMachine::Refuse(const Peer& peer, RejectCode code, const std::string& text) {
  context_.SendReject(peer, code, text);
}

void RoundStateMachine::OnJoin(const Peer& peer, const wire::Join& join) {
  if (join.min_version > wire::kProtocolVersion || join.max_version < wire::kProtocolVersion) {
    return context_.SendReject(peer, RejectCode::kUnsupportedVersion,
                               "client speaks " + std::to_string(join.min_version) + ".." +
                                   std::to_string(join.max_version) + ", coordinator " +
                                   std::to_string(wire::kProtocolVersion));
  }
  if (join.schema_fingerprint != context_.options.schema_fingerprint) {
    return context_.SendReject(
        peer, RejectCode::kSchemaMismatch,
        "client model " + wire::FingerprintHex(join.schema_fingerprint) +
            " differs from the coordinator's " +
            wire::FingerprintHex(context_.options.schema_fingerprint) +
            ": its layout, or the bytes of its TorchScript file (model.path)");
  }
  const std::int64_t max_samples = context_.options.federation.max_samples_per_client;
  if (join.num_samples <= 0) {
    return context_.SendReject(
        peer, RejectCode::kInvalidValue,
        "num_samples " + std::to_string(join.num_samples) + " must be positive");
  }
  if (join.num_samples > max_samples) {
    return context_.SendReject(peer, RejectCode::kLimitExceeded,
                               "num_samples " + std::to_string(join.num_samples) + " outside 1.." +
                                   std::to_string(max_samples) +
                                   " (federation.max_samples_per_client)");
  }
  const int exits = model::NumExits(context_.options.layout);
  if (join.max_exit > static_cast<std::uint32_t>(exits)) {
    return context_.SendReject(peer, RejectCode::kInvalidValue,
                               "max_exit " + std::to_string(join.max_exit) + " outside 0.." +
                                   std::to_string(exits) + " (0: the whole network)");
  }
  const int affordable = join.max_exit == 0 ? exits : static_cast<int>(join.max_exit);
  if (affordable < exits) {
    if (const char* needs_whole = context_.WholeNetworkRequiredBy()) {
      return context_.SendReject(peer, RejectCode::kInvalidValue,
                                 "max_exit " + std::to_string(affordable) + ": under " +
                                     needs_whole + " every client trains the whole network (exit " +
                                     std::to_string(exits) + ")");
    }
    if (affordable < context_.options.min_exit) {
      return context_.SendReject(
          peer, RejectCode::kInvalidValue,
          "max_exit " + std::to_string(affordable) + " is below heterogeneity.min_exit " +
              std::to_string(context_.options.min_exit) +
              ": this federation takes clients that train that exit or deeper");
    }
  }
  const bool rejoined = context_.registry.joined(peer.identity);
  ClientRecord& record = context_.registry.Join(peer.identity, peer.routing_id, join.num_samples,
                                                join.client_name, context_.clock.Now());
  record.max_exit = join.max_exit;
  FSD_LOG(DEBUG) << "client " << record.name << (rejoined ? " rejoined" : " joined") << " with "
                 << join.num_samples << " samples";
  if (!rejoined) FSD_LOG(INFO) << "client " << record.name << " joined";
  context_.Send(peer.routing_id,
                {context_.state.committed_round,
                 wire::Welcome{wire::kProtocolVersion, context_.options.schema_fingerprint,
                               static_cast<std::uint32_t>(context_.options.federation.rounds)}});
  phase_->OnRejoin(peer);
}

void RoundStateMachine::OnClientGone(const std::string& key, const char* why) {
  FSD_LOG(INFO) << "client " << context_.registry.NameOf(key) << " " << why;
  phase_->OnClientGone(key);
  context_.registry.Leave(key);
}

void RoundStateMachine::Tick() {
  // The owner thread's CPU clock (this may have been built on another thread).
  if (context_.cpu_mark < 0.0) context_.cpu_mark = ThreadCpuSeconds();
  for (const auto& key : context_.registry.Expire(context_.clock.Now())) {
    FSD_LOG(WARNING) << "client " << context_.registry.NameOf(key) << " timed out";
    phase_->OnClientGone(key);
  }
  if (done()) return;
  if (auto next = phase_->Tick()) phase_ = std::move(next);
}

nlohmann::json RoundStateMachine::privacy_spent() const {
  if (!context_.state.ledger) return nullptr;  // no privacy.dp
  return {{"epsilon", context_.state.ledger->Spent().epsilon},
          {"delta", context_.options.privacy.delta},
          {"privacy_steps", context_.state.ledger->draws()}};
}

void RoundStateMachine::SayGoodbye(const std::string& reason) {
  for (const auto& key : context_.registry.JoinedByName()) {
    context_.Send(context_.registry.Find(key)->routing_id,
                  {context_.state.committed_round, wire::Bye{reason}});
  }
}

std::vector<Outgoing> RoundStateMachine::TakeOutgoing() {
  return std::exchange(context_.outgoing, {});
}

std::map<std::string, std::int64_t> RoundStateMachine::reject_counts() const {
  std::map<std::string, std::int64_t> counts;
  for (const auto& [code, count] : context_.rejects) counts[wire::RejectCodeName(code)] = count;
  return counts;
}

}  // namespace fsd::coordinator
