#include "client/export.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/errors.h"
#include "edge/xnnpack_engine.h"

namespace fsd::client {
namespace {

model::MultiExitNet MakeNet(model::Architecture architecture = model::Architecture::kCnn3S,
                            int channels = 1, int side = 16) {
  torch::manual_seed(3);
  model::ModelSpec spec;
  spec.architecture = architecture;
  spec.in_channels = channels;
  spec.height = spec.width = side;
  model::MultiExitNet net(spec);
  // Non-trivial BatchNorm statistics, as after training.
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_buffers()) {
    if (item.key().ends_with("running_mean")) item.value().uniform_(-0.5, 0.5);
    if (item.key().ends_with("running_var")) item.value().uniform_(0.5, 2.0);
  }
  net->eval();
  return net;
}

TEST(ExportExitTest, TruncationKeepsTheExitsOutputsExactly) {
  auto full = MakeNet();
  const auto x = torch::randn({4, 1, 16, 16});
  for (int exit = 0; exit < 3; ++exit) {
    auto small = ExportExit(full, exit, 1.0);
    small->eval();
    EXPECT_EQ(small->num_exits(), exit + 1);
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(small->forward_to(x, exit), full->forward_to(x, exit))) << exit;
  }
}

TEST(ExportExitTest, SlimmingRemovesTheChannelsWithSmallestGammaAndTheirInputs) {
  auto full = MakeNet();
  {
    // Silence every other channel of every BatchNorm (γ = β = 0): after ReLU
    // they are exactly zero, so removing them must not change any output.
    torch::NoGradGuard no_grad;
    const std::vector<std::string> norms = {"stage1.2.", "stage2.1.", "stage3.1.", "exit1.1.",
                                            "exit2.1."};
    for (auto& item : full->named_parameters()) {
      const auto& name = item.key();
      if (std::none_of(norms.begin(), norms.end(),
                       [&](const std::string& prefix) { return name.starts_with(prefix); })) {
        continue;
      }
      auto channels = item.value().view({-1, 2});
      channels.select(1, 1).zero_();                                   // odd channels: γ = β = 0
      if (name.ends_with(".weight")) channels.select(1, 0).add_(1.0);  // even: |γ| ≥ 1 - ε
    }
  }
  auto small = ExportExit(full, 1, 0.5);
  small->eval();
  EXPECT_EQ(model::ConvChannels(small->spec()), (std::vector<int>{8, 16, 32, 16, 32}));
  std::int64_t small_params = 0, full_params = 0;
  for (const auto& p : small->parameters()) small_params += p.numel();
  for (const auto& p : full->parameters()) full_params += p.numel();
  EXPECT_LT(small_params * 4, full_params);
  const auto x = torch::randn({5, 1, 16, 16});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(small->forward_to(x, 1), full->forward_to(x, 1), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(small->forward_to(x, 0), full->forward_to(x, 0), 1e-4, 1e-5));
}

TEST(ExportExitTest, RefusesMissingExitsBadSharesAndSlimmingWithoutBatchNorm) {
  auto full = MakeNet();
  EXPECT_THROW(ExportExit(full, 3, 1.0), ConfigError);
  EXPECT_THROW(ExportExit(full, -1, 1.0), ConfigError);
  EXPECT_THROW(ExportExit(full, 1, 0.0), ConfigError);
  EXPECT_THROW(ExportExit(full, 1, 1.5), ConfigError);
  auto mlp = MakeNet(model::Architecture::kMlp);
  EXPECT_THROW(ExportExit(mlp, 1, 0.5), ConfigError);
  EXPECT_EQ(ExportExit(mlp, 0, 1.0)->num_exits(), 1);
}

TEST(ForwardUntilConfidentTest, StopsAtTheFirstConfidentExit) {
  auto net = MakeNet();
  const auto x = torch::randn({1, 1, 16, 16});
  torch::NoGradGuard no_grad;
  const auto [never, deepest] = net->ForwardUntilConfident(x, 1.1);  // no exit reaches 1.1
  EXPECT_EQ(never, 2);
  EXPECT_TRUE(torch::equal(deepest, net->forward_to(x, 2)));
  const auto [first, logits] = net->ForwardUntilConfident(x, 0.0);  // any exit is confident
  EXPECT_EQ(first, 0);
  EXPECT_TRUE(torch::equal(logits, net->forward_to(x, 0)));
}

// Every exit of `net` under XNNPACK (its folded, NHWC EdgeModel after a
// serialize/parse round trip) against LibTorch on the same images.
void ExpectEdgeModelMatches(model::MultiExitNet net, int channels, int side) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({5, channels, side, side});
  const auto expected = net->forward(x);
  const auto bytes = edge::SerializeModel(ToEdgeModel(net));
  edge::XnnpackEngine engine(edge::ParseModel(bytes, "test"));
  ASSERT_EQ(engine.num_exits(), net->num_exits());
  const auto nhwc = x.permute({0, 2, 3, 1}).contiguous();
  for (int exit = 0; exit < net->num_exits(); ++exit) {
    const float* logits = engine.Run(nhwc.data_ptr<float>(), 5, exit);
    const auto got = torch::from_blob(const_cast<float*>(logits), {5, 10}).clone();
    EXPECT_LT((got - expected[exit]).abs().max().item<double>(), 1e-4) << "exit " << exit + 1;
  }
}

TEST(EdgeExportTest, FoldedModelGivesLibTorchsLogitsAtEveryExit) {
  auto net = MakeNet();
  {
    // BatchNorm affine parameters away from (1, 0), so folding them matters.
    torch::NoGradGuard no_grad;
    for (auto& item : net->named_parameters()) {
      if (item.key().find(".weight") != std::string::npos && item.value().dim() == 1)
        item.value().uniform_(0.5, 1.5);
      if (item.key().find(".bias") != std::string::npos) item.value().uniform_(-0.3, 0.3);
    }
  }
  ExpectEdgeModelMatches(net, 1, 16);
  // A slimmed, truncated exit as fsd-export writes it.
  auto small = ExportExit(net, 1, 0.5);
  small->eval();
  ExpectEdgeModelMatches(small, 1, 16);
}

TEST(EdgeExportTest, MlpReadsTheNhwcFlattenedImage) {
  ExpectEdgeModelMatches(MakeNet(model::Architecture::kMlp, 3, 6), 3, 6);
}

// Residual networks: BatchNorm parameters away from (1, 0) so folding matters.
model::MultiExitNet MakeResidualNet(model::Architecture architecture) {
  auto net = MakeNet(architecture);
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters()) {
    if (item.value().dim() == 1 && item.key().ends_with(".weight")) item.value().uniform_(0.5, 1.5);
    if (item.value().dim() == 1 && item.key().ends_with(".bias")) item.value().uniform_(-0.3, 0.3);
  }
  return net;
}

TEST(EdgeExportTest, ResidualNetworksGiveLibTorchsLogitsWithProjectionsAndAdditions) {
  for (const auto architecture : {model::Architecture::kResNet8, model::Architecture::kResNet20,
                                  model::Architecture::kResNet18}) {
    auto net = MakeResidualNet(architecture);
    const auto edge_model = ToEdgeModel(net);
    int additions = 0, projections = 0;
    for (const auto& stage : edge_model.stages) {
      for (const auto& layer : stage.layers) {
        if (layer.kind != edge::LayerKind::kResidualAdd) continue;
        ++additions;
        projections += layer.kernel == 1 ? 1 : 0;
      }
    }
    const auto shape = model::ResidualShapeOf(architecture);
    EXPECT_EQ(additions, static_cast<int>(shape.widths.size()) * shape.blocks_per_stage);
    EXPECT_EQ(projections, static_cast<int>(shape.widths.size()) - 1);
    ExpectEdgeModelMatches(net, 1, 16);
  }
}

TEST(ExportExitTest, ResidualSlimmingKeepsEveryBlocksInnerChannelsWithLargestGamma) {
  auto full = MakeResidualNet(model::Architecture::kResNet8);
  {
    // Silence every other inner channel of every block and auxiliary head
    // (γ = β = 0 after a BatchNorm followed by ReLU): removing them must not
    // change any output, and block outputs keep the stage's width.
    torch::NoGradGuard no_grad;
    for (auto& item : full->named_parameters()) {
      const auto& name = item.key();
      const bool inner = name.find(".bn1.") != std::string::npos || name.starts_with("exit1.1.") ||
                         name.starts_with("exit2.1.");
      if (!inner) continue;
      auto channels = item.value().view({-1, 2});
      channels.select(1, 1).zero_();
      if (name.ends_with(".weight")) channels.select(1, 0).add_(1.0);
    }
  }
  auto small = ExportExit(full, 2, 0.5);
  small->eval();
  EXPECT_EQ(model::ConvChannels(small->spec()), (std::vector<int>{8, 16, 32, 16, 32}));
  const auto x = torch::randn({5, 1, 16, 16});
  {
    torch::NoGradGuard no_grad;
    for (int exit = 0; exit < 3; ++exit) {
      EXPECT_TRUE(
          torch::allclose(small->forward_to(x, exit), full->forward_to(x, exit), 1e-4, 1e-5))
          << "exit " << exit + 1;
    }
  }
  // Truncated after exit 2 and slimmed, as fsd-export writes it, under XNNPACK.
  auto two = ExportExit(full, 1, 0.5);
  two->eval();
  EXPECT_EQ(two->num_exits(), 2);
  ExpectEdgeModelMatches(two, 1, 16);
  torch::NoGradGuard no_grad;
  const auto [exit, logits] = two->ForwardUntilConfident(x.slice(0, 0, 1), 1.1);
  EXPECT_EQ(exit, 1);
  EXPECT_TRUE(torch::equal(logits, two->forward_to(x.slice(0, 0, 1), 1)));
}

TEST(EdgeExportTest, ThreeChannelImagesReachTheResidualStem) {
  ExpectEdgeModelMatches(MakeNet(model::Architecture::kResNet8, 3, 12), 3, 12);
}

}  // namespace
}  // namespace fsd::client
