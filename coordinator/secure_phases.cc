#include "coordinator/secure_phases.h"

#include <algorithm>

#include "aggregation/weighting.h"
#include "common/log.h"
#include "common/random/streams.h"
#include "coordinator/waiting_phase.h"

namespace fsd::coordinator {

using wire::MessageKind;
using wire::RejectCode;

std::optional<wire::Reject> SecurePhase::Screen(const Peer& peer, MessageKind kind,
                                                std::size_t frame_bytes) const {
  if (kind == MessageKind::kUpdate) return RoundPhase::Screen(peer, kind, frame_bytes);
  if (!secure_->round.member(peer.identity) || !secure_->attempt->selected.contains(peer.identity))
    return wire::Reject{RejectCode::kRoundClosed, "not in this secure round's cohort"};
  if (auto refusal = RefusalFor(phase(), kind)) {
    return wire::Reject{*refusal, std::string(wire::MessageKindName(kind)) +
                                      " is not accepted while " + PhaseName(phase())};
  }
  const std::size_t limit = kind == MessageKind::kSecAggMasked
                                ? secure_->round.masked_frame_bytes()
                                : wire::kEnvelopeBytes + context_.limits.max_payload_bytes;
  if (frame_bytes > limit)
    return wire::Reject{RejectCode::kLimitExceeded, FrameTooLarge(kind, frame_bytes, limit)};
  return std::nullopt;
}

void SecurePhase::OnMessage(const Peer& peer, wire::Body& body, std::size_t frame_bytes) {
  const std::string& key = peer.identity;
  SecureRound& round = secure_->round;
  std::optional<wire::Reject> refusal;
  if (const auto* keys = std::get_if<wire::SecAggKeys>(&body)) {
    refusal = round.OnKeys(key, *keys, frame_bytes);
  } else if (const auto* shares = std::get_if<wire::SecAggShares>(&body)) {
    refusal = round.OnShares(key, *shares, frame_bytes);
  } else if (const auto* masked = std::get_if<wire::SecAggMasked>(&body)) {
    refusal = round.OnMasked(key, *masked, context_.retries.declared.at(key), frame_bytes);
  } else if (const auto* reveal = std::get_if<wire::SecAggReveal>(&body)) {
    refusal = round.OnReveal(key, *reveal, frame_bytes);
  }
  if (refusal) return context_.SendReject(peer, refusal->code, refusal->text);
  secure_->attempt->bytes.up += static_cast<std::int64_t>(frame_bytes);
}

std::size_t SecurePhase::reported() const {
  return secure_->round.figures()[static_cast<int>(SecureRound::Stage::kMaskedInput)].clients;
}

bool SecurePhase::StageDue() const {
  return !secure_->round.Waiting(secure_->attempt->selected) ||
         SecondsBetween(secure_->stage_started, context_.clock.Now()) >
             context_.options.secure_aggregation.stage_deadline_s;
}

void SecurePhase::CloseStage() {
  secure_->round.SetStageSeconds(stage(),
                                 SecondsBetween(secure_->stage_started, context_.clock.Now()));
}

template <typename Next>
std::unique_ptr<RoundPhase> SecurePhase::Advance(SecureRound::Outbox outbox) {
  RoundAttempt& attempt = *secure_->attempt;
  for (auto& [key, body] : outbox) {
    const ClientRecord* record = context_.registry.Find(key);
    if (record == nullptr) continue;  // gone since its last message
    auto frame = wire::EncodeFrame({attempt.round, std::move(body)});
    attempt.bytes.down += static_cast<std::int64_t>(frame.size());
    context_.outgoing.push_back({record->routing_id, std::move(frame)});
  }
  CloseStage();
  secure_->stage_started = context_.clock.Now();
  return std::make_unique<Next>(context_, std::move(secure_));
}

std::unique_ptr<RoundPhase> SecurePhase::Retry(const std::string& reason) {
  // A dispute stands whether or not the attempt goes on.
  ExcludeDisputants();
  const auto incomplete = secure_->round.Incomplete();
  for (const auto& key : incomplete) context_.retries.missed.insert(key);
  FSD_LOG(WARNING) << "round " << secure_->attempt->round << " attempt "
                   << context_.retries.attempt + 1 << ": " << reason
                   << "; model untouched, retrying without " << incomplete.size()
                   << " client(s) that did not complete their stage";
  ++context_.retries.attempt;
  return std::make_unique<WaitingPhase>(context_);
}

nlohmann::json SecurePhase::ExcludeDisputants() {
  const auto disputes = secure_->round.disputes();
  nlohmann::json named = nlohmann::json::array();
  for (const auto& [accuser, accused] : disputes) {
    named.push_back({{"accuser", context_.registry.NameOf(accuser)},
                     {"accused", context_.registry.NameOf(accused)}});
  }
  for (const auto& key : Disputants(disputes)) {
    context_.Exclude(key, secure_->attempt->round,
                     "is party to a dispute over sealed key shares it cannot win");
  }
  return named;
}

std::unique_ptr<RoundPhase> AdvertisingPhase::Open(RoundContext& context,
                                                   std::unique_ptr<RoundAttempt> attempt) {
  const CoordinatorOptions& options = context.options;
  // Ids in (name, key) order; weights from the declarations, as the
  // aggregation rule would weigh the updates.
  std::vector<std::pair<std::string, std::string>> ordered;
  for (const auto& key : attempt->selected) ordered.emplace_back(context.registry.NameOf(key), key);
  std::sort(ordered.begin(), ordered.end());
  SecureRoundSetup setup;
  setup.round = attempt->round;
  std::vector<std::int64_t> samples;
  for (const auto& [name, key] : ordered) {
    setup.cohort.push_back(key);
    samples.push_back(context.retries.declared.at(key));
    setup.total_samples += context.retries.declared.at(key);
  }
  setup.weights = aggregation::ClientWeights(options.aggregation.weighting, samples,
                                             options.aggregation.max_weight_ratio);
  // Under DP only what the clients noised may be learned: no exact summary
  // in the sum, but their private summary records after the deltas
  // (privacy::SecureSummaryScale) when summaries are released.
  setup.kept =
      attempt->SharedView().kept + PrivateRecordLength(options.privacy, options.num_classes);
  setup.classes = options.privacy.enabled ? 0 : options.num_classes;
  if (options.privacy.distributed)
    setup.withheld = wire::kWithheldSampleCount | wire::kWithheldTrainLoss;
  setup.mask_round = context.state.mask_round;
  setup.max_train_loss = options.limits.max_train_loss;
  setup.graph_seed = random::DeriveSeed(
      context.sampling_seed,
      {.name = "secagg-graph", .round = attempt->round, .attempt = context.retries.attempt});
  setup.config = options.secure_aggregation;
  const Clock::TimePoint started = attempt->started;
  auto secure = std::make_unique<SecureAttempt>(
      SecureAttempt{std::move(attempt), SecureRound(std::move(setup)), started});
  for (const auto& key : secure->attempt->selected) {
    const wire::SecAggStart block = secure->round.StartFor(key);
    secure->attempt->SendRoundStart(context, key, &block);
  }
  return std::make_unique<AdvertisingPhase>(context, std::move(secure));
}

std::unique_ptr<RoundPhase> AdvertisingPhase::Tick() {
  if (!StageDue()) return nullptr;
  SecureRound::Outbox outbox;
  if (!secure_->round.CloseAdvertise(outbox)) return Retry(secure_->round.failure_reason());
  return Advance<SharingKeysPhase>(std::move(outbox));
}

std::unique_ptr<RoundPhase> SharingKeysPhase::Tick() {
  if (!StageDue()) return nullptr;
  SecureRound::Outbox outbox;
  if (!secure_->round.CloseShareKeys(outbox)) return Retry(secure_->round.failure_reason());
  return Advance<MaskedInputPhase>(std::move(outbox));
}

std::optional<wire::Reject> MaskedInputPhase::Screen(const Peer& peer, MessageKind kind,
                                                     std::size_t frame_bytes) const {
  if (kind != MessageKind::kUpdate) return SecurePhase::Screen(peer, kind, frame_bytes);
  return wire::Reject{RejectCode::kUnexpectedKind,
                      "this round uses secure aggregation: SECAGG_MASKED, not UPDATE"};
}

std::unique_ptr<RoundPhase> MaskedInputPhase::Tick() {
  const RoundAttempt& attempt = *secure_->attempt;
  const std::size_t masked = reported();
  // Closes like a plain round: the target reached, nobody present still
  // owes a masked input, or the round's deadline.
  if (masked < attempt.target && secure_->round.Waiting(attempt.selected) &&
      SecondsBetween(attempt.started, context_.clock.Now()) <=
          context_.options.federation.round_deadline_s) {
    return nullptr;
  }
  const std::size_t quorum = context_.Quorum(attempt.target);
  if (masked < quorum) {
    return Retry(std::to_string(masked) + " of " + std::to_string(attempt.target) +
                 " masked inputs, quorum " + std::to_string(quorum));
  }
  secure_->attempt->unreported =
      attempt.selected.size() > masked ? attempt.selected.size() - masked : 0;
  SecureRound::Outbox outbox;
  if (!secure_->round.CloseMaskedInput(outbox)) return Retry(secure_->round.failure_reason());
  return Advance<UnmaskingPhase>(std::move(outbox));
}

std::unique_ptr<RoundPhase> UnmaskingPhase::Tick() {
  if (!StageDue()) return nullptr;
  SecureRound& round = secure_->round;
  const RoundAttempt& attempt = *secure_->attempt;
  RoundCommitter committer(context_);
  RoundResult result;
  // Survivors have revealed shares: whatever happens now, this round is
  // never attempted again.
  const bool failed = !round.Finish();
  const double collect_s = SecondsBetween(attempt.started, context_.clock.Now());
  if (failed) {
    FSD_LOG(WARNING) << "round " << attempt.round << " attempt " << context_.retries.attempt + 1
                     << ": " << round.failure_reason()
                     << "; shares were revealed, so the round is not attempted again: model "
                        "untouched, next round with a new cohort";
    CloseStage();
    result.extra = {{"outcome", "failed"},
                    {"failure", round.failure_reason()},
                    {"secure_aggregation", round.Record(0, 0)}};
    // The coordinator may have learned something from the reveals: under
    // distributed DP the round's draw was charged like any other.
    result.extra.update(context_.release->Record(context_.state));
  } else {
    result = Release();
    result.extra["outcome"] = "committed";
  }
  // Clients that revealed wrong shares: named, and left out of the next rounds.
  nlohmann::json culprits = nlohmann::json::array();
  for (const auto& key : round.culprits()) {
    culprits.push_back(context_.registry.NameOf(key));
    context_.Exclude(key, attempt.round, "revealed a wrong unmask share");
  }
  result.extra["secure_culprits"] = culprits;
  result.extra["secure_disputes"] = ExcludeDisputants();
  committer.Commit(attempt, std::move(result), collect_s, failed);
  return std::make_unique<WaitingPhase>(context_);
}

RoundResult UnmaskingPhase::Release() {
  const SecureRound& round = secure_->round;
  RoundResult out;
  std::uint64_t clamped = 0;
  out.withheld = context_.options.privacy.distributed;
  for (const auto& report : round.survivors()) {
    out.loss_sum += report.train_loss * report.weight;
    out.weight_sum += report.weight;
    out.sample_sum += report.sample_count;
    out.names.push_back(context_.registry.NameOf(report.key));
    clamped += report.clamped;
    if (report.weight > out.max_weight) {
      out.max_weight = report.weight;
      out.heaviest = out.names.back();
    }
  }
  std::sort(out.names.begin(), out.names.end());
  out.reported = out.names.size();
  out.extra = context_.release
                  ->FromSecureSum(round.result(), out.reported, secure_->attempt->SharedView().mask,
                                  context_.state)
                  .fields;
  CloseStage();
  out.extra["secure_aggregation"] = round.Record(out.reported, clamped);
  out.extra["secagg_clamped"] = clamped;
  return out;
}

}  // namespace fsd::coordinator
