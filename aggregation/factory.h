// The one place that turns aggregation options into concrete objects: the
// aggregation rule for a round (aggregation/aggregator.h). The coordinator
// maps its config onto AggregationOptions (coordinator/options.h) and asks
// here; no other code names a concrete Aggregator.
// Thread-safety: free functions. Errors: InternalError on an unknown rule.
#pragma once

#include <cstddef>
#include <memory>

#include "aggregation/aggregator.h"
#include "aggregation/weighting.h"

namespace fsd::aggregation {

enum class Rule { kFedAvg };

struct AggregationOptions {
  // How client vectors combine: "fedavg" (the weighted mean).
  Rule rule = Rule::kFedAvg;
  // How much each client counts (aggregation/weighting.h).
  Weighting weighting = Weighting::kCapped;
  double max_weight_ratio = 4.0;  // kCapped: a client weighs at most this × the round's median
  // Soft targets: also cap each class at max_weight_ratio × that class's
  // median weight (aggregation/weighting.h ClassWeights).
  bool cap_per_class = false;
};

const char* RuleName(Rule rule);

// A fresh aggregator for one round over `dim` kept coordinates.
std::unique_ptr<Aggregator> MakeAggregator(const AggregationOptions& options, std::size_t dim);

}  // namespace fsd::aggregation
