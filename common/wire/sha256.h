// SHA-256 of byte ranges (OpenSSL EVP), for frame and file digests.
// Thread-safety: free functions, no shared state.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace fsd::wire {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Digest of the concatenation of `parts`.
Sha256Digest Sha256(std::initializer_list<std::span<const std::uint8_t>> parts);
std::string ToHex(std::span<const std::uint8_t> bytes);

}  // namespace fsd::wire
