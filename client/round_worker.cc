#include "client/round_worker.h"

namespace fsd::client {

RoundWorker::RoundWorker(const model::ModelSpec& spec, const config::TrainingConfig& training,
                         const config::LossConfig& loss)
    : model_(spec),
      schema_(model::FlatSchema::Of(*model_)),
      training_(training),
      trainer_(model_, training, loss) {}

wire::Update RoundWorker::Run(const data::Dataset& dataset, std::span<const std::int64_t> indices,
                              std::uint64_t round, std::uint64_t client_index,
                              const wire::RoundStart& start) {
  model::Unflatten(start.global_values, schema_, *model_);
  trainer_.loss().set_temperature(start.temperature);
  trainer_.loss().set_alpha(start.alpha);
  trainer_.loss().set_beta(start.beta);
  const int epochs = static_cast<int>(std::max<std::uint32_t>(1, start.local_epochs));
  trainer_.BeginRun(static_cast<std::int64_t>(indices.size()), epochs);
  double loss_sum = 0.0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const std::uint64_t seed = training_.seed * 1000003ULL + round * 1000ULL + client_index +
                               static_cast<std::uint64_t>(epoch) * 7919ULL;
    loss_sum += trainer_.TrainEpoch(dataset, indices, seed).mean_loss;
  }
  wire::Update update;
  update.sample_count = static_cast<std::int64_t>(indices.size());
  update.train_loss = loss_sum / epochs;
  update.values = model::Flatten(*model_, schema_);
  return update;
}

}  // namespace fsd::client
