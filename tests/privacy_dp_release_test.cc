// The Gaussian mechanism's parts (privacy/dp_release.h): noise calibration,
// clipping bound, release arithmetic.
#include <gtest/gtest.h>

#include <cmath>

#include "common/errors.h"
#include "privacy/dp_release.h"

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
  for (auto noise : {GaussianNoise::Seeded(3), GaussianNoise::Secure()}) {
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
  EXPECT_DOUBLE_EQ(ClipInto(far, reference, 5.0, sum), 50.0);
  EXPECT_NEAR(std::hypot(sum[0], sum[1], sum[2]), 5.0, 5.0 * 1e-6);
  EXPECT_DOUBLE_EQ(sum[0], 3.0);
  EXPECT_DOUBLE_EQ(sum[1], 4.0);
  const std::vector<float> near = {1.5f, 1, 1};  // norm 0.5: added as it is
  EXPECT_DOUBLE_EQ(ClipInto(near, reference, 5.0, sum), 0.5);
  EXPECT_DOUBLE_EQ(sum[0], 3.5);
  EXPECT_THROW(ClipInto(near, reference, 0.0, sum), InternalError);
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
