// FaultPlan (sim/faults.h): seeded, independent draws at the configured rates.
#include "sim/faults.h"

#include <gtest/gtest.h>

namespace fsd::sim {
namespace {

config::FaultsConfig Rates() {
  config::FaultsConfig faults;
  faults.dropout_before_train = 0.1;
  faults.dropout_during_train = 0.2;
  faults.dropout_after_upload = 0.3;
  faults.crash_rate = 0.05;
  faults.garbage_rate = 0.5;
  faults.straggler_fraction = 0.2;
  return faults;
}

TEST(FaultPlanTest, EachFaultHitsAtItsConfiguredRate) {
  const FaultPlan plan(Rates(), 42, 1000);
  int before = 0, during = 0, after = 0, crash = 0, garbage = 0;
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) {
    const std::size_t client = static_cast<std::size_t>(i % 1000);
    const std::uint64_t round = 1 + static_cast<std::uint64_t>(i / 1000);
    before += plan.DropsOut(DropoutPoint::kBeforeTrain, client, round, 1);
    during += plan.DropsOut(DropoutPoint::kDuringTrain, client, round, 1);
    after += plan.DropsOut(DropoutPoint::kAfterUpload, client, round, 1);
    crash += plan.Crashes(client, round, 1);
    garbage += plan.SendsGarbage(client, round, 1);
  }
  // Binomial(40000, p): 5 standard deviations is below 0.012 for every p here.
  EXPECT_NEAR(before / double(draws), 0.1, 0.012);
  EXPECT_NEAR(during / double(draws), 0.2, 0.012);
  EXPECT_NEAR(after / double(draws), 0.3, 0.012);
  EXPECT_NEAR(crash / double(draws), 0.05, 0.012);
  EXPECT_NEAR(garbage / double(draws), 0.5, 0.012);
}

TEST(FaultPlanTest, DrawsAreIndependentAcrossFaultsAndDeliveries) {
  config::FaultsConfig faults;
  faults.dropout_before_train = 0.5;
  faults.dropout_during_train = 0.5;
  const FaultPlan plan(faults, 7, 10);
  int both = 0, redrawn_differs = 0;
  for (std::uint64_t round = 1; round <= 4000; ++round) {
    const bool a = plan.DropsOut(DropoutPoint::kBeforeTrain, 3, round, 1);
    const bool b = plan.DropsOut(DropoutPoint::kDuringTrain, 3, round, 1);
    both += a && b;
    redrawn_differs += a != plan.DropsOut(DropoutPoint::kBeforeTrain, 3, round, 2);
  }
  EXPECT_NEAR(both / 4000.0, 0.25, 0.04);
  EXPECT_NEAR(redrawn_differs / 4000.0, 0.5, 0.04);
}

TEST(FaultPlanTest, SameSeedSameFaultsOtherSeedOthers) {
  const FaultPlan a(Rates(), 42, 100), b(Rates(), 42, 100), c(Rates(), 43, 100);
  int differ = 0;
  for (std::size_t client = 0; client < 100; ++client) {
    for (std::uint64_t round = 1; round <= 20; ++round) {
      EXPECT_EQ(a.SendsGarbage(client, round, 1), b.SendsGarbage(client, round, 1));
      differ += a.SendsGarbage(client, round, 1) != c.SendsGarbage(client, round, 1);
    }
    EXPECT_EQ(a.IsStraggler(client), b.IsStraggler(client));
  }
  EXPECT_GT(differ, 500);  // half of 2000 on average
  EXPECT_EQ(a.GarbageFrame(5, 3, 1), b.GarbageFrame(5, 3, 1));
  EXPECT_NE(a.GarbageFrame(5, 3, 1), a.GarbageFrame(5, 3, 2));
}

TEST(FaultPlanTest, StragglersAreExactlyTheConfiguredShare) {
  EXPECT_EQ(FaultPlan(Rates(), 1, 1000).num_stragglers(), 200u);
  EXPECT_EQ(FaultPlan(Rates(), 2, 10).num_stragglers(), 2u);
  EXPECT_EQ(FaultPlan(config::FaultsConfig{}, 2, 10).num_stragglers(), 0u);
}

TEST(FaultPlanTest, ZeroRatesInjectNothing) {
  const FaultPlan plan(config::FaultsConfig{}, 42, 50);
  EXPECT_FALSE(plan.any());
  for (std::size_t client = 0; client < 50; ++client) {
    for (std::uint64_t round = 1; round <= 50; ++round) {
      EXPECT_FALSE(plan.DropsOut(DropoutPoint::kBeforeTrain, client, round, 1));
      EXPECT_FALSE(plan.DropsOut(DropoutPoint::kAfterUpload, client, round, 1));
      EXPECT_FALSE(plan.Crashes(client, round, 1));
      EXPECT_FALSE(plan.SendsGarbage(client, round, 1));
    }
  }
}

TEST(FaultCountsTest, JsonHasEveryColumnAndTheDropoutTotal) {
  FaultCounts counts;
  counts.dropped_before_train = 1;
  counts.dropped_during_train = 2;
  counts.dropped_after_upload = 3;
  counts.crashed = 4;
  const auto json = counts.ToJson();
  EXPECT_EQ(json["faults_dropped"], 6);
  EXPECT_EQ(json["faults_crashed"], 4);
  EXPECT_EQ(json["faults_garbage_frames"], 0);
  EXPECT_EQ(json["faults_straggling"], 0);
}

}  // namespace
}  // namespace fsd::sim
