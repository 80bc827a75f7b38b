#include "client/round_worker.h"

#include "common/errors.h"

namespace fsd::client {

RoundWorker::RoundWorker(const model::ModelSpec& spec, const config::TrainingConfig& training,
                         const config::LossConfig& loss)
    : model_(spec),
      schema_(model::FlatSchema::Of(*model_)),
      training_(training),
      trainer_(model_, training, loss),
      num_classes_(spec.num_classes) {}

wire::Update RoundWorker::Run(const data::Dataset& dataset, std::span<const std::int64_t> indices,
                              std::uint64_t round, std::uint64_t client_index,
                              const wire::RoundStart& start, std::vector<float>* own_weights) {
  const bool distillation_only = start.global_values.empty();
  if (distillation_only) {
    FSD_CHECK(own_weights != nullptr) << "distillation-only round without the client's weights";
    model::Unflatten(*own_weights, schema_, *model_);
  } else {
    model::Unflatten(start.global_values, schema_, *model_);
  }
  torch::Tensor soft_targets;
  if (!start.soft_targets.empty()) {
    FSD_CHECK(start.soft_targets.size() == static_cast<std::size_t>(num_classes_ * num_classes_))
        << start.soft_targets.size() << " soft targets for " << num_classes_ << " classes";
    soft_targets = torch::from_blob(const_cast<float*>(start.soft_targets.data()),
                                    {num_classes_, num_classes_}, torch::kFloat32)
                       .clone();
  }
  trainer_.loss().set_temperature(start.temperature);
  trainer_.loss().set_alpha(start.alpha);
  trainer_.loss().set_beta(start.beta);
  const int epochs = static_cast<int>(std::max<std::uint32_t>(1, start.local_epochs));
  trainer_.BeginRun(static_cast<std::int64_t>(indices.size()), epochs);
  SoftTargetAccumulator summary(num_classes_);
  double loss_sum = 0.0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const std::uint64_t seed = training_.seed * 1000003ULL + round * 1000ULL + client_index +
                               static_cast<std::uint64_t>(epoch) * 7919ULL;
    const bool last = epoch + 1 == epochs;
    loss_sum += trainer_.TrainEpoch(dataset, indices, seed, {}, soft_targets,
                                    last ? &summary : nullptr)
                    .mean_loss;
  }
  wire::Update update;
  update.sample_count = static_cast<std::int64_t>(indices.size());
  update.train_loss = loss_sum / epochs;
  auto trained = model::Flatten(*model_, schema_);
  if (distillation_only) {
    *own_weights = std::move(trained);
  } else {
    update.values = std::move(trained);
  }
  auto built = summary.Finish();
  update.summary_counts = std::move(built.counts);
  update.summary_logits = std::move(built.mean_logits);
  return update;
}

}  // namespace fsd::client
