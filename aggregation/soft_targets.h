// Soft-target summaries (DESIGN.md, SoftTargetSummary) and how the coordinator
// turns many of them into global soft targets.
//
// A summary holds, per class c, the number of samples n_c and the mean
// deepest-exit logits over them: logits, not probabilities, so the
// coordinator can soften them at any temperature. The global summary is the
// count-weighted mean per class over the round's summaries; a class nobody
// reported this round keeps its previous row. Pure math over spans, no
// LibTorch. Thread-safety: plain values and free functions; an aggregator
// belongs to one thread. Errors: CheckSummary returns a problem to REJECT;
// the other functions throw InternalError on inconsistent sizes (inputs are
// validated before they get here).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fsd::aggregation {

struct SoftTargetSummary {
  std::vector<std::int64_t> counts;  // [C]: samples per class
  std::vector<float> mean_logits;    // [C*C] row-major: row c = mean logits of class-c samples
  std::size_t num_classes() const { return counts.size(); }
  bool empty() const { return counts.empty(); }
  bool operator==(const SoftTargetSummary&) const = default;
};

// Why a peer's summary cannot be used; each maps to one REJECT code.
struct SummaryProblem {
  enum class Kind { kClassCount, kNegativeCount, kTooManySamples, kNonFinite } kind;
  std::string text;
};

// Checks a summary from a peer: C classes, C*C logits, finite logits, counts
// ≥ 0 summing to at most `max_samples` (the samples the client trained on).
std::optional<SummaryProblem> CheckSummary(const SoftTargetSummary& summary,
                                           std::size_t num_classes, std::int64_t max_samples);

// Count-weighted mean of summaries per class, accumulated in double.
class SoftTargetAggregator {
 public:
  explicit SoftTargetAggregator(std::size_t num_classes);
  // Adds a summary; class c weighs class_weights[c] (aggregation/weighting.h
  // ClassWeights), or counts[c] when class_weights is empty.
  void Accumulate(const SoftTargetSummary& summary, std::span<const double> class_weights = {});
  // The aggregate; rows of classes nobody reported come from `previous`
  // (with its count) when it has them, else stay zero with count 0.
  SoftTargetSummary Finalize(const SoftTargetSummary& previous) &&;

 private:
  std::size_t num_classes_;
  std::vector<double> weighted_sum_;  // [C*C]
  std::vector<double> weights_;       // [C]: sum of the class weights
  std::vector<std::int64_t> counts_;  // [C]
};

// Row-wise softmax(mean_logits / T): the C*C global soft targets. Rows of
// classes with count 0 are uniform (no knowledge about them yet).
std::vector<float> SoftenRows(const SoftTargetSummary& summary, double temperature);

// Mean over classes with count > 0 of the entropy (nats) of softmax(row / T);
// 0 when no class has a count.
double MeanEntropy(const SoftTargetSummary& summary, double temperature);

}  // namespace fsd::aggregation
