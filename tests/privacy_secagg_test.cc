// The cryptography of secure aggregation (privacy/secagg/secagg_crypto.h,
// privacy/secagg/shamir.h): published and hand-worked values, round trips, and
// every tampering detected.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/errors.h"
#include "privacy/secagg/ring_vector.h"
#include "privacy/secagg/secagg_crypto.h"
#include "privacy/secagg/secagg_graph.h"
#include "privacy/secagg/shamir.h"

namespace fsd::privacy {
namespace {

std::vector<std::uint8_t> Hex(const std::string& hex) {
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

AgreementPublicKey PublicHex(const std::string& hex) {
  AgreementPublicKey key{};
  const auto bytes = Hex(hex);
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

std::vector<std::uint8_t> Bytes(const std::string& text) { return {text.begin(), text.end()}; }

// RFC 7748 §6.1: Alice's and Bob's X25519 keys.
const SecretBytes kAliceSecret(
    Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
const SecretBytes kBobSecret(
    Hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
const std::string kAlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const std::string kBobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";

TEST(SecaggCryptoTest, X25519PublicKeysMatchRfc7748) {
  EXPECT_EQ(AgreementPublicKeyOf(kAliceSecret), PublicHex(kAlicePublic));
  EXPECT_EQ(AgreementPublicKeyOf(kBobSecret), PublicHex(kBobPublic));
}

TEST(SecaggCryptoTest, AgreedKeyIsHkdfSha256OfTheRfc7748SharedSecretOnBothSides) {
  // HKDF-SHA256(IKM = the RFC's shared secret 4a5d9d5b…1e161742, no salt,
  // info "fsd test", 32 bytes), computed independently with HMAC-SHA256.
  const SecretBytes expected(
      Hex("1fa696d16b10393d367de5ae05a287bdc791891bed1ab6a5340f784f68ef3d69"));
  EXPECT_EQ(AgreeKey(kAliceSecret, PublicHex(kBobPublic), "fsd test"), expected);
  EXPECT_EQ(AgreeKey(kBobSecret, PublicHex(kAlicePublic), "fsd test"), expected);
  EXPECT_FALSE(AgreeKey(kAliceSecret, PublicHex(kBobPublic), "other use") == expected);
}

TEST(SecaggCryptoTest, SmallOrderPeerKeyIsRefused) {
  const AgreementPublicKey zero{};  // the identity point: shared secret all zeros
  EXPECT_THROW(AgreeKey(kAliceSecret, zero, "x"), AuthError);
}

TEST(SecaggCryptoTest, FreshKeyPairsAgree) {
  const auto a = GenerateAgreementKeyPair();
  const auto b = GenerateAgreementKeyPair();
  EXPECT_NE(a.public_key, b.public_key);
  EXPECT_EQ(AgreeKey(a.secret_key, b.public_key, "k"), AgreeKey(b.secret_key, a.public_key, "k"));
}

TEST(SecaggCryptoTest, SealedMessageOpensOnlyUnchangedUnderItsKeyAndAssociatedData) {
  const SecretBytes key = RandomSecret(kSymmetricKeyBytes);
  const auto plaintext = Bytes("share of client-3 for client-7");
  const auto associated = Bytes("round 4: client-3 -> client-7");
  const auto sealed = Seal(key, associated, plaintext);
  ASSERT_EQ(sealed.size(), kSealNonceBytes + plaintext.size() + kSealTagBytes);
  EXPECT_EQ(Open(key, associated, sealed), SecretBytes(plaintext));
  EXPECT_NE(Seal(key, associated, plaintext), sealed) << "a fresh nonce each time";
  for (const std::size_t at : {std::size_t{0}, kSealNonceBytes, sealed.size() - 1}) {
    auto tampered = sealed;
    tampered[at] ^= 0x01;
    EXPECT_THROW(Open(key, associated, tampered), AuthError) << "byte " << at;
  }
  EXPECT_THROW(Open(key, Bytes("round 4: client-3 -> client-8"), sealed), AuthError);
  EXPECT_THROW(Open(RandomSecret(kSymmetricKeyBytes), associated, sealed), AuthError);
  EXPECT_THROW(Open(key, associated, std::span(sealed).first(20)), AuthError);
  try {
    Open(key, {}, sealed);
    ADD_FAILURE() << "opened without its associated data";
  } catch (const AuthError& e) {
    EXPECT_NE(std::string(e.what()).find("failed authentication"), std::string::npos);
  }
}

TEST(SecaggCryptoTest, MaskIsTheAes256CtrKeystreamCutToTheRingBits) {
  // AES-256 of the zero block under the zero key is dc95c078a2408989…
  // (FIPS-197 style known answer), so the first word is 0x898940a278c095dc.
  const SecretBytes zero_seed(std::vector<std::uint8_t>(32, 0));
  std::vector<std::uint64_t> mask(3);
  ExpandMask(zero_seed, 64, mask);
  EXPECT_EQ(mask[0], 0x898940a278c095dcULL);
  std::vector<std::uint64_t> cut(3);
  ExpandMask(zero_seed, 20, cut);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(cut[i], mask[i] & 0xfffff);
  // Deterministic per seed, long masks included; another seed, another mask.
  const SecretBytes seed = RandomSecret(kSymmetricKeyBytes);
  std::vector<std::uint64_t> a(10'000), b(10'000), c(10'000);
  ExpandMask(seed, 33, a);
  ExpandMask(seed, 33, b);
  ExpandMask(RandomSecret(kSymmetricKeyBytes), 33, c);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (const auto v : a) EXPECT_LT(v, std::uint64_t{1} << 33);
}

TEST(SecretBytesTest, ComparesByValueAndIsEmptyAfterMove) {
  SecretBytes a(Bytes("secret"));
  SecretBytes b(Bytes("secret"));
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == SecretBytes(Bytes("secreT")));
  EXPECT_FALSE(a == SecretBytes(Bytes("secrets")));
  SecretBytes moved = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(moved, b);
}

TEST(ShamirTest, FieldArithmeticModuloTheMersennePrime) {
  EXPECT_EQ(FieldMul(kShamirPrime - 1, kShamirPrime - 1), 1u);  // (−1)² = 1
  EXPECT_EQ(FieldInverse(2), std::uint64_t{1} << 60);           // 2 · 2^60 = p + 1
  EXPECT_EQ(FieldMul(2, FieldInverse(2)), 1u);
  EXPECT_EQ(FieldAdd(kShamirPrime - 1, 5), 4u);
  EXPECT_EQ(FieldSub(3, 5), kShamirPrime - 2);
  for (const std::uint64_t a : {std::uint64_t{3}, std::uint64_t{123456789}, kShamirPrime - 7}) {
    EXPECT_EQ(FieldMul(a, FieldInverse(a)), 1u) << a;
  }
}

TEST(ShamirTest, HandWorkedPolynomialAndInterpolation) {
  // f(x) = 1234 + 166x + 94x²: shares (1, 1494), (2, 1942), (3, 2578),
  // (4, 3402), (5, 4414), (6, 5614); any three give f(0) = 1234.
  const std::vector<std::uint64_t> f = {1234, 166, 94};
  const std::uint64_t expected[] = {1494, 1942, 2578, 3402, 4414, 5614};
  for (std::uint64_t x = 1; x <= 6; ++x) EXPECT_EQ(EvaluatePolynomial(f, x), expected[x - 1]);
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> three = {
      {2, 1942}, {4, 3402}, {5, 4414}};
  EXPECT_EQ(InterpolateAtZero(three), 1234u);
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> other = {
      {1, 1494}, {3, 2578}, {6, 5614}};
  EXPECT_EQ(InterpolateAtZero(other), 1234u);
}

TEST(ShamirTest, CombineVerifiedOutvotesWrongSharesAndNamesThem) {
  const SecretBytes secret = RandomSecret(32);
  auto shares = ShamirSplit(secret.bytes(), 6, 10);
  const auto is_secret = [&](const SecretBytes& candidate) { return candidate == secret; };
  auto honest = CombineVerified(shares, 6, 32, is_secret);
  ASSERT_TRUE(honest.secret);
  EXPECT_EQ(*honest.secret, secret);
  EXPECT_TRUE(honest.wrong.empty());
  // Two wrong shares among the first six, one malformed: found and named.
  shares[0].y[1] ^= 1;
  shares[4].y[0] = FieldAdd(shares[4].y[0], 1);
  shares[8].y.pop_back();
  const auto outvoted = CombineVerified(shares, 6, 32, is_secret);
  ASSERT_TRUE(outvoted.secret);
  EXPECT_EQ(*outvoted.secret, secret);
  EXPECT_EQ(outvoted.wrong, (std::vector<std::uint32_t>{1, 5, 9}));
  // Too many wrong shares to leave t right ones: no secret, never a wrong one.
  for (int i = 1; i < 4; ++i) shares[i].y[0] ^= 2;
  const auto lost = CombineVerified(shares, 6, 32, is_secret);
  EXPECT_FALSE(lost.secret);
}

TEST(ShamirTest, AnyThresholdSharesGiveTheSecretBack) {
  const SecretBytes secret = RandomSecret(32);
  const auto shares = ShamirSplit(secret.bytes(), 6, 10);
  ASSERT_EQ(shares.size(), 10u);
  EXPECT_EQ(shares[0].y.size(), 5u);  // 32 bytes in 7-byte chunks
  EXPECT_EQ(ShamirCombine(std::span(shares).first(6), 6, 32), secret);
  EXPECT_EQ(ShamirCombine(std::span(shares).last(6), 6, 32), secret);
  const std::vector<ShamirShare> mixed = {shares[9], shares[1], shares[7],
                                          shares[3], shares[0], shares[5]};
  EXPECT_EQ(ShamirCombine(mixed, 6, 32), secret);
  EXPECT_EQ(ShamirCombine(shares, 6, 32), secret) << "all ten, the extra four checked";
  // Two splits of one secret differ: the other coefficients are random.
  EXPECT_NE(ShamirSplit(secret.bytes(), 6, 10)[0].y, shares[0].y);
}

TEST(ShamirTest, SharesAtChosenPointsCombine) {
  const SecretBytes secret = RandomSecret(32);
  const std::vector<std::uint32_t> points = {3, 9, 17, 40};
  const auto shares = ShamirSplit(secret.bytes(), 2, points);
  ASSERT_EQ(shares.size(), 4u);
  EXPECT_EQ(shares[2].x, 17u);
  EXPECT_EQ(ShamirCombine(std::vector<ShamirShare>{shares[3], shares[1]}, 2, 32), secret);
  EXPECT_THROW(ShamirSplit(secret.bytes(), 2, std::vector<std::uint32_t>{3, 3, 4}), ConfigError);
  EXPECT_THROW(ShamirSplit(secret.bytes(), 2, std::vector<std::uint32_t>{0, 3, 4}), ConfigError);
}

TEST(ShamirTest, BadShareSetsAreRefusedWithTheReason) {
  const SecretBytes secret = RandomSecret(32);
  auto shares = ShamirSplit(secret.bytes(), 3, 5);
  const auto refused = [&](std::vector<ShamirShare> set, const std::string& needle) {
    try {
      ShamirCombine(set, 3, 32);
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused({shares[0], shares[1]}, "2 given, 3 needed");
  refused({shares[0], shares[1], shares[1]}, "appears twice");
  auto zero = shares[2];
  zero.x = 0;
  refused({shares[0], shares[1], zero}, "not a share point");
  auto short_share = shares[2];
  short_share.y.pop_back();
  refused({shares[0], shares[1], short_share}, "has 4 values");
  auto outside = shares[2];
  outside.y[0] = kShamirPrime;
  refused({shares[0], shares[1], outside}, "outside the field");
  auto tampered = shares[4];
  tampered.y[2] = FieldAdd(tampered.y[2], 1);
  refused({shares[0], shares[1], shares[2], tampered}, "do not lie on one polynomial");
  EXPECT_THROW(ShamirSplit(secret.bytes(), 0, 5), ConfigError);
  EXPECT_THROW(ShamirSplit(secret.bytes(), 6, 5), ConfigError);
}

TEST(RingVectorTest, RingArithmeticWrapsModuloTwoToTheBits) {
  std::vector<std::uint64_t> sum = {250, 5, 0};
  RingAdd(sum, std::vector<std::uint64_t>{10, 3, 255}, 8);
  EXPECT_EQ(sum, (std::vector<std::uint64_t>{4, 8, 255}));
  RingSubtract(sum, std::vector<std::uint64_t>{5, 8, 0}, 8);
  EXPECT_EQ(sum, (std::vector<std::uint64_t>{255, 0, 255}));
  EXPECT_EQ(RingBitsFor(16, 1), 16u);
  EXPECT_EQ(RingBitsFor(16, 10), 20u);
  EXPECT_EQ(RingBitsFor(16, 1024), 26u);
  EXPECT_EQ(RingBitsFor(16, 1025), 27u);
}

TEST(RingVectorTest, FixedPointSumsDecodeWithinHalfAStepPerValueAndCountClamping) {
  const FixedPoint fixed(16, 2.0);  // step 4 / 65535
  const std::vector<std::vector<float>> clients = {
      {0.5f, -1.25f, 2.0f, -2.0f}, {0.1f, 0.2f, 0.3f, 0.4f}, {-0.7f, 1.9f, 0.0f, 1.0f}};
  const unsigned ring = RingBitsFor(16, clients.size());
  std::vector<std::uint64_t> sum(4, 0);
  for (const auto& values : clients) {
    const auto encoded = fixed.Encode(values);
    EXPECT_EQ(encoded.clamped, 0);
    for (const auto q : encoded.values) EXPECT_LT(q, std::uint64_t{1} << 16);
    RingAdd(sum, encoded.values, ring);
  }
  const auto decoded = fixed.DecodeSum(sum, clients.size());
  const double expected[] = {-0.1, 0.85, 2.3, -0.6};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(decoded[i], expected[i], 3 * fixed.step() / 2 + 1e-6) << i;
  }
  // Out of range (and NaN): clamped, counted, never wrapping.
  const auto clamped = fixed.Encode(std::vector<float>{3.0f, -9.0f, NAN, 1.0f});
  EXPECT_EQ(clamped.clamped, 3);
  EXPECT_EQ(clamped.values[0], 65535u);
  EXPECT_EQ(clamped.values[1], 0u);
  EXPECT_THROW(FixedPoint(0, 1.0), ConfigError);
  EXPECT_THROW(FixedPoint(16, 0.0), ConfigError);
}

TEST(RingVectorTest, PackedVectorsTakeBitsPerValueAndRefuseWrongSizesAndPadding) {
  const std::vector<std::uint64_t> values = {0x1fffff, 0, 0x12345, 0x0abcde, 1};
  const auto packed = PackBits(values, 21);
  EXPECT_EQ(packed.size(), 14u);  // 5 × 21 = 105 bits
  EXPECT_EQ(UnpackBits(packed, 21, 5), values);
  // Hand-worked: 3-bit values 5, 3, 7 → bits 101 110 111 (lowest first) →
  // byte 0 = 0b11011101 (0xdd), byte 1 = 0b00000001.
  EXPECT_EQ(PackBits(std::vector<std::uint64_t>{5, 3, 7}, 3),
            (std::vector<std::uint8_t>{0xdd, 0x01}));
  EXPECT_THROW(UnpackBits(std::span(packed).first(13), 21, 5), DataError);
  auto padded = packed;
  padded.back() |= 0x80;  // bit 111 of 112: padding
  EXPECT_THROW(UnpackBits(padded, 21, 5), DataError);
  std::vector<std::uint64_t> wide(1000);
  for (std::size_t i = 0; i < wide.size(); ++i) wide[i] = (i * 0x9e3779b97f4a7c15ULL) >> 1;
  EXPECT_EQ(UnpackBits(PackBits(wide, 63), 63, wide.size()), wide);
}

// fcp's precomputed SecAgg+ parameters (google-parfait/federated-compute,
// graph_parameter_finder_test.cc; honest-but-curious coordinator, security
// 40 bits, correctness 20 bits): the degree matches exactly and the
// threshold is at most fcp's.
struct HararyCase {
  int clients;
  double adversarial_rate, dropout_rate;
  int degree, threshold;
};

TEST(SecAggGraphTest, HararyParametersMatchPublishedValues) {
  const HararyCase cases[] = {
      {100, 0.45, 0.45, 92, 46},     {1000, 0.45, 0.45, 822, 417}, {10000, 0.45, 0.45, 3494, 1771},
      {10, 0.33, 0.33, 8, 4},        {100, 0.33, 0.33, 68, 34},    {1000, 0.33, 0.33, 286, 150},
      {10000, 0.33, 0.33, 422, 221}, {10, 0.05, 0.33, 4, 2},       {100, 0.05, 0.33, 28, 6},
      {1000, 0.05, 0.33, 72, 24},    {10000, 0.05, 0.33, 86, 29},  {10, 0.33, 0.05, 4, 4},
      {100, 0.33, 0.05, 34, 29},     {1000, 0.33, 0.05, 78, 60},   {10000, 0.33, 0.05, 92, 70},
      {10, 0.05, 0.05, 2, 2},        {100, 0.05, 0.05, 12, 6},     {1000, 0.05, 0.05, 30, 17},
      {10000, 0.05, 0.05, 34, 20},   {100000, 0.05, 0.05, 36, 21},
  };
  for (const auto& c : cases) {
    const HararyParameters found =
        FindHararyParameters(c.clients, c.adversarial_rate, c.dropout_rate);
    EXPECT_EQ(found.degree, c.degree)
        << c.clients << " " << c.adversarial_rate << " " << c.dropout_rate;
    EXPECT_LE(found.threshold, c.threshold)
        << c.clients << " " << c.adversarial_rate << " " << c.dropout_rate;
    EXPECT_GE(found.threshold, 2);
  }
  EXPECT_THROW(FindHararyParameters(100, 0.5, 0.5), ConfigError);
  EXPECT_THROW(FindHararyParameters(0, 0.1, 0.1), ConfigError);
}

TEST(SecAggGraphTest, HararyGraphIsRegularSymmetricAndTheSameForTheSameSeed) {
  std::vector<std::uint32_t> ids(20);
  for (std::uint32_t i = 0; i < 20; ++i) ids[i] = i + 1;
  const SecAggGraph graph = SecAggGraph::Harary(ids, 6, 42);
  for (const auto id : ids) {
    const auto& near = graph.Neighbours(id);
    EXPECT_EQ(near.size(), 7u) << id;  // 6 neighbours and itself
    EXPECT_TRUE(graph.AreNeighbours(id, id));
    for (const auto other : near) EXPECT_TRUE(graph.AreNeighbours(other, id)) << id << " " << other;
  }
  const SecAggGraph again = SecAggGraph::Harary(ids, 6, 42);
  const SecAggGraph other = SecAggGraph::Harary(ids, 6, 43);
  bool differs = false;
  for (const auto id : ids) {
    EXPECT_EQ(again.Neighbours(id), graph.Neighbours(id));
    differs = differs || other.Neighbours(id) != graph.Neighbours(id);
  }
  EXPECT_TRUE(differs) << "another seed, another relabelling";
  EXPECT_EQ(SecAggGraph::Complete(ids).Neighbours(5).size(), 20u);
  EXPECT_TRUE(graph.Neighbours(99).empty());
}

}  // namespace
}  // namespace fsd::privacy
