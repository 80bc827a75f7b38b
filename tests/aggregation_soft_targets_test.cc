#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "aggregation/schedules.h"
#include "aggregation/soft_targets.h"
#include "common/errors.h"

namespace fsd::aggregation {
namespace {

using Kind = SummaryProblem::Kind;

SoftTargetSummary TwoClasses(std::int64_t n0, std::int64_t n1, float a, float b) {
  return {{n0, n1}, {a, 0.0f, 0.0f, b}};
}

TEST(SoftTargetSummaryTest, AcceptsAValidSummary) {
  EXPECT_FALSE(CheckSummary(TwoClasses(3, 7, 1.0f, 2.0f), 2, 10).has_value());
}

TEST(SoftTargetSummaryTest, RejectsClassCountOtherThanTheModels) {
  const auto problem = CheckSummary(TwoClasses(3, 7, 1.0f, 2.0f), 3, 10);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->kind, Kind::kClassCount);
  EXPECT_NE(problem->text.find("2 classes, the model has 3"), std::string::npos);
}

TEST(SoftTargetSummaryTest, RejectsNegativeCountNamingTheClass) {
  const auto problem = CheckSummary(TwoClasses(3, -1, 1.0f, 2.0f), 2, 10);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->kind, Kind::kNegativeCount);
  EXPECT_NE(problem->text.find("class 1"), std::string::npos);
}

TEST(SoftTargetSummaryTest, RejectsCountsSummingAboveTheSamples) {
  EXPECT_EQ(CheckSummary(TwoClasses(6, 5, 1.0f, 2.0f), 2, 10)->kind, Kind::kTooManySamples);
  // A sum that would overflow int64 is refused, not wrapped.
  const auto huge = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(CheckSummary(TwoClasses(huge, huge, 1.0f, 2.0f), 2, 10)->kind, Kind::kTooManySamples);
}

TEST(SoftTargetSummaryTest, RejectsNonFiniteLogits) {
  EXPECT_EQ(CheckSummary(TwoClasses(1, 1, NAN, 2.0f), 2, 10)->kind, Kind::kNonFinite);
  EXPECT_EQ(CheckSummary(TwoClasses(1, 1, INFINITY, 2.0f), 2, 10)->kind, Kind::kNonFinite);
}

TEST(SoftenRowsTest, RowsAreSoftmaxAtTheTemperatureAndUniformForUnseenClasses) {
  const auto targets = SoftenRows(TwoClasses(4, 0, 6.0f, 9.0f), 3.0);
  const double p = 1.0 / (1.0 + std::exp(-2.0));  // softmax([6, 0] / 3)[0]
  EXPECT_NEAR(targets[0], p, 1e-7);
  EXPECT_NEAR(targets[1], 1.0 - p, 1e-7);
  EXPECT_FLOAT_EQ(targets[2], 0.5f);
  EXPECT_FLOAT_EQ(targets[3], 0.5f);
}

TEST(MeanEntropyTest, GrowsWithTemperatureTowardLogC) {
  const auto summary = TwoClasses(4, 4, 6.0f, 3.0f);
  double previous = 0.0;
  for (double t : {0.5, 1.0, 2.0, 4.0, 8.0, 64.0}) {
    const double entropy = MeanEntropy(summary, t);
    EXPECT_GT(entropy, previous) << t;
    previous = entropy;
  }
  EXPECT_NEAR(previous, std::log(2.0), 1e-3);
}

TEST(TemperatureScheduleTest, LinearAndCosineGoFromStartToEnd) {
  const LinearTemperature linear(4.0, 1.0);
  const CosineTemperature cosine(4.0, 1.0);
  const auto at = [](std::uint64_t round) { return RoundContext{round, 7, nullptr}; };
  EXPECT_DOUBLE_EQ(linear.At(at(1)), 4.0);
  EXPECT_DOUBLE_EQ(linear.At(at(3)), 3.0);
  EXPECT_DOUBLE_EQ(linear.At(at(7)), 1.0);
  EXPECT_DOUBLE_EQ(cosine.At(at(1)), 4.0);
  EXPECT_NEAR(cosine.At(at(4)), 2.5, 1e-12);
  EXPECT_NEAR(cosine.At(at(7)), 1.0, 1e-12);
}

TEST(TemperatureScheduleTest, StepMultipliesEveryStepRoundsWithinBounds) {
  const StepTemperature step(4.0, 0.5, 5, 1.5, 10.0);
  const auto at = [](std::uint64_t round) { return RoundContext{round, 20, nullptr}; };
  EXPECT_DOUBLE_EQ(step.At(at(1)), 4.0);
  EXPECT_DOUBLE_EQ(step.At(at(5)), 4.0);
  EXPECT_DOUBLE_EQ(step.At(at(6)), 2.0);
  EXPECT_DOUBLE_EQ(step.At(at(11)), 1.5);  // 1.0 clamped to the minimum
}

TEST(TemperatureScheduleTest, AdaptiveHitsTheTargetEntropy) {
  SoftTargetSummary summary{{10, 10, 10}, {5.0f, 1.0f, -1.0f, 0.5f, 4.0f, 0.0f, 2.0f, 1.0f, 6.0f}};
  const AdaptiveTemperature adaptive(0.5, 0.1, 50.0, 3.0);
  const double t = adaptive.At({4, 20, &summary});
  EXPECT_GT(t, 0.1);
  EXPECT_LT(t, 50.0);
  EXPECT_NEAR(MeanEntropy(summary, t), 0.5 * std::log(3.0), 1e-6);
}

TEST(TemperatureScheduleTest, AdaptiveUsesInitialWithoutLogitsAndClampsOutOfReachTargets) {
  const AdaptiveTemperature adaptive(0.5, 1.0, 10.0, 3.0);
  EXPECT_DOUBLE_EQ(adaptive.At({1, 20, nullptr}), 3.0);
  const SoftTargetSummary unseen{{0, 0}, {0.0f, 0.0f, 0.0f, 0.0f}};
  EXPECT_DOUBLE_EQ(adaptive.At({2, 20, &unseen}), 3.0);
  // Nearly identical logits are already soft at T = 1: the minimum.
  const auto flat = TwoClasses(1, 1, 0.01f, 0.01f);
  EXPECT_DOUBLE_EQ(adaptive.At({2, 20, &flat}), 1.0);
  // Extremely confident logits stay sharp even at T = 10: the maximum.
  const auto sharp = TwoClasses(1, 1, 1000.0f, 1000.0f);
  EXPECT_DOUBLE_EQ(adaptive.At({2, 20, &sharp}), 10.0);
}

TEST(SoftTargetSummaryTest, AClassNobodyReportedKeepsItsPreviousRowAndCount) {
  const SoftTargetSummary previous = TwoClasses(3, 7, 1.5f, 2.5f);
  SoftTargetSummary next = ZeroSummary(2);
  EXPECT_EQ(next, (SoftTargetSummary{{0, 0}, {0.0f, 0.0f, 0.0f, 0.0f}}));
  KeepPreviousRow(previous, 1, next);
  EXPECT_EQ(next, (SoftTargetSummary{{0, 7}, {0.0f, 0.0f, 0.0f, 2.5f}}));
  // No previous rows of this shape (the first round): the row stays 0.
  SoftTargetSummary first = ZeroSummary(2);
  KeepPreviousRow(SoftTargetSummary{}, 0, first);
  KeepPreviousRow(ZeroSummary(3), 0, first);
  EXPECT_EQ(first, ZeroSummary(2));
}

TEST(RampTest, ConstantAndLinear) {
  EXPECT_DOUBLE_EQ(Ramp::Constant(0.3).At({9, 20, nullptr}), 0.3);
  EXPECT_DOUBLE_EQ(Ramp(0.0, 1.0).At({1, 11, nullptr}), 0.0);
  EXPECT_DOUBLE_EQ(Ramp(0.0, 1.0).At({6, 11, nullptr}), 0.5);
  EXPECT_DOUBLE_EQ(Ramp(0.0, 1.0).At({11, 11, nullptr}), 1.0);
}

}  // namespace
}  // namespace fsd::aggregation
