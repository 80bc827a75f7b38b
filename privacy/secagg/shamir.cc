#include "privacy/secagg/shamir.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <string>

#include "common/errors.h"

namespace fsd::privacy {
namespace {

std::size_t ChunkCount(std::size_t secret_size) {
  return (secret_size + kShamirChunkBytes - 1) / kShamirChunkBytes;
}

// Uniform in [0, p): 61 random bits, rejecting the one value 2^61 − 1 = p.
std::uint64_t RandomFieldElement() {
  while (true) {
    std::uint64_t word = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&word), sizeof(word)) != 1) {
      throw IoError("OpenSSL: RAND_bytes failed");
    }
    word &= kShamirPrime;
    const bool usable = word != kShamirPrime;
    if (usable) return word;
  }
}

void CheckCounts(int threshold, int count) {
  if (threshold < 1 || count < threshold || count > 65535) {
    throw ConfigError("Shamir sharing: need 1 <= threshold <= shares <= 65535, got threshold " +
                      std::to_string(threshold) + " of " + std::to_string(count));
  }
}

}  // namespace

std::uint64_t FieldAdd(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t sum = a + b;  // < 2^62: no overflow
  return sum >= kShamirPrime ? sum - kShamirPrime : sum;
}

std::uint64_t FieldSub(std::uint64_t a, std::uint64_t b) {
  return a >= b ? a - b : a + kShamirPrime - b;
}

std::uint64_t FieldMul(std::uint64_t a, std::uint64_t b) {
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  // 2^61 ≡ 1 (mod p): fold the high bits onto the low ones.
  const std::uint64_t folded = static_cast<std::uint64_t>(product & kShamirPrime) +
                               static_cast<std::uint64_t>(product >> 61);
  return folded >= kShamirPrime ? folded - kShamirPrime : folded;
}

std::uint64_t FieldInverse(std::uint64_t a) {
  FSD_CHECK(a != 0 && a < kShamirPrime) << "no inverse of " << a;
  // Fermat: a^(p−2).
  std::uint64_t result = 1, base = a, exponent = kShamirPrime - 2;
  while (exponent > 0) {
    if (exponent & 1) result = FieldMul(result, base);
    base = FieldMul(base, base);
    exponent >>= 1;
  }
  return result;
}

std::uint64_t EvaluatePolynomial(std::span<const std::uint64_t> coefficients, std::uint64_t x) {
  std::uint64_t value = 0;  // Horner
  for (auto c = coefficients.rbegin(); c != coefficients.rend(); ++c) {
    value = FieldAdd(FieldMul(value, x), *c);
  }
  return value;
}

std::uint64_t InterpolateAtZero(std::span<const std::pair<std::uint64_t, std::uint64_t>> points) {
  // f(0) = Σ_i y_i Π_{j≠i} x_j / (x_j − x_i).
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::uint64_t numerator = 1, denominator = 1;
    for (std::size_t j = 0; j < points.size(); ++j) {
      if (j == i) continue;
      numerator = FieldMul(numerator, points[j].first);
      denominator = FieldMul(denominator, FieldSub(points[j].first, points[i].first));
    }
    value =
        FieldAdd(value, FieldMul(points[i].second, FieldMul(numerator, FieldInverse(denominator))));
  }
  return value;
}

std::vector<ShamirShare> ShamirSplit(std::span<const std::uint8_t> secret, int threshold,
                                     int count) {
  CheckCounts(threshold, count);
  std::vector<std::uint32_t> points(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i)
    points[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(i + 1);
  return ShamirSplit(secret, threshold, points);
}

std::vector<ShamirShare> ShamirSplit(std::span<const std::uint8_t> secret, int threshold,
                                     std::span<const std::uint32_t> points) {
  CheckCounts(threshold, static_cast<int>(std::min<std::size_t>(points.size(), 65536)));
  if (std::set<std::uint32_t>(points.begin(), points.end()).size() != points.size() ||
      std::find(points.begin(), points.end(), 0u) != points.end()) {
    throw ConfigError("Shamir sharing: share points must be distinct and non-zero");
  }
  const std::size_t chunks = ChunkCount(secret.size());
  std::vector<ShamirShare> shares(points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    shares[i].x = points[i];
    shares[i].y.resize(chunks);
  }
  std::vector<std::uint64_t> coefficients(static_cast<std::size_t>(threshold));
  for (std::size_t c = 0; c < chunks; ++c) {
    std::uint64_t chunk = 0;  // little-endian
    for (std::size_t b = 0; b < kShamirChunkBytes && c * kShamirChunkBytes + b < secret.size();
         ++b) {
      chunk |= static_cast<std::uint64_t>(secret[c * kShamirChunkBytes + b]) << (8 * b);
    }
    coefficients[0] = chunk;
    for (std::size_t k = 1; k < coefficients.size(); ++k) coefficients[k] = RandomFieldElement();
    for (auto& share : shares) share.y[c] = EvaluatePolynomial(coefficients, share.x);
  }
  OPENSSL_cleanse(coefficients.data(), coefficients.size() * sizeof(std::uint64_t));
  return shares;
}

SecretBytes ShamirCombine(std::span<const ShamirShare> shares, int threshold,
                          std::size_t secret_size) {
  CheckCounts(threshold, threshold);
  const std::size_t chunks = ChunkCount(secret_size);
  if (shares.size() < static_cast<std::size_t>(threshold)) {
    throw DataError("Shamir shares: " + std::to_string(shares.size()) + " given, " +
                    std::to_string(threshold) + " needed");
  }
  std::set<std::uint32_t> seen;
  for (const auto& share : shares) {
    if (share.x == 0 || !seen.insert(share.x).second) {
      throw DataError("Shamir shares: x = " + std::to_string(share.x) +
                      (share.x == 0 ? " is not a share point" : " appears twice"));
    }
    if (share.y.size() != chunks) {
      throw DataError("Shamir shares: share " + std::to_string(share.x) + " has " +
                      std::to_string(share.y.size()) + " values, the secret needs " +
                      std::to_string(chunks));
    }
    for (const auto y : share.y) {
      if (y >= kShamirPrime) {
        throw DataError("Shamir shares: share " + std::to_string(share.x) +
                        " holds a value outside the field");
      }
    }
  }
  std::vector<std::uint8_t> secret(secret_size, 0);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> points(static_cast<std::size_t>(threshold));
  bool consistent = true, chunks_valid = true;
  for (std::size_t c = 0; c < chunks; ++c) {
    for (std::size_t i = 0; i < points.size(); ++i) points[i] = {shares[i].x, shares[i].y[c]};
    const std::uint64_t chunk = InterpolateAtZero(points);
    // Extra shares must lie on the same polynomial: f(x_e) from the first t.
    for (std::size_t e = points.size(); e < shares.size(); ++e) {
      std::vector<std::pair<std::uint64_t, std::uint64_t>> shifted(points.size());
      for (std::size_t i = 0; i < points.size(); ++i) {
        shifted[i] = {FieldSub(points[i].first, shares[e].x), points[i].second};
      }
      consistent = consistent && InterpolateAtZero(shifted) == shares[e].y[c];
    }
    const std::size_t bytes = std::min(kShamirChunkBytes, secret_size - c * kShamirChunkBytes);
    chunks_valid = chunks_valid && (chunk >> (8 * bytes)) == 0;
    for (std::size_t b = 0; b < bytes; ++b) {
      secret[c * kShamirChunkBytes + b] = static_cast<std::uint8_t>(chunk >> (8 * b));
    }
  }
  SecretBytes result(secret);
  OPENSSL_cleanse(secret.data(), secret.size());
  if (!consistent) throw DataError("Shamir shares: the shares do not lie on one polynomial");
  if (!chunks_valid) throw DataError("Shamir shares: the combined value is not a secret");
  return result;
}

namespace {

bool WellFormed(const ShamirShare& share, std::size_t chunks) {
  return share.x != 0 && share.y.size() == chunks &&
         std::all_of(share.y.begin(), share.y.end(), [](auto y) { return y < kShamirPrime; });
}

// Whether `share` lies on the polynomials through the `basis` shares.
bool OnPolynomial(std::span<const ShamirShare> basis, const ShamirShare& share) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> shifted(basis.size());
  for (std::size_t c = 0; c < share.y.size(); ++c) {
    for (std::size_t i = 0; i < basis.size(); ++i) {
      shifted[i] = {FieldSub(basis[i].x, share.x), basis[i].y[c]};
    }
    if (InterpolateAtZero(shifted) != share.y[c]) return false;
  }
  return true;
}

// The next e-combination of [0, n) in lexicographic order; false after the last.
bool NextCombination(std::vector<std::size_t>& combination, std::size_t n) {
  const std::size_t e = combination.size();
  for (std::size_t i = e; i-- > 0;) {
    if (combination[i] < n - e + i) {
      ++combination[i];
      for (std::size_t j = i + 1; j < e; ++j) combination[j] = combination[j - 1] + 1;
      return true;
    }
  }
  return false;
}

}  // namespace

VerifiedSecret CombineVerified(std::span<const ShamirShare> shares, int threshold,
                               std::size_t secret_size,
                               const std::function<bool(const SecretBytes&)>& verify) {
  CheckCounts(threshold, threshold);
  const std::size_t chunks = ChunkCount(secret_size);
  const auto t = static_cast<std::size_t>(threshold);
  VerifiedSecret out;
  std::vector<ShamirShare> usable;
  std::set<std::uint32_t> seen;
  for (const auto& share : shares) {
    if (WellFormed(share, chunks) && seen.insert(share.x).second) {
      usable.push_back(share);
    } else {
      out.wrong.push_back(share.x);
    }
  }
  const std::size_t m = usable.size();
  int attempts = 0;
  // Leave out e of the first t + e shares, e = 0, 1, …: every t-subset that
  // avoids up to e wrong shares among them, fewest left out first.
  for (std::size_t e = 0; e + t <= m && attempts < kMaxCombineAttempts; ++e) {
    std::vector<std::size_t> left_out(e);
    std::iota(left_out.begin(), left_out.end(), std::size_t{0});
    do {
      std::vector<ShamirShare> subset;
      for (std::size_t i = 0, k = 0; i < t + e; ++i) {
        if (k < e && left_out[k] == i) {
          ++k;
        } else {
          subset.push_back(usable[i]);
        }
      }
      ++attempts;
      std::optional<SecretBytes> secret;
      try {
        secret = ShamirCombine(subset, threshold, secret_size);
      } catch (const DataError&) {
        // Not a secret: some share of the subset is wrong.
      }
      if (secret && verify(*secret)) {
        for (const auto& share : usable) {
          if (!OnPolynomial(subset, share)) out.wrong.push_back(share.x);
        }
        std::sort(out.wrong.begin(), out.wrong.end());
        out.secret = std::move(secret);
        return out;
      }
    } while (attempts < kMaxCombineAttempts && NextCombination(left_out, t + e));
  }
  std::sort(out.wrong.begin(), out.wrong.end());
  return out;
}

}  // namespace fsd::privacy
