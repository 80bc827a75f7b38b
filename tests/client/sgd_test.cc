#include "client/sgd.h"

#include <gtest/gtest.h>

namespace fsd::client {
namespace {

TEST(SgdMomentumTest, MatchesLibTorchSgdOverSeveralSteps) {
  torch::manual_seed(0);
  const auto init = torch::randn({10});
  auto ours = init.clone().requires_grad_(true);
  auto theirs = init.clone().requires_grad_(true);
  SgdMomentum sgd({ours}, /*momentum=*/0.9, /*weight_decay=*/5e-4);
  torch::optim::SGD reference({theirs},
                              torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  for (int step = 0; step < 5; ++step) {
    const auto target = torch::randn({10});
    sgd.ZeroGrad();
    (ours - target).pow(2).sum().backward();
    sgd.Step(0.05);
    reference.zero_grad();
    (theirs - target).pow(2).sum().backward();
    reference.step();
  }
  EXPECT_TRUE(torch::allclose(ours, theirs, 1e-6, 1e-7));
}

TEST(SgdMomentumTest, ResetStateForgetsMomentum) {
  auto p = torch::zeros({1}).requires_grad_(true);
  SgdMomentum sgd({p}, 0.9, 0.0);
  for (int i = 0; i < 2; ++i) {
    sgd.ZeroGrad();
    (p * 1.0).sum().backward();  // gradient 1
    sgd.Step(1.0);
  }
  EXPECT_NEAR(p.item<float>(), -1.0 - 1.9, 1e-6);  // buffers 1, then 1.9
  sgd.ResetState();
  sgd.ZeroGrad();
  (p * 1.0).sum().backward();
  sgd.Step(1.0);
  EXPECT_NEAR(p.item<float>(), -3.9, 1e-6);  // fresh buffer: a step of exactly 1
}

TEST(SgdMomentumTest, SkipsParametersWithoutGradient) {
  auto used = torch::ones({2}).requires_grad_(true);
  auto unused = torch::ones({2}).requires_grad_(true);
  SgdMomentum sgd({used, unused}, 0.9, 0.1);
  sgd.ZeroGrad();
  used.sum().backward();
  sgd.Step(0.5);
  EXPECT_TRUE(torch::equal(unused, torch::ones({2})));
  EXPECT_FALSE(torch::equal(used, torch::ones({2})));
}

}  // namespace
}  // namespace fsd::client
