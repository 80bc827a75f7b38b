// What secure aggregation sums: vectors over the ring Z_{2^B}, masked
// element-wise, and how real values get there and back.
//
// FixedPoint maps a real value v to an integer q = round((clamp(v, −R, R) +
// R) · s), s = (2^bits − 1) / (2R), so 0 <= q < 2^bits; a value outside
// [−R, R] is clamped and counted. The sum of n encodings stays below
// 2^(bits + ⌈log2 n⌉), so a ring of B = RingBitsFor(bits, n) bits never
// wraps, and DecodeSum(Σq, n) = Σq / s − n·R is the sum of the clamped values
// within n / (2s) (each encoding errs by at most 1/(2s)).
// Ring vectors travel bit-packed (PackBits): B bits per element,
// little-endian bit order, the last byte's unused bits zero.
// Thread-safety: plain values and free functions. Errors: ConfigError for
// parameters out of range; DataError naming the problem for packed bytes
// that do not hold `count` elements of B bits.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fsd::privacy {

// Ring arithmetic modulo 2^bits (1..64), element-wise into `sum`.
void RingAdd(std::span<std::uint64_t> sum, std::span<const std::uint64_t> values, unsigned bits);
void RingSubtract(std::span<std::uint64_t> sum, std::span<const std::uint64_t> values,
                  unsigned bits);

// The ring bits that n summed encodings of `bits` bits need: bits + ⌈log2 n⌉.
unsigned RingBitsFor(unsigned bits, std::size_t n);

class FixedPoint {
 public:
  // ConfigError unless 1 <= bits <= 48 and range > 0 (finite).
  FixedPoint(unsigned bits, double range);

  struct Encoded {
    std::vector<std::uint64_t> values;
    std::int64_t clamped = 0;  // values outside [−range, range] (NaN counts, encoded as 0)
  };
  Encoded Encode(std::span<const float> values) const;
  // The real sum of `count` encodings from their ring sum.
  std::vector<double> DecodeSum(std::span<const std::uint64_t> sum, std::size_t count) const;

  unsigned bits() const { return bits_; }
  double range() const { return range_; }
  double step() const { return 1.0 / scale_; }  // one unit of the encoding

 private:
  unsigned bits_;
  double range_;
  double scale_;
};

std::vector<std::uint8_t> PackBits(std::span<const std::uint64_t> values, unsigned bits);
std::vector<std::uint64_t> UnpackBits(std::span<const std::uint8_t> packed, unsigned bits,
                                      std::size_t count);

}  // namespace fsd::privacy
