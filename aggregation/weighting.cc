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

namespace {

// The lower median of `values` (non-empty).
double LowerMedian(std::vector<double> values) {
  const std::size_t middle = (values.size() - 1) / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle),
                   values.end());
  return values[middle];
}

}  // namespace

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
  const double cap = max_weight_ratio * LowerMedian(weights);
  for (double& w : weights) w = std::min(w, cap);
  return weights;
}

std::vector<std::vector<double>> ClassWeights(
    const std::vector<std::vector<std::int64_t>>& class_counts,
    std::span<const double> client_weights, std::span<const std::int64_t> samples,
    bool cap_per_class, double max_weight_ratio) {
  FSD_CHECK(class_counts.size() == client_weights.size() && samples.size() == client_weights.size())
      << "one weight and one sample count per client";
  std::vector<std::vector<double>> weights(class_counts.size());
  std::size_t classes = 0;
  for (std::size_t i = 0; i < class_counts.size(); ++i) {
    FSD_CHECK(samples[i] > 0) << "sample count " << samples[i];
    const double scale = client_weights[i] / static_cast<double>(samples[i]);
    for (const std::int64_t count : class_counts[i]) {
      weights[i].push_back(static_cast<double>(count) * scale);
    }
    classes = std::max(classes, class_counts[i].size());
  }
  if (!cap_per_class) return weights;
  FSD_CHECK(max_weight_ratio >= 1.0) << "max_weight_ratio " << max_weight_ratio;
  for (std::size_t c = 0; c < classes; ++c) {
    std::vector<double> reported;
    for (const auto& w : weights) {
      if (c < w.size() && w[c] > 0.0) reported.push_back(w[c]);
    }
    if (reported.empty()) continue;
    const double cap = max_weight_ratio * LowerMedian(reported);
    for (auto& w : weights) {
      if (c < w.size()) w[c] = std::min(w[c], cap);
    }
  }
  return weights;
}

}  // namespace fsd::aggregation
