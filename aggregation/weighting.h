// Aggregation weights: how much each client's update counts in a round's
// aggregate (of weights and of soft-target summaries).
//
// "samples" is classic FedAvg — a client counts by the samples it declared —
// and lets one client that declares 10^9 samples own the aggregate. "uniform"
// counts every client the same. "capped" counts by samples, but no client
// more than `max_weight_ratio` × the median declared samples of the round's
// reporting clients, so an inflated declaration buys at most that ratio.
// Thread-safety: free functions. Errors: InternalError on a non-positive
// sample count or ratio (inputs are validated before they get here).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fsd::aggregation {

enum class Weighting { kSamples, kUniform, kCapped };

const char* WeightingName(Weighting weighting);

// The weight of each client, in the order of `samples` (each > 0).
// REQUIRES: max_weight_ratio >= 1 for kCapped.
std::vector<double> ClientWeights(Weighting weighting, std::span<const std::int64_t> samples,
                                  double max_weight_ratio);

// The weights of each client's classes in the soft-target average: class c
// of client i weighs class_counts[i][c] × client_weights[i] / samples[i] (its
// share of the client's weight; exactly the count under kSamples). With
// `cap_per_class`, every class is also capped at max_weight_ratio × the
// (lower) median weight of that class over the clients that report it, so a
// client cannot put all of its weight on one class's soft target — at the
// price of also capping an honest client that holds most of a class on a
// non-IID split.
std::vector<std::vector<double>> ClassWeights(
    const std::vector<std::vector<std::int64_t>>& class_counts,
    std::span<const double> client_weights, std::span<const std::int64_t> samples,
    bool cap_per_class, double max_weight_ratio);

}  // namespace fsd::aggregation
