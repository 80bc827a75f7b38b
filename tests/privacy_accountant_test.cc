// The RDP accountant against published values (Opacus / TF Privacy) and its
// properties (privacy/dp/rdp_accountant.h).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/errors.h"
#include "privacy/dp/rdp_accountant.h"

namespace fsd::privacy {
namespace {

struct Golden {
  double noise_multiplier, q;
  std::int64_t steps;
  double delta, epsilon;
};

TEST(RdpAccountantTest, MatchesPublishedEpsilonsWithinOnePartPerMillion) {
  const Golden goldens[] = {{1.5, 0.04, 2250, 1e-5, 7.32911117143},
                            {1.3, 0.0025, 6000, 1e-5, 0.7242234026109595},
                            {1.0, 0.001, 30000, 1e-7, 1.4154988495444842},
                            {4.530877117, 1.0, 1, 1e-6, 1.0}};
  for (const Golden& g : goldens) {
    const double epsilon = EpsilonAfter(g.q, g.noise_multiplier, g.steps, g.delta).epsilon;
    EXPECT_NEAR(epsilon / g.epsilon, 1.0, 1e-6)
        << "z=" << g.noise_multiplier << " q=" << g.q << " steps=" << g.steps;
  }
}

TEST(RdpAccountantTest, FullBatchGaussianHasTheClosedFormRdp) {
  EXPECT_DOUBLE_EQ(SampledGaussianRdp(1.0, 2.0, 8.0), 8.0 / (2 * 4.0));
  EXPECT_EQ(SampledGaussianRdp(0.0, 2.0, 8.0), 0.0);
  EXPECT_TRUE(std::isinf(SampledGaussianRdp(0.5, 0.0, 8.0)));
}

TEST(RdpAccountantTest, OrdersAreOnePointOneToTenPointNineThenTwelveToSixtyThree) {
  const auto orders = DefaultOrders();
  ASSERT_EQ(orders.size(), 99u + 52u);
  EXPECT_DOUBLE_EQ(orders.front(), 1.1);
  EXPECT_DOUBLE_EQ(orders[98], 10.9);
  EXPECT_DOUBLE_EQ(orders[99], 12.0);
  EXPECT_DOUBLE_EQ(orders.back(), 63.0);
}

TEST(RdpAccountantTest, EpsilonGrowsWithStepsFallsWithNoiseAndIsZeroWithoutSampling) {
  double previous = 0.0;
  for (const std::int64_t steps : {1, 10, 100, 1000}) {
    const double epsilon = EpsilonAfter(0.01, 1.1, steps, 1e-5).epsilon;
    EXPECT_GT(epsilon, previous) << steps;
    previous = epsilon;
  }
  previous = INFINITY;
  for (const double z : {0.6, 0.8, 1.0, 2.0, 5.0}) {
    const double epsilon = EpsilonAfter(0.05, z, 500, 1e-5).epsilon;
    EXPECT_LT(epsilon, previous) << z;
    previous = epsilon;
  }
  EXPECT_EQ(EpsilonAfter(0.0, 1.0, 1000, 1e-5).epsilon, 0.0);
  EXPECT_EQ(EpsilonAfter(0.1, 1.0, 0, 1e-5).epsilon, 0.0);
}

TEST(RdpAccountantTest, NoiseSearchNeverOvershootsTheTarget) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> log_epsilon(std::log(0.2), std::log(20.0));
  std::uniform_real_distribution<double> log_q(std::log(1e-3), std::log(1.0));
  std::uniform_int_distribution<int> steps(1, 3000);
  std::uniform_real_distribution<double> log_delta(std::log(1e-8), std::log(1e-3));
  for (int trial = 0; trial < 25; ++trial) {
    const double target = std::exp(log_epsilon(rng));
    const double q = std::exp(log_q(rng));
    const int t = steps(rng);
    const double delta = std::exp(log_delta(rng));
    const double z = NoiseMultiplierFor(target, q, t, delta);
    const double spent = EpsilonAfter(q, z, t, delta).epsilon;
    EXPECT_LE(spent, target) << "target " << target << " q " << q << " steps " << t;
    // ... and is tight: 1% less noise already spends more than the target.
    EXPECT_GT(EpsilonAfter(q, z * 0.99, t, delta).epsilon, target * (1 - 1e-9))
        << "target " << target << " q " << q << " steps " << t;
  }
}

TEST(RdpAccountantTest, AccountantComposesStepsAndRestoresFromItsState) {
  RdpAccountant accountant;
  for (int i = 0; i < 50; ++i) accountant.Step(0.04, 1.5);
  EXPECT_EQ(accountant.steps(), 50);
  EXPECT_NEAR(accountant.Spent(1e-5).epsilon, EpsilonAfter(0.04, 1.5, 50, 1e-5).epsilon, 1e-9);
  const double next = accountant.SpentAfterStep(0.04, 1.5, 1e-5).epsilon;
  EXPECT_NEAR(next, EpsilonAfter(0.04, 1.5, 51, 1e-5).epsilon, 1e-9);
  EXPECT_EQ(accountant.steps(), 50);  // SpentAfterStep does not charge
  const RdpAccountant restored(accountant.orders(), accountant.rdp(), accountant.steps());
  EXPECT_EQ(restored.Spent(1e-5).epsilon, accountant.Spent(1e-5).epsilon);
}

TEST(RdpAccountantTest, TwoReleasesOnOneCohortComposeAsOneMultiplier) {
  EXPECT_DOUBLE_EQ(CombinedNoiseMultiplier(2.0, 2.0), std::sqrt(2.0));
  // Adding the RDP of the two mechanisms equals the RDP of the combined one
  // when the full cohort is released (q = 1: α / 2z² adds up exactly).
  const double a = 7.0;
  EXPECT_NEAR(SampledGaussianRdp(1.0, 1.5, a) + SampledGaussianRdp(1.0, 3.0, a),
              SampledGaussianRdp(1.0, CombinedNoiseMultiplier(1.5, 3.0), a), 1e-12);
}

TEST(RdpAccountantTest, ArgumentsOutOfRangeAreConfigErrors) {
  EXPECT_THROW(EpsilonAfter(1.5, 1.0, 10, 1e-5), ConfigError);
  EXPECT_THROW(EpsilonAfter(0.1, -1.0, 10, 1e-5), ConfigError);
  EXPECT_THROW(EpsilonAfter(0.1, 1.0, 10, 0.0), ConfigError);
  EXPECT_THROW(EpsilonAfter(0.1, 1.0, -1, 1e-5), ConfigError);
  EXPECT_THROW(NoiseMultiplierFor(0.0, 0.1, 10, 1e-5), ConfigError);
  EXPECT_THROW(NoiseMultiplierFor(1e-6, 1.0, 1000000, 1e-5), ConfigError);
}

}  // namespace
}  // namespace fsd::privacy
