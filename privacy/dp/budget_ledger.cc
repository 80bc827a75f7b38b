#include "privacy/dp/budget_ledger.h"

#include <sstream>

namespace fsd::privacy {

std::optional<std::string> BudgetLedger::RefusalOfNextDraw(std::uint64_t round) const {
  if (terms_.target_epsilon <= 0.0) return std::nullopt;
  const auto next =
      account_.SpentAfterStep(terms_.sampling_rate, terms_.noise_multiplier, terms_.delta);
  // The relative slack absorbs rounding in a multiplier computed for the budget.
  if (next.epsilon <= terms_.target_epsilon * (1.0 + 1e-9)) return std::nullopt;
  std::ostringstream reason;
  reason << "privacy budget: releasing round " << round << " would spend epsilon " << next.epsilon
         << " > privacy.target_epsilon " << terms_.target_epsilon << " at delta " << terms_.delta
         << " (spent " << Spent().epsilon << " after " << account_.steps() << " rounds)";
  return reason.str();
}

}  // namespace fsd::privacy
