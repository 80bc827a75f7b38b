#include "privacy/dp/noise_plan.h"

#include <cmath>
#include <string>

#include "common/errors.h"
#include "privacy/dp/rdp_accountant.h"

namespace fsd::privacy {

NoisePlan PlanNoise(const NoiseRequest& request) {
  NoisePlan plan;
  plan.noise_multiplier = request.weights ? request.noise_multiplier : 0.0;
  plan.summary_multiplier = request.summaries ? request.summary_multiplier : 0.0;
  const bool weights_open = request.weights && plan.noise_multiplier == 0.0;
  const bool summaries_open = request.summaries && plan.summary_multiplier == 0.0;
  const bool both = request.weights && request.summaries;
  if (!weights_open && !summaries_open) {
    // Both given: a budget that not even one round fits is a config error, not a run of 0 rounds.
    if (request.target_epsilon > 0.0) {
      const double step =
          both ? CombinedNoiseMultiplier(plan.noise_multiplier, plan.summary_multiplier)
               : (request.weights ? plan.noise_multiplier : plan.summary_multiplier);
      const double first = EpsilonAfter(request.sampling_rate, step, 1, request.delta).epsilon;
      if (first > request.target_epsilon) {
        throw ConfigError("privacy.target_epsilon: " + std::to_string(request.target_epsilon) +
                          " is spent by the first round already (epsilon " + std::to_string(first) +
                          " with the given noise multipliers)");
      }
    }
    return plan;
  }
  // The step multiplier the budget allows over the configured rounds.
  double step = 0.0;
  try {
    step = NoiseMultiplierFor(request.target_epsilon, request.sampling_rate, request.rounds,
                              request.delta);
  } catch (const ConfigError& error) {
    throw ConfigError(
        std::string("privacy.target_epsilon: cannot be met over federation.rounds = ") +
        std::to_string(request.rounds) + ": " + error.what());
  }
  if (weights_open && summaries_open) {
    plan.noise_multiplier = plan.summary_multiplier = std::sqrt(2.0) * step;
    return plan;
  }
  // One part is given: the other gets what is left.
  const double given = weights_open ? plan.summary_multiplier : plan.noise_multiplier;
  if (both && given <= step) {
    throw ConfigError(std::string("privacy.") +
                      (weights_open ? "summary_noise_multiplier" : "noise_multiplier") + ": " +
                      std::to_string(given) + " alone spends the budget privacy.target_epsilon = " +
                      std::to_string(request.target_epsilon) + " (it needs more than " +
                      std::to_string(step) + ")");
  }
  const double rest = both ? 1.0 / std::sqrt(1.0 / (step * step) - 1.0 / (given * given)) : step;
  (weights_open ? plan.noise_multiplier : plan.summary_multiplier) = rest;
  return plan;
}

double StepNoiseMultiplier(const NoisePlan& plan) {
  if (plan.noise_multiplier > 0.0 && plan.summary_multiplier > 0.0) {
    return CombinedNoiseMultiplier(plan.noise_multiplier, plan.summary_multiplier);
  }
  return plan.noise_multiplier > 0.0 ? plan.noise_multiplier : plan.summary_multiplier;
}

}  // namespace fsd::privacy
