// The one place where a round's aggregation rule is chosen from options: the
// coordinator maps [aggregation] onto AggregationOptions
// (coordinator/options.cc) and calls Aggregate() over the round's kept
// values, and AggregateSummaries() over its soft-target summaries. The math of
// each rule is in aggregation/robust.h; weights in aggregation/weighting.h.
//
// Pipeline for model values: optional clipping of every client's delta from
// the round's global values (fixed L2 bound, or the round's median delta norm
// × clip_factor), then the rule. fedavg is the weighted mean and multi_krum
// the weighted mean of the selected (the selection itself is unweighted, so
// weights cannot buy a hostile vector its place); krum returns one client's
// vector. median and trimmed_mean give every client one vote unless
// `one_vote` is off: a weighted median breaks down when the attackers hold
// half of the *weight*, and under capped weighting with ratio r, f attackers
// that inflate their declarations hold up to f·r / (f·r + n − f) of it (a
// fifth of the cohort owns the median at r = 4). trimmed_mean needs a cohort
// large enough to trim one value from each side (MinimumInputs). All rules
// see kept coordinates only, so pruned coordinates stay exactly zero after
// Scatter (aggregation/sparsity.h).
// Thread-safety: free functions. Errors: InternalError on inputs that break a
// stated precondition (callers check MinimumInputs first).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "aggregation/robust.h"
#include "aggregation/soft_targets.h"
#include "aggregation/sparsity.h"
#include "aggregation/weighting.h"

namespace fsd::aggregation {

enum class Rule { kFedAvg, kMedian, kTrimmedMean, kKrum, kMultiKrum };
enum class SummaryRule { kMean, kMedian, kTrimmedMean, kClippedMean };
enum class ClipMode { kOff, kFixed, kMedian };

struct AggregationOptions {
  Rule rule = Rule::kFedAvg;
  // How much each client counts (aggregation/weighting.h).
  Weighting weighting = Weighting::kCapped;
  double max_weight_ratio = 4.0;  // kCapped: a client weighs at most this × the round's median
  // kMedian and kTrimmedMean count every client once, whatever its weight.
  bool one_vote = true;
  // Soft targets: also cap each class at max_weight_ratio × that class's
  // median weight (aggregation/weighting.h ClassWeights).
  bool cap_per_class = false;
  double trim_fraction = 0.1;     // β for kTrimmedMean (and SummaryRule::kTrimmedMean), each side
  std::size_t byzantine = 0;      // f for Krum / multi-Krum
  std::size_t krum_selected = 0;  // m for multi-Krum; 0 = n − f
  ClipMode clip = ClipMode::kOff;
  double clip_norm = 0.0;    // kFixed: the L2 bound of a client's delta
  double clip_factor = 1.0;  // kMedian: the bound is the round's median delta norm × this
  SummaryRule summary_rule = SummaryRule::kMean;
  // kClippedMean: rows are clipped to this × the median distance of the
  // class's rows from their coordinate-wise median row.
  double summary_clip_factor = 2.0;
};

const char* RuleName(Rule rule);
const char* SummaryRuleName(SummaryRule rule);

// The fewest updates a round needs under `options`: 2f + 3 for Krum and
// multi-Krum; for trimmed_mean the smallest n that trims at least one value
// from each side (TrimCount(n, β) >= 1, so at least 3; REQUIRES β > 0);
// else 1. Fewer, and the round is not aggregated.
std::size_t MinimumInputs(const AggregationOptions& options);

// What a round's aggregation did, for metrics.
struct AggregateReport {
  std::size_t clipped = 0;            // clients whose delta was clipped
  std::size_t trimmed = 0;            // trimmed_mean: values dropped from each side per coordinate
  double clip_bound = 0.0;            // the L2 bound used (0 when clipping is off)
  std::vector<std::size_t> selected;  // Krum / multi-Krum: indices of the chosen inputs
};

// The new global kept values from the clients' kept values (in the caller's
// fixed order). `reference`: the round's global kept values, from which
// deltas are measured for clipping. REQUIRES: inputs.size() >=
// MinimumInputs(options), every input of reference's size.
std::vector<float> Aggregate(const AggregationOptions& options, std::span<const float> reference,
                             std::span<const WeightedInput> inputs,
                             AggregateReport* report = nullptr);

// One client's update when clients train different sub-networks
// (heterogeneous clients, common/model/layout.h): its kept values under
// `mask` — the round's mask within the client's sub-network, over the whole
// vector (empty: every value) — and its weight.
struct PartialInput {
  std::span<const float> kept;
  const Mask* mask = nullptr;
  double weight = 1.0;
};

// Aggregation over the clients that trained each tensor (DepthFL, ICLR 2023):
// the tensors of `layout` are grouped by the inputs whose mask keeps values
// in them, and each group is aggregated by Aggregate() under `options`
// (clipping per group) over those inputs, from the group's values in
// `global` (dense), which receives the result. A group with fewer than
// MinimumInputs(options) contributors keeps its values. With one
// sub-network for all, this is Aggregate() over the kept values. Returns
// the report of the group with the most contributors (the shared trunk),
// its Krum selection as indices into `inputs`.
AggregateReport AggregateBySubnetwork(const AggregationOptions& options,
                                      const model::ModelLayout& layout,
                                      std::span<const PartialInput> inputs,
                                      std::span<float> global);

// The global soft-target summary from the round's summaries, per class over
// the clients that report the class (count > 0), under options.summary_rule:
//   mean          the mean of the rows, class c of client i weighing
//                 class_weights[i][c] (ClassWeights); the count is the sum;
//   median        the median per logit, one vote per reporting client; the
//                 count is the median count × the number of reporters;
//   trimmed_mean  per logit, trimmed as TrimmedMean with trim_fraction, one
//                 vote per reporter; the count is the trimmed mean count × the
//                 number of reporters;
//   clipped_mean  every row clipped (L2) to within ρ = summary_clip_factor ×
//                 the median distance of the rows from their coordinate-wise
//                 median row m, then the mean weighted as "mean" but with each
//                 class weight capped at max_weight_ratio × the class's median
//                 weight; the count is the sum of the counts, each capped at
//                 max_weight_ratio × the median count.
// median and trimmed_mean ignore weights because a client can put all of its
// weight on one class (reporting all its samples there) and would then own
// that class's weighted median; with one vote each, fewer than half of a
// class's reporters cannot move it beyond the honest rows' range — but the
// class experts (clients holding most of a class on a non-IID split) count
// no more than a client that saw the class twice. clipped_mean keeps the
// experts' weight and bounds every reporter instead: while fewer than half
// of a class's reporters are hostile, m and ρ are set by honest rows, and a
// hostile row moves the class's row by at most its capped weight share × ρ
// (plus what it moves m), however far it lies. A class nobody
// reported keeps its row and count from `previous` (when it has them), else a
// zero row with count 0.
SoftTargetSummary AggregateSummaries(const AggregationOptions& options,
                                     std::span<const SoftTargetSummary* const> summaries,
                                     const std::vector<std::vector<double>>& class_weights,
                                     std::size_t num_classes, const SoftTargetSummary& previous);

}  // namespace fsd::aggregation
