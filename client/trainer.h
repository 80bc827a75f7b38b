// LocalTrainer: trains a MultiExitNet on a client's shard (an index list into a
// shared Dataset, never a copy) with SGD and the self-distillation loss, and
// evaluates per-exit accuracy.
//
// One trainer per model; a trainer and its model belong to one thread at a time.
// Batches are gathered into buffers allocated once per trainer. Errors:
// InternalError for inconsistent inputs (empty shard, index out of range is
// checked by LibTorch and rethrown as InternalError).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "client/self_distillation_loss.h"
#include "client/sgd.h"
#include "client/soft_target_summary.h"
#include "common/config/config.h"
#include "common/data/augment.h"
#include "common/data/dataset.h"
#include "common/model/layout.h"
#include "common/model/multi_exit_net.h"

namespace fsd::client {

struct EpochStats {
  double mean_loss = 0.0;  // sample-weighted mean training loss
  std::int64_t samples = 0;
  std::int64_t steps = 0;
  double seconds = 0.0;
  double samples_per_s = 0.0;
};

// Called after each step: (steps done this epoch, steps in the epoch, running mean loss).
using StepCallback = std::function<void(std::int64_t, std::int64_t, double)>;

// Learning rate of step `step` of `total_steps` under `config`'s schedule,
// for a run whose learning rate is training.lr × `factor` (the round's factor
// announced by the coordinator; 1 outside a federation).
double LearningRateAt(const config::TrainingConfig& config, std::int64_t step,
                      std::int64_t total_steps, double factor = 1.0);

class LocalTrainer {
 public:
  // Shares `model` (a torch module holder); the caller keeps using the same
  // model. `augment`: applied to every training batch (common/data/augment.h).
  LocalTrainer(model::MultiExitNet model, const config::TrainingConfig& training,
               const config::LossConfig& loss,
               data::Augmentation augment = data::Augmentation::kNone);

  // Starts a local run of `epochs` epochs (default: training.epochs) over
  // `num_samples` samples at training.lr × `lr_factor`: resets momentum and
  // the learning-rate schedule. Under training.proximal_mu > 0 (FedProx) the
  // weights at this call are the anchor: every step adds μ·(w − anchor) to
  // the gradient of each trained parameter (masked coordinates stay 0).
  void BeginRun(std::int64_t num_samples, int epochs = 0, double lr_factor = 1.0);

  // One pass over dataset[indices] in an order shuffled by `shuffle_seed`;
  // augmentation draws from the stream ("augment") of that seed.
  // `soft_targets`: [C, C] global soft targets for the β term, or undefined.
  // `summary`: if given, receives every batch's deepest-exit logits.
  // REQUIRES: BeginRun() was called; indices non-empty and within the dataset.
  EpochStats TrainEpoch(const data::Dataset& dataset, std::span<const std::int64_t> indices,
                        std::uint64_t shuffle_seed, const StepCallback& on_step = {},
                        const torch::Tensor& soft_targets = {},
                        SoftTargetAccumulator* summary = nullptr);

  // Sparsity: one tensor per model parameter (same order as parameters()),
  // 0/1 of the parameter's shape, or undefined for an unmasked parameter; an
  // empty list masks nothing. Masked gradients are zeroed before each step
  // and masked weights re-zeroed after it, so pruned weights stay exactly 0.
  void SetParameterMasks(std::vector<torch::Tensor> masks);

  // The sub-network trained from now on (common/model/layout.h): the
  // backbone up to exit subnet.exit (0: all) and the heads up to it, or that
  // exit's head alone; parameters outside it get no gradient and keep their
  // values. Default: the whole network, the main head alone under
  // loss.exits = "main". InternalError for an exit the model does not have.
  void SetSubnetwork(model::Subnetwork subnet);

  SelfDistillationLoss& loss() { return loss_; }
  model::MultiExitNet& model() { return model_; }

 private:
  model::MultiExitNet model_;
  config::TrainingConfig training_;
  SelfDistillationLoss loss_;
  SgdMomentum optimizer_;
  std::int64_t run_step_ = 0;
  std::int64_t run_total_steps_ = 0;
  double run_lr_factor_ = 1.0;
  std::vector<torch::Tensor> anchors_;  // FedProx: the parameters at BeginRun
  data::Augmentation augment_;
  torch::Tensor batch_images_;  // [batch_size, C, H, W], reused every step
  torch::Tensor batch_labels_;  // [batch_size]
  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> masks_;  // see SetParameterMasks
  model::Subnetwork subnet_;          // exit resolved (≥ 1)
};

}  // namespace fsd::client
