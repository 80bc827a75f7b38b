#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "common/codec/values.h"
#include "common/errors.h"

namespace fsd::codec {
namespace {

using wire::RejectCode;

std::vector<float> Normal(std::size_t n, std::uint64_t seed, float scale = 0.1f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (auto& v : values) v = normal(rng);
  return values;
}

std::vector<std::uint64_t> Whole(const std::vector<float>& values) { return {values.size()}; }

EncodeOptions Options(Dtype dtype, bool zstd = false) {
  EncodeOptions options;
  options.dtype = dtype;
  options.zstd = zstd;
  return options;
}

TEST(HalfTest, ConvertsExactlyRepresentableValuesAndRoundsToNearestEven) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 0.000061035156f /* 2^-14 */, 5.9604645e-08f /* 2^-24 */}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(v)), v) << v;
  }
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), FloatToHalf(1.0f));  // tie → even
  EXPECT_EQ(HalfToFloat(FloatToHalf(1e6f)), 65504.0f);           // saturates
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(std::numeric_limits<float>::infinity()))));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  EXPECT_EQ(HalfToFloat(FloatToHalf(1e-9f)), 0.0f);
}

TEST(ValueCodecTest, Fp32RoundTripsBitExactWithAndWithoutZstd) {
  const auto values = Normal(1000, 1);
  for (bool zstd : {false, true}) {
    const auto encoded = EncodeValues(values, {}, Options(Dtype::kFp32, zstd));
    const auto decoded = DecodeValues(encoded, Whole(values));
    ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
    EXPECT_EQ(decoded.value(), values);
  }
}

TEST(ValueCodecTest, Fp16HalvesTheBytesWithinHalfPrecision) {
  const auto values = Normal(1000, 2);
  const auto encoded = EncodeValues(values, {}, Options(Dtype::kFp16));
  EXPECT_EQ(encoded.bytes.size(), 2000u);
  const auto decoded = DecodeValues(encoded, Whole(values));
  ASSERT_TRUE(decoded.ok());
  for (std::size_t i = 0; i < values.size(); ++i)
    EXPECT_NEAR(decoded.value()[i], values[i], std::fabs(values[i]) * 1e-3 + 1e-7);
}

TEST(ValueCodecTest, Int8ErrorIsAtMostHalfAScaleStepPerSegment) {
  auto values = Normal(300, 3);
  for (std::size_t i = 200; i < 300; ++i) values[i] *= 100.0f;  // a segment of larger values
  const std::vector<std::uint64_t> segments = {200, 100};
  const auto encoded = EncodeValues(values, segments, Options(Dtype::kInt8));
  EXPECT_EQ(encoded.bytes.size(), 4 + 2 * 4 + 300u);
  const auto decoded = DecodeValues(encoded, segments);
  ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
  for (std::size_t s = 0, at = 0; s < segments.size(); ++s) {
    float max = 0.0f;
    for (std::size_t i = at; i < at + segments[s]; ++i) max = std::max(max, std::fabs(values[i]));
    for (std::size_t i = at; i < at + segments[s]; ++i)
      EXPECT_LE(std::fabs(decoded.value()[i] - values[i]), max / 127 / 2 * 1.0001f) << i;
    at += segments[s];
  }
}

TEST(ValueCodecTest, StochasticRoundingIsUnbiased) {
  // With a peak of 1.0 the int8 step is 1/127; 38.4 steps lies between two levels.
  const float value = 38.4f / 127.0f;
  std::vector<float> values(20000, value);
  values.push_back(1.0f);
  const std::vector<std::uint64_t> segments = {values.size()};
  EncodeOptions options = Options(Dtype::kInt8);
  options.stochastic_rounding = true;
  options.seed = 9;
  const auto decoded = DecodeValues(EncodeValues(values, segments, options), segments);
  ASSERT_TRUE(decoded.ok());
  const double mean =
      std::accumulate(decoded.value().begin(), decoded.value().end() - 1, 0.0) / 20000;
  EXPECT_NEAR(mean, value, 2e-4);
  const auto nearest = DecodeValues(EncodeValues(values, segments, Options(Dtype::kInt8)), segments);
  EXPECT_NEAR(nearest.value()[0], 38.0f / 127.0f, 1e-6);  // nearest rounding is biased here
}

TEST(ValueCodecTest, ZstdShrinksSparseValues) {
  std::vector<float> values(10000, 0.0f);
  for (std::size_t i = 0; i < values.size(); i += 10) values[i] = 0.5f;
  const auto plain = EncodeValues(values, {}, Options(Dtype::kFp32));
  const auto packed = EncodeValues(values, {}, Options(Dtype::kFp32, true));
  EXPECT_LT(packed.bytes.size() * 10, plain.bytes.size());
}

TEST(ValueCodecTest, RejectsStoredBytesThatDoNotMatchTheCount) {
  const std::vector<std::uint64_t> ten = {10};
  auto encoded = EncodeValues(Normal(10, 4), {}, Options(Dtype::kFp16));
  encoded.bytes.pop_back();
  EXPECT_EQ(DecodeValues(encoded, ten).reject().code, RejectCode::kMalformed);
  encoded = EncodeValues(Normal(10, 4), {}, Options(Dtype::kFp32, true));
  encoded.count = 1ULL << 40;  // a count bomb: refused before anything is allocated
  EXPECT_EQ(DecodeValues(encoded, ten).reject().code, RejectCode::kSchemaMismatch);
}

TEST(ValueCodecTest, RejectsZstdFrameDeclaringAnotherSizeOrGarbage) {
  auto encoded = EncodeValues(Normal(100, 5), {}, Options(Dtype::kFp32, true));
  encoded.count = 99;
  EXPECT_NE(DecodeValues(encoded, std::vector<std::uint64_t>{99})
                .reject()
                .text.find("declares 400 bytes, expected 396"),
            std::string::npos);
  encoded.count = 100;
  encoded.bytes.assign(40, 0xAB);
  EXPECT_EQ(DecodeValues(encoded, std::vector<std::uint64_t>{100}).reject().code,
            RejectCode::kMalformed);
}

TEST(ValueCodecTest, RejectsInt8WithBadScaleMinus128OrOtherSegments) {
  const std::vector<std::uint64_t> segments = {3};
  const auto valid = EncodeValues(std::vector<float>{0.1f, -0.2f, 0.3f}, segments, Options(Dtype::kInt8));
  for (float scale : {0.0f, -1.0f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
    auto encoded = valid;
    std::memcpy(encoded.bytes.data() + 4, &scale, 4);
    EXPECT_EQ(DecodeValues(encoded, segments).reject().code, RejectCode::kInvalidValue) << scale;
  }
  auto encoded = valid;
  encoded.bytes.back() = 0x80;  // -128
  EXPECT_EQ(DecodeValues(encoded, segments).reject().code, RejectCode::kInvalidValue);
  EXPECT_EQ(DecodeValues(valid, std::vector<std::uint64_t>{2, 1}).reject().code,
            RejectCode::kMalformed);  // another segmentation: the scales do not fit
  EXPECT_EQ(DecodeValues(valid, std::vector<std::uint64_t>{4}).reject().code,
            RejectCode::kSchemaMismatch);  // another kept count
}

TEST(ValueCodecTest, RejectsNonFiniteFp32AndFp16ValuesAndRefusesToEncodeThem) {
  const std::vector<float> values = {1.0f, 2.0f};
  auto fp32 = EncodeValues(values, {}, Options(Dtype::kFp32));
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(fp32.bytes.data() + 4, &inf, 4);
  EXPECT_EQ(DecodeValues(fp32, Whole(values)).reject().code, RejectCode::kNonFinite);
  auto fp16 = EncodeValues(values, {}, Options(Dtype::kFp16));
  const std::uint16_t nan_half = 0x7e00;
  std::memcpy(fp16.bytes.data(), &nan_half, 2);
  EXPECT_EQ(DecodeValues(fp16, Whole(values)).reject().code, RejectCode::kNonFinite);
  const std::vector<float> bad = {1.0f, std::nanf("")};
  EXPECT_THROW(EncodeValues(bad, std::vector<std::uint64_t>{2}, Options(Dtype::kInt8)),
               InternalError);
}

TEST(ValueCodecTest, Int8OfAnAllZeroOrDenormalSegmentDecodesToZeros) {
  const std::vector<float> values = {0.0f, 1e-44f, -1e-44f};
  const auto decoded = DecodeValues(EncodeValues(values, Whole(values), Options(Dtype::kInt8)),
                                    Whole(values));
  ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
  for (const float v : decoded.value()) EXPECT_LE(std::fabs(v), 1e-37f);
}

TEST(BitmaskCodecTest, RoundTripsAndPacksEightBitsPerByte) {
  std::vector<std::uint8_t> bits(1001);
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = (i * 7) % 3 == 0;
  for (bool zstd : {false, true}) {
    const auto encoded = EncodeBitmask(bits, zstd);
    if (!zstd) {
      EXPECT_EQ(encoded.bytes.size(), 126u);
    }
    const auto decoded = DecodeBitmask(encoded, bits.size());
    ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
    EXPECT_EQ(decoded.value(), bits);
  }
}

TEST(BitmaskCodecTest, RejectsOtherSizesAndBitsPastTheCount) {
  const std::vector<std::uint8_t> bits = {1, 0, 1};
  auto encoded = EncodeBitmask(bits, false);
  EXPECT_EQ(DecodeBitmask(encoded, 4).reject().code, RejectCode::kSchemaMismatch);
  encoded.bytes[0] |= 0x80;
  EXPECT_EQ(DecodeBitmask(encoded, 3).reject().code, RejectCode::kMalformed);
  encoded = EncodeValues(std::vector<float>{1.0f}, {}, {});
  EXPECT_EQ(DecodeBitmask(encoded, 1).reject().code, RejectCode::kMalformed);
}

}  // namespace
}  // namespace fsd::codec
