#include "privacy/dp/dp_release.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cmath>

#include "common/errors.h"

namespace fsd::privacy {

GaussianNoise GaussianNoise::Secure() { return GaussianNoise(true, 0); }

GaussianNoise GaussianNoise::Seeded(std::uint64_t seed) { return GaussianNoise(false, seed); }

GaussianNoise::GaussianNoise(bool secure, std::uint64_t seed) : secure_(secure), seeded_(seed) {}

GaussianNoise::~GaussianNoise() {
  if (!buffer_.empty()) OPENSSL_cleanse(buffer_.data(), buffer_.size() * sizeof(std::uint64_t));
  OPENSSL_cleanse(&spare_, sizeof(spare_));
}

std::uint64_t SecureSeed() {
  std::uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof(seed)) != 1) {
    throw IoError("OpenSSL RAND_bytes failed: no secure randomness for client sampling");
  }
  return seed;
}

std::uint64_t GaussianNoise::NextBits() {
  if (!secure_) return seeded_();
  if (next_word_ == buffer_.size()) {
    buffer_.resize(512);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(buffer_.data()),
                   static_cast<int>(buffer_.size() * sizeof(std::uint64_t))) != 1) {
      throw IoError("OpenSSL RAND_bytes failed: no secure randomness for DP noise");
    }
    next_word_ = 0;
  }
  return buffer_[next_word_++];
}

double GaussianNoise::NextUniform() {
  // The top 53 bits, shifted into (0, 1] so that log() below is finite.
  return (static_cast<double>(NextBits() >> 11) + 1.0) * 0x1.0p-53;
}

double GaussianNoise::Next() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double radius = std::sqrt(-2.0 * std::log(NextUniform()));
  const double angle = 2.0 * M_PI * NextUniform();
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

Clipped ClipInto(std::span<const float> values, std::span<const float> reference, double clip_norm,
                 std::span<double> sum) {
  FSD_CHECK(values.size() == reference.size() && values.size() == sum.size())
      << values.size() << " values, " << reference.size() << " reference, " << sum.size() << " sum";
  FSD_CHECK(clip_norm > 0.0) << "clip norm " << clip_norm;  // +∞: no clipping
  double squares = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double delta = static_cast<double>(values[i]) - reference[i];
    squares += delta * delta;
  }
  Clipped result;
  result.norm = std::sqrt(squares);
  const double scale = result.norm > clip_norm ? clip_norm / result.norm : 1.0;
  double added_squares = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double added = (static_cast<double>(values[i]) - reference[i]) * scale;
    sum[i] += added;
    added_squares += added * added;
  }
  result.added_norm = std::sqrt(added_squares);
  return result;
}

Clipped PrivatizeUpdate(std::span<float> values, std::span<const float> reference, double clip_norm,
                        double noise_std, GaussianNoise& noise) {
  std::vector<double> delta(values.size(), 0.0);
  const Clipped clipped = ClipInto(values, reference, clip_norm, delta);
  const std::vector<float> released = ReleaseMean(reference, delta, noise_std, 1.0, noise);
  std::copy(released.begin(), released.end(), values.begin());
  return clipped;
}

Clipped ClipSummaryInto(std::span<const float> rows, std::span<const std::int64_t> counts,
                        double clip_norm, std::span<double> row_sum,
                        std::span<double> presence_sum) {
  const std::size_t classes = counts.size();
  FSD_CHECK(rows.size() == classes * classes && row_sum.size() == rows.size() &&
            presence_sum.size() == classes)
      << rows.size() << " logits, " << classes << " classes, " << row_sum.size() << " sums, "
      << presence_sum.size() << " presence sums";
  FSD_CHECK(clip_norm > 0.0) << "clip norm " << clip_norm;  // +∞: no clipping
  double squares = 0.0;
  for (std::size_t c = 0; c < classes; ++c) {
    if (counts[c] <= 0) continue;
    for (std::size_t j = 0; j < classes; ++j) {
      const double v = rows[c * classes + j];
      squares += v * v;
    }
  }
  Clipped result;
  result.norm = std::sqrt(squares);
  const double scale = result.norm > clip_norm ? clip_norm / result.norm : 1.0;
  double added_squares = 0.0;
  for (std::size_t c = 0; c < classes; ++c) {
    if (counts[c] <= 0) continue;
    presence_sum[c] += 1.0;
    for (std::size_t j = 0; j < classes; ++j) {
      const double added = rows[c * classes + j] * scale;
      row_sum[c * classes + j] += added;
      added_squares += added * added;
    }
  }
  result.added_norm = std::sqrt(added_squares);
  return result;
}

double SummarySensitivity(double clip_norm, std::size_t num_classes) {
  return std::sqrt(clip_norm * clip_norm + static_cast<double>(num_classes));
}

void AddNoise(std::span<double> values, double noise_std, GaussianNoise& noise) {
  FSD_CHECK(noise_std >= 0.0 && std::isfinite(noise_std)) << "noise std " << noise_std;
  if (noise_std == 0.0) return;
  for (double& v : values) v += noise_std * noise.Next();
}

std::vector<float> ReleaseMean(std::span<const float> reference, std::span<const double> sum,
                               double noise_std, double denominator, GaussianNoise& noise) {
  FSD_CHECK(reference.size() == sum.size()) << reference.size() << " vs " << sum.size();
  FSD_CHECK(noise_std >= 0.0 && std::isfinite(noise_std) && denominator > 0.0)
      << "noise std " << noise_std << ", denominator " << denominator;
  std::vector<float> out(reference.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double noisy = sum[i] + (noise_std > 0.0 ? noise_std * noise.Next() : 0.0);
    out[i] = static_cast<float>(reference[i] + noisy / denominator);
  }
  return out;
}

double SecureRangeFor(double clip_norm, double noise_std) {
  constexpr double kTwoSidedQuantile = 6.1094102048693975;  // P(|N(0, 1)| > q) = 1e-9
  return clip_norm + kTwoSidedQuantile * noise_std;
}

PrivateSummary PrivatizeSummary(std::span<const float> rows, std::span<const std::int64_t> counts,
                                double clip_norm, double noise_std, GaussianNoise& noise) {
  const std::size_t classes = counts.size();
  std::vector<double> row_sum(classes * classes, 0.0), presence(classes, 0.0);
  PrivateSummary out;
  out.clipped = ClipSummaryInto(rows, counts, clip_norm, row_sum, presence);
  AddNoise(row_sum, noise_std, noise);
  AddNoise(presence, noise_std, noise);
  out.rows.assign(row_sum.begin(), row_sum.end());
  out.presence.assign(presence.begin(), presence.end());
  return out;
}

double SecureSummaryScale(double clip_norm, double summary_clip_norm, std::size_t num_classes) {
  return clip_norm / SummarySensitivity(summary_clip_norm, num_classes);
}

}  // namespace fsd::privacy
