#include "client/self_distillation_loss.h"

#include <cmath>

#include "common/errors.h"

namespace fsd::client {
namespace {

namespace F = torch::nn::functional;

void Validate(const config::LossConfig& c) {
  if (!(c.alpha >= 0.0 && c.alpha <= 1.0)) {
    throw ConfigError("loss.alpha is " + std::to_string(c.alpha) + ", allowed [0, 1]");
  }
  if (!(c.temperature > 0.0) || !std::isfinite(c.temperature)) {
    throw ConfigError("loss.temperature is " + std::to_string(c.temperature) + ", must be > 0");
  }
  if (!(c.beta >= 0.0) || !std::isfinite(c.beta)) {
    throw ConfigError("loss.beta is " + std::to_string(c.beta) + ", must be >= 0");
  }
}

}  // namespace

torch::Tensor SoftKlDivergence(const torch::Tensor& student_logits,
                               const torch::Tensor& target_probs,
                               const torch::Tensor& target_log_probs, double temperature) {
  const auto student_log_probs = torch::log_softmax(student_logits / temperature, /*dim=*/1);
  // Σ p (log p − log q): the target entropy part carries no gradient but keeps
  // the value a true KL divergence (0 when student equals target).
  return (target_probs * (target_log_probs - student_log_probs)).sum() /
         static_cast<double>(student_logits.size(0));
}

SelfDistillationLoss::SelfDistillationLoss(const config::LossConfig& config) : config_(config) {
  Validate(config_);
}

void SelfDistillationLoss::set_temperature(double temperature) {
  auto next = config_;
  next.temperature = temperature;
  Validate(next);
  config_ = next;
}

void SelfDistillationLoss::set_alpha(double alpha) {
  auto next = config_;
  next.alpha = alpha;
  Validate(next);
  config_ = next;
}

void SelfDistillationLoss::set_beta(double beta) {
  auto next = config_;
  next.beta = beta;
  Validate(next);
  config_ = next;
}

torch::Tensor SelfDistillationLoss::operator()(const std::vector<torch::Tensor>& logits,
                                               const torch::Tensor& labels,
                                               const torch::Tensor& soft_targets) const {
  FSD_CHECK(!logits.empty()) << "no exits";
  const auto& main = logits.back();
  FSD_CHECK(main.dim() == 2 && labels.dim() == 1 && main.size(0) == labels.size(0))
      << "logits " << main.sizes() << " vs labels " << labels.sizes();
  const double t = config_.temperature;
  const double alpha = config_.alpha;

  torch::Tensor loss = F::cross_entropy(main, labels);
  const bool train_aux = config_.exits == config::TrainedExits::kAll && logits.size() > 1;
  if (train_aux) {
    torch::Tensor teacher_probs, teacher_log_probs;
    if (alpha < 1.0) {
      torch::Tensor teacher = config_.teacher == config::Teacher::kDeepest
                                  ? main.detach()
                                  : torch::stack(logits).mean(/*dim=*/0).detach();
      teacher_log_probs = torch::log_softmax(teacher / t, /*dim=*/1);
      teacher_probs = teacher_log_probs.exp();
    }
    for (std::size_t k = 0; k + 1 < logits.size(); ++k) {
      if (alpha > 0.0) loss = loss + alpha * F::cross_entropy(logits[k], labels);
      if (alpha < 1.0) {
        loss = loss + (1.0 - alpha) * t * t *
                          SoftKlDivergence(logits[k], teacher_probs, teacher_log_probs, t);
      }
    }
  }

  if (config_.beta > 0.0 && soft_targets.defined()) {
    const auto classes = main.size(1);
    FSD_CHECK(soft_targets.dim() == 2 && soft_targets.size(0) == classes &&
              soft_targets.size(1) == classes)
        << "soft targets " << soft_targets.sizes() << " for " << classes << " classes";
    const auto target_probs = soft_targets.index_select(0, labels);
    const auto target_log_probs = target_probs.clamp_min(1e-12).log();
    const std::size_t first = train_aux ? 0 : logits.size() - 1;
    for (std::size_t k = first; k < logits.size(); ++k) {
      loss = loss +
             config_.beta * t * t * SoftKlDivergence(logits[k], target_probs, target_log_probs, t);
    }
  }
  return loss;
}

}  // namespace fsd::client
