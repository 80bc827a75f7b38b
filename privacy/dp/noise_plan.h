// How much noise each release of a differentially private run carries: the
// rule behind privacy.noise_multiplier, privacy.summary_noise_multiplier and
// privacy.target_epsilon (configs/README.md, [privacy]), in the one place
// that the coordinator (which accounts) and a client under distributed DP
// (which adds the noise itself) both use, so they cannot disagree.
//
// A run releases model deltas and/or soft-target summaries each round, both
// on the same Poisson-sampled cohort; one round is one step with multiplier
// (z⁻² + z₂⁻²)^(−1/2) (CombinedNoiseMultiplier). A multiplier that is given
// (> 0) is kept. Those left at 0 come from the budget: the step multiplier z*
// that target_epsilon allows over `rounds` steps (NoiseMultiplierFor); when
// both are open each gets √2·z*, when one is given the other gets what it
// leaves, (z*⁻² − z_given⁻²)^(−1/2).
// Pure math, no LibTorch. Thread-safety: a free function. Errors: ConfigError
// naming the privacy.* key when the budget cannot be met over the rounds, a
// given multiplier alone spends it, or the first round already exceeds it.
#pragma once

#include <cstdint>

namespace fsd::privacy {

struct NoiseRequest {
  bool weights = true;              // model deltas are released
  double noise_multiplier = 0.0;    // z, 0 = from the budget
  bool summaries = false;           // soft-target summaries are released
  double summary_multiplier = 0.0;  // z₂, 0 = from the budget
  double target_epsilon = 0.0;      // 0 = no budget (then every released part is given)
  double sampling_rate = 1.0;       // q
  std::int64_t rounds = 1;          // the steps the budget is spread over
  double delta = 1e-5;
};

struct NoisePlan {
  double noise_multiplier = 0.0;    // z (0 when no weights are released)
  double summary_multiplier = 0.0;  // z₂ (0 when no summaries are released)
};

NoisePlan PlanNoise(const NoiseRequest& request);

// The multiplier one round of `plan` is charged with: z, z₂, or
// (z⁻² + z₂⁻²)^(−1/2) when both parts are released.
double StepNoiseMultiplier(const NoisePlan& plan);

}  // namespace fsd::privacy
