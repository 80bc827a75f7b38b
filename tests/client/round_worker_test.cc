// RoundWorker, SoftTargetAccumulator, ClientStateStore and ClientSession's
// checks of ROUND_START, on synthetic data.
#include "client/round_worker.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "client/client_session.h"
#include "client/soft_target_summary.h"
#include "client/state_store.h"
#include "common/data/synthetic.h"
#include "common/errors.h"
#include "tests/testing/temp_dir.h"

namespace fsd::client {
namespace {

model::ModelSpec SmallSpec() {
  model::ModelSpec spec;
  spec.architecture = model::Architecture::kMlp;
  spec.height = spec.width = 8;
  return spec;
}

data::Dataset SmallData() {
  data::SyntheticSpec spec;
  spec.height = spec.width = 8;
  return data::MakeSyntheticDataset(spec, 300, 3);
}

std::vector<std::int64_t> AllIndices(const data::Dataset& data) {
  std::vector<std::int64_t> indices(static_cast<std::size_t>(data.size()));
  std::iota(indices.begin(), indices.end(), 0);
  return indices;
}

TEST(SoftTargetAccumulatorTest, MeanLogitsPerClassAndCounts) {
  SoftTargetAccumulator accumulator(3);
  accumulator.Add(torch::tensor({{1.0f, 2.0f, 3.0f}, {3.0f, 2.0f, 1.0f}, {0.0f, 6.0f, 0.0f}}),
                  torch::tensor({0, 0, 1}, torch::kInt64));
  accumulator.Add(torch::tensor({{5.0f, 0.0f, 1.0f}}), torch::tensor({0}, torch::kInt64));
  const auto summary = accumulator.Finish();
  EXPECT_EQ(summary.counts, (std::vector<std::int64_t>{3, 1, 0}));
  EXPECT_EQ(summary.mean_logits,
            (std::vector<float>{3.0f, 4.0f / 3, 5.0f / 3, 0.0f, 6.0f, 0.0f, 0.0f, 0.0f, 0.0f}));
}

TEST(RoundWorkerTest, UpdateCarriesASummaryOfTheShardsLabels) {
  torch::manual_seed(0);
  const auto data = SmallData();
  const auto indices = AllIndices(data);
  RoundWorker worker(SmallSpec(), config::TrainingConfig{}, config::LossConfig{});
  wire::RoundStart start;
  start.global_values = model::Flatten(*worker.model(), model::FlatSchema::Of(*worker.model()));
  const auto update = worker.Run(data, indices, 1, 0, start);
  EXPECT_EQ(update.values.size(), worker.dim());
  ASSERT_EQ(update.summary_counts.size(), 10u);
  ASSERT_EQ(update.summary_logits.size(), 100u);
  const auto labels = data.labels.contiguous();
  for (std::int64_t c = 0; c < 10; ++c) {
    EXPECT_EQ(update.summary_counts[static_cast<std::size_t>(c)], (labels == c).sum().item<std::int64_t>());
  }
  // After a round of training, each class's mean logits favour that class on average.
  int diagonal_wins = 0;
  for (std::size_t c = 0; c < 10; ++c) {
    const auto row = update.summary_logits.begin() + static_cast<std::ptrdiff_t>(c * 10);
    diagonal_wins += std::max_element(row, row + 10) - row == static_cast<std::ptrdiff_t>(c);
  }
  EXPECT_GE(diagonal_wins, 8);
}

TEST(RoundWorkerTest, GlobalSoftTargetsChangeTrainingOnlyWhenBetaIsPositive) {
  const auto data = SmallData();
  const auto indices = AllIndices(data);
  torch::manual_seed(0);
  RoundWorker worker(SmallSpec(), config::TrainingConfig{}, config::LossConfig{});
  wire::RoundStart start;
  start.global_values = model::Flatten(*worker.model(), model::FlatSchema::Of(*worker.model()));
  start.soft_targets.assign(100, 0.1f);  // uniform targets
  start.beta = 0.0;
  const auto without = worker.Run(data, indices, 1, 0, start);
  const auto again = worker.Run(data, indices, 1, 0, start);
  EXPECT_EQ(without.values, again.values);  // deterministic
  start.beta = 1.0;
  const auto with = worker.Run(data, indices, 1, 0, start);
  EXPECT_NE(with.values, without.values);
  EXPECT_GT(with.train_loss, without.train_loss);  // the extra KL term is positive
}

TEST(RoundWorkerTest, DistillationOnlyRoundTrainsTheClientsOwnWeights) {
  const auto data = SmallData();
  const auto indices = AllIndices(data);
  torch::manual_seed(0);
  RoundWorker worker(SmallSpec(), config::TrainingConfig{}, config::LossConfig{});
  const auto initial = model::Flatten(*worker.model(), model::FlatSchema::Of(*worker.model()));
  wire::RoundStart start;  // no global values
  EXPECT_THROW(worker.Run(data, indices, 1, 0, start), InternalError);
  std::vector<float> own = initial;
  const auto update = worker.Run(data, indices, 1, 0, start, &own);
  EXPECT_TRUE(update.values.empty());
  EXPECT_EQ(update.summary_counts.size(), 10u);
  EXPECT_EQ(own.size(), initial.size());
  EXPECT_NE(own, initial);
  // The same as training from those weights as a global model.
  start.global_values = initial;
  EXPECT_EQ(worker.Run(data, indices, 1, 0, start).values, own);
}

TEST(ClientStateStoreTest, LoadsTheNewestStateBeforeTheRoundAndKeepsTwo) {
  testing::TempDir dir;
  const ClientStateStore store(dir.File("states"), 0xabc, 3);
  EXPECT_FALSE(store.LoadBefore("c1", 5).has_value());
  store.Save("c1", 2, std::vector<float>{2, 2, 2});
  store.Save("c1", 4, std::vector<float>{4, 4, 4});
  store.Save("c2", 3, std::vector<float>{3, 3, 3});
  EXPECT_EQ(*store.LoadBefore("c1", 5), (std::vector<float>{4, 4, 4}));
  EXPECT_EQ(*store.LoadBefore("c1", 4), (std::vector<float>{2, 2, 2}));  // a replayed round 4
  EXPECT_FALSE(store.LoadBefore("c1", 2).has_value());
  store.Save("c1", 6, std::vector<float>{6, 6, 6});
  EXPECT_FALSE(std::filesystem::exists(dir.File("states/c1.r2.state")));
  EXPECT_TRUE(std::filesystem::exists(dir.File("states/c1.r4.state")));
  EXPECT_EQ(*store.LoadBefore("c2", 9), (std::vector<float>{3, 3, 3}));
}

TEST(ClientStateStoreTest, RefusesCorruptFilesOtherModelsAndUnsafeNames) {
  testing::TempDir dir;
  const ClientStateStore store(dir.File("states"), 0xabc, 3);
  store.Save("c1", 1, std::vector<float>{1, 2, 3});
  const std::string path = dir.File("states/c1.r1.state");
  auto bytes = testing::ReadFile(path);
  bytes[20] ^= 0x01;
  testing::WriteFile(path, bytes);
  EXPECT_THROW(store.LoadBefore("c1", 2), DataError);
  store.Save("c1", 1, std::vector<float>{1, 2, 3});
  const ClientStateStore other_model(dir.File("states"), 0xdef, 3);
  EXPECT_THROW(other_model.LoadBefore("c1", 2), DataError);
  EXPECT_THROW(store.Save("../escape", 1, std::vector<float>{1, 2, 3}), ConfigError);
}

TEST(ClientSessionTest, DropsRoundStartThatDoesNotFitTheModel) {
  ClientSession session("c", 100, 0x77, /*num_values=*/4, /*num_classes=*/2);
  const auto welcome = wire::EncodeFrame({0, wire::Welcome{2, 0x77, 3}});
  session.OnFrame(welcome);
  ASSERT_TRUE(session.welcomed());
  const auto train = [&](wire::RoundStart start) {
    return session.OnFrame(wire::EncodeFrame({1, std::move(start)})).train.has_value();
  };
  const wire::RoundStart good{3.0, 0.5, 0.1, 1, {1, 2, 3, 4}, {0.9f, 0.1f, 0.2f, 0.8f}};
  EXPECT_TRUE(train(good));
  auto bad = good;
  bad.temperature = 0.0;
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.alpha = 1.5;
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.global_values.push_back(5);
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.soft_targets.resize(9, 0.1f);
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.soft_targets[0] = -0.5f;
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.global_values.clear();  // distillation-only: no values is valid
  EXPECT_TRUE(train(bad));
}

}  // namespace
}  // namespace fsd::client
