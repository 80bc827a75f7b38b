#include "privacy/dp_release.h"

#include <openssl/rand.h>

#include <cmath>

#include "common/errors.h"

namespace fsd::privacy {

GaussianNoise GaussianNoise::Secure() { return GaussianNoise(true, 0); }

GaussianNoise GaussianNoise::Seeded(std::uint64_t seed) { return GaussianNoise(false, seed); }

GaussianNoise::GaussianNoise(bool secure, std::uint64_t seed) : secure_(secure), seeded_(seed) {}

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

double ClipInto(std::span<const float> values, std::span<const float> reference, double clip_norm,
                std::span<double> sum) {
  FSD_CHECK(values.size() == reference.size() && values.size() == sum.size())
      << values.size() << " values, " << reference.size() << " reference, " << sum.size() << " sum";
  FSD_CHECK(clip_norm > 0.0 && std::isfinite(clip_norm)) << "clip norm " << clip_norm;
  double squares = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double delta = static_cast<double>(values[i]) - reference[i];
    squares += delta * delta;
  }
  const double norm = std::sqrt(squares);
  const double scale = norm > clip_norm ? clip_norm / norm : 1.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    sum[i] += (static_cast<double>(values[i]) - reference[i]) * scale;
  }
  return norm;
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

}  // namespace fsd::privacy
