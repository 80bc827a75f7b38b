// What one client masks in a secure round, and how the coordinator reads the
// unmasked sum: the one layout both sides use (docs/SECURE_AGGREGATION.md,
// "What is masked"). Every element is an integer in Z_{2^B}:
//
//   [0, K)            w · FixedPoint(bits, range)(x_i − g_i) over the K kept values
//   K .. K+C          n_c, the client's samples of class c
//   K+C .. K+2C       q_c = max(1, round(w · n_c / samples)) where n_c > 0, else 0
//   K+2C + c·C + j    q_c · FixedPoint(bits, logit_range)(logit_cj)
//
// w is the integer weight the coordinator announced to the client. Fixed
// point is the offset encoding of privacy/secagg/ring_vector.h, so a weighted sum
// Σ w·u decodes with DecodeSum(·, Σ w), Σ w being the survivors' announced
// weights: the vector does not carry w (a client that weighs its input
// otherwise sends another input, which no sum can tell apart). The ring is wide enough that
// no sum of `cohort` inputs wraps: B = max(bits + weight_bits + ⌈log2 n⌉,
// ⌈log2(total declared samples + 1)⌉).
// Thread-safety: free functions and plain values. Errors: InternalError when
// a caller passes sizes that do not fit `layout` (peer input is checked
// before it gets here).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fsd::privacy {

struct SecureInputLayout {
  std::size_t kept = 0;     // K
  std::size_t classes = 0;  // C; 0: no summary (the vector ends after the deltas)
  unsigned bits = 16;
  double range = 1.0;
  double logit_range = 64.0;
  unsigned ring_bits = 32;  // B

  std::size_t length() const { return kept + classes * (classes + 2); }
};

// The ring width a cohort of `cohort` clients with `weight_bits`-bit weights
// and `total_samples` declared samples needs (formula above).
unsigned SecureRingBits(unsigned bits, unsigned weight_bits, std::size_t cohort,
                        std::int64_t total_samples);

struct SecureInput {
  std::vector<std::uint64_t> elements;  // layout.length() ring elements
  std::int64_t clamped = 0;             // deltas and logits outside their range
};

// A client's input: `deltas` (K values), its weight, its summary (`counts`
// of C classes, C×C `mean_logits`), trained on `samples` samples (> 0 when
// C > 0; unused, and may be 0, without a summary).
SecureInput EncodeSecureInput(const SecureInputLayout& layout, std::span<const float> deltas,
                              std::uint32_t weight, std::span<const std::int64_t> counts,
                              std::span<const float> mean_logits, std::int64_t samples);

// The unmasked ring sum of a cohort's inputs, read back.
struct SecureSum {
  std::vector<double> weighted_deltas;       // Σ w·(x − g), K values
  std::uint64_t weight = 0;                  // Σ w (announced)
  std::vector<std::int64_t> counts;          // Σ n_c
  std::vector<std::uint64_t> class_weights;  // Σ q_c
  std::vector<double> mean_logits;           // C×C: Σ q_c·logit_c / Σ q_c (0 where Σ q_c = 0)
};
// `total_weight`: the survivors' announced weights, Σ w.
SecureSum DecodeSecureSum(const SecureInputLayout& layout, std::span<const std::uint64_t> sum,
                          std::uint64_t total_weight);

}  // namespace fsd::privacy
