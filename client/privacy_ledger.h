// PrivacyLedger: a client's own account of what the federation's
// differentially private releases have cost it, kept from what each
// ROUND_START states (wire::DpStart: the accountant's steps so far, the
// sampling rate q and the multiplier each step is charged with), so that a
// client under DP does not take the coordinator's word for its ε: it checks
// that the round's q and multiplier are no worse than its own config's,
// computes ε after the stated steps with the same accountant
// (privacy/dp/rdp_accountant.h), logs it, and stops taking part once its own
// privacy.target_epsilon would be exceeded.
//
// Assumptions (docs/SECURE_AGGREGATION.md, "What a client checks"): the
// coordinator samples honestly (Poisson with the stated q) and states every
// draw; a client cannot see draws it was not in. It does see that steps never
// go back and that there is at least one per round, and counts no fewer.
// Thread-safety: one owner (the client session). Errors: none thrown;
// Admit() returns the refusal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "common/wire/messages.h"

namespace fsd::client {

struct LedgerOptions {
  double sampling_rate = 1.0;     // the client's own q (federation.fraction)
  double noise_multiplier = 0.0;  // the step multiplier its own [privacy] implies
  double target_epsilon = 0.0;    // its own budget; 0 = log only
  double delta = 1e-5;
};

class PrivacyLedger {
 public:
  explicit PrivacyLedger(LedgerOptions options) : options_(options) {}

  struct Admitted {
    double epsilon = 0.0;  // after this round's step
    std::uint64_t steps = 0;
  };
  // Whether this client may take part in `round` as `dp` describes it:
  // Admitted, or why not (a multiplier or q worse than its own, steps that
  // went back, or its budget). After a budget refusal exhausted() is true.
  std::variant<Admitted, std::string> Admit(std::uint64_t round, const wire::DpStart& dp);

  bool exhausted() const { return exhausted_; }
  double epsilon() const { return epsilon_; }

 private:
  LedgerOptions options_;
  std::uint64_t steps_ = 0;  // the most the coordinator has stated
  double epsilon_ = 0.0;
  bool exhausted_ = false;
};

}  // namespace fsd::client
