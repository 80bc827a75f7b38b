// The attack profile of fsd-sim against hand-computed values (sim/attack.h).
#include "sim/attack.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/errors.h"

namespace fsd::sim {
namespace {

using config::AttackKind;

const std::vector<float> kGlobal = {1.0f, -2.0f, 0.0f, 4.0f};
const std::vector<float> kTrained = {1.5f, -3.0f, 0.0f, 4.25f};  // delta 0.5, −1, 0, 0.25

TEST(AttackedValuesTest, SignFlipScaleAndZeroFollowTheirFormulas) {
  EXPECT_EQ(AttackedValues(AttackKind::kSignFlip, 10, kGlobal, kTrained, 1),
            (std::vector<float>{-4.0f, 8.0f, 0.0f, 1.5f}));
  EXPECT_EQ(AttackedValues(AttackKind::kScale, 100, kGlobal, kTrained, 1),
            (std::vector<float>{51.0f, -102.0f, 0.0f, 29.0f}));
  EXPECT_EQ(AttackedValues(AttackKind::kZero, 1, kGlobal, kTrained, 1), kGlobal);
  EXPECT_THROW(AttackedValues(AttackKind::kAlie, 1, kGlobal, kTrained, 1), InternalError);
  EXPECT_THROW(AttackedValues(AttackKind::kScale, 1, kGlobal, std::vector<float>{1.0f}, 1),
               InternalError);
}

TEST(AttackedValuesTest, GaussianNoiseHasFactorTimesTheDeltasStdAndRandomStaysInRange) {
  std::vector<float> global(20000, 0.5f), trained(20000);
  for (std::size_t i = 0; i < trained.size(); ++i) trained[i] = 0.5f + (i % 2 == 0 ? 0.1f : -0.1f);
  const auto noisy = AttackedValues(AttackKind::kGaussian, 3, global, trained, 7);
  double squares = 0.0;
  for (std::size_t i = 0; i < noisy.size(); ++i) squares += std::pow(noisy[i] - 0.5, 2);
  EXPECT_NEAR(std::sqrt(squares / noisy.size()), 0.3, 0.01);                       // 3 × std 0.1
  EXPECT_EQ(noisy, AttackedValues(AttackKind::kGaussian, 3, global, trained, 7));  // seeded
  const auto random = AttackedValues(AttackKind::kRandom, 2, global, trained, 7);
  float lo = 0, hi = 0;
  for (const float v : random) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -2.0f);
  EXPECT_LE(hi, 2.0f);
  EXPECT_LT(lo, -1.9f);
  EXPECT_GT(hi, 1.9f);
}

TEST(AlieTest, UploadsMeanMinusZStdOfTheHonestValues) {
  const std::vector<std::vector<float>> honest = {{1, 10}, {3, 10}};  // mean 2, 10; std 1, 0
  EXPECT_EQ(AlieValues(honest, 1.5), (std::vector<float>{0.5f, 10.0f}));
}

TEST(AlieTest, ZIsTheNormalQuantileOfThePaper) {
  // n = 20, f = 4: s = 11 − 4 = 7, z = Φ⁻¹(13/20) = 0.38532.
  EXPECT_NEAR(AlieZ(20, 4), 0.385320, 1e-5);
  // n = 50, f = 12: s = 14, z = Φ⁻¹(36/50) = 0.58284.
  EXPECT_NEAR(AlieZ(50, 12), 0.582842, 1e-5);
}

TEST(PoisonSummaryTest, MovesEachClassRowsMassToTheNextClass) {
  aggregation::SoftTargetSummary summary{{5, 5, 5}, {9, 1, 0, 0, 8, 2, 3, 0, 7}};
  PoisonSummary(summary, 2.0);
  EXPECT_EQ(summary.mean_logits, (std::vector<float>{2, 18, 0, 0, 4, 16, 14, 0, 6}));
  EXPECT_EQ(summary.counts, (std::vector<std::int64_t>{5, 5, 5}));
}

TEST(AttackTest, AttackersAreDrawnFromTheSeedAndAttackFromStartRound) {
  config::AttackConfig config;
  config.clients = 4;
  config.kind = AttackKind::kLabelFlip;
  config.start_round = 3;
  const Attack a(config, 20, 42), b(config, 20, 42), c(config, 20, 43);
  EXPECT_EQ(a.attackers().size(), 4u);
  EXPECT_EQ(a.attackers(), b.attackers());
  EXPECT_NE(a.attackers(), c.attackers());
  const std::size_t attacker = *a.attackers().begin();
  EXPECT_FALSE(a.FlipsLabels(attacker, 2));
  EXPECT_TRUE(a.FlipsLabels(attacker, 3));
  for (std::size_t k = 0; k < 20; ++k) EXPECT_EQ(a.Attacks(k, 5), a.attackers().contains(k));
}

TEST(AttackTest, ApplyReplacesOnlyAttackersUpdatesAndLogsThemPerRound) {
  config::AttackConfig config;
  config.clients = 1;
  config.kind = AttackKind::kSignFlip;
  config.factor = 10;
  config.declared_samples = 1000;
  const Attack attack(config, 3, 42);
  const std::size_t attacker = *attack.attackers().begin();
  const std::size_t honest = (attacker + 1) % 3;
  client::LocalRound round;
  round.round = 2;
  round.global_values = kGlobal;
  client::TrainedRound trained{10, 0.5, kTrained, {{4, 6}, {1, 0, 0, 1}}};
  auto attacked = trained;
  attack.Apply(attacker, round, attacked);
  EXPECT_EQ(attacked.values, (std::vector<float>{-4.0f, 8.0f, 0.0f, 1.5f}));
  EXPECT_EQ(attacked.sample_count, 1000);
  EXPECT_EQ(attacked.summary.counts, (std::vector<std::int64_t>{400, 600}));
  auto untouched = trained;
  attack.Apply(honest, round, untouched);
  EXPECT_EQ(untouched.values, kTrained);
  const std::vector<std::string> names = {"ann", "bob", "cy"};
  const std::string name = names[attacker];
  const auto injected = attack.InjectedIn(2, {name, names[honest]}, names);
  EXPECT_EQ(injected["attack"], "sign_flip");
  EXPECT_EQ(injected["attackers"], nlohmann::json::array({name}));
  // An attack the round did not aggregate (refused, late) is not reported.
  EXPECT_TRUE(attack.InjectedIn(2, {names[honest]}, names)["attackers"].empty());
  EXPECT_TRUE(attack.InjectedIn(1, {name}, names)["attackers"].empty());
}

TEST(AttackTest, CoordinatedAlieGivesEveryAttackerTheSameUpload) {
  config::AttackConfig config;
  config.clients = 2;
  config.kind = AttackKind::kAlie;
  config.factor = 1.0;
  const Attack attack(config, 5, 1);
  ASSERT_TRUE(attack.coordinated());
  client::TrainedRound first{10, 0.1, {1, 10}, {}}, second{10, 0.1, {3, 10}, {}};
  const std::vector<std::size_t> clients(attack.attackers().begin(), attack.attackers().end());
  const std::vector<client::TrainedRound*> results = {&first, &second};
  attack.ApplyCoordinated(1, clients, results);
  EXPECT_EQ(first.values, (std::vector<float>{1, 10}));  // 2 − 1·1, 10 − 1·0
  EXPECT_EQ(second.values, first.values);
  const std::vector<std::string> names = {"c0", "c1", "c2", "c3", "c4"};
  EXPECT_EQ(attack.InjectedIn(1, {names[clients[0]], names[clients[1]]}, names)["attackers"].size(),
            2u);
}

}  // namespace
}  // namespace fsd::sim
