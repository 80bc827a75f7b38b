// The Gaussian mechanism's parts (privacy/dp/dp_release.h): noise calibration,
// clipping bound, release arithmetic.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/errors.h"
#include "privacy/dp/dp_release.h"

namespace fsd::privacy {
namespace {

// Mean and standard deviation of `n` samples.
std::pair<double, double> Moments(GaussianNoise& noise, int n) {
  double sum = 0.0, squares = 0.0;
  for (int i = 0; i < n; ++i) {
    const double x = noise.Next();
    sum += x;
    squares += x * x;
  }
  const double mean = sum / n;
  return {mean, std::sqrt(squares / n - mean * mean)};
}

TEST(GaussianNoiseTest, SeededAndSecureSourcesAreStandardNormal) {
  for (const bool secure : {false, true}) {
    GaussianNoise noise = secure ? GaussianNoise::Secure() : GaussianNoise::Seeded(3);
    const auto [mean, std] = Moments(noise, 1'000'000);
    EXPECT_NEAR(mean, 0.0, 0.005);  // 5 standard errors
    EXPECT_NEAR(std, 1.0, 0.004);
  }
}

TEST(GaussianNoiseTest, SeededNoiseRepeatsAndSecureNoiseDoesNot) {
  auto a = GaussianNoise::Seeded(9), b = GaussianNoise::Seeded(9);
  auto c = GaussianNoise::Secure(), d = GaussianNoise::Secure();
  int equal_seeded = 0, equal_secure = 0;
  for (int i = 0; i < 100; ++i) {
    equal_seeded += a.Next() == b.Next();
    equal_secure += c.Next() == d.Next();
  }
  EXPECT_EQ(equal_seeded, 100);
  EXPECT_EQ(equal_secure, 0);
}

TEST(ClipIntoTest, ContributionNeverExceedsTheClipNorm) {
  const std::vector<float> reference = {1, 1, 1};
  const std::vector<float> far = {31, 41, 1};  // delta (30, 40, 0), norm 50
  std::vector<double> sum(3, 0.0);
  const Clipped clipped = ClipInto(far, reference, 5.0, sum);
  EXPECT_DOUBLE_EQ(clipped.norm, 50.0);
  EXPECT_TRUE(clipped.clipped(5.0));
  EXPECT_NEAR(clipped.added_norm, 5.0, 5.0 * 1e-12);
  EXPECT_NEAR(std::hypot(sum[0], sum[1], sum[2]), 5.0, 5.0 * 1e-6);
  EXPECT_DOUBLE_EQ(sum[0], 3.0);
  EXPECT_DOUBLE_EQ(sum[1], 4.0);
  const std::vector<float> near = {1.5f, 1, 1};  // norm 0.5: added as it is
  EXPECT_DOUBLE_EQ(ClipInto(near, reference, 5.0, sum).norm, 0.5);
  EXPECT_FALSE(ClipInto(near, reference, 5.0, sum).clipped(5.0));
  EXPECT_DOUBLE_EQ(sum[0], 4.0);
  EXPECT_THROW(ClipInto(near, reference, 0.0, sum), InternalError);
}

TEST(ClipIntoTest, AnInfiniteBoundAddsTheDeltaUnclipped) {
  const std::vector<float> reference = {1, 1, 1};
  const std::vector<float> far = {31, 41, 1};
  std::vector<double> sum(3, 0.0);
  const Clipped added = ClipInto(far, reference, std::numeric_limits<double>::infinity(), sum);
  EXPECT_FALSE(added.clipped(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(sum, (std::vector<double>{30, 40, 0}));
}

TEST(PrivatizeUpdateTest, ClipsTheDeltaFromTheReferenceAndAddsNoiseOfTheGivenSpread) {
  // Far from the reference, no noise: the result is reference + the delta scaled to norm S.
  std::vector<float> values = {31, 41, 1};
  const std::vector<float> reference = {1, 1, 1};
  auto silent = GaussianNoise::Seeded(3);
  const Clipped clipped = PrivatizeUpdate(values, reference, 5.0, 0.0, silent);
  EXPECT_DOUBLE_EQ(clipped.norm, 50.0);
  EXPECT_NEAR(values[0], 4.0f, 1e-6);
  EXPECT_NEAR(values[1], 5.0f, 1e-6);
  EXPECT_EQ(values[2], 1.0f);
  // At the reference, noise only: per-value std is noise_std (2e5 values, within 1%).
  const std::size_t n = 200'000;
  std::vector<float> still(n, 2.0f);
  const std::vector<float> here(n, 2.0f);
  auto noise = GaussianNoise::Seeded(11);
  PrivatizeUpdate(still, here, 1.0, 0.25, noise);
  double sum = 0.0, squares = 0.0;
  for (const float v : still) {
    sum += v - 2.0;
    squares += (v - 2.0) * (v - 2.0);
  }
  EXPECT_NEAR(sum / n, 0.0, 0.25 * 0.01);
  EXPECT_NEAR(std::sqrt(squares / n), 0.25, 0.25 * 0.01);
}

TEST(ClipSummaryIntoTest, ClipsPresentRowsJointlyAndCountsPresence) {
  // Two classes; the client has samples of class 0 only. Row 0 = (6, 8),
  // norm 10; row 1 holds junk that must not count.
  const std::vector<float> rows = {6, 8, 100, 100};
  const std::vector<std::int64_t> counts = {5, 0};
  std::vector<double> row_sum(4, 0.0), presence(2, 0.0);
  const Clipped clipped = ClipSummaryInto(rows, counts, 5.0, row_sum, presence);
  EXPECT_DOUBLE_EQ(clipped.norm, 10.0);
  EXPECT_NEAR(clipped.added_norm, 5.0, 1e-12);
  EXPECT_EQ(row_sum, (std::vector<double>{3, 4, 0, 0}));
  EXPECT_EQ(presence, (std::vector<double>{1, 0}));
  // Within the bound: added as it is, presence accumulates.
  const std::vector<float> small = {0.3f, 0.4f, 0.0f, 1.0f};
  const std::vector<std::int64_t> both = {1, 2};
  EXPECT_FALSE(ClipSummaryInto(small, both, 5.0, row_sum, presence).clipped(5.0));
  EXPECT_NEAR(row_sum[3], 1.0, 1e-7);
  EXPECT_EQ(presence, (std::vector<double>{2, 1}));
  // The record's sensitivity: the rows' bound and one per class of presence.
  EXPECT_DOUBLE_EQ(SummarySensitivity(5.0, 2), std::sqrt(27.0));
}

TEST(AddNoiseTest, AddsNoiseOfTheGivenSpreadAndNothingAtZero) {
  auto noise = GaussianNoise::Seeded(3);
  std::vector<double> values(100'000, 1.0);
  AddNoise(values, 0.0, noise);
  EXPECT_EQ(values, std::vector<double>(100'000, 1.0));
  AddNoise(values, 2.0, noise);
  double sum = 0.0, squares = 0.0;
  for (const double v : values) {
    sum += v - 1.0;
    squares += (v - 1.0) * (v - 1.0);
  }
  EXPECT_NEAR(sum / values.size(), 0.0, 0.03);
  EXPECT_NEAR(std::sqrt(squares / values.size()), 2.0, 0.02);
}

TEST(ReleaseMeanTest, AddsTheNoisySumOverTheDenominatorToTheReference) {
  const std::vector<float> reference = {1, 2};
  const std::vector<double> sum = {3, -4};
  auto noise = GaussianNoise::Seeded(1);
  EXPECT_EQ(ReleaseMean(reference, sum, 0.0, 2.0, noise), (std::vector<float>{2.5f, 0.0f}));
  // Zero sums: the release's spread is exactly noise_std / denominator.
  const std::vector<float> zeros(200'000, 0.0f);
  const std::vector<double> nothing(zeros.size(), 0.0);
  const auto released = ReleaseMean(zeros, nothing, 3.0, 10.0, noise);
  double squares = 0.0;
  for (const float v : released) squares += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(squares / released.size()), 0.3, 0.3 * 0.01);
}

}  // namespace
}  // namespace fsd::privacy
