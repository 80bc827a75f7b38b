// FedAvgAggregator: the weighted mean of client vectors (weights from
// aggregation/weighting.h; sample counts for classic FedAvg),
// accumulated in double precision so the result does not depend on how many
// clients report or in which order (up to the final rounding to float).
// Thread-safety and errors: see aggregator.h.
#pragma once

#include "aggregation/aggregator.h"

namespace fsd::aggregation {

class FedAvgAggregator final : public Aggregator {
 public:
  explicit FedAvgAggregator(std::size_t dim);

  void Accumulate(std::span<const float> values, double weight) override;
  std::int64_t num_inputs() const override { return num_inputs_; }
  bool CanFinalize() const override { return num_inputs_ > 0; }
  std::vector<float> Finalize() && override;

 private:
  std::vector<double> weighted_sum_;
  double total_weight_ = 0.0;
  std::int64_t num_inputs_ = 0;
};

}  // namespace fsd::aggregation
