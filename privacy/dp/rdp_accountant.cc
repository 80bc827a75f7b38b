#include "privacy/dp/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/errors.h"

namespace fsd::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// log(e^a + e^b), exact at −∞.
double LogAdd(double a, double b) {
  if (a == -kInf) return b;
  if (b == -kInf) return a;
  const double high = std::max(a, b);
  return high + std::log1p(std::exp(-std::abs(a - b)));
}

// log(e^a − e^b) for a >= b.
double LogSub(double a, double b) {
  FSD_CHECK(a >= b) << "log-space subtraction would be negative: " << a << " - " << b;
  if (b == -kInf) return a;
  if (a == b) return -kInf;
  if (a - b > 700.0) return a;  // e^(a−b) − 1 overflows; e^b is negligible
  return std::log(std::expm1(a - b)) + b;
}

// log(erfc(x)), also where erfc(x) underflows (x > ~26): the asymptotic series
// erfc(x) = e^(−x²)/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸)).
double LogErfc(double x) {
  if (x < 25.0) return std::log(std::erfc(x));
  const double r = 1.0 / (2.0 * x * x);
  const double series = 1.0 - r + 3.0 * r * r - 15.0 * r * r * r + 105.0 * r * r * r * r;
  return -x * x - std::log(x) - 0.5 * std::log(M_PI) + std::log(series);
}

double LogBinomial(int n, int k) {
  return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
}

// log A_α for integer α (Mironov et al. 2019, Section 3.3).
double LogAInteger(double q, double sigma, int alpha) {
  double log_a = -kInf;
  for (int i = 0; i <= alpha; ++i) {
    const double log_coef = LogBinomial(alpha, i) + i * std::log(q) + (alpha - i) * std::log1p(-q);
    log_a = LogAdd(log_a, log_coef + (static_cast<double>(i) * i - i) / (2.0 * sigma * sigma));
  }
  return log_a;
}

// log A_α for fractional α: the two series of Mironov et al. 2019, Section
// 3.3, summed until their terms fall below e^−30.
double LogAFractional(double q, double sigma, double alpha) {
  double log_a0 = -kInf, log_a1 = -kInf;
  const double z0 = sigma * sigma * std::log(1.0 / q - 1.0) + 0.5;
  double log_coef = 0.0;  // log |binom(α, i)|
  double sign = 1.0;      // sign of binom(α, i)
  for (int i = 0;; ++i) {
    FSD_CHECK(i < 100000) << "RDP series for order " << alpha << " did not converge";
    const double j = alpha - i;
    const double log_t0 = log_coef + i * std::log(q) + j * std::log1p(-q);
    const double log_t1 = log_coef + j * std::log(q) + i * std::log1p(-q);
    const double log_e0 = std::log(0.5) + LogErfc((i - z0) / (std::sqrt(2.0) * sigma));
    const double log_e1 = std::log(0.5) + LogErfc((z0 - j) / (std::sqrt(2.0) * sigma));
    const double log_s0 =
        log_t0 + (static_cast<double>(i) * i - i) / (2.0 * sigma * sigma) + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
    if (sign > 0) {
      log_a0 = LogAdd(log_a0, log_s0);
      log_a1 = LogAdd(log_a1, log_s1);
    } else {
      log_a0 = LogSub(log_a0, log_s0);
      log_a1 = LogSub(log_a1, log_s1);
    }
    if (std::max(log_s0, log_s1) < -30.0) break;
    // binom(α, i + 1) = binom(α, i) · (α − i) / (i + 1).
    const double factor = (alpha - i) / (i + 1.0);
    if (factor < 0) sign = -sign;
    log_coef += std::log(std::abs(factor));
  }
  return LogAdd(log_a0, log_a1);
}

void CheckArguments(double q, double noise_multiplier) {
  if (!(q >= 0.0 && q <= 1.0)) {
    throw ConfigError("sampling rate must be in [0, 1], got " + std::to_string(q));
  }
  if (!(noise_multiplier >= 0.0) || !std::isfinite(noise_multiplier)) {
    throw ConfigError("noise multiplier must be a finite number >= 0, got " +
                      std::to_string(noise_multiplier));
  }
}

void CheckDelta(double delta) {
  if (!(delta > 0.0 && delta < 1.0)) {
    throw ConfigError("delta must be in (0, 1), got " + std::to_string(delta));
  }
}

}  // namespace

std::vector<double> DefaultOrders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  return orders;
}

double SampledGaussianRdp(double q, double noise_multiplier, double order) {
  CheckArguments(q, noise_multiplier);
  FSD_CHECK(order > 1.0) << "RDP order " << order;
  if (q == 0.0) return 0.0;
  if (noise_multiplier == 0.0) return kInf;
  if (q == 1.0) return order / (2.0 * noise_multiplier * noise_multiplier);
  const double log_a = order == std::floor(order)
                           ? LogAInteger(q, noise_multiplier, static_cast<int>(order))
                           : LogAFractional(q, noise_multiplier, order);
  return log_a / (order - 1.0);
}

PrivacySpent EpsilonFromRdp(const std::vector<double>& orders, const std::vector<double>& rdp,
                            double delta) {
  CheckDelta(delta);
  FSD_CHECK(orders.size() == rdp.size() && !orders.empty())
      << orders.size() << " orders, " << rdp.size() << " RDP values";
  // Nothing released (every order at 0): nothing spent.
  if (std::all_of(rdp.begin(), rdp.end(), [](double r) { return r == 0.0; })) return {0.0, 0.0};
  PrivacySpent best{kInf, 0.0};
  for (std::size_t k = 0; k < orders.size(); ++k) {
    const double alpha = orders[k];
    const double epsilon =
        rdp[k] + std::log1p(-1.0 / alpha) - (std::log(delta) + std::log(alpha)) / (alpha - 1.0);
    if (!std::isnan(epsilon) && epsilon < best.epsilon) best = {std::max(0.0, epsilon), alpha};
  }
  return best;
}

PrivacySpent EpsilonAfter(double q, double noise_multiplier, std::int64_t steps, double delta) {
  RdpAccountant accountant;
  if (steps < 0) throw ConfigError("steps must be >= 0, got " + std::to_string(steps));
  std::vector<double> rdp;
  for (const double order : accountant.orders()) {
    rdp.push_back(static_cast<double>(steps) * SampledGaussianRdp(q, noise_multiplier, order));
  }
  return EpsilonFromRdp(accountant.orders(), rdp, delta);
}

double NoiseMultiplierFor(double target_epsilon, double q, std::int64_t steps, double delta) {
  if (!(target_epsilon > 0.0) || !std::isfinite(target_epsilon)) {
    throw ConfigError("target epsilon must be a finite number > 0, got " +
                      std::to_string(target_epsilon));
  }
  constexpr double kMaxNoise = 1e4;
  double low = 0.0, high = 1.0;
  while (EpsilonAfter(q, high, steps, delta).epsilon > target_epsilon) {
    low = high;
    high *= 2.0;
    if (high > kMaxNoise) {
      throw ConfigError("target epsilon " + std::to_string(target_epsilon) +
                        " cannot be reached with a noise multiplier up to 1e4 (q = " +
                        std::to_string(q) + ", " + std::to_string(steps) + " steps)");
    }
  }
  // Invariant: ε(high) <= target < ε(low) (or low = 0).
  while (high - low > 1e-4 * high) {
    const double middle = (low + high) / 2.0;
    (EpsilonAfter(q, middle, steps, delta).epsilon <= target_epsilon ? high : low) = middle;
  }
  return high;
}

double CombinedNoiseMultiplier(double z1, double z2) {
  FSD_CHECK(z1 > 0.0 && z2 > 0.0) << "noise multipliers " << z1 << ", " << z2;
  return 1.0 / std::sqrt(1.0 / (z1 * z1) + 1.0 / (z2 * z2));
}

RdpAccountant::RdpAccountant() : orders_(DefaultOrders()), rdp_(orders_.size(), 0.0), steps_(0) {}

RdpAccountant::RdpAccountant(std::vector<double> orders, std::vector<double> rdp,
                             std::int64_t steps)
    : orders_(std::move(orders)), rdp_(std::move(rdp)), steps_(steps) {
  FSD_CHECK(orders_.size() == rdp_.size() && !orders_.empty() && steps_ >= 0)
      << "accountant state: " << orders_.size() << " orders, " << rdp_.size() << " values";
}

void RdpAccountant::Step(double q, double noise_multiplier) {
  for (std::size_t k = 0; k < orders_.size(); ++k) {
    rdp_[k] += SampledGaussianRdp(q, noise_multiplier, orders_[k]);
  }
  ++steps_;
}

PrivacySpent RdpAccountant::Spent(double delta) const {
  return EpsilonFromRdp(orders_, rdp_, delta);
}

PrivacySpent RdpAccountant::SpentAfterStep(double q, double noise_multiplier, double delta) const {
  RdpAccountant next = *this;
  next.Step(q, noise_multiplier);
  return next.Spent(delta);
}

}  // namespace fsd::privacy
