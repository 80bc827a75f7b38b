// codec::Encoded: the content of one tensor section as it travels (dtype,
// zstd flag, decoded count, stored bytes); common/codec/values.h encodes and
// decodes it. Separate from values.h so that wire messages can hold it.
// Thread-safety: plain value.
#pragma once

#include <cstdint>
#include <vector>

namespace fsd::codec {

// The numbers are the wire's dtype ids (docs/PROTOCOL.md); append-only.
// kRing: secure aggregation's masked elements, packed at the round's ring
// bits each (privacy/secagg/ring_vector.h PackBits).
enum class Dtype : std::uint32_t { kFp32 = 1, kFp16 = 2, kInt8 = 3, kBitmask = 4, kRing = 5 };

// One tensor section's content as it travels.
struct Encoded {
  Dtype dtype = Dtype::kFp32;
  bool zstd = false;
  std::uint64_t count = 0;          // decoded values (bits for a bitmask)
  std::vector<std::uint8_t> bytes;  // stored bytes
  bool operator==(const Encoded&) const = default;
};

const char* DtypeName(Dtype dtype);

}  // namespace fsd::codec
