// Value codecs for model vectors on the wire (DESIGN.md, Codec): dense fp32,
// fp16, and int8 with one symmetric scale per segment (a segment = the kept
// values of one model tensor), each optionally zstd-compressed; and a bitmask
// codec for sparsity masks. No LibTorch: spans in, bytes out.
//
// Stored layouts (before optional zstd), all little-endian:
//   fp32:    count × f32
//   fp16:    count × IEEE-754 binary16 (round to nearest even; |x| > 65504 saturates)
//   int8:    u32 n_segments | n_segments × f32 scale | count × i8 in [-127, 127]
//            (value = q · scale of its segment; scale finite and > 0)
//   bitmask: ceil(count / 8) bytes, bit i = byte i/8, bit i%8 (LSB first);
//            bits past `count` are 0
// Decoding treats every byte as untrusted: the expected size is derived from
// the count (bounded by the caller) before anything is allocated; a zstd frame
// must declare exactly that size. Failures come back as a Reject naming the
// problem. Thread-safety: free functions. Errors: Encode* throw InternalError
// on inconsistent arguments or non-finite values (callers check values
// first); Decode* never throw.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/codec/encoded.h"
#include "common/wire/decoded.h"

namespace fsd::codec {

struct EncodeOptions {
  Dtype dtype = Dtype::kFp32;  // kFp32, kFp16 or kInt8
  bool zstd = false;
  int zstd_level = 3;
  bool stochastic_rounding = false;  // int8: round up with probability = fraction
  std::uint64_t seed = 0;            // of stochastic rounding
};

// `segments`: lengths of consecutive segments (one per model tensor's kept
// values), summing to values.size(). Int8 has one scale per segment; on
// decoding, every dtype must carry exactly the sum of the receiver's segments
// (checked before anything is allocated).
Encoded EncodeValues(std::span<const float> values, std::span<const std::uint64_t> segments,
                     const EncodeOptions& options);
wire::Decoded<std::vector<float>> DecodeValues(const Encoded& encoded,
                                               std::span<const std::uint64_t> segments);

Encoded EncodeBitmask(std::span<const std::uint8_t> bits, bool zstd, int zstd_level = 3);
// `expected_count`: the receiver's model size; a mask of another size is refused.
wire::Decoded<std::vector<std::uint8_t>> DecodeBitmask(const Encoded& encoded,
                                                       std::uint64_t expected_count);

// binary16 conversions (exposed for tests).
std::uint16_t FloatToHalf(float value);
float HalfToFloat(std::uint16_t half);

}  // namespace fsd::codec
