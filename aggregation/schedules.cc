#include "aggregation/schedules.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "common/errors.h"

namespace fsd::aggregation {

double Progress(const RoundContext& context) {
  if (context.total_rounds <= 1) return 0.0;
  const double done = static_cast<double>(std::min(context.round, context.total_rounds)) - 1.0;
  return std::max(0.0, done) / static_cast<double>(context.total_rounds - 1);
}

ConstantTemperature::ConstantTemperature(double temperature) : temperature_(temperature) {
  FSD_CHECK(temperature > 0.0) << "temperature " << temperature;
}

LinearTemperature::LinearTemperature(double start, double end) : start_(start), end_(end) {
  FSD_CHECK(start > 0.0 && end > 0.0) << "temperatures " << start << ", " << end;
}

double LinearTemperature::At(const RoundContext& context) const {
  return start_ + (end_ - start_) * Progress(context);
}

CosineTemperature::CosineTemperature(double start, double end) : start_(start), end_(end) {
  FSD_CHECK(start > 0.0 && end > 0.0) << "temperatures " << start << ", " << end;
}

double CosineTemperature::At(const RoundContext& context) const {
  return start_ + (end_ - start_) * 0.5 * (1.0 - std::cos(std::numbers::pi * Progress(context)));
}

StepTemperature::StepTemperature(double start, double factor, int every, double min, double max)
    : start_(start), factor_(factor), every_(every), min_(min), max_(max) {
  FSD_CHECK(start > 0.0 && factor > 0.0 && every > 0 && min > 0.0 && min <= max)
      << "step schedule " << start << " " << factor << " " << every << " [" << min << ", " << max
      << "]";
}

double StepTemperature::At(const RoundContext& context) const {
  const auto steps = (std::max<std::uint64_t>(context.round, 1) - 1) / static_cast<std::uint64_t>(every_);
  return std::clamp(start_ * std::pow(factor_, static_cast<double>(steps)), min_, max_);
}

AdaptiveTemperature::AdaptiveTemperature(double target_fraction, double min, double max,
                                         double initial)
    : target_fraction_(target_fraction), min_(min), max_(max), initial_(initial) {
  FSD_CHECK(target_fraction > 0.0 && target_fraction <= 1.0 && min > 0.0 && min <= max &&
            initial > 0.0)
      << "adaptive schedule " << target_fraction << " [" << min << ", " << max << "]";
}

double AdaptiveTemperature::At(const RoundContext& context) const {
  const SoftTargetSummary* global = context.global;
  if (global == nullptr ||
      std::none_of(global->counts.begin(), global->counts.end(), [](auto n) { return n > 0; })) {
    return initial_;
  }
  const double target = target_fraction_ * std::log(static_cast<double>(global->num_classes()));
  if (MeanEntropy(*global, min_) >= target) return min_;
  if (MeanEntropy(*global, max_) <= target) return max_;
  double low = std::log(min_), high = std::log(max_);
  for (int i = 0; i < 60 && high - low > 1e-9; ++i) {
    const double mid = 0.5 * (low + high);
    (MeanEntropy(*global, std::exp(mid)) < target ? low : high) = mid;
  }
  return std::exp(0.5 * (low + high));
}

double Ramp::At(const RoundContext& context) const {
  return start_ + (end_ - start_) * Progress(context);
}

}  // namespace fsd::aggregation
