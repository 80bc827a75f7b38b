#include "privacy/secagg/ring_vector.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/errors.h"

namespace fsd::privacy {
namespace {

std::uint64_t RingMask(unsigned bits) {
  FSD_CHECK(bits >= 1 && bits <= 64) << "ring of " << bits << " bits";
  return bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
}

}  // namespace

void RingAdd(std::span<std::uint64_t> sum, std::span<const std::uint64_t> values, unsigned bits) {
  FSD_CHECK(sum.size() == values.size()) << sum.size() << " vs " << values.size();
  const std::uint64_t mask = RingMask(bits);
  for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = (sum[i] + values[i]) & mask;
}

void RingSubtract(std::span<std::uint64_t> sum, std::span<const std::uint64_t> values,
                  unsigned bits) {
  FSD_CHECK(sum.size() == values.size()) << sum.size() << " vs " << values.size();
  const std::uint64_t mask = RingMask(bits);
  for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = (sum[i] - values[i]) & mask;
}

unsigned RingBitsFor(unsigned bits, std::size_t n) {
  unsigned extra = 0;
  while ((std::size_t{1} << extra) < n) ++extra;
  return bits + extra;
}

FixedPoint::FixedPoint(unsigned bits, double range) : bits_(bits), range_(range) {
  if (bits < 1 || bits > 48) {
    throw ConfigError("fixed point: bits must be 1..48, got " + std::to_string(bits));
  }
  if (!(range > 0.0) || !std::isfinite(range)) {
    throw ConfigError("fixed point: range must be a positive number, got " + std::to_string(range));
  }
  scale_ = static_cast<double>((std::uint64_t{1} << bits) - 1) / (2.0 * range);
}

FixedPoint::Encoded FixedPoint::Encode(std::span<const float> values) const {
  Encoded encoded;
  encoded.values.resize(values.size());
  const double top = static_cast<double>((std::uint64_t{1} << bits_) - 1);
  for (std::size_t i = 0; i < values.size(); ++i) {
    double v = values[i];
    if (!(v >= -range_ && v <= range_)) {
      ++encoded.clamped;
      v = std::isnan(v) ? -range_ : std::clamp(v, -range_, range_);
    }
    encoded.values[i] =
        static_cast<std::uint64_t>(std::clamp(std::round((v + range_) * scale_), 0.0, top));
  }
  return encoded;
}

std::vector<double> FixedPoint::DecodeSum(std::span<const std::uint64_t> sum,
                                          std::size_t count) const {
  std::vector<double> decoded(sum.size());
  const double offset = static_cast<double>(count) * range_;
  for (std::size_t i = 0; i < sum.size(); ++i) {
    decoded[i] = static_cast<double>(sum[i]) / scale_ - offset;
  }
  return decoded;
}

std::vector<std::uint8_t> PackBits(std::span<const std::uint64_t> values, unsigned bits) {
  const std::uint64_t mask = RingMask(bits);
  std::vector<std::uint8_t> packed;
  packed.reserve((values.size() * bits + 7) / 8);
  unsigned __int128 pending = 0;  // bits not written yet, lowest first
  unsigned held = 0;
  for (const std::uint64_t value : values) {
    FSD_CHECK((value & ~mask) == 0) << "value " << value << " does not fit " << bits << " bits";
    pending |= static_cast<unsigned __int128>(value) << held;
    held += bits;
    for (; held >= 8; held -= 8, pending >>= 8)
      packed.push_back(static_cast<std::uint8_t>(pending));
  }
  if (held > 0) packed.push_back(static_cast<std::uint8_t>(pending));
  return packed;
}

std::vector<std::uint64_t> UnpackBits(std::span<const std::uint8_t> packed, unsigned bits,
                                      std::size_t count) {
  const std::uint64_t mask = RingMask(bits);
  const std::size_t needed = (count * bits + 7) / 8;
  if (packed.size() != needed) {
    throw DataError("packed ring vector: " + std::to_string(packed.size()) + " bytes, " +
                    std::to_string(count) + " values of " + std::to_string(bits) + " bits need " +
                    std::to_string(needed));
  }
  std::vector<std::uint64_t> values(count);
  unsigned __int128 pending = 0;
  unsigned held = 0;
  std::size_t next = 0;
  for (auto& value : values) {
    while (held < bits) {
      pending |= static_cast<unsigned __int128>(packed[next++]) << held;
      held += 8;
    }
    value = static_cast<std::uint64_t>(pending) & mask;
    pending >>= bits;
    held -= bits;
  }
  if (pending != 0) {
    throw DataError("packed ring vector: padding bits after the last value are not zero");
  }
  return values;
}

}  // namespace fsd::privacy
