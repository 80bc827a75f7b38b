// Server optimizers against steps computed by hand (Reddi et al. 2021,
// Algorithm 2; FedAvgM), and the round-level learning-rate schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "aggregation/schedules.h"
#include "aggregation/server_optimizer.h"
#include "common/errors.h"

namespace fsd::aggregation {
namespace {

// One coordinate from x = 1 through the rule's outputs x + 0.2, then − 0.1,
// then + 0.3 (pseudo-gradients Δ = 0.2, −0.1, 0.3), with η = 0.5, β1 = 0.9,
// β2 = 0.99, τ = 0.1 (v starts at τ² = 0.01), μ = 0.5. Returns x, m, v after
// each round.
struct Moments {
  double x, m, v;
};
std::vector<Moments> ThreeRounds(ServerOptimizerKind kind) {
  ServerOptimizer optimizer({kind, 0.5, 0.5, 0.9, 0.99, 0.1}, 1);
  std::vector<float> global = {1.0f};
  std::vector<Moments> out;
  for (const float delta : {0.2f, -0.1f, 0.3f}) {
    const std::vector<float> before = global;
    global[0] = before[0] + delta;
    optimizer.Step(before, global, std::vector<std::uint8_t>{1});
    const auto& state = optimizer.state();
    out.push_back({global[0], state.m[0], state.v.empty() ? 0.0 : state.v[0]});
  }
  return out;
}

void ExpectMoments(const std::vector<Moments>& got, const std::vector<Moments>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t t = 0; t < want.size(); ++t) {
    EXPECT_NEAR(got[t].x, want[t].x, 2e-6) << "round " << t + 1;
    EXPECT_NEAR(got[t].m, want[t].m, 1e-7) << "round " << t + 1;
    EXPECT_NEAR(got[t].v, want[t].v, 2e-7) << "round " << t + 1;  // Δ is a float difference
  }
}

TEST(ServerOptimizerTest, AdamMomentsAndStepsOverThreeRounds) {
  // m1 = 0.1·0.2 = 0.02; v1 = 0.99·0.01 + 0.01·0.04 = 0.0103;
  //   x1 = 1 + 0.5·0.02/(√0.0103 + 0.1) = 1.0496305
  // m2 = 0.9·0.02 + 0.1·(−0.1) = 0.008; v2 = 0.99·0.0103 + 0.01·0.01 = 0.010297;
  //   x2 = x1 + 0.5·0.008/(√0.010297 + 0.1) = 1.0694842
  // m3 = 0.9·0.008 + 0.1·0.3 = 0.0372; v3 = 0.99·0.010297 + 0.01·0.09 = 0.01109403;
  //   x3 = x2 + 0.5·0.0372/(√0.01109403 + 0.1) = 1.1600709
  ExpectMoments(
      ThreeRounds(ServerOptimizerKind::kAdam),
      {{1.0496305, 0.02, 0.0103}, {1.0694842, 0.008, 0.010297}, {1.1600709, 0.0372, 0.01109403}});
}

TEST(ServerOptimizerTest, YogiMovesTheSecondMomentTowardDeltaSquaredAdditively) {
  // v1 = 0.01 − 0.01·0.04·sign(0.01 − 0.04) = 0.0104; x1 = 1 + 0.01/(√0.0104 + 0.1)
  // v2 = 0.0104 − 0.01·0.01·sign(0.0104 − 0.01) = 0.0103
  // v3 = 0.0103 − 0.01·0.09·sign(0.0103 − 0.09) = 0.0112
  ExpectMoments(
      ThreeRounds(ServerOptimizerKind::kYogi),
      {{1.0495098, 0.02, 0.0104}, {1.0693620, 0.008, 0.0103}, {1.1597278, 0.0372, 0.0112}});
}

TEST(ServerOptimizerTest, AdagradSumsSquaredDeltas) {
  // v = 0.01 + 0.04 = 0.05, + 0.01 = 0.06, + 0.09 = 0.15.
  ExpectMoments(ThreeRounds(ServerOptimizerKind::kAdagrad),
                {{1.0309017, 0.02, 0.05}, {1.0424976, 0.008, 0.06}, {1.0806673, 0.0372, 0.15}});
}

TEST(ServerOptimizerTest, MomentumIsFedAvgM) {
  // m = 0.2, 0.5·0.2 − 0.1 = 0, 0.3; x = 1 + 0.5·m each round.
  ExpectMoments(ThreeRounds(ServerOptimizerKind::kMomentum),
                {{1.1, 0.2, 0.0}, {1.1, 0.0, 0.0}, {1.25, 0.3, 0.0}});
}

TEST(ServerOptimizerTest, NoneKeepsTheRulesOutputAndHasNoState) {
  ServerOptimizer none({}, 2);
  std::vector<float> global = {3.0f, -1.0f};
  none.Step(std::vector<float>{1.0f, 1.0f}, global, std::vector<std::uint8_t>{1, 1});
  EXPECT_EQ(global, (std::vector<float>{3.0f, -1.0f}));
  EXPECT_TRUE(none.state().m.empty());
  EXPECT_TRUE(none.state().v.empty());
}

TEST(ServerOptimizerTest, CoordinatesNotSteppedKeepTheRulesOutputAndPrunedZerosStayZero) {
  ServerOptimizer adam({ServerOptimizerKind::kAdam, 1.0, 0.9, 0.9, 0.99, 1e-3}, 3);
  const std::vector<float> before = {1.0f, 0.0f, 2.0f};
  std::vector<float> global = {2.0f, 0.0f, 5.0f};  // index 1 pruned, index 2 a statistic
  adam.Step(before, global, std::vector<std::uint8_t>{1, 0, 0});
  EXPECT_NE(global[0], 2.0f);
  EXPECT_EQ(global[1], 0.0f);
  EXPECT_EQ(global[2], 5.0f);
  EXPECT_EQ(adam.state().m[1], 0.0f);
  EXPECT_EQ(adam.state().m[2], 0.0f);
}

TEST(ServerOptimizerTest, RestoreContinuesExactlyAndRefusesAnotherKindOrSize) {
  const ServerOptimizerOptions options{ServerOptimizerKind::kYogi, 0.1, 0.9, 0.9, 0.99, 1e-2};
  ServerOptimizer first(options, 2);
  std::vector<float> global = {1.5f, -0.5f};
  first.Step(std::vector<float>{1.0f, 0.0f}, global, std::vector<std::uint8_t>{1, 1});
  ServerOptimizer resumed(options, 2);
  resumed.Restore(first.state());
  std::vector<float> a = {2.0f, 0.0f}, b = a;
  first.Step(global, a, std::vector<std::uint8_t>{1, 1});
  resumed.Step(global, b, std::vector<std::uint8_t>{1, 1});
  EXPECT_EQ(a, b);

  ServerOptimizer adam({ServerOptimizerKind::kAdam, 0.1, 0.9, 0.9, 0.99, 1e-2}, 2);
  EXPECT_THROW(adam.Restore(first.state()), DataError);
  ServerOptimizer larger(options, 3);
  EXPECT_THROW(larger.Restore(first.state()), DataError);
  ServerOptimizerState negative = first.state();
  negative.v[0] = -1.0f;
  EXPECT_THROW(resumed.Restore(negative), DataError);
}

RoundContext Round(std::uint64_t round, std::uint64_t total) { return {round, total, nullptr}; }

TEST(LearningRateScheduleTest, ConstantIsOneAndWarmUpRampsUpToIt) {
  const LearningRateSchedule constant;
  EXPECT_EQ(constant.At(Round(7, 20)), 1.0);
  const LearningRateSchedule warm(LearningRateSchedule::Kind::kConstant, 3, 0.0, 5, 0.5);
  EXPECT_DOUBLE_EQ(warm.At(Round(1, 20)), 0.25);
  EXPECT_DOUBLE_EQ(warm.At(Round(3, 20)), 0.75);
  EXPECT_DOUBLE_EQ(warm.At(Round(4, 20)), 1.0);
}

TEST(LearningRateScheduleTest, CosineAndLinearDecayTowardEndAndTheLastRoundStillLearns) {
  using Kind = LearningRateSchedule::Kind;
  const LearningRateSchedule cosine(Kind::kCosine, 0, 0.0, 5, 0.5);
  EXPECT_DOUBLE_EQ(cosine.At(Round(1, 20)), 1.0);
  // p = 10/20 at round 11: (1 + cos(π/2))/2 = 0.5.
  EXPECT_NEAR(cosine.At(Round(11, 20)), 0.5, 1e-12);
  // p = 19/20 at round 20: (1 + cos(0.95π))/2 = 0.0061558.
  EXPECT_NEAR(cosine.At(Round(20, 20)), 0.0061558, 1e-6);
  const LearningRateSchedule linear(Kind::kLinear, 2, 0.1, 5, 0.5);
  // Warm-up 1/3, 2/3; then p = (r − 3)/18: round 3 → 1, round 12 → 1 − 0.9·0.5.
  EXPECT_DOUBLE_EQ(linear.At(Round(2, 20)), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(linear.At(Round(3, 20)), 1.0);
  EXPECT_NEAR(linear.At(Round(12, 20)), 0.55, 1e-12);
}

TEST(LearningRateScheduleTest, StepMultipliesEveryStepRoundsAfterTheWarmUp) {
  const LearningRateSchedule step(LearningRateSchedule::Kind::kStep, 1, 0.0, 5, 0.5);
  EXPECT_DOUBLE_EQ(step.At(Round(1, 20)), 0.5);  // warm-up
  EXPECT_DOUBLE_EQ(step.At(Round(2, 20)), 1.0);
  EXPECT_DOUBLE_EQ(step.At(Round(6, 20)), 1.0);
  EXPECT_DOUBLE_EQ(step.At(Round(7, 20)), 0.5);
  EXPECT_DOUBLE_EQ(step.At(Round(17, 20)), 0.125);
}

}  // namespace
}  // namespace fsd::aggregation
