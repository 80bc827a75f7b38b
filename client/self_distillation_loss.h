// SelfDistillationLoss: the training objective of a multi-exit network.
//
//   L = CE(z_main, y)
//     + Σ_{aux k} [ α·CE(z_k, y) + (1-α)·T²·KL(softmax(z_teacher/T) ‖ softmax(z_k/T)) ]
//     + β·T²·Σ_{exits k} KL(q[y] ‖ softmax(z_k/T))            (only when q is given)
//
// The teacher is the main (deepest) exit, or the mean logits of all exits
// (Teacher::kEnsemble); its logits are detached, so no gradient reaches them
// through the distillation term. KL(p‖q) = Σ p·(log p − log q), averaged over
// the batch: the student's log-probabilities are the input and the teacher's
// probabilities the target. α = 1 gives plain cross-entropy on every exit;
// TrainedExits::kMain gives CE on the main exit only. q is a [C, C] matrix of
// per-class soft targets (row c: target distribution for label c).
// Thread-safety: immutable after construction except the setters; use one per thread.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "common/config/config.h"

namespace fsd::client {

class SelfDistillationLoss {
 public:
  // Throws ConfigError if alpha is outside [0, 1], temperature <= 0 or beta < 0.
  explicit SelfDistillationLoss(const config::LossConfig& config);

  // `logits`: one [B, C] tensor per exit, shallow to deep. `labels`: int64 [B].
  // `soft_targets`: undefined, or [C, C] float probabilities (used when beta > 0).
  // Returns the scalar loss. InternalError if shapes disagree.
  torch::Tensor operator()(const std::vector<torch::Tensor>& logits, const torch::Tensor& labels,
                           const torch::Tensor& soft_targets = {}) const;

  // Schedules change these between rounds; same validation as the constructor.
  void set_temperature(double temperature);
  void set_alpha(double alpha);
  void set_beta(double beta);
  const config::LossConfig& config() const { return config_; }

 private:
  config::LossConfig config_;
};

// KL(target ‖ softmax(student_logits / T)) summed over classes, mean over the
// batch, where target_probs are probabilities (rows sum to 1).
torch::Tensor SoftKlDivergence(const torch::Tensor& student_logits,
                               const torch::Tensor& target_probs,
                               const torch::Tensor& target_log_probs, double temperature);

}  // namespace fsd::client
