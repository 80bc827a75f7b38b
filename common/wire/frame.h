// Encodes Messages to frames and decodes frames from untrusted peers.
//
// Frame = 64-byte little-endian envelope, Cereal portable-binary control
// payload, then tensor sections (dtype, count, raw little-endian values); see
// docs/PROTOCOL.md for the byte layout. DecodeFrame checks, in order: size of
// the envelope, magic, version, kind, reserved fields, payload length, tensor
// count, each tensor header against the bytes present and WireLimits, exact
// total length, SHA-256 digest, then the payload (every string size against
// its limit and the bytes left; all bytes consumed) and finiteness of values.
// Nothing is allocated from a peer-supplied size before it passed these checks.
// Errors: DecodeFrame never throws; it returns a Reject naming the problem.
// EncodeFrame throws InternalError only on our own oversize messages.
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/wire/decoded.h"
#include "common/wire/limits.h"
#include "common/wire/messages.h"

namespace fsd::wire {

inline constexpr std::uint32_t kMagic = 0x31445346;  // bytes "FSD1"
inline constexpr std::size_t kEnvelopeBytes = 64;
inline constexpr std::size_t kTensorHeaderBytes = 24;
inline constexpr std::uint32_t kSectionZstd = 1;  // section flag: stored bytes are a zstd frame

std::vector<std::uint8_t> EncodeFrame(const Message& message);

// The envelope fields a receiver needs to route a frame before it pays for
// the digest and the payload: only the size, magic and kind are checked here
// (DecodeFrame checks everything again). nullopt when the frame is shorter
// than an envelope or its magic is wrong.
struct EnvelopeHead {
  std::uint16_t version = 0;
  std::uint16_t kind = 0;  // a MessageKind number, not yet known to be defined
  std::uint64_t round = 0;
};
std::optional<EnvelopeHead> PeekEnvelope(std::span<const std::uint8_t> frame);

Decoded<Message> DecodeFrame(std::span<const std::uint8_t> frame, const WireLimits& limits);

}  // namespace fsd::wire
