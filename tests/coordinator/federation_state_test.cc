// What a coordinator carries between rounds (coordinator/federation_state.h):
// its checkpoint round trip, the budget's ledger, exclusions, divergence.
#include "coordinator/federation_state.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/errors.h"

namespace fsd::coordinator {
namespace {

CoordinatorOptions Options() {
  CoordinatorOptions options;
  options.num_classes = 2;
  options.schema_fingerprint = 0xabcULL;
  options.layout = {{0, 4, false}};
  options.limits.max_abs_value = 100.0;
  return options;
}

TEST(FederationStateTest, CheckpointRoundTripRestoresEverythingThatSurvivesRounds) {
  CoordinatorOptions options = Options();
  options.privacy.enabled = true;
  options.privacy.sampling_rate = 0.5;
  options.privacy.noise_multiplier = 1.0;
  options.secure_aggregation.exclude_rounds = 2;
  FederationState state(options, {1.0f, 2.0f, 3.0f, 4.0f});
  state.soft_state = {{3, 4}, {1.0f, 0.0f, 0.0f, 2.0f}};
  state.committed_round = 5;
  state.ledger->ChargeDraw();
  state.ledger->ChargeDraw();
  state.Exclude("key-a", 5);  // through round 7
  state.Exclude("key-b", 1);  // through round 3: over, not written
  const storage::Checkpoint checkpoint = state.ToCheckpoint();
  EXPECT_EQ(checkpoint.excluded.size(), 1u);

  FederationState resumed(options, {0.0f, 0.0f, 0.0f, 0.0f});
  resumed.Restore(checkpoint, "checkpoint.bin");
  EXPECT_EQ(resumed.global, state.global);
  EXPECT_EQ(resumed.soft_state, state.soft_state);
  EXPECT_EQ(resumed.committed_round, 5u);
  EXPECT_EQ(resumed.ledger->draws(), 2);
  EXPECT_DOUBLE_EQ(resumed.ledger->Spent().epsilon, state.ledger->Spent().epsilon);
  EXPECT_TRUE(resumed.Excluded("key-a", 7));
  EXPECT_FALSE(resumed.Excluded("key-a", 8));
  EXPECT_FALSE(resumed.Excluded("key-b", 2));
}

TEST(FederationStateTest, RefusesACheckpointOfAnotherModelOrPrivacyMode) {
  const CoordinatorOptions options = Options();
  FederationState state(options, {1.0f, 2.0f, 3.0f, 4.0f});
  state.committed_round = 3;
  storage::Checkpoint other_model = state.ToCheckpoint();
  other_model.schema_fingerprint = 0xdefULL;
  FederationState fresh(options, {0.0f, 0.0f, 0.0f, 0.0f});
  EXPECT_THROW(fresh.Restore(other_model, "c"), DataError);

  CoordinatorOptions private_options = Options();
  private_options.privacy.enabled = true;
  private_options.privacy.noise_multiplier = 1.0;
  FederationState private_run(private_options, {0.0f, 0.0f, 0.0f, 0.0f});
  // Rounds released without DP cannot be continued with it (ε would be misstated).
  EXPECT_THROW(private_run.Restore(state.ToCheckpoint(), "c"), ConfigError);
}

TEST(FederationStateTest, DivergenceNamesTheFirstKeptValueBeyondTheLimitAndRollbackUndoesIt) {
  const CoordinatorOptions options = Options();
  FederationState state(options, {1.0f, 2.0f, 3.0f, 4.0f});
  EXPECT_EQ(state.DivergenceOf(), std::nullopt);
  const FederationState::Snapshot good = state.Save();
  state.global[2] = 1000.0f;
  ASSERT_TRUE(state.DivergenceOf().has_value());
  EXPECT_NE(state.DivergenceOf()->find("position 2"), std::string::npos);
  state.global[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(state.DivergenceOf()->find("not finite"), std::string::npos);
  // A pruned coordinate does not count.
  state.mask = {1, 0, 0, 1};
  EXPECT_EQ(state.DivergenceOf(), std::nullopt);
  state.mask.clear();
  state.Rollback(good);
  EXPECT_EQ(state.global, (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));
}

TEST(FederationStateTest, DistillationOnlyModeKeepsNoGlobalModelButKnowsItsSize) {
  CoordinatorOptions options = Options();
  options.federation.mode = config::FederationMode::kDistillation;
  FederationState state(options, {1.0f, 2.0f, 3.0f, 4.0f});
  EXPECT_TRUE(state.global.empty());
  EXPECT_EQ(state.model_size, 4u);
}

}  // namespace
}  // namespace fsd::coordinator
