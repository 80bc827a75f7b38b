#include <gtest/gtest.h>

#include "aggregation/weighting.h"

namespace fsd::aggregation {
namespace {

TEST(ClientWeightsTest, SamplesUniformAndCappedByTheLowerMedian) {
  const std::vector<std::int64_t> samples = {100, 300, 200, 1'000'000'000};
  EXPECT_EQ(ClientWeights(Weighting::kSamples, samples, 4.0),
            (std::vector<double>{100, 300, 200, 1e9}));
  EXPECT_EQ(ClientWeights(Weighting::kUniform, samples, 4.0), (std::vector<double>{1, 1, 1, 1}));
  // Lower median of {100, 200, 300, 1e9} is 200: cap 800.
  EXPECT_EQ(ClientWeights(Weighting::kCapped, samples, 4.0),
            (std::vector<double>{100, 300, 200, 800}));
}

TEST(ClassWeightsTest, ClassesCarryTheClientsShareAndAreCappedPerClass) {
  const std::vector<std::vector<std::int64_t>> counts = {{50, 50}, {50, 50}, {400, 0}};
  const std::vector<std::int64_t> samples = {100, 100, 400};
  const std::vector<double> weights = {100, 100, 400};
  const auto plain = ClassWeights(counts, weights, samples, /*cap_per_class=*/false, 4.0);
  EXPECT_EQ(plain[2], (std::vector<double>{400, 0}));
  // Class 0: 50, 50, 400 → lower median 50, cap 200.
  const auto capped = ClassWeights(counts, weights, samples, /*cap_per_class=*/true, 4.0);
  EXPECT_EQ(capped[0], (std::vector<double>{50, 50}));
  EXPECT_EQ(capped[2], (std::vector<double>{200, 0}));
  // Uniform: each client's classes share its weight of 1.
  const auto uniform =
      ClassWeights(counts, std::vector<double>{1, 1, 1}, samples, /*cap_per_class=*/false, 4.0);
  EXPECT_EQ(uniform[0], (std::vector<double>{0.5, 0.5}));
  EXPECT_EQ(uniform[2], (std::vector<double>{1.0, 0.0}));
}

}  // namespace
}  // namespace fsd::aggregation
