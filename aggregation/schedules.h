// Schedules of the values the coordinator announces each round: the
// temperature T (DESIGN.md, TemperatureSchedule), the loss weights α and β,
// and the learning-rate factor clients multiply training.lr by.
//
// A schedule maps (round, what was aggregated so far) to a value; rounds count
// from 1. Linear and cosine schedules go from `start` at round 1 to `end` at
// the last round. The adaptive temperature needs no hand-tuned T: it picks the
// T at which the global soft targets have a chosen mean entropy. Concrete
// schedules are chosen from config in coordinator::OptionsFromConfig.
// Thread-safety: immutable after construction. Errors: constructors throw
// InternalError on values outside their documented ranges (config validation
// rejects them earlier with the key's name).
#pragma once

#include <cstdint>
#include <memory>

#include "aggregation/soft_targets.h"

namespace fsd::aggregation {

struct RoundContext {
  std::uint64_t round = 1;         // the round the value is for (1-based)
  std::uint64_t total_rounds = 1;  // rounds in the run
  // Aggregated logits up to the previous round; empty in round 1.
  const SoftTargetSummary* global = nullptr;
};

class TemperatureSchedule {
 public:
  virtual ~TemperatureSchedule() = default;
  virtual double At(const RoundContext& context) const = 0;
};

class ConstantTemperature final : public TemperatureSchedule {
 public:
  explicit ConstantTemperature(double temperature);
  double At(const RoundContext&) const override { return temperature_; }

 private:
  double temperature_;
};

class LinearTemperature final : public TemperatureSchedule {
 public:
  LinearTemperature(double start, double end);
  double At(const RoundContext& context) const override;

 private:
  double start_, end_;
};

// start + (end - start) · (1 - cos(π·progress)) / 2: flat at both ends.
class CosineTemperature final : public TemperatureSchedule {
 public:
  CosineTemperature(double start, double end);
  double At(const RoundContext& context) const override;

 private:
  double start_, end_;
};

// start · factor^⌊(round-1)/every⌋, clamped to [min, max].
class StepTemperature final : public TemperatureSchedule {
 public:
  StepTemperature(double start, double factor, int every, double min, double max);
  double At(const RoundContext& context) const override;

 private:
  double start_, factor_;
  int every_;
  double min_, max_;
};

// The T in [min, max] at which MeanEntropy(global, T) = target_fraction · log C,
// found by bisection on log T (mean entropy grows with T). Returns `initial`
// while there are no aggregated logits, and the bound when the target lies
// outside [entropy(min), entropy(max)].
class AdaptiveTemperature final : public TemperatureSchedule {
 public:
  AdaptiveTemperature(double target_fraction, double min, double max, double initial);
  double At(const RoundContext& context) const override;

 private:
  double target_fraction_, min_, max_, initial_;
};

// α and β: a constant or a linear ramp from start (round 1) to end (last round).
class Ramp {
 public:
  static Ramp Constant(double value) { return Ramp(value, value); }
  Ramp(double start, double end) : start_(start), end_(end) {}
  double At(const RoundContext& context) const;

 private:
  double start_, end_;
};

// The round's learning-rate factor (× training.lr; the client's own
// per-step schedule applies within the round). Warm-up rounds 1..w ramp up
// as r/(w+1); after them the progress p = (r − w − 1)/(R − w) runs from 0 at
// round w + 1 to just under 1 at the last round R, so the last round still
// learns:
//   constant  1
//   linear    1 + (end − 1)·p
//   cosine    end + (1 − end)·(1 + cos πp)/2
//   step      factor^⌊(r − w − 1)/every⌋
class LearningRateSchedule {
 public:
  enum class Kind { kConstant, kLinear, kCosine, kStep };
  LearningRateSchedule() = default;  // constant 1
  LearningRateSchedule(Kind kind, int warmup_rounds, double end, int step_rounds,
                       double step_factor);
  double At(const RoundContext& context) const;

 private:
  Kind kind_ = Kind::kConstant;
  int warmup_rounds_ = 0;
  double end_ = 0.0;
  int step_rounds_ = 1;
  double step_factor_ = 1.0;
};

// Fraction of the run done at `round`: 0 at round 1, 1 at the last round.
double Progress(const RoundContext& context);

}  // namespace fsd::aggregation
