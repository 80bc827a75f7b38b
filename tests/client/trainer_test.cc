#include "client/trainer.h"

#include <gtest/gtest.h>

#include <numeric>

#include "common/data/synthetic.h"
#include "common/model/evaluate.h"
#include "common/model/flat_params.h"

namespace fsd::client {
namespace {

struct Fixture {
  data::Dataset train;
  data::Dataset test;
  std::vector<std::int64_t> indices;
};

Fixture MakeData() {
  data::SyntheticSpec spec;
  spec.height = spec.width = 12;
  spec.noise = 1.0;
  Fixture f{
      data::MakeSyntheticDataset(spec, 1200, 1), data::MakeSyntheticDataset(spec, 400, 2), {}};
  f.indices.resize(1200);
  std::iota(f.indices.begin(), f.indices.end(), 0);
  return f;
}

model::MultiExitNet MakeNet(model::Architecture architecture) {
  torch::manual_seed(0);
  model::ModelSpec spec;
  spec.architecture = architecture;
  spec.height = spec.width = 12;
  return model::MultiExitNet(spec);
}

config::TrainingConfig Training(int epochs) {
  config::TrainingConfig t;
  t.epochs = epochs;
  t.lr = 0.05;
  t.lr_schedule = config::LrSchedule::kCosine;
  return t;
}

TEST(LocalTrainerTest, LearnsSyntheticClassesOnEveryExit) {
  const Fixture f = MakeData();
  for (auto architecture : {model::Architecture::kCnn3S, model::Architecture::kMlp}) {
    auto net = MakeNet(architecture);
    const auto before = model::EvaluateAccuracy(net, f.test, 200);
    LocalTrainer trainer(net, Training(2), config::LossConfig{});
    trainer.BeginRun(static_cast<std::int64_t>(f.indices.size()));
    for (int epoch = 0; epoch < 2; ++epoch) trainer.TrainEpoch(f.train, f.indices, epoch);
    const auto after = model::EvaluateAccuracy(net, f.test, 200);
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t k = 0; k < after.size(); ++k) {
      EXPECT_LT(before[k], 0.3) << "exit " << k;
      EXPECT_GT(after[k], 0.9) << "exit " << k << " of " << model::ArchitectureName(architecture);
    }
  }
}

TEST(LocalTrainerTest, AugmentedTrainingIsReproducibleFromTheSeedAndDiffersFromPlainTraining) {
  const Fixture f = MakeData();
  const auto train = [&](data::Augmentation augment, std::uint64_t seed) {
    auto net = MakeNet(model::Architecture::kCnn3S);
    LocalTrainer trainer(net, Training(1), config::LossConfig{}, augment);
    trainer.BeginRun(300);
    trainer.TrainEpoch(f.train, std::span(f.indices).first(300), seed);
    return model::Flatten(*net, model::FlatSchema::Of(*net));
  };
  const auto augmented = train(data::Augmentation::kCropFlip, 11);
  EXPECT_EQ(train(data::Augmentation::kCropFlip, 11), augmented);
  EXPECT_NE(train(data::Augmentation::kNone, 11), augmented);
  EXPECT_NE(train(data::Augmentation::kCropFlip, 12), augmented);
}

TEST(LocalTrainerTest, SameSeedGivesIdenticalWeights) {
  const Fixture f = MakeData();
  std::vector<std::vector<float>> results;
  for (int run = 0; run < 2; ++run) {
    auto net = MakeNet(model::Architecture::kCnn3S);
    LocalTrainer trainer(net, Training(1), config::LossConfig{});
    trainer.BeginRun(300);
    trainer.TrainEpoch(f.train, std::span(f.indices).first(300), /*shuffle_seed=*/11);
    results.push_back(model::Flatten(*net, model::FlatSchema::Of(*net)));
  }
  EXPECT_EQ(results[0], results[1]);
}

TEST(LocalTrainerTest, MainOnlyLossLeavesAuxExitsUntouched) {
  const Fixture f = MakeData();
  auto net = MakeNet(model::Architecture::kCnn3S);
  const auto aux_before = net->named_parameters()["exit1.0.weight"].clone();
  const auto main_before = net->named_parameters()["exit3.1.weight"].clone();
  config::LossConfig loss;
  loss.exits = config::TrainedExits::kMain;
  LocalTrainer trainer(net, Training(1), loss);
  trainer.BeginRun(200);
  trainer.TrainEpoch(f.train, std::span(f.indices).first(200), 1);
  EXPECT_TRUE(torch::equal(net->named_parameters()["exit1.0.weight"], aux_before));
  EXPECT_FALSE(torch::equal(net->named_parameters()["exit3.1.weight"], main_before));
}

TEST(LocalTrainerTest, ReportsSamplesStepsAndFiniteLoss) {
  const Fixture f = MakeData();
  auto net = MakeNet(model::Architecture::kMlp);
  LocalTrainer trainer(net, Training(1), config::LossConfig{});
  trainer.BeginRun(70);
  std::int64_t callbacks = 0;
  const auto stats = trainer.TrainEpoch(f.train, std::span(f.indices).first(70), 3,
                                        [&](std::int64_t, std::int64_t, double) { ++callbacks; });
  EXPECT_EQ(stats.samples, 70);
  EXPECT_EQ(stats.steps, 3);  // 32 + 32 + 6: the last partial batch is kept
  EXPECT_EQ(callbacks, 3);
  EXPECT_TRUE(std::isfinite(stats.mean_loss));
  EXPECT_GT(stats.samples_per_s, 0.0);
}

TEST(LearningRateTest, CosineDecaysFromLrToZero) {
  auto t = Training(1);
  EXPECT_DOUBLE_EQ(LearningRateAt(t, 0, 100), 0.05);
  EXPECT_NEAR(LearningRateAt(t, 50, 100), 0.025, 1e-12);
  EXPECT_NEAR(LearningRateAt(t, 100, 100), 0.0, 1e-12);
  t.lr_schedule = config::LrSchedule::kConstant;
  EXPECT_DOUBLE_EQ(LearningRateAt(t, 77, 100), 0.05);
}

TEST(LearningRateTest, TheRoundsFactorScalesEveryStep) {
  auto t = Training(1);
  EXPECT_NEAR(LearningRateAt(t, 50, 100, 0.5), 0.0125, 1e-12);
  t.lr_schedule = config::LrSchedule::kConstant;
  EXPECT_DOUBLE_EQ(LearningRateAt(t, 77, 100, 0.2), 0.01);
}

// FedProx: after the first step the weights drifted by d from the anchor; the
// second step's gradient gains μ·d, so with plain SGD (no momentum, no decay)
// the proximal run ends −lr·μ·d away from the plain one on every parameter.
TEST(LocalTrainerTest, ProximalTermPullsEveryDriftedWeightBackTowardTheRunsStart) {
  const Fixture f = MakeData();
  const std::vector<std::int64_t> two_batches(f.indices.begin(), f.indices.begin() + 64);
  const double lr = 0.1, mu = 0.5;
  const auto run = [&](double proximal_mu, std::vector<float>* after_first_step) {
    auto net = MakeNet(model::Architecture::kMlp);
    const auto schema = model::FlatSchema::Of(*net);
    config::TrainingConfig t = Training(1);
    t.lr = lr;
    t.lr_schedule = config::LrSchedule::kConstant;
    t.momentum = 0.0;
    t.weight_decay = 0.0;
    t.proximal_mu = proximal_mu;
    LocalTrainer trainer(net, t, config::LossConfig{});
    trainer.BeginRun(64);
    trainer.TrainEpoch(f.train, two_batches, 5, [&](std::int64_t step, std::int64_t, double) {
      if (step == 1 && after_first_step != nullptr)
        *after_first_step = model::Flatten(*net, schema);
    });
    return std::make_pair(model::Flatten(*net, schema), schema);
  };
  auto untrained = MakeNet(model::Architecture::kMlp);
  const auto start = model::Flatten(*untrained, model::FlatSchema::Of(*untrained));
  std::vector<float> first;
  const auto [plain, schema] = run(0.0, &first);
  const auto proximal = run(mu, nullptr).first;
  double largest_drift = 0.0;
  for (const auto& entry : schema.entries()) {
    if (entry.is_buffer) continue;
    for (std::int64_t i = entry.offset; i < entry.offset + entry.numel; ++i) {
      const auto k = static_cast<std::size_t>(i);
      const double drift = static_cast<double>(first[k]) - start[k];
      largest_drift = std::max(largest_drift, std::abs(drift));
      ASSERT_NEAR(proximal[k] - plain[k], -lr * mu * drift, 1e-6) << entry.name << "[" << i << "]";
    }
  }
  EXPECT_GT(largest_drift, 1e-3);  // the first step moved the weights
}

}  // namespace
}  // namespace fsd::client
