#include "aggregation/factory.h"

#include "aggregation/fedavg.h"
#include "common/errors.h"

namespace fsd::aggregation {

const char* RuleName(Rule rule) {
  switch (rule) {
    case Rule::kFedAvg:
      return "fedavg";
  }
  return "unknown";
}

std::unique_ptr<Aggregator> MakeAggregator(const AggregationOptions& options, std::size_t dim) {
  switch (options.rule) {
    case Rule::kFedAvg:
      return std::make_unique<FedAvgAggregator>(dim);
  }
  throw InternalError(std::string("unknown aggregation rule ") + RuleName(options.rule));
}

}  // namespace fsd::aggregation
