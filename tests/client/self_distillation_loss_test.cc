#include "client/self_distillation_loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/errors.h"

namespace fsd::client {
namespace {

namespace F = torch::nn::functional;

config::LossConfig Config(double alpha, double temperature, double beta = 0.0) {
  config::LossConfig c;
  c.alpha = alpha;
  c.temperature = temperature;
  c.beta = beta;
  return c;
}

// Independent scalar implementations for the hand computation.
std::vector<double> Softmax(const std::vector<double>& z, double t) {
  double max = z[0], sum = 0;
  for (double v : z) max = std::max(max, v);
  std::vector<double> p(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) sum += (p[i] = std::exp((z[i] - max) / t));
  for (double& v : p) v /= sum;
  return p;
}
double CrossEntropy(const std::vector<double>& z, int label) {
  return -std::log(Softmax(z, 1)[label]);
}
double Kl(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (std::size_t i = 0; i < p.size(); ++i) kl += p[i] * std::log(p[i] / q[i]);
  return kl;
}

TEST(SelfDistillationLossTest, EqualsHandComputedValueOnTinyExample) {
  const std::vector<std::vector<double>> aux = {{1.0, -0.5, 0.2}, {0.3, 0.8, -1.0}};
  const std::vector<std::vector<double>> main = {{2.0, 0.1, -0.3}, {-0.2, 1.5, 0.4}};
  const std::vector<int> labels = {0, 2};
  const double alpha = 0.3, t = 2.5;
  double expected = 0;
  for (int b = 0; b < 2; ++b) {
    expected += CrossEntropy(main[b], labels[b]) / 2;
    expected += alpha * CrossEntropy(aux[b], labels[b]) / 2;
    expected += (1 - alpha) * t * t * Kl(Softmax(main[b], t), Softmax(aux[b], t)) / 2;
  }
  const auto to_tensor = [](const std::vector<std::vector<double>>& rows) {
    return torch::tensor({rows[0][0], rows[0][1], rows[0][2], rows[1][0], rows[1][1], rows[1][2]},
                         torch::kFloat64)
        .view({2, 3});
  };
  SelfDistillationLoss loss(Config(alpha, t));
  const auto value = loss({to_tensor(aux), to_tensor(main)}, torch::tensor({0, 2}, torch::kInt64));
  EXPECT_NEAR(value.item<double>(), expected, 1e-12);
}

TEST(SelfDistillationLossTest, NoGradientReachesTeacherThroughDistillation) {
  torch::manual_seed(0);
  const auto aux = torch::randn({4, 5}, torch::requires_grad());
  const auto main = torch::randn({4, 5}, torch::requires_grad());
  const auto labels = torch::tensor({0, 1, 2, 3}, torch::kInt64);
  // alpha = 0: the aux exit learns only from the teacher; the teacher's gradient
  // must be exactly that of its own cross-entropy.
  SelfDistillationLoss loss(Config(/*alpha=*/0.0, /*temperature=*/3.0));
  loss({aux, main}, labels).backward();
  const auto main_ce = main.detach().clone().requires_grad_(true);
  F::cross_entropy(main_ce, labels).backward();
  EXPECT_TRUE(torch::allclose(main.grad(), main_ce.grad(), 0, 1e-7));
  EXPECT_GT(aux.grad().abs().sum().item<double>(), 0.0);
}

TEST(SelfDistillationLossTest, EnsembleTeacherIsDetachedToo) {
  torch::manual_seed(1);
  const auto aux = torch::randn({4, 5}, torch::requires_grad());
  const auto main = torch::randn({4, 5}, torch::requires_grad());
  const auto labels = torch::tensor({4, 1, 2, 3}, torch::kInt64);
  auto c = Config(0.0, 2.0);
  c.teacher = config::Teacher::kEnsemble;
  SelfDistillationLoss loss(c);
  loss({aux, main}, labels).backward();
  const auto main_ce = main.detach().clone().requires_grad_(true);
  F::cross_entropy(main_ce, labels).backward();
  EXPECT_TRUE(torch::allclose(main.grad(), main_ce.grad(), 0, 1e-7));
}

TEST(SelfDistillationLossTest, AlphaOneGivesPlainCrossEntropyOnEveryExit) {
  torch::manual_seed(2);
  const auto a = torch::randn({6, 4}), b = torch::randn({6, 4}), m = torch::randn({6, 4});
  const auto labels = torch::tensor({0, 1, 2, 3, 0, 1}, torch::kInt64);
  SelfDistillationLoss loss(Config(1.0, 3.0));
  const double expected =
      (F::cross_entropy(a, labels) + F::cross_entropy(b, labels) + F::cross_entropy(m, labels))
          .item<double>();
  EXPECT_NEAR(loss({a, b, m}, labels).item<double>(), expected, 1e-6);
}

TEST(SelfDistillationLossTest, MainOnlyModeIgnoresAuxExits) {
  torch::manual_seed(3);
  const auto a = torch::randn({6, 4}), m = torch::randn({6, 4});
  const auto labels = torch::tensor({0, 1, 2, 3, 0, 1}, torch::kInt64);
  auto c = Config(0.5, 3.0);
  c.exits = config::TrainedExits::kMain;
  SelfDistillationLoss loss(c);
  EXPECT_NEAR(loss({a, m}, labels).item<double>(), F::cross_entropy(m, labels).item<double>(),
              1e-6);
}

TEST(SelfDistillationLossTest, DistillationTermVanishesWhenStudentEqualsTeacher) {
  torch::manual_seed(4);
  const auto m = torch::randn({5, 7}, torch::kFloat64);
  const auto labels = torch::tensor({0, 1, 2, 3, 4}, torch::kInt64);
  for (double t : {0.5, 1.0, 4.0, 20.0}) {
    SelfDistillationLoss loss(Config(0.0, t));
    EXPECT_NEAR(loss({m.clone(), m}, labels).item<double>(),
                F::cross_entropy(m, labels).item<double>(), 1e-10)
        << "T=" << t;
  }
}

TEST(SelfDistillationLossTest, HighTemperatureApproachesLogitMatching) {
  // For large T, T²·KL → (1/2C)·Σ_i (a_i − b_i)² over centred logits (Hinton et al.).
  torch::manual_seed(5);
  const int classes = 6;
  const auto teacher = torch::randn({3, classes}, torch::kFloat64);
  const auto student = torch::randn({3, classes}, torch::kFloat64);
  const double t = 2000.0;
  const auto lp = torch::log_softmax(teacher / t, 1);
  const double t2kl = t * t * SoftKlDivergence(student, lp.exp(), lp, t).item<double>();
  const auto centred = [](const torch::Tensor& z) { return z - z.mean(1, true); };
  const double matching =
      (centred(teacher) - centred(student)).pow(2).sum().item<double>() / (2.0 * classes) / 3.0;
  EXPECT_NEAR(t2kl, matching, 1e-3 * matching);
}

TEST(SelfDistillationLossTest, GlobalSoftTargetTermUsesTheLabelsRow) {
  const auto m = torch::tensor({{1.0, 0.0}, {0.0, 1.0}}, torch::kFloat64);
  const auto labels = torch::tensor({0, 1}, torch::kInt64);
  // Soft targets equal to the student's own softened output: the term is zero.
  const double t = 2.0;
  const auto own = torch::softmax(m / t, 1);
  SelfDistillationLoss loss(Config(0.5, t, /*beta=*/0.7));
  EXPECT_NEAR(loss({m}, labels, own).item<double>(), F::cross_entropy(m, labels).item<double>(),
              1e-10);
  // Swapped rows: each sample is pulled toward the other class.
  const auto swapped = own.flip({0});
  const double expected = F::cross_entropy(m, labels).item<double>() +
                          0.7 * t * t *
                              Kl({own[1][0].item<double>(), own[1][1].item<double>()},
                                 {own[0][0].item<double>(), own[0][1].item<double>()});
  EXPECT_NEAR(loss({m}, labels, swapped).item<double>(), expected, 1e-9);
}

TEST(SelfDistillationLossTest, RejectsOutOfRangeSettings) {
  EXPECT_THROW(SelfDistillationLoss(Config(1.5, 3.0)), ConfigError);
  EXPECT_THROW(SelfDistillationLoss(Config(0.5, 0.0)), ConfigError);
  EXPECT_THROW(SelfDistillationLoss(Config(0.5, 3.0, -1.0)), ConfigError);
  SelfDistillationLoss loss(Config(0.5, 3.0));
  EXPECT_THROW(loss.set_temperature(std::nan("")), ConfigError);
  EXPECT_DOUBLE_EQ(loss.config().temperature, 3.0);
}

}  // namespace
}  // namespace fsd::client
