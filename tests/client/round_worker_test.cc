// RoundWorker, SoftTargetAccumulator, ClientStateStore and ClientSession's
// checks of ROUND_START, on synthetic data.
#include "client/round_worker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "client/client_session.h"
#include "client/soft_target_summary.h"
#include "client/state_store.h"
#include "common/codec/values.h"
#include "common/config/toml_loader.h"
#include "common/data/synthetic.h"
#include "common/errors.h"
#include "privacy/dp/rdp_accountant.h"
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

LocalRound RoundFrom(RoundWorker& worker) {
  LocalRound round;
  round.round = 1;
  round.global_values = model::Flatten(*worker.model(), model::FlatSchema::Of(*worker.model()));
  return round;
}

TEST(RoundWorkerTest, ResultCarriesASummaryOfTheShardsLabels) {
  torch::manual_seed(0);
  const auto data = SmallData();
  const auto indices = AllIndices(data);
  RoundWorker worker(SmallSpec(), config::TrainingConfig{}, config::LossConfig{});
  const auto trained = worker.Run(data, indices, 0, RoundFrom(worker));
  EXPECT_EQ(trained.values.size(), worker.dim());
  ASSERT_EQ(trained.summary.counts.size(), 10u);
  ASSERT_EQ(trained.summary.mean_logits.size(), 100u);
  for (std::int64_t c = 0; c < 10; ++c) {
    EXPECT_EQ(trained.summary.counts[static_cast<std::size_t>(c)],
              (data.labels == c).sum().item<std::int64_t>());
  }
  // After a round of training, each class's mean logits favour that class on average.
  int diagonal_wins = 0;
  for (std::size_t c = 0; c < 10; ++c) {
    const auto row = trained.summary.mean_logits.begin() + static_cast<std::ptrdiff_t>(c * 10);
    diagonal_wins += std::max_element(row, row + 10) - row == static_cast<std::ptrdiff_t>(c);
  }
  EXPECT_GE(diagonal_wins, 8);
}

TEST(RoundWorkerTest, GlobalSoftTargetsChangeTrainingOnlyWhenBetaIsPositive) {
  const auto data = SmallData();
  const auto indices = AllIndices(data);
  torch::manual_seed(0);
  RoundWorker worker(SmallSpec(), config::TrainingConfig{}, config::LossConfig{});
  LocalRound round = RoundFrom(worker);
  round.soft_targets.assign(100, 0.1f);  // uniform targets
  round.beta = 0.0;
  const auto without = worker.Run(data, indices, 0, round);
  const auto again = worker.Run(data, indices, 0, round);
  EXPECT_EQ(without.values, again.values);  // deterministic
  round.beta = 1.0;
  const auto with = worker.Run(data, indices, 0, round);
  EXPECT_NE(with.values, without.values);
  EXPECT_GT(with.train_loss, without.train_loss);  // the extra KL term is positive
}

// A seeded worker on the small MLP, its data and its layout.
struct SmallWorker {
  data::Dataset data = SmallData();
  std::vector<std::int64_t> indices = AllIndices(data);
  RoundWorker worker = [] {
    torch::manual_seed(0);
    return RoundWorker(SmallSpec(), config::TrainingConfig{}, config::LossConfig{});
  }();
  model::ModelLayout layout = model::LayoutOf(model::FlatSchema::Of(*worker.model()));
};

TEST(RoundWorkerTest, PrunedWeightsStayExactlyZeroThroughTraining) {
  SmallWorker small;
  auto& [data, indices, worker, layout] = small;
  LocalRound round = RoundFrom(worker);
  // Prune every other value of every prunable tensor.
  auto mask = std::make_shared<aggregation::Mask>(worker.dim(), 1);
  for (const auto& range : layout) {
    if (!range.prunable) continue;
    for (std::uint64_t i = range.offset; i < range.offset + range.size; i += 2) (*mask)[i] = 0;
  }
  aggregation::ApplyMask(*mask, round.global_values);
  round.mask = mask;
  round.mask_round = 1;
  const auto trained = worker.Run(data, indices, 0, round);
  std::size_t pruned = 0, moved = 0;
  for (std::size_t i = 0; i < trained.values.size(); ++i) {
    if (!(*mask)[i]) {
      EXPECT_EQ(trained.values[i], 0.0f) << i;
      ++pruned;
    } else {
      moved += trained.values[i] != round.global_values[i];
    }
  }
  EXPECT_GT(pruned, 1000u);
  EXPECT_GT(moved, pruned / 2);  // kept weights did train
  // The next round without a mask trains every weight again.
  LocalRound dense = RoundFrom(worker);
  const auto unmasked = worker.Run(data, indices, 0, dense);
  std::size_t nonzero_at_pruned = 0;
  for (std::size_t i = 0; i < unmasked.values.size(); ++i)
    nonzero_at_pruned += !(*mask)[i] && unmasked.values[i] != 0.0f;
  EXPECT_GT(nonzero_at_pruned, pruned / 2);
}

TEST(RoundWorkerTest, TrainsOnlyTheSubnetworkTheRoundNames) {
  SmallWorker small;
  auto& [data, indices, worker, layout] = small;
  // Changed values per (exit, head) of the tensors, for one round on `subnet`.
  const auto changed = [&](model::Subnetwork subnet) {
    LocalRound round = RoundFrom(worker);
    round.subnet = subnet;
    const auto trained = worker.Run(data, indices, 0, round);
    std::map<std::pair<int, bool>, std::size_t> moved;
    for (const auto& range : layout) {
      auto& count = moved[{range.exit, range.head}];
      for (std::uint64_t i = range.offset; i < range.offset + range.size; ++i)
        count += trained.values[i] != round.global_values[i];
    }
    return moved;
  };
  // The MLP: stage 1 and head 1 make exit 1's sub-network.
  auto moved = changed({1, false});
  EXPECT_GT((moved[{1, false}]), 100u);
  EXPECT_GT((moved[{1, true}]), 100u);
  EXPECT_EQ((moved[{2, false}]), 0u);
  EXPECT_EQ((moved[{2, true}]), 0u);
  // The main exit's path alone: the auxiliary head stays as it was.
  moved = changed({2, true});
  EXPECT_GT((moved[{1, false}]), 100u);
  EXPECT_EQ((moved[{1, true}]), 0u);
  EXPECT_GT((moved[{2, false}]), 100u);
  EXPECT_GT((moved[{2, true}]), 100u);
}

TEST(RoundWorkerTest, DistillationOnlyRoundTrainsTheClientsOwnWeights) {
  const auto data = SmallData();
  const auto indices = AllIndices(data);
  torch::manual_seed(0);
  RoundWorker worker(SmallSpec(), config::TrainingConfig{}, config::LossConfig{});
  const auto initial = model::Flatten(*worker.model(), model::FlatSchema::Of(*worker.model()));
  LocalRound round;  // no global values
  round.round = 1;
  EXPECT_THROW(worker.Run(data, indices, 0, round), InternalError);
  std::vector<float> own = initial;
  const auto trained = worker.Run(data, indices, 0, round, &own);
  EXPECT_TRUE(trained.values.empty());
  EXPECT_EQ(trained.summary.counts.size(), 10u);
  EXPECT_EQ(own.size(), initial.size());
  EXPECT_NE(own, initial);
  // The same as training from those weights as a global model.
  round.global_values = initial;
  EXPECT_EQ(worker.Run(data, indices, 0, round).values, own);
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

// A session for a 6-value model: a prunable tensor of 4 and a bias of 2; 2 classes.
ClientSession MakeSession(codec::EncodeOptions uplink = {}, bool error_feedback = false) {
  ClientSessionOptions options;
  options.name = "c";
  options.num_samples = 100;
  options.schema_fingerprint = 0x77;
  options.layout = {{0, 4, true}, {4, 2, false}};
  options.num_classes = 2;
  options.uplink = uplink;
  options.error_feedback = error_feedback;
  ClientSession session(std::move(options));
  session.OnFrame(wire::EncodeFrame({0, wire::Welcome{3, 0x77, 3}}));
  EXPECT_TRUE(session.welcomed());
  return session;
}

wire::RoundStart Start(std::vector<float> values) {
  wire::RoundStart start;
  start.global_values = codec::EncodeValues(values, {}, {});
  start.soft_targets = {0.9f, 0.1f, 0.2f, 0.8f};
  return start;
}

TEST(ClientSessionTest, DropsRoundStartThatDoesNotFitTheModel) {
  ClientSession session = MakeSession();
  const auto train = [&](wire::RoundStart start) {
    return session.OnFrame(wire::EncodeFrame({1, std::move(start)})).train.has_value();
  };
  const wire::RoundStart good = Start({1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(train(good));
  auto bad = good;
  bad.temperature = 0.0;
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.alpha = 1.5;
  EXPECT_FALSE(train(bad));
  bad = Start({1, 2, 3, 4, 5, 6, 7});
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.local_epochs = 0;
  EXPECT_FALSE(train(bad));
  bad.local_epochs = 4'000'000'000u;
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.soft_targets.resize(9, 0.1f);
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.soft_targets[0] = -0.5f;
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.mask = codec::EncodeBitmask(std::vector<std::uint8_t>{1, 0, 1}, false);  // another size
  bad.mask_round = 2;
  EXPECT_FALSE(train(bad));
  bad = good;
  bad.global_values = codec::Encoded{};  // distillation-only: no values is valid
  EXPECT_TRUE(train(bad));
}

TEST(ClientSessionTest, DecodesMaskedCompressedValuesAndUploadsOnlyKeptValues) {
  codec::EncodeOptions int8;
  int8.dtype = codec::Dtype::kInt8;
  ClientSession session = MakeSession(int8);
  wire::RoundStart start;
  start.mask_round = 4;
  start.mask = codec::EncodeBitmask(std::vector<std::uint8_t>{1, 0, 0, 1, 1, 1}, true);
  codec::EncodeOptions fp16;
  fp16.dtype = codec::Dtype::kFp16;
  start.global_values = codec::EncodeValues(std::vector<float>{0.5f, -2.0f, 0.25f, 1.0f},
                                            std::vector<std::uint64_t>{2, 2}, fp16);
  const auto step = session.OnFrame(wire::EncodeFrame({5, start}));
  ASSERT_TRUE(step.train.has_value());
  EXPECT_EQ(step.train->global_values, (std::vector<float>{0.5f, 0.0f, 0.0f, -2.0f, 0.25f, 1.0f}));
  ASSERT_TRUE(step.train->mask);
  EXPECT_EQ(step.train->mask_round, 4u);

  TrainedRound trained{100, 0.5, {1.0f, 9.0f, 9.0f, -1.0f, 0.5f, 0.25f}, {{50, 50}, {1, 0, 0, 1}}};
  const auto frame = session.UpdateFrame(*step.train, trained);
  ASSERT_TRUE(frame.has_value());
  const auto decoded = wire::DecodeFrame(*frame, {});
  ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
  const auto& update = std::get<wire::Update>(decoded.value().body);
  EXPECT_EQ(update.mask_round, 4u);
  EXPECT_EQ(update.values.dtype, codec::Dtype::kInt8);
  const auto kept = codec::DecodeValues(update.values, std::vector<std::uint64_t>{2, 2});
  ASSERT_TRUE(kept.ok()) << kept.reject().text;
  ASSERT_EQ(kept.value().size(), 4u);  // the pruned 9.0s are not sent
  EXPECT_NEAR(kept.value()[0], 1.0f, 1.0 / 127);
  EXPECT_NEAR(kept.value()[1], -1.0f, 1.0 / 127);

  // A later round that refers to the mask without resending it trains with it;
  // one that refers to a mask never received makes the client rejoin.
  start.mask = {codec::Dtype::kBitmask, false, 0, {}};
  EXPECT_TRUE(session.OnFrame(wire::EncodeFrame({6, start})).train.has_value());
  start.mask_round = 9;
  const auto resync = session.OnFrame(wire::EncodeFrame({7, start}));
  EXPECT_FALSE(resync.train.has_value());
  EXPECT_TRUE(resync.rejoin);
}

TEST(ClientSessionTest, ClientWithMaxExitTrainsAndSendsOnlyItsSubnetwork) {
  // Two exits: stage 1 (2 values), head 1 (1), stage 2 (2), head 2 (1).
  ClientSessionOptions options;
  options.name = "small-device";
  options.num_samples = 100;
  options.max_exit = 1;
  options.schema_fingerprint = 0x77;
  options.layout = {{0, 2, true, 1, false},
                    {2, 1, false, 1, true},
                    {3, 2, true, 2, false},
                    {5, 1, false, 2, true}};
  options.num_classes = 2;
  ClientSession session(std::move(options));
  const auto join = wire::DecodeFrame(session.JoinFrame(), {});
  ASSERT_TRUE(join.ok());
  EXPECT_EQ(std::get<wire::Join>(join.value().body).max_exit, 1u);
  session.OnFrame(wire::EncodeFrame({0, wire::Welcome{5, 0x77, 3}}));

  wire::RoundStart start;
  start.subnet_exit = 1;
  start.global_values = codec::EncodeValues(std::vector<float>{1, 2, 3}, {}, {});
  const auto step = session.OnFrame(wire::EncodeFrame({1, start}));
  ASSERT_TRUE(step.train.has_value());
  EXPECT_EQ(step.train->subnet, (model::Subnetwork{1, false}));
  EXPECT_EQ(step.train->global_values, (std::vector<float>{1, 2, 3, 0, 0, 0}));
  TrainedRound trained{100, 0.5, {4, 5, 6, 7, 8, 9}, {{50, 50}, {1, 0, 0, 1}}};
  const auto frame = session.UpdateFrame(*step.train, trained);
  ASSERT_TRUE(frame.has_value());
  const auto decoded = wire::DecodeFrame(*frame, {});
  ASSERT_TRUE(decoded.ok());
  const auto kept = codec::DecodeValues(std::get<wire::Update>(decoded.value().body).values,
                                        std::vector<std::uint64_t>{3});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept.value(), (std::vector<float>{4, 5, 6}));  // exit 2's tensors stay home

  // A round deeper than this client affords, or a sub-network the model
  // does not have, is dropped.
  for (const auto& [exit, heads] : {std::pair{2u, 0u}, {0u, 0u}, {3u, 0u}, {1u, 2u}}) {
    start.subnet_exit = exit;
    start.subnet_heads = heads;
    EXPECT_FALSE(session.OnFrame(wire::EncodeFrame({2, start})).train.has_value())
        << exit << " " << heads;
  }
}

TEST(ClientSessionTest, DivergedTrainingSendsNoUpdate) {
  ClientSession session = MakeSession();
  const auto step = session.OnFrame(wire::EncodeFrame({1, Start({1, 2, 3, 4, 5, 6})}));
  ASSERT_TRUE(step.train.has_value());
  TrainedRound trained{100, 0.5, {1, 2, NAN, 4, 5, 6}, {{50, 50}, {0, 0, 0, 0}}};
  EXPECT_FALSE(session.UpdateFrame(*step.train, trained).has_value());
  trained.values[2] = 3;
  EXPECT_TRUE(session.UpdateFrame(*step.train, trained).has_value());
}

TEST(ClientSessionTest, ErrorFeedbackCarriesQuantizationErrorIntoTheNextUpload) {
  codec::EncodeOptions int8;
  int8.dtype = codec::Dtype::kInt8;
  // Values between int8 steps: nearest rounding errs the same way every round.
  const std::vector<float> values = {1.0f, 0.3f, 0.0f, 0.0f, 0.0f, 0.0f};
  const std::vector<std::uint64_t> segments = {4, 2};
  double error_plain = 0.0, error_feedback = 0.0;
  for (bool feedback : {false, true}) {
    ClientSession session = MakeSession(int8, feedback);
    const auto step = session.OnFrame(wire::EncodeFrame({1, Start({0, 0, 0, 0, 0, 0})}));
    ASSERT_TRUE(step.train.has_value());
    double sum = 0.0;
    constexpr int kRounds = 20;
    for (int r = 0; r < kRounds; ++r) {
      const auto frame =
          session.UpdateFrame(*step.train, {100, 0.5, values, {{50, 50}, {0, 0, 0, 0}}});
      ASSERT_TRUE(frame.has_value());
      const auto decoded = wire::DecodeFrame(*frame, {});
      ASSERT_TRUE(decoded.ok()) << decoded.reject().text;
      const auto& update = std::get<wire::Update>(decoded.value().body);
      sum += codec::DecodeValues(update.values, segments).value()[1];
    }
    (feedback ? error_feedback : error_plain) = std::fabs(sum - kRounds * 0.3);
  }
  EXPECT_GT(error_plain, 0.01);          // 20 × the same rounding error
  EXPECT_LT(error_feedback, 1.0 / 127);  // at most one step in total
}

// Distributed DP (LocalDp): the client's upload is the round's global values
// plus its clipped delta plus its own noise.
ClientSession DpSession(std::size_t values, double clip_norm, double noise_std,
                        const std::string& name = "c") {
  ClientSessionOptions options;
  options.name = name;
  options.num_samples = 100;
  options.schema_fingerprint = 0x77;
  options.layout = {{0, values, true}};
  options.num_classes = 2;
  options.local_dp = LocalDp{clip_norm, noise_std, 5};
  ClientSession session(std::move(options));
  session.OnFrame(wire::EncodeFrame({0, wire::Welcome{3, 0x77, 3}}));
  return session;
}

std::vector<float> Uploaded(ClientSession& session, const std::vector<float>& global,
                            const std::vector<float>& trained) {
  wire::RoundStart start;
  start.global_values = codec::EncodeValues(global, {}, {});
  const auto step = session.OnFrame(wire::EncodeFrame({3, start}));
  EXPECT_TRUE(step.train.has_value());
  if (!step.train) return {};
  const auto frame =
      session.UpdateFrame(*step.train, {100, 0.5, trained, {{50, 50}, {0, 0, 0, 0}}});
  EXPECT_TRUE(frame.has_value());
  if (!frame) return {};
  const auto decoded = wire::DecodeFrame(*frame, {});
  EXPECT_TRUE(decoded.ok());
  const auto& update = std::get<wire::Update>(decoded.value().body);
  return codec::DecodeValues(update.values, std::vector<std::uint64_t>{global.size()}).value();
}

TEST(ClientSessionTest, DistributedDpUploadsTheGlobalValuesPlusTheClippedDelta) {
  ClientSession session = DpSession(4, 5.0, 0.0);
  // Delta (30, 40, 0, 0), norm 50, clipped to 5: (3, 4, 0, 0).
  const auto sent = Uploaded(session, {1, 1, 1, 1}, {31, 41, 1, 1});
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_NEAR(sent[0], 4.0f, 1e-6);
  EXPECT_NEAR(sent[1], 5.0f, 1e-6);
  EXPECT_EQ(sent[2], 1.0f);
  EXPECT_EQ(sent[3], 1.0f);
}

TEST(ClientSessionTest, DistributedDpNoiseHasTheConfiguredSpreadAndDependsOnClientAndRound) {
  const std::size_t n = 100'000;
  const std::vector<float> global(n, 0.5f);
  ClientSession session = DpSession(n, 1.0, 0.2);
  const auto sent = Uploaded(session, global, global);  // no training change: noise only
  ASSERT_EQ(sent.size(), n);
  double squares = 0.0;
  for (const float v : sent) squares += (v - 0.5) * (v - 0.5);
  EXPECT_NEAR(std::sqrt(squares / n), 0.2, 0.2 * 0.01);
  ClientSession twin = DpSession(n, 1.0, 0.2);
  EXPECT_EQ(Uploaded(twin, global, global), sent) << "seeded: reproducible";
  ClientSession other = DpSession(n, 1.0, 0.2, "d");
  EXPECT_NE(Uploaded(other, global, global), sent) << "each client draws its own noise";
}

TEST(ClientSessionTest, DistributedDpConfigGivesEachClientItsShareOfTheBudgetsNoise) {
  model::MultiExitNet net(SmallSpec());
  const auto schema = model::FlatSchema::Of(*net);
  const auto config = config::ParseConfig(
      "[data]\nnum_classes = 10\n[federation]\nclients = 100\nfraction = 0.1\nrounds = 50\n"
      "[aggregation]\n"
      "weighting = \"uniform\"\n[privacy]\ndp = \"distributed\"\nclip_norm = 2.0\n"
      "target_epsilon = 4.0\nmin_survivors = 4\n",
      "t.toml");
  const auto options = SessionOptionsFromConfig(config, "c", 100, schema);
  ASSERT_TRUE(options.local_dp.has_value());
  EXPECT_DOUBLE_EQ(options.local_dp->clip_norm, 2.0);
  // z·S/√t with z the coordinator's multiplier for the same budget.
  EXPECT_DOUBLE_EQ(options.local_dp->noise_std,
                   privacy::NoiseMultiplierFor(4.0, 0.1, 50, 1e-5) * 2.0 / 2.0);
  EXPECT_FALSE(options.local_dp->seed.has_value()) << "deployments draw from the CSPRNG";
  EXPECT_FALSE(SessionOptionsFromConfig(config::ParseConfig("[data]\nnum_classes = 10\n", "t"), "c",
                                        100, schema)
                   .local_dp);
}

}  // namespace
}  // namespace fsd::client
