#include "aggregation/fedavg.h"

#include <cmath>

#include "common/errors.h"

namespace fsd::aggregation {

FedAvgAggregator::FedAvgAggregator(std::size_t dim) : weighted_sum_(dim, 0.0) {}

void FedAvgAggregator::Accumulate(std::span<const float> values, double weight) {
  FSD_CHECK(values.size() == weighted_sum_.size())
      << "update has " << values.size() << " values, aggregator " << weighted_sum_.size();
  FSD_CHECK(weight > 0.0 && std::isfinite(weight)) << "weight=" << weight;
  for (std::size_t i = 0; i < values.size(); ++i) weighted_sum_[i] += weight * values[i];
  total_weight_ += weight;
  ++num_inputs_;
}

std::vector<float> FedAvgAggregator::Finalize() && {
  FSD_CHECK(CanFinalize()) << "no updates to aggregate";
  std::vector<float> result(weighted_sum_.size());
  for (std::size_t i = 0; i < result.size(); ++i) {
    result[i] = static_cast<float>(weighted_sum_[i] / total_weight_);
  }
  return result;
}

}  // namespace fsd::aggregation
