#include "coordinator/waiting_phase.h"

#include <algorithm>

#include "common/log.h"
#include "coordinator/collecting_phase.h"
#include "coordinator/secure_phases.h"

namespace fsd::coordinator {

std::unique_ptr<RoundPhase> WaitingPhase::Tick() {
  const std::size_t enough = std::max<std::size_t>(
      static_cast<std::size_t>(context_.options.federation.min_clients), context_.MinimumUpdates());
  if (context_.registry.num_joined() < enough) return nullptr;
  return StartAttempt();
}

std::unique_ptr<RoundPhase> WaitingPhase::StartAttempt() {
  RoundContext& context = context_;
  const std::uint64_t round = context.round();
  if (auto refusal = context.sampler->RefusalOfNextDraw(round)) {
    context.Stop(StopKind::kPrivacyBudget, std::move(*refusal));
    FSD_LOG(WARNING) << context.stop_reason << "; stopping";
    return nullptr;
  }
  const std::size_t minimum = context.MinimumUpdates();
  // Culprits of secure rounds sit out their exclusion.
  std::vector<std::string> joined;
  for (const auto& key : context.registry.JoinedByName()) {
    if (!context.state.Excluded(key, round)) joined.push_back(key);
  }
  std::vector<std::string> candidates;
  for (const auto& key : joined) {
    if (!context.retries.missed.contains(key)) candidates.push_back(key);
  }
  if (candidates.size() < std::max<std::size_t>(1, minimum)) {
    // Too many joined clients missed this round (a deadline too short for all
    // of them, say): leaving them out would stall the federation for good.
    FSD_LOG(WARNING) << "round " << round << ": " << candidates.size()
                     << " joined clients have not missed it, a round needs " << minimum
                     << "; sampling them all again";
    context.retries.missed.clear();
    candidates = joined;
    if (candidates.size() < std::max<std::size_t>(1, minimum)) {
      // Excluded culprits aside, too few clients: wait for more to join.
      FSD_LOG(DEBUG) << "round " << round << ": " << candidates.size()
                     << " clients may take part; waiting";
      return nullptr;
    }
  }
  // Seeded by (seed, round, attempt) over clients in name order: a resumed or
  // retried run samples the same way.
  auto draw = context.sampler->Draw(candidates, context.registry.num_enrolled(), minimum, round,
                                    context.retries.attempt);
  if (!draw) {
    ++context.retries.attempt;
    return nullptr;
  }
  auto attempt = std::make_unique<RoundAttempt>(context, std::move(draw->cohort), draw->target);
  const std::size_t sampled = attempt->sampled, target = attempt->target;
  std::unique_ptr<RoundPhase> next = context.options.secure_aggregation.enabled
                                         ? AdvertisingPhase::Open(context, std::move(attempt))
                                         : CollectingPhase::Open(context, std::move(attempt));
  FSD_LOG(DEBUG) << "round " << round << " attempt " << context.retries.attempt + 1 << ": sampled "
                 << sampled << " clients, waiting for " << target;
  // The new phase looks at once: an empty Poisson cohort closes immediately.
  if (auto after = next->Tick()) return after;
  return next;
}

}  // namespace fsd::coordinator
