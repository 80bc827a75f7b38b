#include "common/model/multi_exit_net.h"

#include <gtest/gtest.h>

#include <tuple>

#include "common/errors.h"

namespace fsd::model {
namespace {

class MultiExitNetTest : public ::testing::TestWithParam<Architecture> {
 protected:
  MultiExitNet Make() {
    torch::manual_seed(1);
    ModelSpec spec;
    spec.architecture = GetParam();
    return MultiExitNet(spec);
  }
  // n samples the architecture reads: images, or for char-gru windows of
  // 28 symbol indices (below the 10 classes, its vocabulary).
  torch::Tensor Input(std::int64_t n) const {
    if (GetParam() == Architecture::kCharGru) {
      return torch::randint(0, 10, {n, 1, 1, 28}).to(torch::kFloat32);
    }
    return torch::randn({n, 1, 28, 28});
  }
};

TEST_P(MultiExitNetTest, ForwardReturnsLogitsOfEveryExitShallowToDeep) {
  auto net = Make();
  const auto logits = net->forward(Input(4));
  ASSERT_EQ(static_cast<int>(logits.size()), net->num_exits());
  for (const auto& l : logits) EXPECT_EQ(l.sizes(), (std::vector<std::int64_t>{4, 10}));
}

TEST_P(MultiExitNetTest, ForwardToEqualsFullForwardAtEveryExit) {
  auto net = Make();
  net->eval();  // BatchNorm with running statistics: both calls see identical layers
  torch::NoGradGuard no_grad;
  const auto x = Input(3);
  const auto all = net->forward(x);
  for (int k = 0; k < net->num_exits(); ++k) {
    EXPECT_TRUE(torch::equal(net->forward_to(x, k), all[k])) << "exit " << k;
  }
}

TEST_P(MultiExitNetTest, ForwardExitsComputesTheFirstExitsOnly) {
  auto net = Make();
  net->eval();
  torch::NoGradGuard no_grad;
  const auto x = Input(3);
  const auto all = net->forward(x);
  for (int count = 1; count <= net->num_exits(); ++count) {
    const auto first = net->ForwardExits(x, count);
    ASSERT_EQ(static_cast<int>(first.size()), count);
    for (int k = 0; k < count; ++k)
      EXPECT_TRUE(torch::equal(first[k], all[k])) << count << " " << k;
  }
  EXPECT_THROW(net->ForwardExits(x, 0), InternalError);
  EXPECT_THROW(net->ForwardExits(x, net->num_exits() + 1), InternalError);
}

TEST_P(MultiExitNetTest, ForwardToRejectsExitOutOfRange) {
  auto net = Make();
  EXPECT_THROW(net->forward_to(Input(1), net->num_exits()), InternalError);
  EXPECT_THROW(net->forward_to(Input(1), -1), InternalError);
}

TEST_P(MultiExitNetTest, DeeperExitsNeverHaveFewerPathParameters) {
  auto net = Make();
  for (int k = 1; k < net->num_exits(); ++k) {
    EXPECT_GE(net->PathParameterCount(k), net->PathParameterCount(0));
  }
}

INSTANTIATE_TEST_SUITE_P(AllArchitectures, MultiExitNetTest,
                         ::testing::Values(Architecture::kCnn3S, Architecture::kCnn3M,
                                           Architecture::kMlp, Architecture::kResNet8,
                                           Architecture::kResNet20, Architecture::kResNet32,
                                           Architecture::kResNet18, Architecture::kCharGru),
                         [](const auto& info) {
                           std::string name = ArchitectureName(info.param);
                           std::erase(name, '-');
                           return name;
                         });

TEST(Cnn3STest, ParameterCountsMatchTheBenchmarkModel) {
  MultiExitNet net(ModelSpec{});
  std::int64_t total = 0;
  for (const auto& p : net->parameters()) total += p.numel();
  // BENCHMARK.md / reference: 24,170 parameters on the main path, 48,478 in all.
  EXPECT_EQ(net->PathParameterCount(net->main_exit()), 24170);
  EXPECT_EQ(total, 48478);
  EXPECT_EQ(net->num_exits(), 3);
  // Aux exit 1: stage1 (160 + 32) + Conv(16->32, s2) 4640 + BN 64 + Linear(32->10) 330.
  EXPECT_EQ(net->PathParameterCount(0), 160 + 32 + 4640 + 64 + 330);
}

TEST(Cnn3MTest, DoublesEveryWidth) {
  ModelSpec spec;
  spec.architecture = Architecture::kCnn3M;
  MultiExitNet net(spec);
  // conv 1->32 (320) + bn 64 + conv 32->64 (18496) + bn 128 + conv 64->128 (73856) + bn 256 + fc
  // 1290
  EXPECT_EQ(net->PathParameterCount(net->main_exit()), 320 + 64 + 18496 + 128 + 73856 + 256 + 1290);
}

TEST(ArchitectureTest, ParsesNamesAndRejectsUnknownWithAllowedValues) {
  EXPECT_EQ(ParseArchitecture("cnn3-m"), Architecture::kCnn3M);
  for (const auto& [name, architecture] : ArchitectureNames()) {
    EXPECT_EQ(ParseArchitecture(name), architecture);
    EXPECT_EQ(ArchitectureName(architecture), name);
  }
  try {
    ParseArchitecture("resnet");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "allowed: cnn3-s, cnn3-m, mlp, resnet8, resnet20, resnet32, resnet18"),
              std::string::npos);
  }
}

std::int64_t ParameterCount(torch::nn::Module& module) {
  std::int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

TEST(CharGruTest, ThreeGruLayersEachWithAnExitReadingTheLastStep) {
  ModelSpec spec;
  spec.architecture = Architecture::kCharGru;
  spec.num_classes = 96;
  spec.height = 1;
  spec.width = 80;
  torch::manual_seed(1);
  MultiExitNet net(spec);
  ASSERT_EQ(net->num_exits(), 3);
  // embedding 96×8; GRU 3·128·(8 + 128) + 2·3·128 biases, then 3·128·256 + biases; heads 128·96
  // + 96.
  const std::int64_t head = 128 * 96 + 96;
  const std::int64_t first = 96 * 8 + 3 * 128 * (8 + 128) + 6 * 128;
  const std::int64_t deeper = 3 * 128 * 256 + 6 * 128;
  EXPECT_EQ(net->PathParameterCount(0), first + head);
  EXPECT_EQ(net->PathParameterCount(2), first + 2 * deeper + head);
  // Every exit reads its layer's last step, which has read the window: the
  // last symbol changes every exit's logits, and a batch's windows are
  // predicted independently.
  net->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::full({2, 1, 1, 80}, 5.0f);
  const auto before = net->forward(x);
  x[1][0][0][79] = 7.0f;
  const auto after = net->forward(x);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(after[k].sizes(), (std::vector<std::int64_t>{2, 96}));
    EXPECT_TRUE(torch::equal(before[k][0], after[k][0])) << k;
    EXPECT_FALSE(torch::allclose(before[k][1], after[k][1])) << k;
  }
}

TEST(ResNetTest, CifarResNetsHaveTheirBlocksAndAnExitAfterEveryStage) {
  // He et al. 2016 on 32x32x3: resnet20 ≈ 0.27 M parameters, resnet32 ≈ 0.46 M
  // (the main path here adds the BatchNorm of the projection shortcuts).
  for (const auto& [architecture, blocks, millions] :
       {std::tuple{Architecture::kResNet8, 1, 0.078}, std::tuple{Architecture::kResNet20, 3, 0.27},
        std::tuple{Architecture::kResNet32, 5, 0.46}}) {
    ModelSpec spec;
    spec.architecture = architecture;
    spec.in_channels = 3;
    spec.height = spec.width = 32;
    MultiExitNet net(spec);
    EXPECT_EQ(net->num_exits(), 3);
    EXPECT_NEAR(net->PathParameterCount(2) / 1e6, millions, 0.02) << ArchitectureName(architecture);
    int residual_blocks = 0, projections = 0;
    for (const auto& module : net->modules(/*include_self=*/false)) {
      if (const auto* block = module->as<ResidualBlockImpl>()) {
        ++residual_blocks;
        projections += block->shortcut ? 1 : 0;
      }
    }
    EXPECT_EQ(residual_blocks, 3 * blocks);
    EXPECT_EQ(projections, 2);  // where stages 2 and 3 halve the resolution
    const auto logits = net->forward(torch::randn({2, 3, 32, 32}));
    for (const auto& l : logits) EXPECT_EQ(l.sizes(), (std::vector<std::int64_t>{2, 10}));
  }
}

TEST(ResNetTest, ResNet18HasFourStagesOf64To512ChannelsAndFourExits) {
  ModelSpec spec;
  spec.architecture = Architecture::kResNet18;
  spec.in_channels = 3;
  spec.height = spec.width = 32;
  spec.num_classes = 100;
  MultiExitNet net(spec);
  EXPECT_EQ(net->num_exits(), 4);
  // CIFAR ResNet-18 (3x3 stem, no max-pool): 11.2 M parameters with a 100-class classifier.
  EXPECT_NEAR(net->PathParameterCount(3) / 1e6, 11.22, 0.05);
  const auto logits = net->forward(torch::randn({2, 3, 32, 32}));
  ASSERT_EQ(logits.size(), 4u);
  for (const auto& l : logits) EXPECT_EQ(l.sizes(), (std::vector<std::int64_t>{2, 100}));
}

TEST(ResNetTest, ATruncatedOrSlimmedSpecBuildsOnlyWhatItNames) {
  ModelSpec spec;
  spec.architecture = Architecture::kResNet8;
  spec.exits = 2;
  MultiExitNet two(spec);
  EXPECT_EQ(two->num_exits(), 2);
  spec.exits = 0;
  EXPECT_EQ(ConvChannels(spec), (std::vector<int>{16, 32, 64, 32, 64}));
  MultiExitNet full(spec);
  spec.channels = {8, 16, 32, 16, 32};  // every block's inner width and both heads halved
  MultiExitNet slim(spec);
  EXPECT_LT(ParameterCount(*slim), ParameterCount(*full));
  EXPECT_EQ(slim->forward(torch::randn({2, 1, 28, 28})).size(), 3u);
  spec.channels = {8, 16};
  EXPECT_THROW(MultiExitNet{spec}, InternalError);
}

TEST(ResNetTest, IdentityAndProjectionBlocksAddTheirInput) {
  torch::manual_seed(4);
  ResidualBlock identity(8, 8, 8, 1);
  ResidualBlock projection(8, 4, 16, 2);
  EXPECT_FALSE(identity->shortcut);
  ASSERT_TRUE(projection->shortcut);
  identity->eval();
  projection->eval();
  torch::NoGradGuard no_grad;
  // With the residual branch silenced (bn2's γ = β = 0) a block is ReLU of its shortcut.
  identity->bn2->weight.zero_();
  projection->bn2->weight.zero_();
  const auto x = torch::randn({2, 8, 6, 6});
  EXPECT_TRUE(torch::allclose(identity->forward(x), torch::relu(x)));
  EXPECT_TRUE(
      torch::allclose(projection->forward(x), torch::relu(projection->shortcut->forward(x))));
  EXPECT_EQ(projection->forward(x).sizes(), (std::vector<std::int64_t>{2, 16, 3, 3}));
}

}  // namespace
}  // namespace fsd::model
