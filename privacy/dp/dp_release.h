// The Gaussian mechanism of client-level DP-FedAvg (McMahan et al., ICLR
// 2018), as pure functions over float spans: clip each client's delta from
// the round's global values to L2 norm S and add it to a running sum
// (ClipInto), then release reference + (sum + N(0, σ²) per coordinate) /
// denominator (ReleaseMean), with σ = z·S and a fixed denominator (the
// expected cohort q·N), so that one client's contribution to the release is
// bounded by S whatever it sends. Under distributed DP each client does the
// clipping and adds its share of the noise itself (PrivatizeUpdate).
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
  ~GaussianNoise();  // wipes unused CSPRNG words (OPENSSL_cleanse)
  GaussianNoise(GaussianNoise&&) = default;
  GaussianNoise& operator=(GaussianNoise&&) = default;

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

// What one clipped contribution was: its L2 norm before clipping and the
// norm of what was actually added (≤ the clip norm up to rounding).
struct Clipped {
  double norm = 0.0;
  double added_norm = 0.0;
  bool clipped(double clip_norm) const { return norm > clip_norm; }
};

// 64 bits from OpenSSL's CSPRNG (e.g. to seed a deployment's client
// sampling, which must not be predictable from the config). IoError when it fails.
std::uint64_t SecureSeed();

// Adds (values − reference) · min(1, clip_norm / ‖values − reference‖₂) to
// `sum`. REQUIRES: equal sizes, clip_norm > 0 (+∞: added unclipped).
Clipped ClipInto(std::span<const float> values, std::span<const float> reference, double clip_norm,
                 std::span<double> sum);

// Distributed DP, one client's share: replaces `values` by
// reference + clip(values − reference, clip_norm) + N(0, noise_std²) per
// value, and says how the delta was clipped. REQUIRES: as ClipInto, noise_std >= 0.
Clipped PrivatizeUpdate(std::span<float> values, std::span<const float> reference, double clip_norm,
                        double noise_std, GaussianNoise& noise);

// The smallest fixed-point range (secure aggregation's ±range) that clamps a
// privatized coordinate — at most clip_norm in magnitude before its
// N(0, noise_std²) noise — with probability below 1e-9:
// clip_norm + Φ⁻¹(1 − 5·10⁻¹⁰) · noise_std, Φ⁻¹(1 − 5·10⁻¹⁰) = 6.1094.
double SecureRangeFor(double clip_norm, double noise_std);

// One client's soft-target summary as one record: its C×C mean-logit rows
// (rows of classes it has no samples of count as zero) scaled jointly to
// Frobenius norm ≤ clip_norm and added to `row_sum`, and its per-class
// presence (1 where counts[c] > 0, else 0) added to `presence_sum`. The
// record's L2 sensitivity is sqrt(clip_norm² + C) (SummarySensitivity).
// REQUIRES: rows.size() == C², row_sum.size() == C², presence_sum.size() == C,
// clip_norm > 0.
Clipped ClipSummaryInto(std::span<const float> rows, std::span<const std::int64_t> counts,
                        double clip_norm, std::span<double> row_sum,
                        std::span<double> presence_sum);
double SummarySensitivity(double clip_norm, std::size_t num_classes);

// Distributed DP, one client's summary share: its record (ClipSummaryInto:
// rows clipped jointly to clip_norm, presence 0/1) plus N(0, noise_std²) on
// every value — what leaves the client in place of its counts and mean logits.
struct PrivateSummary {
  std::vector<float> rows;      // C×C
  std::vector<float> presence;  // C
  Clipped clipped;
};
// REQUIRES: rows.size() == counts.size()², clip_norm > 0, noise_std >= 0.
PrivateSummary PrivatizeSummary(std::span<const float> rows, std::span<const std::int64_t> counts,
                                double clip_norm, double noise_std, GaussianNoise& noise);

// In a secure round under distributed DP the private summary record rides
// in the masked vector after the deltas, multiplied by this factor,
// clip_norm / sqrt(summary_clip_norm² + C), so that its norm before noise is
// at most clip_norm like a delta's and one fixed-point range fits both; the
// coordinator divides the decoded sum by it.
double SecureSummaryScale(double clip_norm, double summary_clip_norm, std::size_t num_classes);

// Adds N(0, noise_std²) to every value. REQUIRES: noise_std >= 0.
void AddNoise(std::span<double> values, double noise_std, GaussianNoise& noise);

// reference + (sum + N(0, noise_std²) per coordinate) / denominator.
// REQUIRES: equal sizes, noise_std >= 0, denominator > 0.
std::vector<float> ReleaseMean(std::span<const float> reference, std::span<const double> sum,
                               double noise_std, double denominator, GaussianNoise& noise);

}  // namespace fsd::privacy
