// Rényi-DP accounting of the Poisson-subsampled Gaussian mechanism, and its
// conversion to (ε, δ)-DP: how much privacy a run of client-level DP rounds
// spends, and how much noise a target ε needs.
//
// Mechanism: each step samples every record (here: every client) independently
// with probability q and releases the sum of their contributions, each clipped
// to L2 norm S, plus N(0, (z·S)²) per coordinate; z is the noise multiplier.
// Adjacency: add or remove one record (one client's whole contribution).
// RDP of one step at order α (Mironov, Talwar, Zhang 2019, "Rényi
// Differential Privacy of the Sampled Gaussian Mechanism"): log A_α / (α − 1),
// with A_α computed exactly for integer α and by the two-sided series of
// Section 3.3 for fractional α (the computations of Opacus and TF Privacy);
// T steps compose to T times that. Conversion (Balle et al. 2020, Thm. 21):
//   ε = RDP(α) + log1p(−1/α) − (log δ + log α)/(α − 1), minimised over the
// orders α ∈ {1.1, 1.2, …, 10.9} ∪ {12, 13, …, 63} (DefaultOrders).
// Pure math, no LibTorch. Thread-safety: free functions and a plain value
// class; an RdpAccountant belongs to one thread. Errors: ConfigError for
// arguments out of range (q ∉ [0, 1], z < 0, δ ∉ (0, 1), ...), naming them.
#pragma once

#include <cstdint>
#include <vector>

namespace fsd::privacy {

// The orders ε is minimised over.
std::vector<double> DefaultOrders();

// RDP at `order` (> 1) of one step with sampling rate q and noise multiplier z.
// q = 0 gives 0; z = 0 (with q > 0) gives +∞; q = 1 gives α / (2z²).
double SampledGaussianRdp(double q, double noise_multiplier, double order);

struct PrivacySpent {
  double epsilon = 0.0;  // +∞ when no order gives a finite bound
  double order = 0.0;    // the order at which ε is smallest
};

// ε at δ from the RDP (already composed over steps) at each of `orders`.
PrivacySpent EpsilonFromRdp(const std::vector<double>& orders, const std::vector<double>& rdp,
                            double delta);

// ε after `steps` steps of (q, z), at δ, over DefaultOrders().
PrivacySpent EpsilonAfter(double q, double noise_multiplier, std::int64_t steps, double delta);

// The smallest noise multiplier (to a relative precision of 1e-4, never below
// it) whose ε after `steps` steps at δ is at most `target_epsilon`; the
// returned z never overshoots the target. ConfigError when even z = 1e4
// cannot reach it.
double NoiseMultiplierFor(double target_epsilon, double q, std::int64_t steps, double delta);

// Two Gaussian mechanisms released on the same sampled cohort in one step
// (e.g. model deltas with z₁ and soft-target summaries with z₂, each clipped
// separately) compose as one with multiplier (z₁⁻² + z₂⁻²)^(−1/2).
double CombinedNoiseMultiplier(double z1, double z2);

// Running account of one run: add each released step's (q, z), read ε.
// Its state (orders and the RDP summed per order, steps) is what a
// checkpoint stores so that a resumed run continues the same account.
class RdpAccountant {
 public:
  RdpAccountant();
  // Restores an account (from a checkpoint). REQUIRES: rdp.size() == orders.size().
  RdpAccountant(std::vector<double> orders, std::vector<double> rdp, std::int64_t steps);

  // Charges one step of the sampled Gaussian mechanism.
  void Step(double q, double noise_multiplier);
  // ε spent so far at δ.
  PrivacySpent Spent(double delta) const;
  // ε the account would have spent after one more step of (q, z).
  PrivacySpent SpentAfterStep(double q, double noise_multiplier, double delta) const;

  std::int64_t steps() const { return steps_; }
  const std::vector<double>& orders() const { return orders_; }
  const std::vector<double>& rdp() const { return rdp_; }

 private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
  std::int64_t steps_ = 0;
};

}  // namespace fsd::privacy
