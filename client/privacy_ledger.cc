#include "client/privacy_ledger.h"

#include <algorithm>
#include <sstream>

#include "privacy/dp/rdp_accountant.h"

namespace fsd::client {

std::variant<PrivacyLedger::Admitted, std::string> PrivacyLedger::Admit(std::uint64_t round,
                                                                        const wire::DpStart& dp) {
  std::ostringstream problem;
  if (dp.noise_multiplier <= 0.0) {
    return std::string(
        "the round states no differential privacy (an empty privacy block), and this client "
        "runs under privacy.dp");
  }
  // The relative slack absorbs rounding in multipliers computed for a budget.
  if (!(dp.noise_multiplier >= options_.noise_multiplier * (1.0 - 1e-9))) {
    problem << "the round is charged with noise multiplier " << dp.noise_multiplier
            << ", below this client's own " << options_.noise_multiplier << " ([privacy])";
    return problem.str();
  }
  if (!(dp.sampling_rate > 0.0 && dp.sampling_rate <= options_.sampling_rate * (1.0 + 1e-9))) {
    problem << "the round samples with q = " << dp.sampling_rate
            << ", outside (0, this client's federation.fraction " << options_.sampling_rate << "]";
    return problem.str();
  }
  if (dp.steps < steps_) {
    problem << "the round states " << dp.steps << " privacy steps, fewer than the " << steps_
            << " already stated";
    return problem.str();
  }
  // At least one draw per round, whatever the coordinator says.
  const std::uint64_t steps = std::max({dp.steps, round, steps_});
  const double epsilon = privacy::EpsilonAfter(dp.sampling_rate, dp.noise_multiplier,
                                               static_cast<std::int64_t>(steps), options_.delta)
                             .epsilon;
  if (options_.target_epsilon > 0.0 && epsilon > options_.target_epsilon * (1.0 + 1e-9)) {
    exhausted_ = true;
    problem << "privacy budget: round " << round << " would bring this client's epsilon to "
            << epsilon << " after " << steps << " steps, above its privacy.target_epsilon "
            << options_.target_epsilon << " at delta " << options_.delta;
    return problem.str();
  }
  steps_ = steps;
  epsilon_ = epsilon;
  return Admitted{epsilon, steps};
}

}  // namespace fsd::client
