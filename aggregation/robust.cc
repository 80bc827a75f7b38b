#include "aggregation/robust.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "common/errors.h"

namespace fsd::aggregation {
namespace {

// Checks the inputs and returns their common dimension.
std::size_t CheckInputs(std::span<const WeightedInput> inputs) {
  FSD_CHECK(!inputs.empty()) << "no inputs to aggregate";
  const std::size_t dim = inputs.front().values.size();
  for (const auto& input : inputs) {
    FSD_CHECK(input.values.size() == dim)
        << "input has " << input.values.size() << " values, expected " << dim;
    FSD_CHECK(input.weight > 0.0 && std::isfinite(input.weight)) << "weight=" << input.weight;
  }
  return dim;
}

struct Entry {
  float value;
  double weight;
};

// Fills `column` with coordinate i of every input, sorted by value (stable,
// so equal values keep the inputs' order).
void SortedColumn(std::span<const WeightedInput> inputs, std::size_t i,
                  std::vector<Entry>& column) {
  column.clear();
  for (const auto& input : inputs) column.push_back({input.values[i], input.weight});
  std::stable_sort(column.begin(), column.end(),
                   [](const Entry& a, const Entry& b) { return a.value < b.value; });
}

}  // namespace

std::vector<float> WeightedMean(std::span<const WeightedInput> inputs) {
  const std::size_t dim = CheckInputs(inputs);
  std::vector<double> sum(dim, 0.0);
  double total = 0.0;
  for (const auto& input : inputs) {
    for (std::size_t i = 0; i < dim; ++i) sum[i] += input.weight * input.values[i];
    total += input.weight;
  }
  std::vector<float> result(dim);
  for (std::size_t i = 0; i < dim; ++i) result[i] = static_cast<float>(sum[i] / total);
  return result;
}

std::vector<float> CoordinateMedian(std::span<const WeightedInput> inputs) {
  const std::size_t dim = CheckInputs(inputs);
  double total = 0.0;
  for (const auto& input : inputs) total += input.weight;
  std::vector<float> result(dim);
  std::vector<Entry> column;
  column.reserve(inputs.size());
  for (std::size_t i = 0; i < dim; ++i) {
    SortedColumn(inputs, i, column);
    double cumulative = 0.0;
    for (std::size_t k = 0; k < column.size(); ++k) {
      cumulative += column[k].weight;
      const double excess = 2.0 * cumulative - total;
      if (excess < -1e-12 * total) continue;
      const bool exactly_half = excess <= 1e-12 * total && k + 1 < column.size();
      result[i] = exactly_half ? static_cast<float>((static_cast<double>(column[k].value) +
                                                     static_cast<double>(column[k + 1].value)) /
                                                    2.0)
                               : column[k].value;
      break;
    }
  }
  return result;
}

std::size_t TrimCount(std::size_t n, double trim_fraction) {
  FSD_CHECK(trim_fraction >= 0.0 && trim_fraction < 0.5) << "trim_fraction=" << trim_fraction;
  const auto trim = static_cast<std::size_t>(std::floor(trim_fraction * static_cast<double>(n) + 1e-9));
  return n == 0 ? 0 : std::min(trim, (n - 1) / 2);  // at least one value is left
}

std::vector<float> TrimmedMean(std::span<const WeightedInput> inputs, double trim_fraction) {
  const std::size_t dim = CheckInputs(inputs);
  const std::size_t trim = TrimCount(inputs.size(), trim_fraction);
  std::vector<float> result(dim);
  std::vector<Entry> column;
  column.reserve(inputs.size());
  for (std::size_t i = 0; i < dim; ++i) {
    SortedColumn(inputs, i, column);
    double sum = 0.0, total = 0.0;
    for (std::size_t k = trim; k < column.size() - trim; ++k) {
      sum += column[k].weight * column[k].value;
      total += column[k].weight;
    }
    result[i] = static_cast<float>(sum / total);
  }
  return result;
}

std::size_t KrumMinimumInputs(std::size_t byzantine) { return 2 * byzantine + 3; }

std::vector<double> KrumScores(std::span<const WeightedInput> inputs, std::size_t byzantine) {
  const std::size_t dim = CheckInputs(inputs);
  const std::size_t n = inputs.size();
  FSD_CHECK(n >= KrumMinimumInputs(byzantine))
      << "Krum with f=" << byzantine << " needs at least " << KrumMinimumInputs(byzantine)
      << " inputs, got " << n;
  std::vector<double> distance(n * n, 0.0);
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = a + 1; b < n; ++b) {
      double d = 0.0;
      const float* x = inputs[a].values.data();
      const float* y = inputs[b].values.data();
      for (std::size_t i = 0; i < dim; ++i) {
        const double diff = static_cast<double>(x[i]) - static_cast<double>(y[i]);
        d += diff * diff;
      }
      distance[a * n + b] = distance[b * n + a] = d;
    }
  }
  const std::size_t neighbours = n - byzantine - 2;
  std::vector<double> scores(n);
  std::vector<double> row;
  for (std::size_t a = 0; a < n; ++a) {
    row.clear();
    for (std::size_t b = 0; b < n; ++b) {
      if (b != a) row.push_back(distance[a * n + b]);
    }
    std::sort(row.begin(), row.end());
    scores[a] =
        std::accumulate(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(neighbours), 0.0);
  }
  return scores;
}

std::vector<std::size_t> KrumSelect(std::span<const WeightedInput> inputs, std::size_t byzantine,
                                    std::size_t keep) {
  FSD_CHECK(keep >= 1 && keep <= inputs.size())
      << "Krum keeps " << keep << " of " << inputs.size() << " inputs";
  const std::vector<double> scores = KrumScores(inputs, byzantine);
  std::vector<std::size_t> order(inputs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  order.resize(keep);
  std::sort(order.begin(), order.end());
  return order;
}

double DeltaNorm(std::span<const float> values, std::span<const float> reference) {
  FSD_CHECK(values.size() == reference.size())
      << values.size() << " values against a reference of " << reference.size();
  double sum = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double d = static_cast<double>(values[i]) - static_cast<double>(reference[i]);
    sum += d * d;
  }
  return std::sqrt(sum);
}

double Median(std::vector<double> values) {
  FSD_CHECK(!values.empty()) << "median of nothing";
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

std::vector<float> ClipDelta(std::span<const float> values, std::span<const float> reference,
                             double bound) {
  FSD_CHECK(bound > 0.0 && std::isfinite(bound)) << "clip bound " << bound;
  const double norm = DeltaNorm(values, reference);
  std::vector<float> out(values.begin(), values.end());
  if (norm <= bound) return out;
  const double scale = bound / norm;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double delta = static_cast<double>(values[i]) - static_cast<double>(reference[i]);
    out[i] = static_cast<float>(static_cast<double>(reference[i]) + delta * scale);
  }
  return out;
}

}  // namespace fsd::aggregation
