// WaitingPhase: between rounds. Once enough clients have joined
// (federation.min_clients, and the fewest updates a round may aggregate),
// it draws the next attempt's cohort (CohortSampler: the privacy budget may
// refuse the draw, which stops the run), opens the attempt (RoundAttempt),
// sends ROUND_START and hands over to the phase that collects the reports:
// CollectingPhase, or AdvertisingPhase when secure_aggregation.enabled.
// Clients that missed an earlier attempt of the round are not sampled again
// unless too few others remain; culprits of secure rounds sit out their
// exclusion.
// Thread-safety: one owner thread. Errors: none.
#pragma once

#include <memory>

#include "coordinator/round_phase.h"

namespace fsd::coordinator {

class WaitingPhase final : public RoundPhase {
 public:
  using RoundPhase::RoundPhase;
  Phase phase() const override { return Phase::kWaiting; }
  std::unique_ptr<RoundPhase> Tick() override;

 private:
  // The next attempt's phase, already ticked once (an empty Poisson cohort
  // closes at once); nullptr when no attempt could start.
  std::unique_ptr<RoundPhase> StartAttempt();
};

}  // namespace fsd::coordinator
