// Shamir t-of-n secret sharing (Shamir 1979) of byte strings, for the key
// shares of secure aggregation: any t shares give the secret back, fewer give
// no information about it.
//
// Field: GF(p), p = 2^61 − 1 (a Mersenne prime, so products reduce with
// shifts). A secret is cut into 7-byte chunks (56 bits < 61); each chunk is
// the constant term of its own random polynomial of degree t − 1 (the other
// coefficients uniform in [0, p) from OpenSSL's CSPRNG), and share i holds
// every polynomial's value at x = i, i = 1..n. Combining interpolates each
// polynomial at 0 (Lagrange) from the first t shares; any further shares
// given must lie on the same polynomials, so a tampered share among more
// than t is detected.
// Thread-safety: free functions. Errors: ConfigError for t or n out of range
// (1 <= t <= n <= 65535); DataError naming the problem for shares that
// cannot be combined (too few, duplicate or zero x, wrong length, values
// outside the field, inconsistent extra shares, a result that is not a
// chunk).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "privacy/secagg/secagg_crypto.h"

namespace fsd::privacy {

inline constexpr std::uint64_t kShamirPrime = (std::uint64_t{1} << 61) - 1;
inline constexpr std::size_t kShamirChunkBytes = 7;

struct ShamirShare {
  std::uint32_t x = 0;           // 1..n
  std::vector<std::uint64_t> y;  // one field element per chunk of the secret
  bool operator==(const ShamirShare&) const = default;
};

// Arithmetic in GF(p); arguments must be < p.
std::uint64_t FieldAdd(std::uint64_t a, std::uint64_t b);
std::uint64_t FieldSub(std::uint64_t a, std::uint64_t b);
std::uint64_t FieldMul(std::uint64_t a, std::uint64_t b);
std::uint64_t FieldInverse(std::uint64_t a);  // REQUIRES: a != 0

// c₀ + c₁x + … + c_k x^k in GF(p).
std::uint64_t EvaluatePolynomial(std::span<const std::uint64_t> coefficients, std::uint64_t x);

// f(0) of the polynomial of degree < points.size() through the (x, y)
// points; the x must be distinct and non-zero.
std::uint64_t InterpolateAtZero(std::span<const std::pair<std::uint64_t, std::uint64_t>> points);

// Shares at x = 1..count.
std::vector<ShamirShare> ShamirSplit(std::span<const std::uint8_t> secret, int threshold,
                                     int count);
// Shares at the given points (distinct, non-zero; e.g. the recipients' ids).
std::vector<ShamirShare> ShamirSplit(std::span<const std::uint8_t> secret, int threshold,
                                     std::span<const std::uint32_t> points);

SecretBytes ShamirCombine(std::span<const ShamirShare> shares, int threshold,
                          std::size_t secret_size);

// Reconstruction that tolerates wrong shares, for a secret that can be
// checked (`verify`: against a public key or a commitment). Tries t-subsets
// of `shares`, leaving out first none, then one, then two… shares (at most
// kMaxCombineAttempts subsets), until `verify` accepts a secret; then every
// share is checked against that secret's polynomial and the points of those
// off it (or malformed) are named. With e wrong shares among m, the secret
// is found whenever m − e ≥ t and the search reaches a subset without them
// (always for e = 1). Never throws on share contents.
inline constexpr int kMaxCombineAttempts = 4096;
struct VerifiedSecret {
  std::optional<SecretBytes> secret;  // nullopt: no subset tried verifies
  std::vector<std::uint32_t> wrong;   // x of the shares that are not on its polynomial
};
VerifiedSecret CombineVerified(std::span<const ShamirShare> shares, int threshold,
                               std::size_t secret_size,
                               const std::function<bool(const SecretBytes&)>& verify);

}  // namespace fsd::privacy
