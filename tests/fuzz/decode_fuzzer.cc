// libFuzzer target over the frame decoder and the value codecs
// (scripts/fuzz builds it with clang; tests/fuzz/replay_main.cc replays the
// corpus in ctest). Properties: nothing crashes, throws or reads out of
// bounds; a frame that decodes re-encodes to exactly its bytes; decoded
// values are finite.
//
// The SHA-256 digest would stop almost every mutation at the digest check,
// so the fuzzer signs each input (bytes 32..63) before decoding it, and the
// checks behind the digest get fuzzed too.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "common/codec/values.h"
#include "common/wire/frame.h"
#include "common/wire/sha256.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

void CheckValues(const fsd::codec::Encoded& encoded) {
  // Segments from the count the peer announced, bounded like a receiver's
  // model would bound it.
  if (encoded.count == 0 || encoded.count > (1u << 16)) return;
  const std::vector<std::uint64_t> segments = {encoded.count / 2, encoded.count - encoded.count / 2};
  const auto values = fsd::codec::DecodeValues(encoded, segments);
  if (values.ok()) {
    Require(values.value().size() == encoded.count);
    for (const float v : values.value()) Require(std::isfinite(v));
  }
  (void)fsd::codec::DecodeBitmask(encoded, encoded.count);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> frame(data, data + size);
  if (frame.size() >= fsd::wire::kEnvelopeBytes) {
    std::memset(frame.data() + 32, 0, 32);
    const auto digest = fsd::wire::Sha256({std::span<const std::uint8_t>(frame)});
    std::memcpy(frame.data() + 32, digest.data(), 32);
  }
  fsd::wire::WireLimits limits;
  limits.max_values = 1u << 16;
  limits.max_message_bytes = 1u << 20;
  const auto decoded = fsd::wire::DecodeFrame(frame, limits);
  if (!decoded.ok()) return 0;
  Require(fsd::wire::EncodeFrame(decoded.value()) == frame);
  if (const auto* update = std::get_if<fsd::wire::Update>(&decoded.value().body)) {
    CheckValues(update->values);
  }
  if (const auto* start = std::get_if<fsd::wire::RoundStart>(&decoded.value().body)) {
    CheckValues(start->global_values);
    CheckValues(start->mask);
  }
  return 0;
}
