#include <gtest/gtest.h>

#include "aggregation/fedavg.h"
#include "common/errors.h"

namespace fsd::aggregation {
namespace {

TEST(FedAvgAggregatorTest, WeightsUpdatesBySampleCount) {
  FedAvgAggregator aggregator(3);
  aggregator.Accumulate(std::vector<float>{1.0f, 0.0f, -2.0f}, 100);
  aggregator.Accumulate(std::vector<float>{4.0f, 2.0f, 2.0f}, 300);
  EXPECT_EQ(aggregator.num_inputs(), 2);
  const auto result = std::move(aggregator).Finalize();
  EXPECT_FLOAT_EQ(result[0], (1.0f * 100 + 4.0f * 300) / 400);
  EXPECT_FLOAT_EQ(result[1], 1.5f);
  EXPECT_FLOAT_EQ(result[2], 1.0f);
}

TEST(FedAvgAggregatorTest, SingleUpdateIsReturnedExactly) {
  FedAvgAggregator aggregator(2);
  aggregator.Accumulate(std::vector<float>{0.1f, 1e-7f}, 7);
  EXPECT_EQ(std::move(aggregator).Finalize(), (std::vector<float>{0.1f, 1e-7f}));
}

TEST(FedAvgAggregatorTest, OrderOfUpdatesDoesNotChangeTheResult) {
  const std::vector<std::vector<float>> updates = {{0.3f, 1.7f}, {-2.2f, 0.9f}, {5.5f, -0.1f}};
  const std::vector<std::int64_t> counts = {10309, 2122, 5958};
  FedAvgAggregator forward(2), backward(2);
  for (int i = 0; i < 3; ++i) forward.Accumulate(updates[i], counts[i]);
  for (int i = 2; i >= 0; --i) backward.Accumulate(updates[i], counts[i]);
  EXPECT_EQ(std::move(forward).Finalize(), std::move(backward).Finalize());
}

TEST(FedAvgAggregatorTest, RejectsWrongSizeAndNonPositiveWeight) {
  FedAvgAggregator aggregator(2);
  EXPECT_THROW(aggregator.Accumulate(std::vector<float>{1.0f}, 1), InternalError);
  EXPECT_THROW(aggregator.Accumulate(std::vector<float>{1.0f, 2.0f}, 0), InternalError);
  EXPECT_FALSE(aggregator.CanFinalize());
  EXPECT_THROW(std::move(aggregator).Finalize(), InternalError);
}

}  // namespace
}  // namespace fsd::aggregation
