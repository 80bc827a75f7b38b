#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "common/codec/values.h"
#include "common/wire/frame.h"
#include "common/wire/sha256.h"

namespace fsd::wire {
namespace {

codec::Encoded Fp32(const std::vector<float>& values) {
  return codec::EncodeValues(values, {}, {});
}

codec::Encoded NoMask() { return {codec::Dtype::kBitmask, false, 0, {}}; }

std::vector<Message> SampleMessages() {
  codec::EncodeOptions int8_zstd;
  int8_zstd.dtype = codec::Dtype::kInt8;
  int8_zstd.zstd = true;
  const std::vector<std::uint64_t> segments = {2, 1};
  return {
      Message{0, Join{3, 3, 0x1234abcd5678ef00ULL, 10309, "client-7", 2}},
      Message{0, Welcome{3, 0x1234abcd5678ef00ULL, 20}},
      Message{3, RoundStart{2.5,
                            0.5,
                            0.1,
                            1,
                            2,
                            2,
                            1,
                            0.25,
                            Fp32({1.0f, -2.5f, 3.25f, 0.0f}),
                            {0.75f, 0.25f, 0.5f, 0.5f},
                            codec::EncodeBitmask(std::vector<std::uint8_t>{1, 0, 1, 1, 0}, false),
                            SecAggStart{2, 5, 3, 2, 77, 27, 16, 0.5, 32.0, 100, 9},
                            DpStart{12, 0.25, 1.5}}},
      Message{3, Update{512,
                        0.731,
                        0,
                        {300, 212},
                        2,
                        codec::EncodeValues(std::vector<float>{0.5f, 0.25f, -1.0f}, segments,
                                            int8_zstd),
                        {4.0f, -1.0f, 0.5f, 2.0f},
                        {},
                        {}}},
      Message{3, Update{0,
                        0.0,
                        kWithheldSampleCount | kWithheldTrainLoss,
                        {},
                        2,
                        codec::EncodeValues(std::vector<float>{0.5f, 0.25f, -1.0f}, segments, {}),
                        {},
                        {1.5f, -0.5f, 0.25f, 3.0f},
                        {0.75f, 1.25f}}},
      Message{3, Reject{RejectCode::kStaleRound, "update for round 2, current round is 3"}},
      Message{9, Heartbeat{}},
      Message{0, Bye{"shutting down"}},
      Message{3, SecAggKeys{0, X25519Key{1, 2, 3}, X25519Key{4, 5, 6}}},
      Message{3, SecAggRoster{{{1, X25519Key{7}, X25519Key{8}}, {4, X25519Key{9}, X25519Key{10}}}}},
      Message{3, SecAggShares{{{4, std::vector<std::uint8_t>(108, 0x33)}}}},
      Message{3, SecAggDelivered{{{1, std::vector<std::uint8_t>(108, 0x44)}}}},
      Message{3, SecAggMasked{100,
                              0.25,
                              0,
                              2,
                              0,
                              codec::Encoded{codec::Dtype::kRing, false, 3, {1, 2, 3, 4, 5}},
                              {2, 5}}},
      Message{3, SecAggUnmask{{1, 2, 4}}},
      Message{3, SecAggReveal{{{1, 4, {1, 2, 3, 4, 5}}}, {{2, 4, {6, 7, 8, 9, 10}}}}},
  };
}

// Length-field bombs: sizes a hostile peer may announce.
const std::uint64_t kBombs[] = {1ULL << 31, 1ULL << 40, 1ULL << 62,
                                std::numeric_limits<std::uint64_t>::max()};

// Recomputes the digest after a test edits a frame, so the edit reaches the
// checks behind the digest.
void Resign(std::vector<std::uint8_t>& frame) {
  std::memset(frame.data() + 32, 0, 32);
  const auto digest = Sha256({std::span<const std::uint8_t>(frame)});
  std::memcpy(frame.data() + 32, digest.data(), 32);
}

RejectCode CodeOf(const std::vector<std::uint8_t>& frame, const WireLimits& limits = {});

// Found by the fuzzer: the payload's endianness byte 0 (big-endian) decoded
// to the same message as byte 1, so one message had two encodings.
TEST(WireFrameTest, RejectsPayloadMarkedBigEndian) {
  auto frame = EncodeFrame({9, Heartbeat{}});
  ASSERT_EQ(frame[kEnvelopeBytes], 1);
  frame[kEnvelopeBytes] = 0;
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
}

RejectCode CodeOf(const std::vector<std::uint8_t>& frame, const WireLimits& limits) {
  const auto decoded = DecodeFrame(frame, limits);
  EXPECT_FALSE(decoded.ok()) << "frame was accepted";
  return decoded.ok() ? RejectCode::kBusy : decoded.reject().code;
}

template <typename T>
void Put(std::vector<std::uint8_t>& frame, std::size_t at, T value) {
  std::memcpy(frame.data() + at, &value, sizeof(T));
}

TEST(WireFrameTest, RoundTripsEveryKind) {
  for (const auto& message : SampleMessages()) {
    const auto frame = EncodeFrame(message);
    const auto decoded = DecodeFrame(frame, WireLimits{});
    ASSERT_TRUE(decoded.ok()) << MessageKindName(KindOf(message.body)) << ": "
                              << decoded.reject().text;
    EXPECT_EQ(decoded.value(), message);
    EXPECT_EQ(EncodeFrame(decoded.value()), frame);
  }
}

TEST(WireFrameTest, EnvelopeLayoutIsFixed) {
  const auto frame = EncodeFrame(Message{7, Heartbeat{}});
  ASSERT_GE(frame.size(), kEnvelopeBytes);
  EXPECT_EQ(std::string(frame.begin(), frame.begin() + 4), "FSD1");
  EXPECT_EQ(frame[4], 8);                       // version, little-endian
  EXPECT_EQ(frame[6], 6);                       // kind HEARTBEAT
  EXPECT_EQ(frame[16], 7);                      // round
  EXPECT_EQ(frame.size(), kEnvelopeBytes + 1);  // payload: Cereal's one endianness byte
}

TEST(WireFrameTest, RejectsFrameShorterThanEnvelope) {
  const std::vector<std::uint8_t> frame(10, 0);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
  EXPECT_NE(DecodeFrame(frame, {}).reject().text.find("shorter than the 64-byte envelope"),
            std::string::npos);
}

TEST(WireFrameTest, RejectsEnvelopeWithUnknownMagic) {
  auto frame = EncodeFrame(SampleMessages()[0]);
  frame[0] = 'X';
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
  EXPECT_NE(DecodeFrame(frame, {}).reject().text.find("bad magic"), std::string::npos);
}

TEST(WireFrameTest, RejectsUnsupportedVersionNamingBothRanges) {
  auto frame = EncodeFrame(SampleMessages()[0]);
  Put<std::uint16_t>(frame, 4, 7);  // versions 1 to 7 are retired
  EXPECT_EQ(CodeOf(frame), RejectCode::kUnsupportedVersion);
  EXPECT_NE(DecodeFrame(frame, {}).reject().text.find("version 7, this side speaks 8..8"),
            std::string::npos);
}

TEST(WireFrameTest, RejectsUnknownKind) {
  auto frame = EncodeFrame(SampleMessages()[0]);
  Put<std::uint16_t>(frame, 6, 99);
  EXPECT_EQ(CodeOf(frame), RejectCode::kUnknownKind);
}

TEST(WireFrameTest, RejectsNonZeroFlags) {
  auto frame = EncodeFrame(SampleMessages()[0]);
  Put<std::uint32_t>(frame, 8, 1);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
}

TEST(WireFrameTest, RejectsPayloadShorterThanHeaderClaims) {
  auto frame = EncodeFrame(SampleMessages()[6]);
  Put<std::uint32_t>(frame, 12, static_cast<std::uint32_t>(frame.size()));
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
}

TEST(WireFrameTest, RejectsFrameAboveMessageLimit) {
  const auto frame = EncodeFrame(SampleMessages()[2]);
  WireLimits limits;
  limits.max_message_bytes = frame.size() - 1;
  EXPECT_EQ(CodeOf(frame, limits), RejectCode::kLimitExceeded);
}

TEST(WireFrameTest, RejectsTensorSectionOnKindWithoutTensor) {
  auto frame = EncodeFrame(SampleMessages()[5]);
  Put<std::uint32_t>(frame, 24, 1);
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
}

TEST(WireFrameTest, RejectsDigestMismatchOnFlippedTensorByte) {
  auto frame = EncodeFrame(SampleMessages()[3]);
  // The last byte of the summary logits (two empty private sections follow).
  frame[frame.size() - 2 * kTensorHeaderBytes - 1] ^= 0x01;
  EXPECT_EQ(CodeOf(frame), RejectCode::kDigestMismatch);
}

TEST(WireFrameTest, RejectsNaNAndInfInKeptValues) {
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    Message summary{3, Update{10, 0.5, 0, {10}, 0, {}, {bad}, {}, {}}};
    EXPECT_EQ(CodeOf(EncodeFrame(summary)), RejectCode::kNonFinite);
    Message targets{3, RoundStart{3.0, 0.5, 0.1, 1, 0, 0, 0, 1.0, {}, {bad}, NoMask(), {}, {}}};
    EXPECT_EQ(CodeOf(EncodeFrame(targets)), RejectCode::kNonFinite);
  }
  Message start{3, RoundStart{std::nan(""), 0.5, 0.0, 1, 0, 0, 0, 1.0, {}, {}, NoMask(), {}, {}}};
  EXPECT_EQ(CodeOf(EncodeFrame(start)), RejectCode::kNonFinite);
  Message factor{3, RoundStart{3.0, 0.5, 0.0, 1, 0, 0, 0, std::nan(""), {}, {}, NoMask(), {}, {}}};
  EXPECT_EQ(CodeOf(EncodeFrame(factor)), RejectCode::kNonFinite);
}

TEST(WireFrameTest, RejectsSummaryWhoseLogitsAreNotCountsSquared) {
  const auto frame =
      EncodeFrame(Message{3, Update{10, 0.5, 0, {5, 5}, 0, {}, {1.0f, 2.0f, 3.0f}, {}, {}}});
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
  EXPECT_NE(DecodeFrame(frame, {}).reject().text.find("2 class counts but 3 logits"),
            std::string::npos);
}

TEST(WireFrameTest, WithheldFieldsAreZeroAndOnlyKnownBitsAreSet) {
  const auto code = [](Update update) { return CodeOf(EncodeFrame(Message{3, update})); };
  Update unknown_bit{0, 0.0, 4, {}, 0, {}, {}, {}, {}};
  EXPECT_EQ(code(unknown_bit), RejectCode::kMalformed);
  EXPECT_NE(DecodeFrame(EncodeFrame(Message{3, unknown_bit}), {})
                .reject()
                .text.find("UPDATE withheld has unknown bits 4"),
            std::string::npos);
  EXPECT_EQ(code(Update{10, 0.0, kWithheldSampleCount, {}, 0, {}, {}, {}, {}}),
            RejectCode::kMalformed);
  EXPECT_EQ(code(Update{0, 0.5, kWithheldTrainLoss, {}, 0, {}, {}, {}, {}}),
            RejectCode::kMalformed);
  EXPECT_TRUE(
      DecodeFrame(
          EncodeFrame(Message{3, Update{0, 0.0, kWithheldKnownBits, {}, 0, {}, {}, {}, {}}}), {})
          .ok());
  const Message masked{3, SecAggMasked{7,
                                       0.0,
                                       kWithheldSampleCount,
                                       0,
                                       0,
                                       codec::Encoded{codec::Dtype::kRing, false, 0, {}},
                                       {}}};
  EXPECT_EQ(CodeOf(EncodeFrame(masked)), RejectCode::kMalformed);
}

TEST(WireFrameTest, RejectsAPrivateSummaryOfTheWrongShapeOrBesideAnExactOne) {
  const auto reject_text = [](Update update) {
    return DecodeFrame(EncodeFrame(Message{3, update}), {}).reject().text;
  };
  EXPECT_NE(reject_text(Update{0, 0.0, kWithheldKnownBits, {}, 0, {}, {}, {1, 2, 3}, {0.5f, 1.0f}})
                .find("private summary has 2 presences but 3 row values"),
            std::string::npos);
  EXPECT_NE(reject_text(Update{5, 0.5, 0, {5}, 0, {}, {1.0f}, {1.0f}, {1.0f}})
                .find("both an exact and a private summary"),
            std::string::npos);
  Update nan_presence{0, 0.0, kWithheldKnownBits, {}, 0, {}, {}, {1.0f}, {std::nanf("")}};
  EXPECT_EQ(CodeOf(EncodeFrame(Message{3, nan_presence})), RejectCode::kNonFinite);
}

TEST(WireFrameTest, RejectsSummaryCountListBombs) {
  for (const auto size : kBombs) {
    auto frame = EncodeFrame(
        Message{3, Update{10, 0.5, 0, {5, 5}, 0, {}, {1.0f, 2.0f, 3.0f, 4.0f}, {}, {}}});
    // Payload: endianness byte, i64 sample_count, f64 train_loss, u32 withheld, then the count
    // list's size tag.
    Put<std::uint64_t>(frame, kEnvelopeBytes + 1 + 8 + 8 + 4, size);
    Resign(frame);
    EXPECT_EQ(CodeOf(frame), RejectCode::kLimitExceeded) << size;
  }
}

TEST(WireFrameTest, RejectsSummaryCountListBeyondRemainingBytes) {
  auto frame =
      EncodeFrame(Message{3, Update{10, 0.5, 0, {5, 5}, 0, {}, {1.0f, 2.0f, 3.0f, 4.0f}, {}, {}}});
  Put<std::uint64_t>(frame, kEnvelopeBytes + 1 + 8 + 8 + 4, 1000);  // within the limit
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
  EXPECT_NE(DecodeFrame(frame, {}).reject().text.find("UPDATE.summary_counts claims 1000"),
            std::string::npos);
}

TEST(WireFrameTest, RejectsSecureAggregationListBombs) {
  for (const auto size : kBombs) {
    auto frame = EncodeFrame(Message{3, SecAggUnmask{{1, 2}}});
    // Payload: endianness byte, then the survivors list's size tag.
    Put<std::uint64_t>(frame, kEnvelopeBytes + 1, size);
    Resign(frame);
    EXPECT_EQ(CodeOf(frame), RejectCode::kLimitExceeded) << size;
  }
  auto frame = EncodeFrame(Message{3, SecAggUnmask{{1, 2}}});
  Put<std::uint64_t>(frame, kEnvelopeBytes + 1, 1000);  // within the limit, beyond the bytes
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
}

TEST(WireFrameTest, RejectsSealedShareSizeBombs) {
  for (const auto size : kBombs) {
    auto frame = EncodeFrame(Message{3, SecAggShares{{{4, std::vector<std::uint8_t>(108, 1)}}}});
    // Payload: endianness byte, u64 count, u32 peer, then the sealed bytes' size tag.
    Put<std::uint64_t>(frame, kEnvelopeBytes + 1 + 8 + 4, size);
    Resign(frame);
    EXPECT_EQ(CodeOf(frame), RejectCode::kLimitExceeded) << size;
  }
}

TEST(WireFrameTest, RingSectionTakesOnlyTheRingDtypeWithoutFlags) {
  const Message masked{
      3, SecAggMasked{
             100, 0.25, 0, 2, 0, codec::Encoded{codec::Dtype::kRing, false, 3, {1, 2, 3}}, {}}};
  auto frame = EncodeFrame(masked);
  const std::size_t section = frame.size() - kTensorHeaderBytes - 3;
  Put<std::uint32_t>(frame, section, static_cast<std::uint32_t>(codec::Dtype::kFp32));
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
  frame = EncodeFrame(masked);
  Put<std::uint32_t>(frame, section + 4, kSectionZstd);
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
  // And the ring dtype is refused in a values section.
  auto update = EncodeFrame(SampleMessages()[3]);
  const std::size_t values = update.size() - 2 * kTensorHeaderBytes - 4 * sizeof(float) -
                             std::get<Update>(SampleMessages()[3].body).values.bytes.size();
  Put<std::uint32_t>(update, values, static_cast<std::uint32_t>(codec::Dtype::kRing));
  Resign(update);
  EXPECT_EQ(CodeOf(update), RejectCode::kMalformed);
}

TEST(WireFrameTest, RejectsSectionWhoseStoredBytesExceedTheFrame) {
  for (const auto size : kBombs) {
    auto frame = EncodeFrame(SampleMessages()[3]);
    // The values section header follows the payload: its stored-bytes field is at +16.
    const std::size_t section = frame.size() - 2 * kTensorHeaderBytes - 4 * sizeof(float) -
                                std::get<Update>(SampleMessages()[3].body).values.bytes.size();
    Put<std::uint64_t>(frame, section + 16, size);
    Resign(frame);
    EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed) << size;
  }
}

TEST(WireFrameTest, RejectsValueDtypeInTheMaskSectionAndUnknownFlags) {
  Message start = SampleMessages()[2];
  std::get<RoundStart>(start.body).mask = Fp32({1.0f});  // a mask must be a bitmask
  EXPECT_EQ(CodeOf(EncodeFrame(start)), RejectCode::kMalformed);
  Message update = SampleMessages()[3];
  std::get<Update>(update.body).values.dtype = codec::Dtype::kBitmask;  // values must not be
  EXPECT_EQ(CodeOf(EncodeFrame(update)), RejectCode::kMalformed);
  auto frame = EncodeFrame(SampleMessages()[3]);
  const std::size_t section = frame.size() - 2 * kTensorHeaderBytes - 4 * sizeof(float) -
                              std::get<Update>(SampleMessages()[3].body).values.bytes.size();
  Put<std::uint32_t>(frame, section + 4, 2);  // flag bit 1 is not defined
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
}

TEST(WireFrameTest, RoundTripsDistillationOnlyUpdateWithoutValues) {
  const Message message{4, Update{7, 0.25, 0, {3, 4}, 0, {}, {1.0f, 0.0f, 0.0f, 1.0f}, {}, {}}};
  const auto decoded = DecodeFrame(EncodeFrame(message), {});
  ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
  EXPECT_EQ(decoded.value(), message);
}

TEST(WireFrameTest, RejectsTensorElementCountBombs) {
  for (const auto count : kBombs) {
    // Both tensor sections of an UPDATE: values, then summary logits (4 floats).
    const Message message = SampleMessages()[3];
    const auto valid = EncodeFrame(message);
    // Two empty private summary sections follow the logits.
    const std::size_t logits_section = valid.size() - 3 * kTensorHeaderBytes - 4 * sizeof(float);
    const std::size_t values_section =
        logits_section - kTensorHeaderBytes - std::get<Update>(message.body).values.bytes.size();
    for (const std::size_t section : {values_section, logits_section}) {
      auto frame = valid;
      Put<std::uint64_t>(frame, section + 8, count);
      Resign(frame);
      EXPECT_EQ(CodeOf(frame), RejectCode::kLimitExceeded) << count << " at " << section;
    }
  }
}

TEST(WireFrameTest, RejectsStringSizeTagBombs) {
  for (const auto size : kBombs) {
    auto frame = EncodeFrame(Message{0, Bye{"x"}});
    // Payload: endianness byte, then BYE.reason's 8-byte size tag.
    Put<std::uint64_t>(frame, kEnvelopeBytes + 1, size);
    Resign(frame);
    EXPECT_EQ(CodeOf(frame), RejectCode::kLimitExceeded) << size;
  }
}

TEST(WireFrameTest, RejectsStringSizeTagBeyondRemainingBytes) {
  auto frame = EncodeFrame(Message{0, Bye{"abc"}});
  Put<std::uint64_t>(frame, kEnvelopeBytes + 1, 100);  // within the limit, beyond the payload
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
  EXPECT_NE(DecodeFrame(frame, {}).reject().text.find("BYE.reason claims 100 bytes"),
            std::string::npos);
}

TEST(WireFrameTest, RejectsPayloadWithUnreadBytes) {
  auto frame = EncodeFrame(Message{5, Heartbeat{}});
  frame.push_back(0);
  Put<std::uint32_t>(frame, 12, 2);
  Resign(frame);
  EXPECT_EQ(CodeOf(frame), RejectCode::kMalformed);
}

// Every single-byte flip, every truncation and appended garbage, on a valid
// frame of every kind: none may be accepted.
TEST(WireFrameTest, MutationSweepNeverAcceptsAChangedFrame) {
  for (const auto& message : SampleMessages()) {
    const auto valid = EncodeFrame(message);
    for (std::size_t i = 0; i < valid.size(); ++i) {
      for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xff}}) {
        auto frame = valid;
        frame[i] ^= mask;
        ASSERT_FALSE(DecodeFrame(frame, {}).ok()) << "flip at " << i;
      }
    }
    for (std::size_t size = 0; size < valid.size(); ++size) {
      const std::vector<std::uint8_t> truncated(valid.begin(), valid.begin() + size);
      ASSERT_FALSE(DecodeFrame(truncated, {}).ok()) << "truncated to " << size;
    }
    for (std::size_t extra : {1, 7, 64}) {
      auto frame = valid;
      frame.insert(frame.end(), extra, 0xAB);
      ASSERT_FALSE(DecodeFrame(frame, {}).ok()) << extra << " bytes appended";
    }
  }
}

}  // namespace
}  // namespace fsd::wire
