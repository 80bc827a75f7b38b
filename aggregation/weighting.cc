#include "aggregation/weighting.h"

#include <algorithm>

#include "common/errors.h"

namespace fsd::aggregation {

const char* WeightingName(Weighting weighting) {
  switch (weighting) {
    case Weighting::kSamples:
      return "samples";
    case Weighting::kUniform:
      return "uniform";
    case Weighting::kCapped:
      return "capped";
  }
  return "unknown";
}

std::vector<double> ClientWeights(Weighting weighting, std::span<const std::int64_t> samples,
                                  double max_weight_ratio) {
  std::vector<double> weights;
  weights.reserve(samples.size());
  for (const std::int64_t n : samples) {
    FSD_CHECK(n > 0) << "sample count " << n;
    weights.push_back(weighting == Weighting::kUniform ? 1.0 : static_cast<double>(n));
  }
  if (weighting != Weighting::kCapped || weights.empty()) return weights;
  FSD_CHECK(max_weight_ratio >= 1.0) << "max_weight_ratio " << max_weight_ratio;
  // The median of the round (lower middle for an even count, so that half the
  // clients inflating their declarations cannot raise the cap).
  std::vector<double> sorted = weights;
  const std::size_t middle = (sorted.size() - 1) / 2;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(middle),
                   sorted.end());
  const double cap = max_weight_ratio * sorted[middle];
  for (double& w : weights) w = std::min(w, cap);
  return weights;
}

}  // namespace fsd::aggregation
