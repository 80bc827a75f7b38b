#include "client/trainer.h"

#include <chrono>
#include <cmath>
#include <numbers>

#include "common/errors.h"
#include "common/random/streams.h"

namespace fsd::client {

double LearningRateAt(const config::TrainingConfig& config, std::int64_t step,
                      std::int64_t total_steps, double factor) {
  const double lr = config.lr * factor;
  switch (config.lr_schedule) {
    case config::LrSchedule::kConstant:
      return lr;
    case config::LrSchedule::kCosine: {
      if (total_steps <= 0) return lr;
      const double progress = static_cast<double>(step) / static_cast<double>(total_steps);
      return 0.5 * lr * (1.0 + std::cos(std::numbers::pi * progress));
    }
    default:
      throw InternalError("unknown learning-rate schedule");
  }
}

LocalTrainer::LocalTrainer(model::MultiExitNet model, const config::TrainingConfig& training,
                           const config::LossConfig& loss, data::Augmentation augment)
    : model_(std::move(model)),
      training_(training),
      loss_(loss),
      optimizer_(model_->parameters(), training.momentum, training.weight_decay),
      augment_(augment),
      parameters_(model_->parameters()),
      subnet_{model_->num_exits(), loss.exits == config::TrainedExits::kMain} {}

void LocalTrainer::SetSubnetwork(model::Subnetwork subnet) {
  if (subnet.exit == 0) subnet.exit = model_->num_exits();
  FSD_CHECK(subnet.exit >= 1 && subnet.exit <= model_->num_exits())
      << "sub-network of exit " << subnet.exit << " in a network of " << model_->num_exits();
  subnet_ = subnet;
}

void LocalTrainer::SetParameterMasks(std::vector<torch::Tensor> masks) {
  FSD_CHECK(masks.empty() || masks.size() == parameters_.size())
      << masks.size() << " masks for " << parameters_.size() << " parameters";
  masks_ = std::move(masks);
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < masks_.size(); ++i) {
    if (masks_[i].defined()) parameters_[i].mul_(masks_[i]);
  }
}

void LocalTrainer::BeginRun(std::int64_t num_samples, int epochs, double lr_factor) {
  FSD_CHECK(num_samples > 0) << "empty shard";
  FSD_CHECK(lr_factor > 0.0) << "learning-rate factor " << lr_factor;
  run_lr_factor_ = lr_factor;
  anchors_.clear();
  if (training_.proximal_mu > 0.0) {
    torch::NoGradGuard no_grad;
    for (const auto& parameter : parameters_) anchors_.push_back(parameter.detach().clone());
  }
  const std::int64_t steps_per_epoch =
      (num_samples + training_.batch_size - 1) / training_.batch_size;
  run_total_steps_ = steps_per_epoch * (epochs > 0 ? epochs : training_.epochs);
  run_step_ = 0;
  optimizer_.ResetState();
}

EpochStats LocalTrainer::TrainEpoch(const data::Dataset& dataset,
                                    std::span<const std::int64_t> indices,
                                    std::uint64_t shuffle_seed, const StepCallback& on_step,
                                    const torch::Tensor& soft_targets,
                                    SoftTargetAccumulator* summary) {
  FSD_CHECK(!indices.empty()) << "empty shard";
  FSD_CHECK(run_total_steps_ > 0) << "BeginRun() before TrainEpoch()";
  const auto n = static_cast<std::int64_t>(indices.size());
  const std::int64_t batch = training_.batch_size;
  if (!batch_images_.defined() || batch_images_.size(0) != batch ||
      batch_images_.sizes().slice(1) != dataset.images.sizes().slice(1)) {
    auto shape = dataset.images.sizes().vec();
    shape[0] = batch;
    batch_images_ = torch::empty(shape, torch::kFloat32);
    batch_labels_ = torch::empty({batch}, torch::kInt64);
  }

  // Shuffle the shard's indices (a view of the caller's list, then one permuted copy).
  auto generator = at::make_generator<at::CPUGeneratorImpl>(shuffle_seed);
  const auto shard =
      torch::from_blob(const_cast<std::int64_t*>(indices.data()), {n}, torch::kInt64);
  const auto order = shard.index_select(0, torch::randperm(n, generator, torch::kInt64));
  random::Engine augment_engine = random::StreamEngine(shuffle_seed, {"augment"});

  model_->train();
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t steps = (n + batch - 1) / batch;
  double loss_sum = 0.0;
  std::int64_t seen = 0;
  for (std::int64_t step = 0; step < steps; ++step) {
    const std::int64_t begin = step * batch;
    const std::int64_t size = std::min(batch, n - begin);
    auto images = batch_images_.narrow(0, 0, size);
    auto labels = batch_labels_.narrow(0, 0, size);
    const auto batch_indices = order.narrow(0, begin, size);
    torch::index_select_out(images, dataset.images, 0, batch_indices);
    torch::index_select_out(labels, dataset.labels, 0, batch_indices);
    if (augment_ == data::Augmentation::kCropFlip) {
      data::CropFlip(images, dataset.normalization, augment_engine);
    }

    // The sub-network's exits; its deepest is the teacher and feeds the summary.
    std::vector<torch::Tensor> logits;
    if (subnet_.head_only) {
      logits.push_back(model_->forward_to(images, subnet_.exit - 1));
    } else {
      logits = model_->ForwardExits(images, subnet_.exit);
    }
    auto loss = loss_(logits, labels, soft_targets);
    if (summary != nullptr) summary->Add(logits.back(), labels);
    optimizer_.ZeroGrad();
    loss.backward();
    if (!anchors_.empty()) {
      // FedProx: the gradient of μ/2·‖w − anchor‖², before masking.
      torch::NoGradGuard no_grad;
      for (std::size_t i = 0; i < parameters_.size(); ++i) {
        if (!parameters_[i].grad().defined()) continue;
        parameters_[i].mutable_grad().add_(parameters_[i] - anchors_[i], training_.proximal_mu);
      }
    }
    for (std::size_t i = 0; i < masks_.size(); ++i) {
      // Parameters outside the sub-network have no gradient.
      if (masks_[i].defined() && parameters_[i].grad().defined()) {
        parameters_[i].mutable_grad().mul_(masks_[i]);
      }
    }
    optimizer_.Step(LearningRateAt(training_, run_step_, run_total_steps_, run_lr_factor_));
    if (!masks_.empty()) {
      torch::NoGradGuard no_grad;
      for (std::size_t i = 0; i < masks_.size(); ++i) {
        if (masks_[i].defined()) parameters_[i].mul_(masks_[i]);
      }
    }
    ++run_step_;

    loss_sum += loss.item<double>() * static_cast<double>(size);
    seen += size;
    if (on_step) on_step(step + 1, steps, loss_sum / static_cast<double>(seen));
  }
  EpochStats stats;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.samples = seen;
  stats.steps = steps;
  stats.mean_loss = loss_sum / static_cast<double>(seen);
  stats.samples_per_s = stats.seconds > 0 ? static_cast<double>(seen) / stats.seconds : 0.0;
  return stats;
}

}  // namespace fsd::client
