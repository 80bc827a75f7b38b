#include "coordinator/round_state.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "aggregation/aggregate.h"
#include "aggregation/weighting.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/random/streams.h"
#include "coordinator/cohort_sampling.h"

namespace fsd::coordinator {
namespace {

using wire::MessageKind;
using wire::RejectCode;

// Bytes of an encoded section on the wire (header + stored bytes).
std::int64_t SectionWireBytes(const codec::Encoded& encoded) {
  return static_cast<std::int64_t>(wire::kTensorHeaderBytes + encoded.bytes.size());
}

bool IsSecureClientKind(MessageKind kind) {
  return kind == MessageKind::kSecAggKeys || kind == MessageKind::kSecAggShares ||
         kind == MessageKind::kSecAggMasked || kind == MessageKind::kSecAggReveal;
}

bool IsClientKind(MessageKind kind) {
  return kind == MessageKind::kJoin || kind == MessageKind::kUpdate ||
         kind == MessageKind::kHeartbeat || kind == MessageKind::kBye || IsSecureClientKind(kind);
}

}  // namespace

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

RoundStateMachine::RoundStateMachine(CoordinatorOptions options,
                                     std::map<std::string, std::string> allowed,
                                     std::vector<float> initial_global, Evaluator evaluator,
                                     RoundListener listener, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      registry_(std::move(allowed), /*open=*/options_.transport.insecure,
                options_.limits.max_connections_per_key, options_.transport.client_timeout_s,
                /*connection_idle_s=*/3.0 * options_.transport.heartbeat_ms / 1000.0),
      validator_(ValidationLimits{options_.num_classes, options_.limits.max_abs_value,
                                  options_.limits.max_abs_logit, options_.limits.max_train_loss}),
      evaluator_(std::move(evaluator)),
      listener_(std::move(listener)),
      store_(options_.out_dir, options_.federation.checkpoint),
      state_(options_, std::move(initial_global)),
      release_(MakeRoundRelease(options_)) {
  limits_.max_message_bytes = static_cast<std::uint64_t>(options_.transport.max_message_mb) << 20;
  if (options_.federation.min_clients == 0)
    options_.federation.min_clients = options_.federation.clients;
  if (options_.layout.empty()) options_.layout = {{0, state_.model_size, false}};
  limits_.max_values = std::max<std::uint64_t>(limits_.max_values, state_.model_size);
  if (auto checkpoint = store_.Open(options_.resume, limits_.max_values, limits_.max_classes)) {
    state_.Restore(std::move(*checkpoint), store_.checkpoint_path());
    FSD_LOG(INFO) << "resuming after round " << state_.committed_round;
  }
  // Under DP, who is sampled must not be predictable from the (public) config.
  sampling_seed_ = options_.privacy.enabled && !options_.privacy.seed ? privacy::SecureSeed()
                                                                      : options_.federation.seed;
  sampler_ = MakeCohortSampler(options_, sampling_seed_, state_);
  run_started_ = clock_.Now();
}

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
  if (kind == MessageKind::kUpdate) {
    const std::uint64_t current = state_.committed_round + 1;
    if (!registry_.joined(peer.identity))
      return wire::Reject{RejectCode::kNotAuthorized, "unknown session: JOIN first"};
    if (head->round != current) {
      return wire::Reject{RejectCode::kStaleRound,
                          "update for round " + std::to_string(head->round) +
                              ", current round is " + std::to_string(current)};
    }
    if (phase_ == Phase::kMaskedInput) {
      return wire::Reject{RejectCode::kUnexpectedKind,
                          "this round uses secure aggregation: SECAGG_MASKED, not UPDATE"};
    }
    if (phase_ != Phase::kCollecting)
      return wire::Reject{RejectCode::kRoundClosed, "round is not collecting"};
    // A late update from an earlier attempt of this round: the round moved on.
    if (!selected_.contains(peer.identity))
      return wire::Reject{RejectCode::kRoundClosed,
                          "client not sampled in this attempt of the round"};
    if (staged_.contains(peer.identity))
      return wire::Reject{RejectCode::kDuplicate, "second update in this round"};
    if (staged_.size() >= target_) {
      return wire::Reject{RejectCode::kRoundClosed, "the round has the updates it needs"};
    }
  } else if (IsSecureClientKind(kind)) {
    const std::uint64_t current = state_.committed_round + 1;
    if (!registry_.joined(peer.identity))
      return wire::Reject{RejectCode::kNotAuthorized, "unknown session: JOIN first"};
    if (head->round != current) {
      return wire::Reject{RejectCode::kStaleRound,
                          "secure aggregation message for round " + std::to_string(head->round) +
                              ", current round is " + std::to_string(current)};
    }
    if (!secure_) {
      return wire::Reject{RejectCode::kRoundClosed, "no secure round in progress"};
    }
    if (!secure_->member(peer.identity) || !selected_.contains(peer.identity)) {
      return wire::Reject{RejectCode::kRoundClosed, "not in this secure round's cohort"};
    }
    if (auto refusal = RefusalFor(phase_, kind)) {
      return wire::Reject{*refusal, std::string(wire::MessageKindName(kind)) +
                                        " is not accepted while " + PhaseName(phase_)};
    }
    const std::size_t limit = kind == MessageKind::kSecAggMasked
                                  ? secure_->masked_frame_bytes()
                                  : wire::kEnvelopeBytes + limits_.max_payload_bytes;
    if (frame.size() > limit) {
      return wire::Reject{RejectCode::kLimitExceeded, std::string(wire::MessageKindName(kind)) +
                                                          " frame of " +
                                                          std::to_string(frame.size()) +
                                                          " bytes, limit " + std::to_string(limit)};
    }
  } else if (IsClientKind(kind) &&
             frame.size() > wire::kEnvelopeBytes + limits_.max_payload_bytes) {
    // JOIN, HEARTBEAT and BYE carry no tensors: no reason to hash megabytes.
    return wire::Reject{RejectCode::kLimitExceeded,
                        std::string(wire::MessageKindName(kind)) + " frame of " +
                            std::to_string(frame.size()) + " bytes, limit " +
                            std::to_string(wire::kEnvelopeBytes + limits_.max_payload_bytes)};
  }
  return std::nullopt;
}

void RoundStateMachine::OnFrame(const Peer& peer, std::span<const std::uint8_t> frame) {
  switch (registry_.Admit(peer.identity, peer.routing_id, clock_.Now())) {
    case ClientRegistry::Admission::kAdmitted:
      break;
    case ClientRegistry::Admission::kNotEnrolled:
      return SendReject(peer, RejectCode::kNotAuthorized, "key is not on the allow-list");
    case ClientRegistry::Admission::kTooManyConnections:
      return SendReject(peer, RejectCode::kBusy,
                        "this key already holds " +
                            std::to_string(options_.limits.max_connections_per_key) +
                            " live connections");
  }
  if (auto refusal = Screen(peer, frame)) return SendReject(peer, refusal->code, refusal->text);
  auto decoded = wire::DecodeFrame(frame, limits_);
  if (!decoded.ok()) return SendReject(peer, decoded.reject().code, decoded.reject().text);
  wire::Message& message = decoded.value();
  const MessageKind kind = wire::KindOf(message.body);
  if (auto refusal = RefusalFor(phase_, kind)) {
    return SendReject(
        peer, *refusal,
        std::string(wire::MessageKindName(kind)) + " is not accepted while " + PhaseName(phase_));
  }
  switch (kind) {
    case MessageKind::kJoin:
      return OnJoin(peer, std::get<wire::Join>(message.body));
    case MessageKind::kUpdate:
      return OnUpdate(peer, message.round, std::get<wire::Update>(message.body), frame.size());
    case MessageKind::kHeartbeat:
      if (!registry_.joined(peer.identity))
        SendReject(peer, RejectCode::kNotAuthorized, "unknown session: JOIN first");
      return;
    case MessageKind::kBye:
      if (registry_.joined(peer.identity)) OnClientGone(peer.identity, "left");
      return;
    case MessageKind::kSecAggKeys:
    case MessageKind::kSecAggShares:
    case MessageKind::kSecAggMasked:
    case MessageKind::kSecAggReveal:
      return OnSecure(peer, message.body, frame.size());
    default:
      throw InternalError("RefusalFor accepted a coordinator-only kind");
  }
}

void RoundStateMachine::Refuse(const Peer& peer, RejectCode code, const std::string& text) {
  SendReject(peer, code, text);
}

void RoundStateMachine::OnJoin(const Peer& peer, const wire::Join& join) {
  if (join.min_version > wire::kProtocolVersion || join.max_version < wire::kProtocolVersion) {
    return SendReject(peer, RejectCode::kUnsupportedVersion,
                      "client speaks " + std::to_string(join.min_version) + ".." +
                          std::to_string(join.max_version) + ", coordinator " +
                          std::to_string(wire::kProtocolVersion));
  }
  if (join.schema_fingerprint != options_.schema_fingerprint) {
    return SendReject(peer, RejectCode::kSchemaMismatch,
                      "client model " + wire::FingerprintHex(join.schema_fingerprint) +
                          " differs from the coordinator's " +
                          wire::FingerprintHex(options_.schema_fingerprint) +
                          ": its layout, or the bytes of its TorchScript file (model.path)");
  }
  const std::int64_t max_samples = options_.federation.max_samples_per_client;
  if (join.num_samples <= 0) {
    return SendReject(peer, RejectCode::kInvalidValue,
                      "num_samples " + std::to_string(join.num_samples) + " must be positive");
  }
  if (join.num_samples > max_samples) {
    return SendReject(peer, RejectCode::kLimitExceeded,
                      "num_samples " + std::to_string(join.num_samples) + " outside 1.." +
                          std::to_string(max_samples) + " (federation.max_samples_per_client)");
  }
  const int exits = model::NumExits(options_.layout);
  if (join.max_exit > static_cast<std::uint32_t>(exits)) {
    return SendReject(peer, RejectCode::kInvalidValue,
                      "max_exit " + std::to_string(join.max_exit) + " outside 0.." +
                          std::to_string(exits) + " (0: the whole network)");
  }
  const int affordable = join.max_exit == 0 ? exits : static_cast<int>(join.max_exit);
  if (affordable < exits) {
    const char* needs_whole = options_.secure_aggregation.enabled ? "secure_aggregation.enabled"
                              : options_.privacy.enabled          ? "privacy.dp"
                              : distillation_only()               ? "federation.mode = distillation"
                                                                  : nullptr;
    if (needs_whole != nullptr) {
      return SendReject(peer, RejectCode::kInvalidValue,
                        "max_exit " + std::to_string(affordable) + ": under " + needs_whole +
                            " every client trains the whole network (exit " +
                            std::to_string(exits) + ")");
    }
    if (affordable < options_.min_exit) {
      return SendReject(peer, RejectCode::kInvalidValue,
                        "max_exit " + std::to_string(affordable) +
                            " is below heterogeneity.min_exit " +
                            std::to_string(options_.min_exit) +
                            ": this federation takes clients that train that exit or deeper");
    }
  }
  const bool rejoined = registry_.joined(peer.identity);
  ClientRecord& record = registry_.Join(peer.identity, peer.routing_id, join.num_samples,
                                        join.client_name, clock_.Now());
  record.max_exit = join.max_exit;
  FSD_LOG(DEBUG) << "client " << record.name << (rejoined ? " rejoined" : " joined") << " with "
                 << join.num_samples << " samples";
  if (!rejoined) FSD_LOG(INFO) << "client " << record.name << " joined";
  Send(peer.routing_id, {state_.committed_round,
                         wire::Welcome{wire::kProtocolVersion, options_.schema_fingerprint,
                                       static_cast<std::uint32_t>(options_.federation.rounds)}});
  // A sampled client that rejoins mid-round (it lost its ROUND_START, or
  // restarted) gets the round again — a bounded number of times.
  // (Not in a secure round: a client that lost its state lost its keys too.)
  if (phase_ == Phase::kCollecting && selected_.contains(peer.identity) &&
      !staged_.contains(peer.identity)) {
    int& resends = resends_[peer.identity];
    if (resends < options_.limits.max_round_start_resends) {
      ++resends;
      SendRoundStart(peer.identity);
    } else {
      FSD_LOG(WARNING) << "client " << record.name << " asked for round "
                       << state_.committed_round + 1 << " more than "
                       << options_.limits.max_round_start_resends << " times; not sent again";
    }
  }
}

void RoundStateMachine::OnUpdate(const Peer& peer, std::uint64_t round, const wire::Update& update,
                                 std::size_t frame_bytes) {
  // Screen() already refused unknown sessions, other rounds, unsampled
  // clients and duplicates; the validator checks the contents.
  (void)round;
  const model::Subnetwork subnet = subnets_.at(peer.identity);
  const SubnetView& view = views_.at(subnet);
  const RoundExpectation expectation{distillation_only(),
                                     state_.mask_round,
                                     view.segments,
                                     view.kept,
                                     options_.privacy.distributed,
                                     options_.privacy.distributed && options_.privacy.summaries};
  auto result = validator_.Validate(update, expectation, declared_.at(peer.identity), frame_bytes);
  if (auto* reject = std::get_if<wire::Reject>(&result)) {
    // Logged once per attempt, in CloseRound's line, not once per client.
    SendReject(peer, reject->code, "UPDATE: " + reject->text, /*log=*/false);
    ++refusals_[reject->code];
    // Each refused UPDATE cost a hash and a decode: after a few, the client
    // is out of this round, and its next UPDATE is refused on its envelope.
    if (++refused_updates_[peer.identity] >= options_.limits.max_refused_updates) {
      FSD_LOG(WARNING) << "client " << registry_.NameOf(peer.identity) << ": "
                       << options_.limits.max_refused_updates
                       << " refused updates; left out of round " << state_.committed_round + 1;
      selected_.erase(peer.identity);
      missed_.insert(peer.identity);
    }
    return;
  }
  auto& staged = std::get<StagedUpdate>(result);
  bytes_.up += staged.bytes;
  bytes_.up_weights += staged.weight_bytes;
  bytes_.up_summary += staged.summary_bytes;
  staged_.emplace(peer.identity,
                  Staged{registry_.NameOf(peer.identity), std::move(staged), subnet});
}

void RoundStateMachine::OnSecure(const Peer& peer, wire::Body& body, std::size_t frame_bytes) {
  const std::string& key = peer.identity;
  std::optional<wire::Reject> refusal;
  if (const auto* keys = std::get_if<wire::SecAggKeys>(&body)) {
    refusal = secure_->OnKeys(key, *keys, frame_bytes);
  } else if (const auto* shares = std::get_if<wire::SecAggShares>(&body)) {
    refusal = secure_->OnShares(key, *shares, frame_bytes);
  } else if (const auto* masked = std::get_if<wire::SecAggMasked>(&body)) {
    refusal = secure_->OnMasked(key, *masked, declared_.at(key), frame_bytes);
  } else if (const auto* reveal = std::get_if<wire::SecAggReveal>(&body)) {
    refusal = secure_->OnReveal(key, *reveal, frame_bytes);
  }
  if (refusal) return SendReject(peer, refusal->code, refusal->text);
  bytes_.up += static_cast<std::int64_t>(frame_bytes);
}

bool RoundStateMachine::StageDue() const {
  return SecondsBetween(stage_started_, clock_.Now()) >
         options_.secure_aggregation.stage_deadline_s;
}

void RoundStateMachine::SendSecure(SecureRound::Outbox outbox, Phase next) {
  for (auto& [key, body] : outbox) {
    const ClientRecord* record = registry_.Find(key);
    if (record == nullptr) continue;  // gone since its last message
    auto frame = wire::EncodeFrame({state_.committed_round + 1, std::move(body)});
    bytes_.down += static_cast<std::int64_t>(frame.size());
    outgoing_.push_back({record->routing_id, std::move(frame)});
  }
  CloseSecureStage();
  phase_ = next;
  stage_started_ = clock_.Now();
}

void RoundStateMachine::CloseSecureStage() {
  static const std::map<Phase, SecureRound::Stage> kStageOf = {
      {Phase::kAdvertising, SecureRound::Stage::kAdvertise},
      {Phase::kSharingKeys, SecureRound::Stage::kShareKeys},
      {Phase::kMaskedInput, SecureRound::Stage::kMaskedInput},
      {Phase::kUnmasking, SecureRound::Stage::kUnmask}};
  const auto stage = kStageOf.find(phase_);
  if (secure_ && stage != kStageOf.end()) {
    secure_->SetStageSeconds(stage->second, SecondsBetween(stage_started_, clock_.Now()));
  }
}

void RoundStateMachine::Exclude(const std::string& key, std::uint64_t round,
                                const std::string& why) {
  const std::string how_long = state_.Exclude(key, round);
  FSD_LOG(WARNING) << "round " << round << ": client " << registry_.NameOf(key) << " " << why
                   << "; left out of " << how_long;
}

nlohmann::json RoundStateMachine::ExcludeDisputants(std::uint64_t round) {
  const auto disputes = secure_->disputes();
  nlohmann::json named = nlohmann::json::array();
  for (const auto& [accuser, accused] : disputes) {
    named.push_back(
        {{"accuser", registry_.NameOf(accuser)}, {"accused", registry_.NameOf(accused)}});
  }
  for (const auto& key : Disputants(disputes)) {
    Exclude(key, round, "is party to a dispute over sealed key shares it cannot win");
  }
  return named;
}

void RoundStateMachine::RetrySecure(const std::string& reason) {
  // A dispute stands whether or not the attempt goes on.
  ExcludeDisputants(state_.committed_round + 1);
  const auto incomplete = secure_->Incomplete();
  for (const auto& key : incomplete) missed_.insert(key);
  FSD_LOG(WARNING) << "round " << state_.committed_round + 1 << " attempt " << attempt_ + 1 << ": "
                   << reason << "; model untouched, retrying without " << incomplete.size()
                   << " client(s) that did not complete their stage";
  ++attempt_;
  secure_.reset();
  selected_.clear();
  staged_.clear();
  phase_ = Phase::kWaiting;
}

void RoundStateMachine::AdvanceSecure() {
  SecureRound::Outbox outbox;
  const bool due = !secure_->Waiting(selected_) || StageDue();
  switch (phase_) {
    case Phase::kAdvertising:
      if (!due) return;
      if (!secure_->CloseAdvertise(outbox)) return RetrySecure(secure_->failure_reason());
      return SendSecure(std::move(outbox), Phase::kSharingKeys);
    case Phase::kSharingKeys:
      if (!due) return;
      if (!secure_->CloseShareKeys(outbox)) return RetrySecure(secure_->failure_reason());
      return SendSecure(std::move(outbox), Phase::kMaskedInput);
    case Phase::kMaskedInput:
      if (ShouldClose()) CloseRound();
      return;
    case Phase::kUnmasking:
      if (!due) return;
      // Survivors have revealed shares: whatever happens now, this round is
      // never attempted again (a second sum over the same updates minus one
      // client would be that client's update).
      if (!secure_->Finish()) {
        return Commit(SecondsBetween(round_started_, clock_.Now()), secure_->failure_reason());
      }
      return Commit(SecondsBetween(round_started_, clock_.Now()));
    case Phase::kWaiting:
    case Phase::kCollecting:
      return;
  }
}

void RoundStateMachine::OnClientGone(const std::string& key, const char* why) {
  FSD_LOG(INFO) << "client " << registry_.NameOf(key) << " " << why;
  // A sampled client that is gone before reporting will not report.
  if (phase_ != Phase::kWaiting && !staged_.contains(key) && selected_.erase(key) > 0) {
    missed_.insert(key);
  }
  registry_.Leave(key);
}

void RoundStateMachine::Tick() {
  const auto now = clock_.Now();
  // The owner thread's CPU clock (this may have been built on another thread).
  if (cpu_mark_ < 0.0) cpu_mark_ = ThreadCpuSeconds();
  for (const auto& key : registry_.Expire(now)) {
    FSD_LOG(WARNING) << "client " << registry_.NameOf(key) << " timed out";
    if (phase_ != Phase::kWaiting && !staged_.contains(key) && selected_.erase(key) > 0) {
      missed_.insert(key);
    }
  }
  if (done()) return;
  if (phase_ == Phase::kWaiting &&
      registry_.num_joined() >=
          std::max<std::size_t>(static_cast<std::size_t>(options_.federation.min_clients),
                                MinimumUpdates())) {
    StartRound();
  }
  if (secure_) {
    AdvanceSecure();
  } else if (phase_ == Phase::kCollecting && ShouldClose()) {
    CloseRound();
  }
}

bool RoundStateMachine::BudgetAllowsNextRound() {
  auto refusal = sampler_->RefusalOfNextDraw(state_.committed_round + 1);
  if (!refusal) return true;
  stop_reason_ = std::move(*refusal);
  stop_kind_ = StopKind::kPrivacyBudget;
  FSD_LOG(WARNING) << stop_reason_ << "; stopping";
  return false;
}

void RoundStateMachine::StartRound() {
  const std::uint64_t round = state_.committed_round + 1;
  if (!BudgetAllowsNextRound()) return;
  // Culprits of secure rounds sit out their exclusion.
  std::vector<std::string> joined;
  for (const auto& key : registry_.JoinedByName()) {
    if (!state_.Excluded(key, round)) joined.push_back(key);
  }
  std::vector<std::string> candidates;
  for (const auto& key : joined) {
    if (!missed_.contains(key)) candidates.push_back(key);
  }
  if (candidates.size() < std::max<std::size_t>(1, MinimumUpdates())) {
    // Too many joined clients missed this round (a deadline too short for all
    // of them, say): leaving them out would stall the federation for good.
    FSD_LOG(WARNING) << "round " << round << ": " << candidates.size()
                     << " joined clients have not missed it, a round needs " << MinimumUpdates()
                     << "; sampling them all again";
    missed_.clear();
    candidates = joined;
    if (candidates.size() < std::max<std::size_t>(1, MinimumUpdates())) {
      // Excluded culprits aside, too few clients: wait for more to join.
      FSD_LOG(DEBUG) << "round " << round << ": " << candidates.size()
                     << " clients may take part; waiting";
      return;
    }
  }
  // Seeded by (seed, round, attempt) over clients in name order: a resumed or
  // retried run samples the same way.
  auto draw =
      sampler_->Draw(candidates, registry_.num_enrolled(), MinimumUpdates(), round, attempt_);
  if (!draw) {
    ++attempt_;
    return;
  }
  candidates = std::move(draw->cohort);
  target_ = draw->target;
  selected_ = std::set<std::string>(candidates.begin(), candidates.end());
  sampled_ = selected_.size();
  // A declaration is fixed the first time the client is sampled in this round.
  for (const auto& key : selected_) {
    const ClientRecord* record = registry_.Find(key);
    declared_.try_emplace(key, record->declared_samples);
    subnets_.try_emplace(key, SubnetFor(record->max_exit));
  }
  resends_.clear();
  refused_updates_.clear();
  refusals_.clear();
  staged_.clear();
  bytes_ = RoundBytes{};
  state_.UpdateMask(round);
  BuildViews(round);
  // The schedules see the logits aggregated up to the previous round.
  const aggregation::RoundContext context{round,
                                          static_cast<std::uint64_t>(options_.federation.rounds),
                                          state_.soft_state.empty() ? nullptr : &state_.soft_state};
  temperature_ = options_.temperature->At(context);
  alpha_ = options_.alpha.At(context);
  beta_ = options_.beta.At(context);
  lr_factor_ = options_.lr.At(context);
  soft_targets_.clear();
  soft_target_entropy_ = 0.0;
  if (!state_.soft_state.empty()) {
    soft_target_entropy_ = aggregation::MeanEntropy(state_.soft_state, temperature_);
    if (beta_ > 0.0) soft_targets_ = aggregation::SoftenRows(state_.soft_state, temperature_);
  }
  phase_ = Phase::kCollecting;
  round_started_ = clock_.Now();
  if (options_.secure_aggregation.enabled) {
    // Ids in (name, key) order; weights from the declarations, as the
    // aggregation rule would weigh the updates.
    std::vector<std::pair<std::string, std::string>> ordered;
    for (const auto& key : selected_) ordered.emplace_back(registry_.NameOf(key), key);
    std::sort(ordered.begin(), ordered.end());
    SecureRoundSetup setup;
    setup.round = round;
    std::vector<std::int64_t> samples;
    for (const auto& [name, key] : ordered) {
      setup.cohort.push_back(key);
      samples.push_back(declared_.at(key));
      setup.total_samples += declared_.at(key);
    }
    setup.weights = aggregation::ClientWeights(options_.aggregation.weighting, samples,
                                               options_.aggregation.max_weight_ratio);
    // Under DP only what the clients noised may be learned: no exact summary
    // in the sum, but their private summary records after the deltas
    // (privacy::SecureSummaryScale) when summaries are released.
    setup.kept = SharedView().kept + PrivateRecordLength(options_.privacy, options_.num_classes);
    setup.classes = options_.privacy.enabled ? 0 : options_.num_classes;
    if (options_.privacy.distributed)
      setup.withheld = wire::kWithheldSampleCount | wire::kWithheldTrainLoss;
    setup.mask_round = state_.mask_round;
    setup.max_train_loss = options_.limits.max_train_loss;
    setup.graph_seed = random::DeriveSeed(
        sampling_seed_, {.name = "secagg-graph", .round = round, .attempt = attempt_});
    setup.config = options_.secure_aggregation;
    secure_.emplace(std::move(setup));
    phase_ = Phase::kAdvertising;
    stage_started_ = round_started_;
  }
  FSD_LOG(DEBUG) << "round " << round << " attempt " << attempt_ + 1 << ": sampled "
                 << selected_.size() << " clients, waiting for " << target_;
  for (const auto& key : selected_) SendRoundStart(key);
}

model::Subnetwork RoundStateMachine::SubnetFor(std::uint32_t max_exit) const {
  const int exits = model::NumExits(options_.layout);
  const int deepest = max_exit == 0 ? exits : std::min(static_cast<int>(max_exit), exits);
  return {deepest, options_.main_head_only};
}

void RoundStateMachine::BuildViews(std::uint64_t round) {
  std::set<model::Subnetwork> subnets = {SubnetFor(0)};
  for (const auto& key : selected_) subnets.insert(subnets_.at(key));
  views_.clear();
  codec::EncodeOptions downlink = options_.downlink;
  downlink.seed = round;
  for (const auto& subnet : subnets) {
    SubnetView view;
    view.mask =
        aggregation::SubnetworkMask(state_.mask, options_.layout, subnet, state_.global.size());
    view.segments = aggregation::KeptPerTensor(options_.layout, view.mask);
    view.kept = aggregation::KeptCount(view.mask, state_.global.size());
    if (!distillation_only()) {
      view.values = codec::EncodeValues(aggregation::Gather(state_.global, view.mask),
                                        view.segments, downlink);
    }
    views_.emplace(subnet, std::move(view));
  }
}

const RoundStateMachine::SubnetView& RoundStateMachine::SharedView() const {
  return views_.at(SubnetFor(0));
}

void RoundStateMachine::SendRoundStart(const std::string& key) {
  ClientRecord* record = registry_.Find(key);
  FSD_CHECK(record != nullptr) << "ROUND_START to a client that has not joined";
  wire::RoundStart start;
  start.temperature = temperature_;
  start.alpha = alpha_;
  start.beta = beta_;
  start.local_epochs = static_cast<std::uint32_t>(options_.local_epochs);
  start.mask_round = state_.mask_round;
  const model::Subnetwork& subnet = subnets_.at(key);
  start.subnet_exit = static_cast<std::uint32_t>(subnet.exit);
  start.subnet_heads = subnet.head_only ? 1 : 0;
  start.lr_factor = lr_factor_;
  if (!distillation_only()) start.global_values = views_.at(subnet).values;
  start.soft_targets = soft_targets_;
  if (secure_) start.secure = secure_->StartFor(key);
  if (options_.privacy.enabled) {
    // What each client's own ledger checks and counts (client/privacy_ledger.h).
    start.dp = {static_cast<std::uint64_t>(state_.ledger->draws()), options_.privacy.sampling_rate,
                options_.privacy.StepNoiseMultiplier()};
  }
  if (state_.mask_round != 0 && record->mask_round_sent != state_.mask_round) {
    start.mask = state_.encoded_mask;
    record->mask_round_sent = state_.mask_round;
  }
  bytes_.down_weights += SectionWireBytes(start.global_values);
  bytes_.down_mask += start.mask.count > 0 ? SectionWireBytes(start.mask) : 0;
  bytes_.down_soft_targets +=
      static_cast<std::int64_t>(wire::kTensorHeaderBytes + start.soft_targets.size() * 4);
  auto frame = wire::EncodeFrame({state_.committed_round + 1, std::move(start)});
  bytes_.down += static_cast<std::int64_t>(frame.size());
  outgoing_.push_back({record->routing_id, std::move(frame)});
}

bool RoundStateMachine::ShouldClose() const {
  if (secure_) {
    const std::size_t masked = secure_->figures()[2].clients;
    return masked >= target_ || !secure_->Waiting(selected_) ||
           SecondsBetween(round_started_, clock_.Now()) > options_.federation.round_deadline_s;
  }
  if (staged_.size() >= target_) return true;  // over-selection: the first k close it
  if (std::all_of(selected_.begin(), selected_.end(),
                  [&](const std::string& key) { return staged_.contains(key); })) {
    return true;  // everyone still sampled reported
  }
  return SecondsBetween(round_started_, clock_.Now()) > options_.federation.round_deadline_s;
}

std::size_t RoundStateMachine::MinimumUpdates() const {
  // Secure aggregation needs two clients at least to hide one.
  if (options_.secure_aggregation.enabled) {
    return std::max<std::size_t>(2, options_.privacy.distributed
                                        ? static_cast<std::size_t>(options_.privacy.min_survivors)
                                        : 0);
  }
  // Central DP releases even an empty cohort (noise alone); distributed DP
  // needs min_survivors reports for the noise to add up.
  if (options_.privacy.enabled) {
    return options_.privacy.distributed ? static_cast<std::size_t>(options_.privacy.min_survivors)
                                        : 0;
  }
  return distillation_only() ? 1 : aggregation::MinimumInputs(options_.aggregation);
}

std::size_t RoundStateMachine::Quorum() const {
  return std::max<std::size_t>(
      MinimumUpdates(),
      static_cast<std::size_t>(std::ceil(options_.federation.quorum * target_ - 1e-9)));
}

void RoundStateMachine::CloseRound() {
  const double collect_s = SecondsBetween(round_started_, clock_.Now());
  if (secure_) {
    const std::size_t masked = secure_->figures()[2].clients;
    if (masked < Quorum()) {
      return RetrySecure(std::to_string(masked) + " of " + std::to_string(target_) +
                         " masked inputs, quorum " + std::to_string(Quorum()));
    }
    unreported_ = selected_.size() > masked ? selected_.size() - masked : 0;
    SecureRound::Outbox outbox;
    if (!secure_->CloseMaskedInput(outbox)) return RetrySecure(secure_->failure_reason());
    return SendSecure(std::move(outbox), Phase::kUnmasking);
  }
  // Whoever was sampled and did not report is left out of this round's retries.
  unreported_ = 0;
  for (const auto& key : selected_) {
    if (staged_.contains(key)) continue;
    missed_.insert(key);
    ++unreported_;
  }
  const std::size_t beyond_limits = BeyondLimits();
  if (staged_.empty() && beyond_limits > 0 && beyond_limits >= Quorum()) {
    // Every update this model trains into lies beyond [limits]: no retry can
    // commit a round from it (the model itself passed DivergenceOf).
    stop_reason_ = "round " + std::to_string(state_.committed_round + 1) + ": every update (" +
                   std::to_string(beyond_limits) +
                   " clients) was refused for values beyond [limits] (limits.max_abs_value " +
                   "and max_abs_logit): the global model of round " +
                   std::to_string(state_.committed_round) +
                   " trains into divergence; stopped (a robust aggregation.rule or a smaller " +
                   "training.lr keeps a federation within them)";
    stop_kind_ = StopKind::kDiverged;
    FSD_LOG(ERROR) << stop_reason_;
    return;
  }
  if (staged_.size() < Quorum()) {
    FSD_LOG(WARNING) << "round " << state_.committed_round + 1 << ": " << staged_.size() << " of "
                     << target_ << " updates, quorum " << Quorum()
                     << (staged_.size() < MinimumUpdates()
                             ? std::string(" (") +
                                   (options_.privacy.enabled
                                        ? std::string("privacy.min_survivors")
                                        : aggregation::RuleName(options_.aggregation.rule)) +
                                   " needs at least " + std::to_string(MinimumUpdates()) + ")"
                             : std::string())
                     << RefusalSummary() << "; retrying without " << missed_.size()
                     << " client(s) that missed it";
    ++attempt_;
    selected_.clear();
    staged_.clear();
    phase_ = Phase::kWaiting;
    return;
  }
  Commit(collect_s);
}

RoundStateMachine::Aggregated RoundStateMachine::AggregatePlain() {
  const std::uint64_t round = state_.committed_round + 1;
  const int exits = model::NumExits(options_.layout);
  // Sum in (name, key) order so the result depends neither on arrival order
  // nor on freshly generated keys: a resumed simulation reproduces the bits.
  std::vector<std::pair<std::string, const Staged*>> ordered;
  for (const auto& [key, staged] : staged_) ordered.emplace_back(staged.name + "\n" + key, &staged);
  std::sort(ordered.begin(), ordered.end());
  std::vector<std::int64_t> samples;
  // (Withheld counts under distributed DP, where weighting is uniform.)
  for (const auto& [order, staged] : ordered)
    samples.push_back(staged->update.withheld ? 1 : staged->update.sample_count);
  const std::vector<double> weights = aggregation::ClientWeights(
      options_.aggregation.weighting, samples, options_.aggregation.max_weight_ratio);
  Aggregated out;
  // Soft-target summaries describe the main exit: those of clients that
  // trained a shallower sub-network (their own deepest exit) are not aggregated.
  RoundUpdates updates;
  updates.round = round;
  updates.shared_mask = &SharedView().mask;
  std::vector<std::size_t> by_exit(static_cast<std::size_t>(exits), 0);
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    const Staged& staged = *ordered[i].second;
    const StagedUpdate& update = staged.update;
    updates.inputs.push_back({update.kept, weights[i]});
    if (!distillation_only())
      updates.partial.push_back({update.kept, &views_.at(staged.subnet).mask, weights[i]});
    if (staged.subnet.exit == exits) {
      updates.summaries.push_back(&update.summary);
      updates.private_records.push_back(&update);
      updates.class_counts.push_back(update.summary.counts);
      updates.summary_weights.push_back(weights[i]);
      updates.summary_samples.push_back(update.sample_count);
    }
    ++by_exit[static_cast<std::size_t>(staged.subnet.exit - 1)];
    out.loss_sum += update.train_loss * weights[i];
    out.weight_sum += weights[i];
    out.sample_sum += update.sample_count;
    out.withheld = update.withheld;
    out.names.push_back(staged.name);
    if (weights[i] > out.max_weight) {
      out.max_weight = weights[i];
      out.heaviest = staged.name;
    }
  }
  out.reported = ordered.size();
  Released released = release_->FromUpdates(updates, state_);
  out.report = std::move(released.report);
  out.extra = std::move(released.fields);
  nlohmann::json selected = nlohmann::json::array();
  for (const auto index : out.report.selected) selected.push_back(ordered[index].second->name);
  out.extra["krum_selected"] = selected;
  out.extra["clients_by_exit"] = by_exit;
  return out;
}

RoundStateMachine::Aggregated RoundStateMachine::AggregateSecure() {
  const privacy::SecureSum& sum = secure_->result();
  Aggregated out;
  std::uint64_t clamped = 0;
  out.withheld = options_.privacy.distributed;
  for (const auto& report : secure_->survivors()) {
    out.loss_sum += report.train_loss * report.weight;
    out.weight_sum += report.weight;
    out.sample_sum += report.sample_count;
    out.names.push_back(registry_.NameOf(report.key));
    clamped += report.clamped;
    if (report.weight > out.max_weight) {
      out.max_weight = report.weight;
      out.heaviest = out.names.back();
    }
  }
  std::sort(out.names.begin(), out.names.end());
  out.reported = out.names.size();
  out.extra = release_->FromSecureSum(sum, out.reported, SharedView().mask, state_).fields;
  CloseSecureStage();
  out.extra["secure_aggregation"] = secure_->Record(out.reported, clamped);
  out.extra["secagg_clamped"] = clamped;
  return out;
}

std::size_t RoundStateMachine::reported() const {
  if (!secure_) return staged_.size();
  return secure_->figures()[static_cast<int>(SecureRound::Stage::kMaskedInput)].clients;
}

void RoundStateMachine::Commit(double collect_s, std::optional<std::string> failure) {
  const std::uint64_t round = state_.committed_round + 1;
  const std::vector<float> before =
      distillation_only() ? std::vector<float>{} : aggregation::Gather(state_.global, state_.mask);
  const bool stepping =
      !failure && state_.server_optimizer.kind() != aggregation::ServerOptimizerKind::kNone;
  const std::vector<float> dense_before = stepping ? state_.global : std::vector<float>{};
  // The last good state, should this round's model diverge.
  const FederationState::Snapshot last_good = state_.Save();
  Aggregated aggregated;
  // Clients that revealed wrong shares: named, and left out of the next rounds.
  const std::vector<std::string> culprits =
      secure_ ? secure_->culprits() : std::vector<std::string>{};
  if (failure) {
    FSD_LOG(WARNING) << "round " << round << " attempt " << attempt_ + 1 << ": " << *failure
                     << "; shares were revealed, so the round is not attempted again: model "
                        "untouched, next round with a new cohort";
    CloseSecureStage();
    aggregated.extra = {{"outcome", "failed"},
                        {"failure", *failure},
                        {"secure_aggregation", secure_->Record(0, 0)}};
    // The coordinator may have learned something from the reveals: under
    // distributed DP the round's draw was charged like any other.
    aggregated.extra.update(release_->Record(state_));
  } else {
    aggregated = secure_ ? AggregateSecure() : AggregatePlain();
    aggregated.extra["outcome"] = "committed";
  }
  if (stepping) state_.StepServerOptimizer(dense_before);
  if (secure_) {
    nlohmann::json named = nlohmann::json::array();
    for (const auto& key : culprits) {
      named.push_back(registry_.NameOf(key));
      Exclude(key, round, "revealed a wrong unmask share");
    }
    aggregated.extra["secure_culprits"] = named;
    aggregated.extra["secure_disputes"] = ExcludeDisputants(round);
  }
  if (auto divergence = failure ? std::nullopt : state_.DivergenceOf()) {
    state_.Rollback(last_good);
    // The round is written (with the last good model, and under DP its
    // charge) either way, so a resumed run does not release it again.
    aggregated.extra["outcome"] = "rolled_back";
    aggregated.extra["failure"] = "diverged: " + *divergence;
    if (options_.federation.on_divergence == config::DivergencePolicy::kStop) {
      stop_reason_ = "round " + std::to_string(round) + ": the global model diverged (" +
                     *divergence + "); stopped with the model of round " +
                     std::to_string(state_.committed_round) +
                     " (federation.on_divergence = \"rollback\" goes on from it instead)";
      stop_kind_ = StopKind::kDiverged;
      FSD_LOG(ERROR) << stop_reason_;
    } else {
      FSD_LOG(WARNING) << "round " << round << ": the global model diverged (" << *divergence
                       << "); rolled back to the model of round " << state_.committed_round;
    }
  }
  const double loss_sum = aggregated.loss_sum, weight_sum = aggregated.weight_sum,
               max_weight = aggregated.max_weight;
  const std::int64_t sample_sum = aggregated.sample_sum;
  const aggregation::AggregateReport& report = aggregated.report;
  // How far the global model moved: the RMS change over the kept coordinates.
  double change_squares = 0.0;
  if (!distillation_only()) {
    const std::vector<float> moved = aggregation::Gather(state_.global, state_.mask);
    for (std::size_t i = 0; i < moved.size(); ++i) {
      const double d = static_cast<double>(moved[i]) - before[i];
      change_squares += d * d;
    }
  }
  const double global_change_rms =
      before.empty() ? 0.0 : std::sqrt(change_squares / static_cast<double>(before.size()));
  const double cpu_s = cpu_mark_ >= 0.0 ? ThreadCpuSeconds() - cpu_mark_ : 0.0;
  const auto eval_start = clock_.Now();
  const std::vector<double> accuracy =
      evaluator_ && !distillation_only() ? evaluator_(state_.global) : std::vector<double>{};
  const double eval_s = SecondsBetween(eval_start, clock_.Now());
  state_.committed_round = round;
  nlohmann::json rejects = nlohmann::json::object();
  for (const auto& [code, count] : rejects_) rejects[wire::RejectCodeName(code)] = count;
  nlohmann::json record = {
      {"round", round},
      {"acc", accuracy},
      {"loss", weight_sum > 0.0 && !aggregated.withheld ? nlohmann::json(loss_sum / weight_sum)
                                                        : nlohmann::json()},
      {"temperature", temperature_},
      {"alpha", alpha_},
      {"beta", beta_},
      {"lr_factor", lr_factor_},
      {"soft_target_entropy", soft_target_entropy_},
      {"soft_targets_sent", !soft_targets_.empty()},
      {"sparsity", aggregation::SparsityOf(state_.mask, options_.layout)},
      {"mask_round", state_.mask_round},
      {"bytes_up", bytes_.up},
      {"bytes_up_weights", bytes_.up_weights},
      {"bytes_up_summary", bytes_.up_summary},
      {"bytes_up_control", bytes_.up - bytes_.up_weights - bytes_.up_summary},
      {"bytes_down", bytes_.down},
      {"bytes_down_weights", bytes_.down_weights},
      {"bytes_down_mask", bytes_.down_mask},
      {"bytes_down_soft_targets", bytes_.down_soft_targets},
      {"bytes_down_control",
       bytes_.down - bytes_.down_weights - bytes_.down_mask - bytes_.down_soft_targets},
      {"clients_selected", sampled_},
      {"clients_reported", aggregated.reported},
      {"clients_missed", missed_.size()},
      {"clients_unreported", unreported_},
      {"target", target_},
      {"quorum", Quorum()},
      {"samples", aggregated.withheld ? nlohmann::json() : nlohmann::json(sample_sum)},
      {"weighting", aggregation::WeightingName(options_.aggregation.weighting)},
      {"max_weight_share",
       weight_sum > 0.0 ? nlohmann::json(max_weight / weight_sum) : nlohmann::json()},
      {"max_weight_client", aggregated.heaviest},
      {"rule", aggregation::RuleName(options_.aggregation.rule)},
      {"summary_rule", aggregation::SummaryRuleName(options_.aggregation.summary_rule)},
      {"server_optimizer", aggregation::ServerOptimizerName(state_.server_optimizer.kind())},
      {"clipped", report.clipped},
      {"trimmed", report.trimmed},
      {"clip_bound", report.clip_bound},
      {"global_change_rms", global_change_rms},
      {"attempts", attempt_ + 1},
      {"collect_s", collect_s},
      {"eval_s", eval_s},
      {"coordinator_cpu_s", cpu_s},
      {"round_s", collect_s + eval_s},
      {"wall_s", SecondsBetween(run_started_, clock_.Now())},
      {"rejects", rejects}};
  record.update(aggregated.extra);
  if (options_.round_annotations) {
    record.update(options_.round_annotations(round, aggregated.names));
  }
  // Metrics first, then the checkpoint commits the round (round_store.h).
  store_.Commit(record, state_.ToCheckpoint());
  if (listener_) listener_(record);
  cpu_mark_ = ThreadCpuSeconds();
  attempt_ = 0;
  staged_.clear();
  secure_.reset();
  selected_.clear();
  missed_.clear();
  declared_.clear();
  subnets_.clear();
  refused_updates_.clear();
  phase_ = Phase::kWaiting;
}

std::size_t RoundStateMachine::BeyondLimits() const {
  const auto count = [&](wire::RejectCode code) {
    const auto found = refusals_.find(code);
    return found == refusals_.end() ? 0 : found->second;
  };
  // Each refused client counted once, however many of its updates were refused.
  const auto refused = static_cast<std::size_t>(count(wire::RejectCode::kInvalidValue) +
                                                count(wire::RejectCode::kNonFinite));
  return refused == static_cast<std::size_t>(std::accumulate(
                        refusals_.begin(), refusals_.end(), 0,
                        [](int sum, const auto& entry) { return sum + entry.second; }))
             ? refused_updates_.size()
             : 0;
}

std::string RoundStateMachine::RefusalSummary() const {
  if (refusals_.empty()) return {};
  std::ostringstream out;
  out << "; refused updates:";
  for (const auto& [code, count] : refusals_)
    out << " " << wire::RejectCodeName(code) << " x" << count;
  out << " from " << refused_updates_.size() << " client(s)";
  return out.str();
}

nlohmann::json RoundStateMachine::privacy_spent() const {
  if (!options_.privacy.enabled) return nullptr;
  return {{"epsilon", state_.ledger->Spent().epsilon},
          {"delta", options_.privacy.delta},
          {"privacy_steps", state_.ledger->draws()}};
}

void RoundStateMachine::SayGoodbye(const std::string& reason) {
  for (const auto& key : registry_.JoinedByName()) {
    Send(registry_.Find(key)->routing_id, {state_.committed_round, wire::Bye{reason}});
  }
}

std::vector<Outgoing> RoundStateMachine::TakeOutgoing() { return std::exchange(outgoing_, {}); }

void RoundStateMachine::Send(const std::string& routing_id, const wire::Message& message) {
  outgoing_.push_back({routing_id, wire::EncodeFrame(message)});
}

void RoundStateMachine::SendReject(const Peer& peer, RejectCode code, const std::string& text,
                                   bool log) {
  ++rejects_[code];
  if (log) {
    FSD_LOG(WARNING) << "rejected a message from " << registry_.NameOf(peer.identity) << ": "
                     << wire::RejectCodeName(code) << " " << text;
  } else {
    FSD_LOG(DEBUG) << "rejected a message from " << registry_.NameOf(peer.identity) << ": "
                   << wire::RejectCodeName(code) << " " << text;
  }
  Send(peer.routing_id, {state_.committed_round + 1, wire::Reject{code, text}});
}

std::map<std::string, std::int64_t> RoundStateMachine::reject_counts() const {
  std::map<std::string, std::int64_t> counts;
  for (const auto& [code, count] : rejects_) counts[wire::RejectCodeName(code)] = count;
  return counts;
}

}  // namespace fsd::coordinator
