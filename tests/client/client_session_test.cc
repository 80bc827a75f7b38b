// ClientSession without sockets: what a client sends in secure rounds, fed
// the coordinator's frames by hand.
#include "client/client_session.h"

#include <gtest/gtest.h>

#include "common/errors.h"
#include "privacy/dp/rdp_accountant.h"

namespace fsd::client {
namespace {

constexpr std::uint64_t kFingerprint = 0xabcULL;
constexpr std::size_t kDim = 12;
constexpr std::size_t kClasses = 2;

ClientSession MakeSession(bool require_secure = false, SecureRequirements requirements = {},
                          std::optional<LedgerOptions> ledger = std::nullopt) {
  ClientSessionOptions options;
  options.ledger = ledger;
  options.secure_requirements = requirements;
  options.name = "c";
  options.num_samples = 10;
  options.schema_fingerprint = kFingerprint;
  options.layout = {{0, kDim, false}};
  options.num_classes = kClasses;
  options.require_secure = require_secure;
  ClientSession session(std::move(options));
  session.OnFrame(wire::EncodeFrame({0, wire::Welcome{wire::kProtocolVersion, kFingerprint, 3}}));
  return session;
}

wire::SecAggStart SecureBlock(std::uint32_t cohort = 3, std::uint32_t threshold = 2,
                              double range = 1.0, bool summary = true) {
  return {1,
          cohort,
          threshold,
          0,
          7,
          28,
          16,
          range,
          64.0,
          255,
          kDim + (summary ? kClasses * (kClasses + 2) : 0)};
}

std::vector<std::uint8_t> RoundStartFrame(bool secure, double lr_factor = 1.0,
                                          std::uint64_t round = 1,
                                          const wire::SecAggStart& block = SecureBlock(),
                                          const wire::DpStart& dp = {}) {
  wire::RoundStart start;
  start.lr_factor = lr_factor;
  start.dp = dp;
  start.global_values =
      codec::EncodeValues(std::vector<float>(kDim, 0.5f), std::vector<std::uint64_t>{kDim}, {});
  if (secure) start.secure = block;
  return wire::EncodeFrame({round, start});
}

TrainedRound Trained() {
  TrainedRound trained;
  trained.sample_count = 10;
  trained.train_loss = 0.3;
  trained.values.assign(kDim, 0.6f);
  trained.summary = {{4, 6}, {1.0f, 0.0f, 0.0f, 1.0f}};
  return trained;
}

wire::MessageKind KindOf(const std::vector<std::uint8_t>& frame) {
  const auto decoded = wire::DecodeFrame(frame, {});
  EXPECT_TRUE(decoded.ok());
  return decoded.ok() ? wire::KindOf(decoded.value().body) : wire::MessageKind::kReject;
}

TEST(ClientSessionTest, SecureRoundAnswersWithKeysAndSendsNothingBeforeItsShares) {
  ClientSession session = MakeSession();
  auto step = session.OnFrame(RoundStartFrame(/*secure=*/true));
  ASSERT_TRUE(step.train);
  EXPECT_TRUE(step.train->secure);
  ASSERT_EQ(step.replies.size(), 1u);
  EXPECT_EQ(KindOf(step.replies[0]), wire::MessageKind::kSecAggKeys);
  EXPECT_EQ(session.secure_stage(), privacy::SecAggStage::kShareKeys);
  // Trained before the shares arrived: nothing yet, and no plain UPDATE.
  EXPECT_FALSE(session.UpdateFrame(*step.train, Trained()));
}

TEST(ClientSessionTest, ResultOfASecureRoundIsNeverSentInTheClearAfterTheProtocolFails) {
  ClientSession session = MakeSession();
  auto step = session.OnFrame(RoundStartFrame(/*secure=*/true));
  ASSERT_TRUE(step.train);
  // A roster without this client's own keys breaks the protocol: it drops out.
  wire::SecAggRoster roster{
      {{2, wire::X25519Key{1}, wire::X25519Key{2}}, {3, wire::X25519Key{3}, wire::X25519Key{4}}}};
  const auto refused = session.OnFrame(wire::EncodeFrame({1, roster}));
  EXPECT_TRUE(refused.replies.empty());
  EXPECT_FALSE(session.secure_stage());
  EXPECT_FALSE(session.UpdateFrame(*step.train, Trained()));
}

TEST(ClientSessionTest, PlainRoundUploadsAnUpdateUnlessTheClientRequiresSecureRounds) {
  ClientSession plain = MakeSession();
  auto step = plain.OnFrame(RoundStartFrame(/*secure=*/false));
  ASSERT_TRUE(step.train);
  EXPECT_TRUE(step.replies.empty());
  const auto frame = plain.UpdateFrame(*step.train, Trained());
  ASSERT_TRUE(frame);
  EXPECT_EQ(KindOf(*frame), wire::MessageKind::kUpdate);

  ClientSession strict = MakeSession(/*require_secure=*/true);
  EXPECT_FALSE(strict.OnFrame(RoundStartFrame(/*secure=*/false)).train);
}

TEST(ClientSessionTest, TrainsAtTheAnnouncedLearningRateFactorAndDropsOneOutOfRange) {
  ClientSession session = MakeSession();
  const auto step = session.OnFrame(RoundStartFrame(/*secure=*/false, 0.25));
  ASSERT_TRUE(step.train);
  EXPECT_EQ(step.train->lr_factor, 0.25);
  for (const double bad : {0.0, -1.0, 101.0}) {
    EXPECT_FALSE(session.OnFrame(RoundStartFrame(/*secure=*/false, bad)).train) << bad;
  }
}

TEST(ClientSessionTest, JoinRefusedForItsModelOrVersionTellsTheOwnerToStopNotToRejoin) {
  ClientSessionOptions options;
  options.name = "c";
  options.num_samples = 10;
  options.schema_fingerprint = kFingerprint;
  options.layout = {{0, kDim, false}};
  options.num_classes = kClasses;
  for (const auto code :
       {wire::RejectCode::kSchemaMismatch, wire::RejectCode::kUnsupportedVersion}) {
    ClientSession joining(options);
    const auto step = joining.OnFrame(wire::EncodeFrame({0, wire::Reject{code, "why"}}));
    EXPECT_EQ(step.refused, std::string(wire::RejectCodeName(code)) + ": why");
    EXPECT_FALSE(step.rejoin);
  }
  // A WELCOME for another model: the same.
  ClientSession other(options);
  const auto welcome = other.OnFrame(
      wire::EncodeFrame({0, wire::Welcome{wire::kProtocolVersion, kFingerprint + 1, 3}}));
  EXPECT_EQ(welcome.refused,
            "the coordinator runs a different model (schema fingerprint 0000000000000abd, this "
            "client's 0000000000000abc)");
  // Once admitted, a SCHEMA_MISMATCH refuses one update, not the client.
  ClientSession admitted = MakeSession();
  EXPECT_TRUE(admitted
                  .OnFrame(wire::EncodeFrame(
                      {1, wire::Reject{wire::RejectCode::kSchemaMismatch, "values"}}))
                  .refused.empty());
  EXPECT_TRUE(admitted.OnFrame(RoundStartFrame(/*secure=*/false)).train);
}

// The client checks what a secure round asks against its own config.
TEST(ClientSessionTest, RefusesASecureRoundWithAThresholdBelowItsOwnFloor) {
  ClientSession session = MakeSession();
  // Complete graph of 10, default floor: more than half (6).
  EXPECT_FALSE(session.OnFrame(RoundStartFrame(true, 1.0, 1, SecureBlock(10, 5))).train);
  EXPECT_TRUE(session.OnFrame(RoundStartFrame(true, 1.0, 2, SecureBlock(10, 6))).train);
  ClientSession lenient = MakeSession(false, {.min_threshold = 0.3});
  EXPECT_TRUE(lenient.OnFrame(RoundStartFrame(true, 1.0, 1, SecureBlock(10, 3))).train);
  EXPECT_FALSE(lenient.OnFrame(RoundStartFrame(true, 1.0, 2, SecureBlock(10, 2))).train);
}

TEST(ClientSessionTest, UnderDistributedDpRefusesARangeThatClampsItsNoiseAndASummary) {
  const SecureRequirements dp{.min_range = 2.5, .summary_allowed = false, .min_survivors = 3};
  ClientSession session = MakeSession(false, dp);
  EXPECT_FALSE(session.OnFrame(RoundStartFrame(true, 1.0, 1, SecureBlock(3, 2, 1.0, false))).train);
  EXPECT_FALSE(session.OnFrame(RoundStartFrame(true, 1.0, 2, SecureBlock(3, 2, 2.5, true))).train);
  EXPECT_TRUE(session.OnFrame(RoundStartFrame(true, 1.0, 3, SecureBlock(3, 2, 2.5, false))).train);
}

TEST(ClientSessionTest, RefusesAnUnmaskNamingFewerSurvivorsThanItsMinSurvivors) {
  auto started =
      SecureClientRound::Start(1, SecureBlock(6, 4), kDim, kClasses, 4096, {.min_survivors = 5});
  ASSERT_TRUE(std::holds_alternative<SecureClientRound>(started));
  auto& secure = std::get<SecureClientRound>(started);
  try {
    secure.OnUnmask(wire::SecAggUnmask{{1, 2, 3, 4}});
    ADD_FAILURE() << "answered an unmask of 4 survivors";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("min_survivors 5"), std::string::npos) << e.what();
  }
}

TEST(ClientSessionTest, ClientUnderDpTrainsWhileItsLedgerAdmitsThenSaysByeForGood) {
  // Budget: ε after 3 steps at q = 0.5, z = 1.
  const LedgerOptions own{0.5, 1.0, privacy::EpsilonAfter(0.5, 1.0, 3, 1e-5).epsilon, 1e-5};
  ClientSession session = MakeSession(false, {}, own);
  // No privacy block: refused, but the client stays.
  auto step = session.OnFrame(RoundStartFrame(false, 1.0, 1));
  EXPECT_FALSE(step.train);
  EXPECT_FALSE(step.finished);
  for (std::uint64_t round = 1; round <= 3; ++round) {
    step = session.OnFrame(RoundStartFrame(false, 1.0, round, SecureBlock(), {round, 0.5, 1.0}));
    EXPECT_TRUE(step.train) << round;
  }
  step = session.OnFrame(RoundStartFrame(false, 1.0, 4, SecureBlock(), {4, 0.5, 1.0}));
  EXPECT_FALSE(step.train);
  EXPECT_TRUE(step.finished);
  EXPECT_NE(step.reason.find("privacy budget: round 4"), std::string::npos) << step.reason;
  ASSERT_EQ(step.replies.size(), 1u);
  EXPECT_EQ(KindOf(step.replies[0]), wire::MessageKind::kBye);
}

}  // namespace
}  // namespace fsd::client
