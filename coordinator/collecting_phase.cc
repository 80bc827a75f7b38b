#include "coordinator/collecting_phase.h"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "aggregation/weighting.h"
#include "common/log.h"
#include "coordinator/waiting_phase.h"

namespace fsd::coordinator {

using wire::MessageKind;
using wire::RejectCode;

std::unique_ptr<RoundPhase> CollectingPhase::Open(RoundContext& context,
                                                  std::unique_ptr<RoundAttempt> attempt) {
  for (const auto& key : attempt->selected) attempt->SendRoundStart(context, key);
  return std::make_unique<CollectingPhase>(context, std::move(attempt));
}

CollectingPhase::CollectingPhase(RoundContext& context, std::unique_ptr<RoundAttempt> attempt)
    : RoundPhase(context), attempt_(std::move(attempt)) {}

std::optional<wire::Reject> CollectingPhase::Screen(const Peer& peer, MessageKind kind,
                                                    std::size_t frame_bytes) const {
  if (kind != MessageKind::kUpdate) return RoundPhase::Screen(peer, kind, frame_bytes);
  // A late update from an earlier attempt of this round: the round moved on.
  if (!attempt_->selected.contains(peer.identity))
    return wire::Reject{RejectCode::kRoundClosed,
                        "client not sampled in this attempt of the round"};
  if (staged_.contains(peer.identity))
    return wire::Reject{RejectCode::kDuplicate, "second update in this round"};
  if (staged_.size() >= attempt_->target)
    return wire::Reject{RejectCode::kRoundClosed, "the round has the updates it needs"};
  return std::nullopt;
}

void CollectingPhase::OnMessage(const Peer& peer, wire::Body& body, std::size_t frame_bytes) {
  // Screen() already refused unknown sessions, other rounds, unsampled
  // clients and duplicates; the validator checks the contents.
  const auto& update = std::get<wire::Update>(body);
  const CoordinatorOptions& options = context_.options;
  const model::Subnetwork subnet = context_.retries.subnets.at(peer.identity);
  const SubnetView& view = attempt_->views.at(subnet);
  const RoundExpectation expectation{context_.distillation_only(),
                                     context_.state.mask_round,
                                     view.segments,
                                     view.kept,
                                     options.privacy.distributed,
                                     options.privacy.distributed && options.privacy.summaries};
  auto result = context_.validator.Validate(
      update, expectation, context_.retries.declared.at(peer.identity), frame_bytes);
  if (auto* reject = std::get_if<wire::Reject>(&result)) {
    // Logged once per attempt, in Close()'s line, not once per client.
    context_.SendReject(peer, reject->code, "UPDATE: " + reject->text, /*log=*/false);
    ++refusals_[reject->code];
    // Each refused UPDATE cost a hash and a decode: after a few, the client
    // is out of this round, and its next UPDATE is refused on its envelope.
    if (++refused_updates_[peer.identity] >= options.limits.max_refused_updates) {
      FSD_LOG(WARNING) << "client " << context_.registry.NameOf(peer.identity) << ": "
                       << options.limits.max_refused_updates
                       << " refused updates; left out of round " << attempt_->round;
      attempt_->Drop(context_, peer.identity);
    }
    return;
  }
  auto& staged = std::get<StagedUpdate>(result);
  attempt_->bytes.up += staged.bytes;
  attempt_->bytes.up_weights += staged.weight_bytes;
  attempt_->bytes.up_summary += staged.summary_bytes;
  staged_.emplace(peer.identity,
                  Staged{context_.registry.NameOf(peer.identity), std::move(staged), subnet});
}

void CollectingPhase::OnRejoin(const Peer& peer) {
  // A sampled client that rejoins mid-round (it lost its ROUND_START, or
  // restarted) gets the round again — a bounded number of times.
  if (!attempt_->selected.contains(peer.identity) || staged_.contains(peer.identity)) return;
  const int limit = context_.options.limits.max_round_start_resends;
  int& resends = resends_[peer.identity];
  if (resends < limit) {
    ++resends;
    attempt_->SendRoundStart(context_, peer.identity);
  } else {
    FSD_LOG(WARNING) << "client " << context_.registry.NameOf(peer.identity) << " asked for round "
                     << attempt_->round << " more than " << limit << " times; not sent again";
  }
}

void CollectingPhase::OnClientGone(const std::string& key) {
  if (!staged_.contains(key)) attempt_->Drop(context_, key);
}

std::unique_ptr<RoundPhase> CollectingPhase::Tick() {
  if (!ShouldClose()) return nullptr;
  return Close();
}

bool CollectingPhase::ShouldClose() const {
  if (staged_.size() >= attempt_->target) return true;  // over-selection: the first k close it
  if (std::all_of(attempt_->selected.begin(), attempt_->selected.end(),
                  [&](const std::string& key) { return staged_.contains(key); })) {
    return true;  // everyone still sampled reported
  }
  return SecondsBetween(attempt_->started, context_.clock.Now()) >
         context_.options.federation.round_deadline_s;
}

std::unique_ptr<RoundPhase> CollectingPhase::Close() {
  RoundContext& context = context_;
  const double collect_s = SecondsBetween(attempt_->started, context.clock.Now());
  // Whoever was sampled and did not report is left out of this round's retries.
  attempt_->unreported = 0;
  for (const auto& key : attempt_->selected) {
    if (staged_.contains(key)) continue;
    context.retries.missed.insert(key);
    ++attempt_->unreported;
  }
  const std::size_t quorum = context.Quorum(attempt_->target);
  const std::size_t beyond_limits = BeyondLimits();
  if (staged_.empty() && beyond_limits > 0 && beyond_limits >= quorum) {
    // Every update this model trains into lies beyond [limits]: no retry can
    // commit a round from it (the model itself passed DivergenceOf).
    context.Stop(StopKind::kDiverged,
                 "round " + std::to_string(attempt_->round) + ": every update (" +
                     std::to_string(beyond_limits) +
                     " clients) was refused for values beyond [limits] (limits.max_abs_value " +
                     "and max_abs_logit): the global model of round " +
                     std::to_string(context.state.committed_round) +
                     " trains into divergence; stopped (a robust aggregation.rule or a smaller " +
                     "training.lr keeps a federation within them)");
    FSD_LOG(ERROR) << context.stop_reason;
    return nullptr;
  }
  if (staged_.size() < quorum) {
    const std::size_t minimum = context.MinimumUpdates();
    FSD_LOG(WARNING) << "round " << attempt_->round << ": " << staged_.size() << " of "
                     << attempt_->target << " updates, quorum " << quorum
                     << (staged_.size() < minimum
                             ? std::string(" (") +
                                   (context.options.privacy.enabled
                                        ? std::string("privacy.min_survivors")
                                        : aggregation::RuleName(context.options.aggregation.rule)) +
                                   " needs at least " + std::to_string(minimum) + ")"
                             : std::string())
                     << RefusalSummary() << "; retrying without " << context.retries.missed.size()
                     << " client(s) that missed it";
    ++context.retries.attempt;
    return std::make_unique<WaitingPhase>(context);
  }
  RoundCommitter committer(context);
  RoundResult result = Release();
  result.extra["outcome"] = "committed";
  committer.Commit(*attempt_, std::move(result), collect_s, /*failed=*/false);
  return std::make_unique<WaitingPhase>(context);
}

RoundResult CollectingPhase::Release() {
  const CoordinatorOptions& options = context_.options;
  const int exits = model::NumExits(options.layout);
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
      options.aggregation.weighting, samples, options.aggregation.max_weight_ratio);
  RoundResult out;
  // Soft-target summaries describe the main exit: those of clients that
  // trained a shallower sub-network (their own deepest exit) are not aggregated.
  RoundUpdates updates;
  updates.round = attempt_->round;
  updates.shared_mask = &attempt_->SharedView().mask;
  std::vector<std::size_t> by_exit(static_cast<std::size_t>(exits), 0);
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    const Staged& staged = *ordered[i].second;
    const StagedUpdate& update = staged.update;
    updates.inputs.push_back({update.kept, weights[i]});
    if (!context_.distillation_only())
      updates.partial.push_back({update.kept, &attempt_->views.at(staged.subnet).mask, weights[i]});
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
  Released released = context_.release->FromUpdates(updates, context_.state);
  out.report = std::move(released.report);
  out.extra = std::move(released.fields);
  nlohmann::json selected = nlohmann::json::array();
  for (const auto index : out.report.selected) selected.push_back(ordered[index].second->name);
  out.extra["krum_selected"] = selected;
  out.extra["clients_by_exit"] = by_exit;
  return out;
}

std::size_t CollectingPhase::BeyondLimits() const {
  const auto count = [&](RejectCode code) {
    const auto found = refusals_.find(code);
    return found == refusals_.end() ? 0 : found->second;
  };
  // Each refused client counted once, however many of its updates were refused.
  const auto refused =
      static_cast<std::size_t>(count(RejectCode::kInvalidValue) + count(RejectCode::kNonFinite));
  return refused == static_cast<std::size_t>(std::accumulate(
                        refusals_.begin(), refusals_.end(), 0,
                        [](int sum, const auto& entry) { return sum + entry.second; }))
             ? refused_updates_.size()
             : 0;
}

std::string CollectingPhase::RefusalSummary() const {
  if (refusals_.empty()) return {};
  std::ostringstream out;
  out << "; refused updates:";
  for (const auto& [code, count] : refusals_)
    out << " " << wire::RejectCodeName(code) << " x" << count;
  out << " from " << refused_updates_.size() << " client(s)";
  return out.str();
}

}  // namespace fsd::coordinator
