// The Gaussian mechanism of client-level DP-FedAvg (McMahan et al., ICLR
// 2018), as pure functions over float spans: clip each client's delta from
// the round's global values to L2 norm S and add it to a running sum
// (ClipInto), then release reference + (sum + N(0, σ²) per coordinate) /
// denominator (ReleaseMean), with σ = z·S and a fixed denominator (the
// expected cohort q·N), so that one client's contribution to the release is
// bounded by S whatever it sends.
//
// Noise comes from a GaussianNoise: Secure() draws its uniforms from
// OpenSSL's CSPRNG (RAND_bytes) for deployments, Seeded() from a seeded
// generator for simulations, where reproducibility matters more; both turn
// 53-bit uniforms into normals by the Box–Muller transform. (Like every
// floating-point Gaussian sampler, it is not hardened against attacks on the
// low-order bits of its output; Mironov 2012.)
// Thread-safety: a GaussianNoise belongs to one thread; the functions are
// free. Errors: InternalError on inconsistent sizes or a non-positive bound;
// IoError when the CSPRNG fails.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace fsd::privacy {

class GaussianNoise {
 public:
  static GaussianNoise Secure();
  static GaussianNoise Seeded(std::uint64_t seed);

  // One N(0, 1) sample.
  double Next();

 private:
  explicit GaussianNoise(bool secure, std::uint64_t seed);
  std::uint64_t NextBits();
  double NextUniform();  // in (0, 1]

  bool secure_;
  std::mt19937_64 seeded_;
  std::vector<std::uint64_t> buffer_;  // CSPRNG words not used yet
  std::size_t next_word_ = 0;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Adds (values − reference) · min(1, clip_norm / ‖values − reference‖₂) to
// `sum` and returns the delta's norm before clipping (so callers can count
// the clipped clients). REQUIRES: equal sizes, clip_norm > 0.
double ClipInto(std::span<const float> values, std::span<const float> reference, double clip_norm,
                std::span<double> sum);

// reference + (sum + N(0, noise_std²) per coordinate) / denominator.
// REQUIRES: equal sizes, noise_std >= 0, denominator > 0.
std::vector<float> ReleaseMean(std::span<const float> reference, std::span<const double> sum,
                               double noise_std, double denominator, GaussianNoise& noise);

}  // namespace fsd::privacy
