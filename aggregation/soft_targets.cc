#include "aggregation/soft_targets.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "common/errors.h"

namespace fsd::aggregation {
namespace {

// softmax(row / T) into `out`, computed in double with the max subtracted.
void SoftmaxRow(std::span<const float> row, double temperature, std::span<double> out) {
  const double max = *std::max_element(row.begin(), row.end());
  double sum = 0.0;
  for (std::size_t j = 0; j < row.size(); ++j) {
    out[j] = std::exp((row[j] - max) / temperature);
    sum += out[j];
  }
  for (auto& p : out) p /= sum;
}

}  // namespace

std::optional<SummaryProblem> CheckSummary(const SoftTargetSummary& summary,
                                           std::size_t num_classes, std::int64_t max_samples) {
  using Kind = SummaryProblem::Kind;
  if (summary.counts.size() != num_classes ||
      summary.mean_logits.size() != num_classes * num_classes) {
    return SummaryProblem{Kind::kClassCount,
                          "summary has " + std::to_string(summary.counts.size()) +
                              " classes, the model has " + std::to_string(num_classes)};
  }
  for (const float value : summary.mean_logits) {
    if (!std::isfinite(value))
      return SummaryProblem{Kind::kNonFinite, "summary logits hold NaN or Inf"};
  }
  std::int64_t total = 0;
  for (std::size_t c = 0; c < summary.counts.size(); ++c) {
    const std::int64_t count = summary.counts[c];
    if (count < 0) {
      return SummaryProblem{Kind::kNegativeCount, "summary count of class " + std::to_string(c) +
                                                      " is negative (" + std::to_string(count) +
                                                      ")"};
    }
    if (count > max_samples - total) {  // also stops overflow of the running total
      return SummaryProblem{Kind::kTooManySamples, "summary counts sum to more than the " +
                                                       std::to_string(max_samples) +
                                                       " samples the client trained on"};
    }
    total += count;
  }
  return std::nullopt;
}

std::vector<float> SoftenRows(const SoftTargetSummary& summary, double temperature) {
  const std::size_t classes = summary.num_classes();
  FSD_CHECK(summary.mean_logits.size() == classes * classes && temperature > 0.0)
      << "summary shape or temperature";
  std::vector<float> out(classes * classes);
  std::vector<double> probs(classes);
  for (std::size_t c = 0; c < classes; ++c) {
    if (summary.counts[c] == 0) {
      std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(c * classes), classes,
                  1.0f / static_cast<float>(classes));
      continue;
    }
    SoftmaxRow({summary.mean_logits.data() + c * classes, classes}, temperature, probs);
    for (std::size_t j = 0; j < classes; ++j) out[c * classes + j] = static_cast<float>(probs[j]);
  }
  return out;
}

double MeanEntropy(const SoftTargetSummary& summary, double temperature) {
  const std::size_t classes = summary.num_classes();
  std::vector<double> probs(classes);
  double total = 0.0;
  std::size_t rows = 0;
  for (std::size_t c = 0; c < classes; ++c) {
    if (summary.counts[c] == 0) continue;
    SoftmaxRow({summary.mean_logits.data() + c * classes, classes}, temperature, probs);
    for (const double p : probs) {
      if (p > 0.0) total -= p * std::log(p);
    }
    ++rows;
  }
  return rows > 0 ? total / static_cast<double>(rows) : 0.0;
}

SoftTargetSummary ZeroSummary(std::size_t num_classes) {
  SoftTargetSummary out;
  out.counts.assign(num_classes, 0);
  out.mean_logits.assign(num_classes * num_classes, 0.0f);
  return out;
}

void KeepPreviousRow(const SoftTargetSummary& previous, std::size_t c, SoftTargetSummary& next) {
  const std::size_t classes = next.num_classes();
  if (previous.num_classes() != classes) return;
  const auto row = static_cast<std::ptrdiff_t>(c * classes);
  std::copy_n(previous.mean_logits.begin() + row, classes, next.mean_logits.begin() + row);
  next.counts[c] = previous.counts[c];
}

}  // namespace fsd::aggregation
