// Aggregator: combines clients' flat model vectors into the next global vector.
//
// One instance per round: Accumulate() each validated update with its
// aggregation weight (aggregation/weighting.h: samples, uniform or capped),
// in a fixed order (the coordinator sorts by client name), then Finalize()
// once (the aggregator is consumed). Concrete rules are chosen from
// AggregationOptions in one place, MakeAggregator (aggregation/factory.h). Pure math over float spans; no LibTorch.
// Thread-safety: not thread-safe; the coordinator's round thread owns it.
// Errors: InternalError when a vector's size differs from the aggregator's
// dimension or a weight is not positive and finite (updates are validated before they reach the aggregator).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fsd::aggregation {

class Aggregator {
 public:
  virtual ~Aggregator() = default;
  // Adds one update with its aggregation weight (> 0, finite).
  virtual void Accumulate(std::span<const float> values, double weight) = 0;
  virtual std::int64_t num_inputs() const = 0;
  // True when Finalize() may be called (at least one input).
  virtual bool CanFinalize() const = 0;
  // The new global vector.
  virtual std::vector<float> Finalize() && = 0;
};

}  // namespace fsd::aggregation
