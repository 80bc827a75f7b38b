#include "client/privacy_ledger.h"

#include <gtest/gtest.h>

#include "privacy/dp/rdp_accountant.h"

namespace fsd::client {
namespace {

constexpr LedgerOptions kOwn{/*sampling_rate=*/0.1, /*noise_multiplier=*/1.1,
                             /*target_epsilon=*/0.0, /*delta=*/1e-5};

double EpsilonOf(const std::variant<PrivacyLedger::Admitted, std::string>& admitted) {
  const auto* ok = std::get_if<PrivacyLedger::Admitted>(&admitted);
  EXPECT_NE(ok, nullptr) << std::get<std::string>(admitted);
  return ok != nullptr ? ok->epsilon : -1.0;
}

std::string RefusalOf(const std::variant<PrivacyLedger::Admitted, std::string>& admitted) {
  const auto* problem = std::get_if<std::string>(&admitted);
  return problem != nullptr ? *problem : "admitted";
}

TEST(PrivacyLedgerTest, EpsilonIsTheAccountantsAfterTheStatedSteps) {
  PrivacyLedger ledger(kOwn);
  EXPECT_DOUBLE_EQ(EpsilonOf(ledger.Admit(3, {7, 0.1, 1.1})),
                   privacy::EpsilonAfter(0.1, 1.1, 7, 1e-5).epsilon);
  EXPECT_DOUBLE_EQ(ledger.epsilon(), privacy::EpsilonAfter(0.1, 1.1, 7, 1e-5).epsilon);
  // More noise or a smaller q than its own is fine, and counted as stated.
  EXPECT_DOUBLE_EQ(EpsilonOf(ledger.Admit(4, {9, 0.05, 2.0})),
                   privacy::EpsilonAfter(0.05, 2.0, 9, 1e-5).epsilon);
}

TEST(PrivacyLedgerTest, CountsAtLeastOneStepPerRoundAndNeverFewerThanStatedBefore) {
  PrivacyLedger ledger(kOwn);
  // A coordinator that states 1 step in round 40 is counted as 40.
  EXPECT_DOUBLE_EQ(EpsilonOf(ledger.Admit(40, {1, 0.1, 1.1})),
                   privacy::EpsilonAfter(0.1, 1.1, 40, 1e-5).epsilon);
  EXPECT_DOUBLE_EQ(EpsilonOf(ledger.Admit(41, {45, 0.1, 1.1})),
                   privacy::EpsilonAfter(0.1, 1.1, 45, 1e-5).epsilon);
  EXPECT_NE(RefusalOf(ledger.Admit(42, {44, 0.1, 1.1}))
                .find("the round states 44 privacy steps, fewer than the 45 already stated"),
            std::string::npos);
}

TEST(PrivacyLedgerTest, RefusesLessNoiseALargerSampleOrNoPrivacyBlock) {
  PrivacyLedger ledger(kOwn);
  EXPECT_NE(RefusalOf(ledger.Admit(1, {1, 0.1, 1.0}))
                .find("noise multiplier 1, below this client's own 1.1"),
            std::string::npos);
  EXPECT_NE(RefusalOf(ledger.Admit(1, {1, 0.2, 1.1}))
                .find("q = 0.2, outside (0, this client's federation.fraction 0.1]"),
            std::string::npos);
  EXPECT_NE(RefusalOf(ledger.Admit(1, {})).find("states no differential privacy"),
            std::string::npos);
  EXPECT_FALSE(ledger.exhausted());
}

TEST(PrivacyLedgerTest, StopsOnceTheClientsOwnBudgetWouldBeExceeded) {
  LedgerOptions own = kOwn;
  // ε after 20 steps is the budget: the 21st step is refused.
  own.target_epsilon = privacy::EpsilonAfter(0.1, 1.1, 20, 1e-5).epsilon;
  PrivacyLedger ledger(own);
  for (std::uint64_t round = 1; round <= 20; ++round)
    EXPECT_GT(EpsilonOf(ledger.Admit(round, {round, 0.1, 1.1})), 0.0) << round;
  const std::string refusal = RefusalOf(ledger.Admit(21, {21, 0.1, 1.1}));
  EXPECT_NE(refusal.find("privacy budget: round 21 would bring this client's epsilon to"),
            std::string::npos)
      << refusal;
  EXPECT_TRUE(ledger.exhausted());
  EXPECT_DOUBLE_EQ(ledger.epsilon(), own.target_epsilon);
}

}  // namespace
}  // namespace fsd::client
