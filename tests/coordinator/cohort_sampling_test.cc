// Cohort draws: Poisson inclusion at exactly q per draw, which is what the
// accountant charges when every draw is a step.
#include "coordinator/cohort_sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "common/config/cohort_size.h"
#include "coordinator/federation_state.h"

namespace fsd::coordinator {
namespace {

std::vector<std::string> Candidates(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("client-" + std::to_string(i));
  return names;
}

TEST(CohortSamplingTest, PoissonInclusionRateOver100000DrawsIsQ) {
  constexpr double q = 0.3;
  constexpr int kDraws = 100'000, kMinSurvivors = 3;
  const auto candidates = Candidates(10);
  int included = 0, released = 0, included_when_released = 0;
  for (int attempt = 0; attempt < kDraws; ++attempt) {
    const auto cohort = PoissonCohort(candidates, q, 42, 1, static_cast<std::uint64_t>(attempt));
    const bool in = !cohort.empty() && cohort.front() == "client-0";
    included += in;
    if (cohort.size() >= kMinSurvivors) {
      ++released;
      included_when_released += in;
    }
  }
  // Per draw: q within 4 standard errors (sqrt(q(1 − q)/n) = 0.00145).
  const double sigma = std::sqrt(q * (1 - q) / kDraws);
  EXPECT_NEAR(static_cast<double>(included) / kDraws, q, 4 * sigma);
  // Per released draw — what charging only released rounds assumed to be q —
  // it is far above: the bias every charged draw removes.
  EXPECT_GT(static_cast<double>(included_when_released) / released, q + 0.05);
}

TEST(CohortSamplingTest, DrawsDependOnRoundAndAttemptAndRepeatForTheSameOnes) {
  const auto candidates = Candidates(50);
  std::set<std::vector<std::string>> cohorts;
  for (std::uint64_t round = 1; round <= 5; ++round) {
    for (std::uint64_t attempt = 0; attempt < 5; ++attempt) {
      cohorts.insert(UniformCohort(candidates, 10, 7, round, attempt));
      EXPECT_EQ(UniformCohort(candidates, 10, 7, round, attempt),
                UniformCohort(candidates, 10, 7, round, attempt));
      EXPECT_EQ(PoissonCohort(candidates, 0.2, 7, round, attempt),
                PoissonCohort(candidates, 0.2, 7, round, attempt));
    }
  }
  EXPECT_EQ(cohorts.size(), 25u);
  const auto cohort = UniformCohort(candidates, 10, 7, 1, 0);
  EXPECT_EQ(std::set<std::string>(cohort.begin(), cohort.end()).size(), 10u);
  EXPECT_EQ(UniformCohort(candidates, 80, 7, 1, 0).size(), 50u);
}

// The one cohort formula (common/config/cohort_size.h) that the coordinator
// samples by and the config checks use.
TEST(CohortSizeTest, TargetIsAShareOfTheEnrolledWithinTheRulesMinimumAndTheEligible) {
  using config::PlannedCohort;
  // N = 5, fraction 0.5, over-select 0.5: k = 3, and 5 are asked to train.
  EXPECT_EQ(PlannedCohort(0.5, 0.5, 5, 0, 5).target, 3u);
  EXPECT_EQ(PlannedCohort(0.5, 0.5, 5, 0, 5).sampled, 5u);
  // 0.3 × 10 is 3.0000000000000004 in binary: still 3.
  EXPECT_EQ(PlannedCohort(0.3, 0.0, 10, 0, 10).target, 3u);
  EXPECT_EQ(PlannedCohort(0.3, 0.0, 10, 0, 10).sampled, 3u);
  // Never below 1 nor the rule's minimum (Krum with f = 1: 5), never above the eligible.
  EXPECT_EQ(PlannedCohort(0.01, 0.0, 10, 0, 10).target, 1u);
  EXPECT_EQ(PlannedCohort(0.1, 0.0, 10, 5, 10).target, 5u);
  EXPECT_EQ(PlannedCohort(1.0, 0.0, 100, 0, 7).target, 7u);
  EXPECT_EQ(PlannedCohort(0.5, 1.0, 10, 0, 8).sampled, 8u);
  // The share counts the enrolled, not the joined (eligible).
  EXPECT_EQ(PlannedCohort(0.1, 0.0, 1000, 0, 500).target, 100u);
}

TEST(CohortSamplerTest, UniformSamplerDrawsThePlannedShareWithSpares) {
  CoordinatorOptions options;
  options.federation.fraction = 0.5;
  options.federation.over_select = 0.5;
  FederationState state(options, {});
  const auto sampler = MakeCohortSampler(options, 7, state);
  const auto candidates = Candidates(5);
  const auto draw = sampler->Draw(candidates, /*enrolled=*/5, /*minimum=*/1, 3, 0);
  ASSERT_TRUE(draw.has_value());
  EXPECT_EQ(draw->target, 3u);
  EXPECT_EQ(draw->cohort, UniformCohort(candidates, 5, 7, 3, 0));
  EXPECT_EQ(sampler->RefusalOfNextDraw(3), std::nullopt);
}

TEST(CohortSamplerTest, PoissonSamplerChargesEveryDrawAndRedrawsBelowTheMinimum) {
  CoordinatorOptions options;
  options.privacy.enabled = true;
  options.privacy.sampling_rate = 0.3;
  options.privacy.noise_multiplier = 1.0;
  FederationState state(options, {});
  const auto sampler = MakeCohortSampler(options, 11, state);
  const auto candidates = Candidates(10);
  int usable = 0;
  for (std::uint64_t attempt = 0; attempt < 200; ++attempt) {
    const auto draw = sampler->Draw(candidates, 10, /*minimum=*/4, 1, attempt);
    const auto cohort = PoissonCohort(candidates, 0.3, 11, 1, attempt);
    // The same draw as PoissonCohort's; too small ones are not a cohort.
    EXPECT_EQ(draw.has_value(), cohort.size() >= 4u) << attempt;
    if (draw) {
      EXPECT_EQ(draw->cohort, cohort);
      EXPECT_EQ(draw->target, cohort.size());
      ++usable;
    }
    // Charged whether or not it made a cohort.
    EXPECT_EQ(state.ledger->draws(), static_cast<std::int64_t>(attempt + 1));
  }
  EXPECT_GT(usable, 0);
  EXPECT_LT(usable, 200);
}

}  // namespace
}  // namespace fsd::coordinator
