#include "common/codec/values.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

#include "common/errors.h"

namespace fsd::codec {
namespace {

static_assert(std::endian::native == std::endian::little, "values are stored as-is");

using wire::Reject;
using wire::RejectCode;

Reject Refuse(RejectCode code, std::string text) { return Reject{code, std::move(text)}; }

std::vector<std::uint8_t> Compress(std::vector<std::uint8_t> raw, int level) {
  std::vector<std::uint8_t> out(ZSTD_compressBound(raw.size()));
  const std::size_t size = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
  FSD_CHECK(!ZSTD_isError(size)) << "zstd: " << ZSTD_getErrorName(size);
  out.resize(size);
  return out;
}

// The stored bytes as raw bytes of exactly `expected` size, or why not.
wire::Decoded<std::vector<std::uint8_t>> RawBytes(const Encoded& encoded, std::uint64_t expected) {
  const std::string what = std::string(DtypeName(encoded.dtype)) + " section";
  if (!encoded.zstd) {
    if (encoded.bytes.size() != expected) {
      return Refuse(RejectCode::kMalformed, what + " of " + std::to_string(encoded.count) +
                                                " values needs " + std::to_string(expected) +
                                                " bytes, has " +
                                                std::to_string(encoded.bytes.size()));
    }
    return encoded.bytes;
  }
  const unsigned long long declared =
      ZSTD_getFrameContentSize(encoded.bytes.data(), encoded.bytes.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Refuse(RejectCode::kMalformed, what + ": not a zstd frame with a declared size");
  }
  if (declared != expected) {
    return Refuse(RejectCode::kMalformed, what + ": zstd frame declares " +
                                              std::to_string(declared) + " bytes, expected " +
                                              std::to_string(expected));
  }
  std::vector<std::uint8_t> raw(static_cast<std::size_t>(expected));
  const std::size_t size =
      ZSTD_decompress(raw.data(), raw.size(), encoded.bytes.data(), encoded.bytes.size());
  if (ZSTD_isError(size) || size != expected) {
    return Refuse(RejectCode::kMalformed, what + ": zstd frame does not decompress to " +
                                              std::to_string(expected) + " bytes");
  }
  return raw;
}

// SplitMix64: a small, fast, seedable generator for stochastic rounding.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  double Uniform() {  // [0, 1)
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }

 private:
  std::uint64_t state_;
};

void CheckSegments(std::span<const std::uint64_t> segments, std::size_t count) {
  const std::uint64_t total = std::accumulate(segments.begin(), segments.end(), std::uint64_t{0});
  FSD_CHECK(total == count) << "segments sum to " << total << ", values " << count;
}

}  // namespace

const char* DtypeName(Dtype dtype) {
  switch (dtype) {
    case Dtype::kFp32:
      return "fp32";
    case Dtype::kFp16:
      return "fp16";
    case Dtype::kInt8:
      return "int8";
    case Dtype::kBitmask:
      return "bitmask";
    case Dtype::kRing:
      return "ring";
    default:
      return "unknown dtype";
  }
}

std::uint16_t FloatToHalf(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // Inf or NaN
    return static_cast<std::uint16_t>(sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u));
  }
  if (magnitude >= 0x477ff000u) return sign | 0x7bffu;  // ≥ 65520 rounds past max: saturate
  if (magnitude < 0x38800000u) {                         // below the smallest normal half
    if (magnitude < 0x33000000u) return sign;            // rounds to zero
    const std::uint32_t exponent = magnitude >> 23;
    const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - exponent;  // 14..24
    std::uint32_t half = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  // Normal: rebias the exponent, round the mantissa to 10 bits (nearest even).
  std::uint32_t half = ((magnitude - 0x38000000u) >> 13);
  const std::uint32_t rest = magnitude & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<std::uint16_t>(sign | half);
}

float HalfToFloat(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  const std::uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa · 2^-24
    const float value = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -value : value;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

Encoded EncodeValues(std::span<const float> values, std::span<const std::uint64_t> segments,
                     const EncodeOptions& options) {
  for (const float v : values) FSD_CHECK(std::isfinite(v)) << "encoding a non-finite value";
  Encoded out;
  out.dtype = options.dtype;
  out.zstd = options.zstd;
  out.count = values.size();
  std::vector<std::uint8_t> raw;
  switch (options.dtype) {
    case Dtype::kFp32:
      raw.resize(values.size_bytes());
      if (!values.empty()) std::memcpy(raw.data(), values.data(), raw.size());
      break;
    case Dtype::kFp16: {
      raw.resize(values.size() * 2);
      for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint16_t half = FloatToHalf(values[i]);
        std::memcpy(raw.data() + 2 * i, &half, 2);
      }
      break;
    }
    case Dtype::kInt8: {
      CheckSegments(segments, values.size());
      const auto n = static_cast<std::uint32_t>(segments.size());
      raw.resize(4 + 4 * segments.size() + values.size());
      std::memcpy(raw.data(), &n, 4);
      SplitMix64 random(options.seed);
      std::size_t at = 0;
      for (std::size_t s = 0; s < segments.size(); ++s) {
        const auto segment = values.subspan(at, static_cast<std::size_t>(segments[s]));
        float max = 0.0f;
        for (const float v : segment) max = std::max(max, std::fabs(v));
        // All-zero (or denormal) segments: any positive normal scale will do.
        const float scale = std::max(max / 127.0f, std::numeric_limits<float>::min());
        std::memcpy(raw.data() + 4 + 4 * s, &scale, 4);
        auto* q = reinterpret_cast<std::int8_t*>(raw.data() + 4 + 4 * segments.size() + at);
        for (std::size_t i = 0; i < segment.size(); ++i) {
          const double x = segment[i] / scale;
          const double rounded =
              options.stochastic_rounding ? std::floor(x + random.Uniform()) : std::nearbyint(x);
          q[i] = static_cast<std::int8_t>(std::clamp(rounded, -127.0, 127.0));
        }
        at += segment.size();
      }
      break;
    }
    default:
      throw InternalError(std::string("EncodeValues with dtype ") + DtypeName(options.dtype));
  }
  out.bytes = options.zstd ? Compress(std::move(raw), options.zstd_level) : std::move(raw);
  return out;
}

wire::Decoded<std::vector<float>> DecodeValues(const Encoded& encoded,
                                               std::span<const std::uint64_t> segments) {
  // The receiver's layout fixes the count before any size is trusted.
  const std::uint64_t total = std::accumulate(segments.begin(), segments.end(), std::uint64_t{0});
  if (total != encoded.count) {
    return Refuse(RejectCode::kSchemaMismatch, std::string(DtypeName(encoded.dtype)) +
                                                   " section has " +
                                                   std::to_string(encoded.count) +
                                                   " values, the receiver expects " +
                                                   std::to_string(total));
  }
  std::uint64_t expected = 0;
  switch (encoded.dtype) {
    case Dtype::kFp32:
      expected = encoded.count * 4;
      break;
    case Dtype::kFp16:
      expected = encoded.count * 2;
      break;
    case Dtype::kInt8:
      expected = 4 + 4 * segments.size() + encoded.count;
      break;
    default:
      return Refuse(RejectCode::kMalformed,
                    std::string(DtypeName(encoded.dtype)) + " is not a value dtype");
  }
  auto raw_or = RawBytes(encoded, expected);
  if (!raw_or.ok()) return raw_or.reject();
  const std::vector<std::uint8_t>& raw = raw_or.value();
  std::vector<float> values(static_cast<std::size_t>(encoded.count));
  switch (encoded.dtype) {
    case Dtype::kFp32:
      if (!values.empty()) std::memcpy(values.data(), raw.data(), raw.size());
      break;
    case Dtype::kFp16:
      for (std::size_t i = 0; i < values.size(); ++i) {
        std::uint16_t half;
        std::memcpy(&half, raw.data() + 2 * i, 2);
        values[i] = HalfToFloat(half);
      }
      break;
    default: {  // kInt8
      std::uint32_t n = 0;
      std::memcpy(&n, raw.data(), 4);
      if (n != segments.size()) {
        return Refuse(RejectCode::kSchemaMismatch, "int8 section has " + std::to_string(n) +
                                                       " scales, the receiver expects " +
                                                       std::to_string(segments.size()));
      }
      const auto* q = reinterpret_cast<const std::int8_t*>(raw.data() + 4 + 4 * segments.size());
      std::size_t at = 0;
      for (std::size_t s = 0; s < segments.size(); ++s) {
        float scale;
        std::memcpy(&scale, raw.data() + 4 + 4 * s, 4);
        if (!std::isfinite(scale) || !(scale > 0.0f)) {
          return Refuse(RejectCode::kInvalidValue,
                        "int8 scale of segment " + std::to_string(s) + " is not finite and > 0");
        }
        for (std::uint64_t i = 0; i < segments[s]; ++i, ++at) {
          if (q[at] == -128) {
            return Refuse(RejectCode::kInvalidValue, "int8 value -128 (allowed -127..127)");
          }
          values[at] = static_cast<float>(q[at]) * scale;
        }
      }
      break;
    }
  }
  for (const float v : values) {
    if (!std::isfinite(v)) {
      return Refuse(RejectCode::kNonFinite,
                    std::string(DtypeName(encoded.dtype)) + " values hold NaN or Inf");
    }
  }
  return values;
}

Encoded EncodeBitmask(std::span<const std::uint8_t> bits, bool zstd, int zstd_level) {
  std::vector<std::uint8_t> raw((bits.size() + 7) / 8, 0);
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (bits[i]) raw[i / 8] |= static_cast<std::uint8_t>(1u << (i % 8));
  }
  Encoded out;
  out.dtype = Dtype::kBitmask;
  out.zstd = zstd;
  out.count = bits.size();
  out.bytes = zstd ? Compress(std::move(raw), zstd_level) : std::move(raw);
  return out;
}

wire::Decoded<std::vector<std::uint8_t>> DecodeBitmask(const Encoded& encoded,
                                                       std::uint64_t expected_count) {
  if (encoded.dtype != Dtype::kBitmask) {
    return Refuse(RejectCode::kMalformed,
                  std::string("mask section has dtype ") + DtypeName(encoded.dtype));
  }
  if (encoded.count != expected_count) {
    return Refuse(RejectCode::kSchemaMismatch, "mask has " + std::to_string(encoded.count) +
                                                   " bits, the model has " +
                                                   std::to_string(expected_count) + " values");
  }
  auto raw_or = RawBytes(encoded, (encoded.count + 7) / 8);
  if (!raw_or.ok()) return raw_or.reject();
  const auto& raw = raw_or.value();
  if (encoded.count % 8 != 0 && (raw.back() >> (encoded.count % 8)) != 0) {
    return Refuse(RejectCode::kMalformed, "mask has bits set past its count");
  }
  std::vector<std::uint8_t> bits(static_cast<std::size_t>(encoded.count));
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = (raw[i / 8] >> (i % 8)) & 1u;
  return bits;
}

}  // namespace fsd::codec
