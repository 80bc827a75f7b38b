// Soft-target summaries (DESIGN.md, SoftTargetSummary): checking a peer's
// summary and softening the global one (aggregation/aggregate.h combines many).
//
// A summary holds, per class c, the number of samples n_c and the mean
// deepest-exit logits over them: logits, not probabilities, so the
// coordinator can soften them at any temperature. Pure math over spans, no
// LibTorch. Thread-safety: plain values and free functions. Errors:
// CheckSummary returns a problem to REJECT; the other functions throw
// InternalError on inconsistent sizes (inputs are validated before they get
// here).
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

// A summary of `num_classes` classes with every count and logit 0, to be
// filled class by class.
SoftTargetSummary ZeroSummary(std::size_t num_classes);

// Row c of `next` and its count become `previous`'s: a class nobody reported
// in a round keeps what was aggregated for it before (stays 0 when
// `previous` has no rows of next's shape, e.g. before the first round).
void KeepPreviousRow(const SoftTargetSummary& previous, std::size_t c, SoftTargetSummary& next);

// Row-wise softmax(mean_logits / T): the C*C global soft targets. Rows of
// classes with count 0 are uniform (no knowledge about them yet).
std::vector<float> SoftenRows(const SoftTargetSummary& summary, double temperature);

// Mean over classes with count > 0 of the entropy (nats) of softmax(row / T);
// 0 when no class has a count.
double MeanEntropy(const SoftTargetSummary& summary, double temperature);

}  // namespace fsd::aggregation
