// The central DP release functions (coordinator/private_release.h) on
// hand-computed inputs; noise off (z = 0) where exact values are checked.
#include "coordinator/private_release.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/config/toml_loader.h"
#include "common/errors.h"
#include "coordinator/options.h"
#include "privacy/dp/rdp_accountant.h"

namespace fsd::coordinator {
namespace {

PrivacyOptions Central(double z, double z2 = 0.0) {
  PrivacyOptions o;
  o.enabled = true;
  o.sampling_rate = 0.5;
  o.expected_cohort = 4.0;
  o.clip_norm = 2.0;
  o.noise_multiplier = z;
  o.summaries = z2 > 0.0;
  o.summary_clip_norm = 5.0;
  o.summary_noise_multiplier = z2;
  return o;
}

TEST(ReleaseWeightsTest, SumsClippedDeltasOverTheExpectedCohort) {
  const std::vector<float> reference = {1, 1};
  const std::vector<float> small = {2, 1};   // delta (1, 0), within S = 2
  const std::vector<float> large = {1, 31};  // delta (0, 30): clipped to (0, 2)
  const std::vector<std::span<const float>> inputs = {small, large};
  auto noise = privacy::GaussianNoise::Seeded(1);
  const WeightRelease release = ReleaseWeights(Central(0.0), reference, inputs, noise);
  // 1 + (1 + 0) / 4 and 1 + (0 + 2) / 4: divided by q·N = 4, not by the 2 who reported.
  EXPECT_FLOAT_EQ(release.kept[0], 1.25f);
  EXPECT_FLOAT_EQ(release.kept[1], 1.5f);
  EXPECT_EQ(release.clipped, 1);
  EXPECT_DOUBLE_EQ(release.max_norm, 30.0);
  EXPECT_DOUBLE_EQ(release.median_norm, 15.5);  // of 1 and 30
  EXPECT_NEAR(release.max_added_norm, 2.0, 1e-12);
}

TEST(ReleaseWeightsTest, NoiseStdIsZTimesClipNormOverTheExpectedCohort) {
  const std::vector<float> reference(100'000, 0.0f);
  auto noise = privacy::GaussianNoise::Seeded(2);
  const WeightRelease release = ReleaseWeights(Central(3.0), reference, {}, noise);
  double squares = 0.0;
  for (const float v : release.kept) squares += static_cast<double>(v) * v;
  // z·S / (q·N) = 3 · 2 / 4.
  EXPECT_NEAR(std::sqrt(squares / release.kept.size()), 1.5, 1.5 * 0.01);
}

TEST(ReleaseSummariesTest, WithoutNoiseGivesTheMeanOfClippedRowsOverPresence) {
  // Two classes. Client A has class 0 only, row (3, 4) (norm 5 = S₂); client
  // B has both classes, rows (1, 0) and (0, 1).
  aggregation::SoftTargetSummary a{{10, 0}, {3, 4, 50, 50}};
  aggregation::SoftTargetSummary b{{1, 7}, {1, 0, 0, 1}};
  const std::vector<const aggregation::SoftTargetSummary*> summaries = {&a, &b};
  PrivacyOptions o = Central(0.0, 1e-12);  // noise far below the floor of 1
  auto noise = privacy::GaussianNoise::Seeded(3);
  const SummaryRelease release = ReleaseSummaries(o, summaries, 2, {}, noise);
  // Class 0: (3 + 1, 4 + 0) / 2 reporters; class 1: (0, 1) / 1. Counts are
  // presence counts, not samples.
  EXPECT_NEAR(release.summary.mean_logits[0], 2.0, 1e-9);
  EXPECT_NEAR(release.summary.mean_logits[1], 2.0, 1e-9);
  EXPECT_NEAR(release.summary.mean_logits[2], 0.0, 1e-9);
  EXPECT_NEAR(release.summary.mean_logits[3], 1.0, 1e-9);
  EXPECT_EQ(release.summary.counts, (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(release.clipped, 0);
  EXPECT_EQ(release.classes_released, 2);
}

TEST(ReleaseSummariesTest, ClassesBelowTheNoiseFloorKeepTheirPreviousRow) {
  aggregation::SoftTargetSummary a{{10, 0}, {30, 40, 0, 0}};  // norm 50: clipped to 5
  const std::vector<const aggregation::SoftTargetSummary*> summaries = {&a};
  const aggregation::SoftTargetSummary previous{{4, 4}, {9, 9, 8, 8}};
  // Noise std z₂·sqrt(S₂² + C) = 0.01 · sqrt(27) ≈ 0.05: floor 1. Class 1
  // has presence ≈ 0, below it.
  auto noise = privacy::GaussianNoise::Seeded(4);
  const SummaryRelease release =
      ReleaseSummaries(Central(0.0, 0.01), summaries, 2, previous, noise);
  EXPECT_EQ(release.clipped, 1);
  EXPECT_EQ(release.summary.counts[1], 4);  // kept from `previous`
  EXPECT_FLOAT_EQ(release.summary.mean_logits[2], 8.0f);
  EXPECT_FLOAT_EQ(release.summary.mean_logits[3], 8.0f);
}

TEST(PrivacyOptionsTest, BothReleasesInOneRoundAreChargedAsOneCombinedMechanism) {
  PrivacyOptions o = Central(2.0, 2.0);
  EXPECT_DOUBLE_EQ(o.StepNoiseMultiplier(), privacy::CombinedNoiseMultiplier(2.0, 2.0));
  EXPECT_NEAR(o.StepNoiseMultiplier(), std::sqrt(2.0), 1e-12);
  o.summaries = false;
  EXPECT_DOUBLE_EQ(o.StepNoiseMultiplier(), 2.0);
  o.weights = false;
  o.summaries = true;
  o.summary_noise_multiplier = 3.0;
  EXPECT_DOUBLE_EQ(o.StepNoiseMultiplier(), 3.0);
}

PrivacyOptions FromToml(const std::string& privacy, const std::string& rest = "") {
  return PrivacyOptionsFrom(config::ParseConfig(
      "[federation]\nclients = 100\nfraction = 0.1\nrounds = 50\n[aggregation]\n"
      "weighting = \"uniform\"\n[privacy]\ndp = \"central\"\n" +
          privacy + rest,
      "t.toml"));
}

TEST(PrivacyOptionsFromTest, ComputesMultipliersThatSpendExactlyTheBudget) {
  const double step = privacy::NoiseMultiplierFor(4.0, 0.1, 50, 1e-5);
  // Weights only: the whole step multiplier.
  PrivacyOptions weights = FromToml("target_epsilon = 4.0\n");
  EXPECT_DOUBLE_EQ(weights.noise_multiplier, step);
  EXPECT_FALSE(weights.summaries);
  EXPECT_DOUBLE_EQ(weights.expected_cohort, 10.0);
  EXPECT_LE(privacy::EpsilonAfter(0.1, weights.StepNoiseMultiplier(), 50, 1e-5).epsilon, 4.0);
  // Weights and summaries: √2·z* each, combining to z*.
  PrivacyOptions both = FromToml("target_epsilon = 4.0\n", "[loss]\nbeta = 0.3\n");
  EXPECT_DOUBLE_EQ(both.noise_multiplier, std::sqrt(2.0) * step);
  EXPECT_DOUBLE_EQ(both.summary_noise_multiplier, std::sqrt(2.0) * step);
  EXPECT_NEAR(both.StepNoiseMultiplier(), step, step * 1e-12);
  // Summaries' multiplier given: the weights get what is left.
  PrivacyOptions rest =
      FromToml("target_epsilon = 4.0\nsummary_noise_multiplier = 5.0\n", "[loss]\nbeta = 0.3\n");
  EXPECT_DOUBLE_EQ(rest.summary_noise_multiplier, 5.0);
  EXPECT_NEAR(rest.StepNoiseMultiplier(), step, step * 1e-12);
  // Given alone more than the budget allows.
  EXPECT_THROW(
      FromToml("target_epsilon = 4.0\nsummary_noise_multiplier = 0.1\n", "[loss]\nbeta = 0.3\n"),
      ConfigError);
  // Both given: nothing computed, the budget only enforced.
  PrivacyOptions given =
      FromToml("noise_multiplier = 1.5\nsummary_noise_multiplier = 2.5\ntarget_epsilon = 4.0\n",
               "[loss]\nbeta = 0.3\n");
  EXPECT_DOUBLE_EQ(given.noise_multiplier, 1.5);
  EXPECT_DOUBLE_EQ(given.summary_noise_multiplier, 2.5);
  EXPECT_FALSE(PrivacyOptionsFrom(config::ParseConfig("", "t.toml")).enabled);
  // A budget the first round already exceeds, or that no multiplier meets.
  EXPECT_THROW(FromToml("noise_multiplier = 0.3\ntarget_epsilon = 0.01\n"), ConfigError);
  try {
    FromToml("target_epsilon = 1e-9\n");
    ADD_FAILURE() << "an unreachable budget was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("privacy.target_epsilon"), std::string::npos) << e.what();
  }
}

TEST(PrivacyOptionsFromTest, DistributedAccountsTheSameMultiplierItsClientsAdd) {
  const PrivacyOptions o = PrivacyOptionsFrom(config::ParseConfig(
      "[federation]\nclients = 100\nfraction = 0.1\nrounds = 50\n[aggregation]\n"
      "weighting = \"uniform\"\n[privacy]\ndp = \"distributed\"\ntarget_epsilon = 4.0\n"
      "min_survivors = 4\n",
      "t.toml"));
  EXPECT_TRUE(o.enabled);
  EXPECT_TRUE(o.distributed);
  EXPECT_EQ(o.min_survivors, 4);
  EXPECT_DOUBLE_EQ(o.noise_multiplier, privacy::NoiseMultiplierFor(4.0, 0.1, 50, 1e-5));
  EXPECT_FALSE(FromToml("noise_multiplier = 1.0\n").distributed);
}

TEST(FloorVariancesTest, RaisesReleasedVariancesBelowTheFloorAndNothingElse) {
  std::vector<float> global = {-3.0f, -0.5f, 0.004f, 0.5f, 2.0f, -1.0f, NAN};
  // Variances at 1..2 and 5..6; 0, 3 and 4 are other values (a weight may be negative).
  const std::vector<model::TensorRange> variances = {{1, 2, false}, {5, 2, false}};
  EXPECT_EQ(FloorVariances(global, variances), 4);
  EXPECT_EQ(global, (std::vector<float>{-3.0f, kMinReleasedVariance, kMinReleasedVariance, 0.5f,
                                        2.0f, kMinReleasedVariance, kMinReleasedVariance}));
  EXPECT_EQ(FloorVariances(global, variances), 0);
}

}  // namespace
}  // namespace fsd::coordinator
