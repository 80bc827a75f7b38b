// BudgetLedger: what a run's differentially private releases have cost and
// whether the next may be made — the one place a coordinator checks and
// charges its budget. The cohort of a DP round is a Poisson sample, and
// every sampling draw is a step of the subsampled Gaussian mechanism,
// charged when it is drawn whatever follows (released, retried, released as
// nothing, a secure round that failed after its reveals): a client's real
// inclusion rate per charged step is then the q the accountant assumes.
// No draw is made that would take ε past the target. The account lives in
// the checkpoint (Restore / account()), so a resumed run continues it.
// Thread-safety: one owner thread. Errors: none (the accountant's
// ConfigError for impossible parameters, privacy/dp/rdp_accountant.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "privacy/dp/rdp_accountant.h"

namespace fsd::privacy {

struct BudgetTerms {
  double sampling_rate = 0.0;     // q of every draw
  double noise_multiplier = 0.0;  // z every step is charged with
  double delta = 1e-5;
  double target_epsilon = 0.0;  // 0: no budget, every draw may be made
};

class BudgetLedger {
 public:
  explicit BudgetLedger(BudgetTerms terms, RdpAccountant account = {})
      : terms_(terms), account_(std::move(account)) {}

  // Why the draw for `round` may not be made (it would spend more than
  // target_epsilon at delta), naming the figures; nullopt when it may.
  std::optional<std::string> RefusalOfNextDraw(std::uint64_t round) const;
  // Charges one draw: one step of (q, z).
  void ChargeDraw() { account_.Step(terms_.sampling_rate, terms_.noise_multiplier); }

  PrivacySpent Spent() const { return account_.Spent(terms_.delta); }
  // Draws charged since the run began (each a step).
  std::int64_t draws() const { return account_.steps(); }
  const BudgetTerms& terms() const { return terms_; }
  const RdpAccountant& account() const { return account_; }

 private:
  BudgetTerms terms_;
  RdpAccountant account_;
};

}  // namespace fsd::privacy
