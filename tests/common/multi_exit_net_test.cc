#include "common/model/multi_exit_net.h"

#include <gtest/gtest.h>

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
};

TEST_P(MultiExitNetTest, ForwardReturnsLogitsOfEveryExitShallowToDeep) {
  auto net = Make();
  const auto logits = net->forward(torch::randn({4, 1, 28, 28}));
  ASSERT_EQ(static_cast<int>(logits.size()), net->num_exits());
  for (const auto& l : logits) EXPECT_EQ(l.sizes(), (std::vector<std::int64_t>{4, 10}));
}

TEST_P(MultiExitNetTest, ForwardToEqualsFullForwardAtEveryExit) {
  auto net = Make();
  net->eval();  // BatchNorm with running statistics: both calls see identical layers
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({3, 1, 28, 28});
  const auto all = net->forward(x);
  for (int k = 0; k < net->num_exits(); ++k) {
    EXPECT_TRUE(torch::equal(net->forward_to(x, k), all[k])) << "exit " << k;
  }
}

TEST_P(MultiExitNetTest, ForwardExitsComputesTheFirstExitsOnly) {
  auto net = Make();
  net->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({3, 1, 28, 28});
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
  EXPECT_THROW(net->forward_to(torch::randn({1, 1, 28, 28}), net->num_exits()), InternalError);
  EXPECT_THROW(net->forward_to(torch::randn({1, 1, 28, 28}), -1), InternalError);
}

TEST_P(MultiExitNetTest, DeeperExitsNeverHaveFewerPathParameters) {
  auto net = Make();
  for (int k = 1; k < net->num_exits(); ++k) {
    EXPECT_GE(net->PathParameterCount(k), net->PathParameterCount(0));
  }
}

INSTANTIATE_TEST_SUITE_P(AllArchitectures, MultiExitNetTest,
                         ::testing::Values(Architecture::kCnn3S, Architecture::kCnn3M,
                                           Architecture::kMlp),
                         [](const auto& info) {
                           const std::string name = ArchitectureName(info.param);
                           return name == "cnn3-s" ? "Cnn3S" : name == "cnn3-m" ? "Cnn3M" : "Mlp";
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
  try {
    ParseArchitecture("resnet");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("allowed: cnn3-s, cnn3-m, mlp"), std::string::npos);
  }
}

}  // namespace
}  // namespace fsd::model
