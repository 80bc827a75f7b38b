#include "client/round_worker.h"

#include "common/errors.h"
#include "common/random/streams.h"

namespace fsd::client {

RoundWorker::RoundWorker(const model::ModelSpec& spec, const config::TrainingConfig& training,
                         const config::LossConfig& loss, data::Augmentation augment)
    : model_(spec),
      schema_(model::FlatSchema::Of(*model_)),
      training_(training),
      trainer_(model_, training, loss, augment),
      num_classes_(spec.num_classes) {}

TrainedRound RoundWorker::Run(const data::Dataset& dataset, std::span<const std::int64_t> indices,
                              std::uint64_t client_index, const LocalRound& round,
                              std::vector<float>* own_weights) {
  const bool distillation_only = round.global_values.empty();
  if (distillation_only) {
    FSD_CHECK(own_weights != nullptr) << "distillation-only round without the client's weights";
    model::Unflatten(*own_weights, schema_, *model_);
  } else {
    model::Unflatten(round.global_values, schema_, *model_);
  }
  if (round.mask != mask_) {
    mask_ = round.mask;
    parameter_masks_.clear();
    if (mask_) {
      // Parameters come first in the flat vector, in registration order.
      FSD_CHECK(mask_->size() == dim()) << "mask of " << mask_->size() << " for " << dim();
      const auto layout = model::LayoutOf(schema_);
      for (std::size_t i = 0; i < model_->parameters().size(); ++i) {
        const auto& entry = schema_.entries()[i];
        if (!layout[i].prunable) {
          parameter_masks_.emplace_back();
          continue;
        }
        auto bits = torch::from_blob(const_cast<std::uint8_t*>(mask_->data()) + entry.offset,
                                     {entry.numel}, torch::kUInt8);
        parameter_masks_.push_back(bits.to(torch::kFloat32).reshape(entry.shape));
      }
    }
  }
  trainer_.SetParameterMasks(parameter_masks_);
  trainer_.SetSubnetwork(round.subnet);
  torch::Tensor soft_targets;
  if (!round.soft_targets.empty()) {
    FSD_CHECK(round.soft_targets.size() == static_cast<std::size_t>(num_classes_ * num_classes_))
        << round.soft_targets.size() << " soft targets for " << num_classes_ << " classes";
    soft_targets = torch::from_blob(const_cast<float*>(round.soft_targets.data()),
                                    {num_classes_, num_classes_}, torch::kFloat32)
                       .clone();
  }
  trainer_.loss().set_temperature(round.temperature);
  trainer_.loss().set_alpha(round.alpha);
  trainer_.loss().set_beta(round.beta);
  const int epochs = static_cast<int>(std::max<std::uint32_t>(1, round.local_epochs));
  trainer_.BeginRun(static_cast<std::int64_t>(indices.size()), epochs, round.lr_factor);
  SoftTargetAccumulator summary(num_classes_);
  double loss_sum = 0.0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const std::uint64_t seed =
        random::DeriveSeed(training_.seed, {.name = "local-shuffle",
                                            .round = round.round,
                                            .client = client_index,
                                            .epoch = static_cast<std::uint64_t>(epoch)});
    const bool last = epoch + 1 == epochs;
    loss_sum +=
        trainer_.TrainEpoch(dataset, indices, seed, {}, soft_targets, last ? &summary : nullptr)
            .mean_loss;
  }
  TrainedRound trained;
  trained.sample_count = static_cast<std::int64_t>(indices.size());
  trained.train_loss = loss_sum / epochs;
  auto values = model::Flatten(*model_, schema_);
  if (distillation_only) {
    *own_weights = std::move(values);
  } else {
    trained.values = std::move(values);
  }
  trained.summary = summary.Finish();
  return trained;
}

}  // namespace fsd::client
