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

LearningRateSchedule::LearningRateSchedule(Kind kind, int warmup_rounds, double end,
                                           int step_rounds, double step_factor)
    : kind_(kind),
      warmup_rounds_(warmup_rounds),
      end_(end),
      step_rounds_(step_rounds),
      step_factor_(step_factor) {
  FSD_CHECK(warmup_rounds >= 0 && end >= 0.0 && end <= 1.0 && step_rounds > 0 && step_factor > 0.0)
      << "learning-rate schedule: warm-up " << warmup_rounds << ", end " << end << ", step "
      << step_factor << " every " << step_rounds;
}

double LearningRateSchedule::At(const RoundContext& context) const {
  const auto round = static_cast<double>(std::max<std::uint64_t>(context.round, 1));
  const auto warmup = static_cast<double>(warmup_rounds_);
  if (round <= warmup) return round / (warmup + 1.0);
  const double after = round - warmup - 1.0;  // rounds since the warm-up
  const double span = static_cast<double>(context.total_rounds) - warmup;
  const double progress = span > 0.0 ? std::clamp(after / span, 0.0, 1.0) : 0.0;
  switch (kind_) {
    case Kind::kConstant:
      return 1.0;
    case Kind::kLinear:
      return 1.0 + (end_ - 1.0) * progress;
    case Kind::kCosine:
      return end_ + (1.0 - end_) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    case Kind::kStep:
      return std::pow(step_factor_, std::floor(after / step_rounds_));
  }
  return 1.0;
}

double Ramp::At(const RoundContext& context) const {
  return start_ + (end_ - start_) * Progress(context);
}

}  // namespace fsd::aggregation
