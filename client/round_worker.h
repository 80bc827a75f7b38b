// RoundWorker: runs one client's local round — load the global vector (or,
// in distillation-only mode, the client's own weights) into its own model,
// train the round's sub-network (the rest keeps its values) with the announced
// T/α/β, global soft targets, sparsity mask and local epochs on the client's
// shard (pruned weights stay exactly zero), and return the trained values with
// the client's soft-target summary of the sub-network's deepest exit (built
// during the last local epoch). One worker (model + trainer) per
// thread; many clients share it one after another, so memory grows with the
// number of workers, not of clients. Thread-safety: one owner thread.
// Errors: InternalError when `round` does not fit the model (ClientSession
// validates peer messages before they get here).
#pragma once

#include <cstdint>
#include <span>

#include "client/client_session.h"
#include "client/trainer.h"
#include "common/model/flat_params.h"
#include "common/wire/messages.h"

namespace fsd::client {

class RoundWorker {
 public:
  RoundWorker(const model::ModelSpec& spec, const config::TrainingConfig& training,
              const config::LossConfig& loss,
              data::Augmentation augment = data::Augmentation::kNone);

  // Shuffling draws from the stream (training.seed, "local-shuffle", round,
  // client_index, epoch) (common/random/streams.h), so the result does not
  // depend on which worker runs the client.
  // `own_weights`: required when round.global_values is empty (distillation
  // only): read as the starting point, replaced by the trained weights, and
  // the result then carries no values.
  TrainedRound Run(const data::Dataset& dataset, std::span<const std::int64_t> indices,
                   std::uint64_t client_index, const LocalRound& round,
                   std::vector<float>* own_weights = nullptr);
  std::int64_t num_classes() const { return num_classes_; }

  std::uint64_t schema_fingerprint() const { return schema_.fingerprint(); }
  std::size_t dim() const { return static_cast<std::size_t>(schema_.total_numel()); }
  model::MultiExitNet& model() { return model_; }

 private:
  model::MultiExitNet model_;
  model::FlatSchema schema_;
  config::TrainingConfig training_;
  LocalTrainer trainer_;
  std::int64_t num_classes_;
  // The mask of the last round, as per-parameter tensors (rebuilt when it changes).
  std::shared_ptr<const aggregation::Mask> mask_;
  std::vector<torch::Tensor> parameter_masks_;
};

}  // namespace fsd::client
