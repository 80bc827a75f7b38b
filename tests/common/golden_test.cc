// Golden byte files (tests/golden/*.bin): one frame per message kind and per
// value codec (fp32, fp16, int8, zstd, bitmask). Each must decode, equal its
// canonical message, and re-encode to the same bytes; encoding the canonical
// message must give the file byte for byte. So any change of the wire layout
// fails here: change the layout only with a new protocol version and new
// files (FSD_WRITE_GOLDEN=tests/golden build/tests/wire_test
// --gtest_filter='Golden*' rewrites them; see tests/golden/README.md).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "common/codec/values.h"
#include "common/wire/frame.h"

namespace fsd::wire {
namespace {

struct Golden {
  const char* name;
  Message message;
  // zstd output belongs to the compressor's version, not to our layout: for
  // these only decode → re-encode and the decoded values are checked.
  bool compressed = false;
};

codec::EncodeOptions Codec(codec::Dtype dtype, bool zstd = false) {
  codec::EncodeOptions options;
  options.dtype = dtype;
  options.zstd = zstd;
  return options;
}

const std::vector<float> kValues = {0.5f, -1.25f, 3.0f, 0.0f, 2.0f, -0.75f};
const std::vector<std::uint64_t> kSegments = {4, 2};
const std::vector<std::uint8_t> kMask = {1, 0, 1, 1, 0, 1, 1, 1, 0, 1};

X25519Key Key(std::uint8_t fill) {
  X25519Key key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(fill + i);
  return key;
}

// A sealed share's shape: nonce, 80 bytes of ciphertext, tag.
std::vector<std::uint8_t> Sealed(std::uint8_t fill) {
  return std::vector<std::uint8_t>(12 + 80 + 16, fill);
}

Update UpdateWith(const codec::Encoded& values) {
  return Update{512, 0.731, 0, {300, 212}, 4, values, {4.0f, -1.0f, 0.5f, 2.0f}, {}, {}};
}

std::vector<Golden> Goldens() {
  return {
      {"join", Message{0, Join{6, 6, 0x1234abcd5678ef00ULL, 10309, "client-7", 2}}},
      {"welcome", Message{0, Welcome{6, 0x1234abcd5678ef00ULL, 20}}},
      {"round_start_fp32_mask",
       Message{4, RoundStart{2.5,
                             0.5,
                             0.1,
                             1,
                             4,
                             2,
                             1,
                             0.75,
                             codec::EncodeValues(kValues, kSegments, Codec(codec::Dtype::kFp32)),
                             {0.75f, 0.25f, 0.5f, 0.5f},
                             codec::EncodeBitmask(kMask, false),
                             SecAggStart{},
                             DpStart{}}}},
      {"round_start_secure",
       Message{4, RoundStart{2.5,
                             0.5,
                             0.1,
                             1,
                             4,
                             0,
                             0,
                             1.0,
                             codec::EncodeValues(kValues, kSegments, Codec(codec::Dtype::kFp32)),
                             {},
                             codec::EncodeBitmask(kMask, false),
                             SecAggStart{3, 10, 6, 0, 0x5eed, 31, 16, 1.0, 64.0, 255, 121},
                             DpStart{12, 0.1, 1.25}}}},
      {"round_start_fp16_mask_zstd",
       Message{4, RoundStart{1.0,
                             0.5,
                             0.0,
                             2,
                             4,
                             0,
                             0,
                             0.5,
                             codec::EncodeValues(kValues, kSegments, Codec(codec::Dtype::kFp16)),
                             {},
                             codec::EncodeBitmask(kMask, true),
                             SecAggStart{},
                             DpStart{}}},
       true},
      {"update_fp32",
       Message{4, UpdateWith(codec::EncodeValues(kValues, kSegments, Codec(codec::Dtype::kFp32)))}},
      {"update_fp16",
       Message{4, UpdateWith(codec::EncodeValues(kValues, kSegments, Codec(codec::Dtype::kFp16)))}},
      {"update_private",
       Message{4, Update{0,
                         0.0,
                         kWithheldSampleCount | kWithheldTrainLoss,
                         {},
                         4,
                         codec::EncodeValues(kValues, kSegments, Codec(codec::Dtype::kFp32)),
                         {},
                         {3.5f, -0.25f, 0.125f, 2.0f},
                         {0.875f, 1.5f}}}},
      {"update_int8",
       Message{4, UpdateWith(codec::EncodeValues(kValues, kSegments, Codec(codec::Dtype::kInt8)))}},
      {"update_int8_zstd",
       Message{4, UpdateWith(codec::EncodeValues(kValues, kSegments,
                                                 Codec(codec::Dtype::kInt8, /*zstd=*/true)))},
       true},
      {"update_fp32_zstd",
       Message{4, UpdateWith(codec::EncodeValues(kValues, kSegments,
                                                 Codec(codec::Dtype::kFp32, /*zstd=*/true)))},
       true},
      {"reject",
       Message{4, Reject{RejectCode::kStaleRound, "update for round 2, current round is 3"}}},
      {"heartbeat", Message{9, Heartbeat{}}},
      {"bye", Message{0, Bye{"shutting down"}}},
      {"secagg_keys", Message{4, SecAggKeys{0, Key(1), Key(2), Key(3)}}},
      {"secagg_roster", Message{4, SecAggRoster{{{1, Key(3), Key(4)}, {2, Key(5), Key(6)}}}}},
      {"secagg_shares", Message{4, SecAggShares{{{2, Sealed(1)}, {3, Sealed(2)}}}}},
      {"secagg_delivered", Message{4, SecAggDelivered{{{1, Sealed(3)}}}}},
      {"secagg_masked",
       Message{4,
               SecAggMasked{
                   512,
                   0.731,
                   0,
                   4,
                   2,
                   codec::Encoded{
                       codec::Dtype::kRing, false, 5, {0xff, 0x0f, 0x00, 0xa5, 0x5a, 0x01, 0x00}},
                   {3}}}},
      {"secagg_unmask", Message{4, SecAggUnmask{{1, 2, 5}}}},
      {"secagg_reveal",
       Message{4, SecAggReveal{{{1, 2, {11, 12, 13, 14, 15}}}, {{5, 2, {21, 22, 23, 24, 25}}}}}},
  };
}

std::string PathOf(const std::string& name) {
  return std::string(FSD_GOLDEN_DIR) + "/" + name + ".bin";
}

std::vector<std::uint8_t> Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The values of a decoded section as the receiver sees them.
std::vector<float> ValuesOf(const codec::Encoded& encoded) {
  const auto values = codec::DecodeValues(encoded, kSegments);
  EXPECT_TRUE(values.ok());
  return values.ok() ? values.value() : std::vector<float>{};
}

TEST(GoldenFrameTest, EveryGoldenFileDecodesToItsMessageAndReencodesByteForByte) {
  if (const char* out = std::getenv("FSD_WRITE_GOLDEN")) {
    for (const auto& golden : Goldens()) {
      const auto frame = EncodeFrame(golden.message);
      std::ofstream(std::string(out) + "/" + golden.name + ".bin", std::ios::binary)
          .write(reinterpret_cast<const char*>(frame.data()),
                 static_cast<std::streamsize>(frame.size()));
    }
    GTEST_SKIP() << "wrote the golden files to " << out;
  }
  for (const auto& golden : Goldens()) {
    SCOPED_TRACE(golden.name);
    const auto bytes = Read(PathOf(golden.name));
    ASSERT_FALSE(bytes.empty()) << "missing " << PathOf(golden.name);
    const auto decoded = DecodeFrame(bytes, WireLimits{});
    ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
    EXPECT_EQ(EncodeFrame(decoded.value()), bytes);
    if (!golden.compressed) {
      EXPECT_EQ(decoded.value(), golden.message);
      EXPECT_EQ(EncodeFrame(golden.message), bytes);
      continue;
    }
    EXPECT_EQ(decoded.value().round, golden.message.round);
    EXPECT_EQ(KindOf(decoded.value().body), KindOf(golden.message.body));
    if (const auto* update = std::get_if<Update>(&decoded.value().body)) {
      EXPECT_EQ(ValuesOf(update->values), ValuesOf(std::get<Update>(golden.message.body).values));
    }
    if (const auto* start = std::get_if<RoundStart>(&decoded.value().body)) {
      const auto mask = codec::DecodeBitmask(start->mask, kMask.size());
      ASSERT_TRUE(mask.ok());
      EXPECT_EQ(mask.value(), kMask);
      EXPECT_EQ(ValuesOf(start->global_values),
                ValuesOf(std::get<RoundStart>(golden.message.body).global_values));
    }
  }
}

TEST(GoldenFrameTest, GoldenFilesCoverEveryMessageKind) {
  std::set<MessageKind> kinds;
  for (const auto& golden : Goldens()) kinds.insert(KindOf(golden.message.body));
  for (int kind = 1; kind <= 14; ++kind) {
    EXPECT_TRUE(kinds.contains(static_cast<MessageKind>(kind))) << kind;
  }
}

}  // namespace
}  // namespace fsd::wire
