// The DP budget's ledger (privacy/dp/budget_ledger.h): every draw is charged,
// and the draw that would pass the target is refused, naming the figures.
#include <gtest/gtest.h>

#include "privacy/dp/budget_ledger.h"

namespace fsd::privacy {
namespace {

TEST(BudgetLedgerTest, ChargesEachDrawAsOneStepOfTheAccountant) {
  BudgetLedger ledger({/*sampling_rate=*/0.04, /*noise_multiplier=*/1.5, /*delta=*/1e-5});
  RdpAccountant same;
  for (int i = 0; i < 50; ++i) {
    ledger.ChargeDraw();
    same.Step(0.04, 1.5);
  }
  EXPECT_EQ(ledger.draws(), 50);
  EXPECT_DOUBLE_EQ(ledger.Spent().epsilon, same.Spent(1e-5).epsilon);
  // No target: every draw may be made.
  EXPECT_EQ(ledger.RefusalOfNextDraw(51), std::nullopt);
}

TEST(BudgetLedgerTest, RefusesTheDrawThatWouldPassTheTargetAndNamesIt) {
  const BudgetTerms terms{0.1, 1.0, 1e-5, /*target_epsilon=*/2.0};
  BudgetLedger ledger(terms);
  std::uint64_t round = 1;
  while (!ledger.RefusalOfNextDraw(round)) {
    ledger.ChargeDraw();
    ++round;
    ASSERT_LT(round, 100000u);
  }
  // Every draw charged stays within the target; one more would not.
  EXPECT_LE(ledger.Spent().epsilon, 2.0);
  RdpAccountant after = ledger.account();
  after.Step(0.1, 1.0);
  EXPECT_GT(after.Spent(1e-5).epsilon, 2.0);
  const std::string refusal = *ledger.RefusalOfNextDraw(round);
  EXPECT_NE(refusal.find("releasing round " + std::to_string(round)), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("privacy.target_epsilon 2"), std::string::npos) << refusal;
}

TEST(BudgetLedgerTest, ContinuesARestoredAccount) {
  BudgetLedger first({0.2, 1.2, 1e-5});
  for (int i = 0; i < 7; ++i) first.ChargeDraw();
  const RdpAccountant& account = first.account();
  BudgetLedger resumed({0.2, 1.2, 1e-5},
                       RdpAccountant(account.orders(), account.rdp(), account.steps()));
  first.ChargeDraw();
  resumed.ChargeDraw();
  EXPECT_EQ(resumed.draws(), 8);
  EXPECT_DOUBLE_EQ(resumed.Spent().epsilon, first.Spent().epsilon);
}

}  // namespace
}  // namespace fsd::privacy
