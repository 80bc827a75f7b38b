// RoundWorker: runs one client's local round — load the global vector into
// its own model, train with the announced T/α/β and local epochs on the
// client's shard, and return the UPDATE. One worker (model + trainer) per
// thread; many clients share it one after another, so memory grows with the
// number of workers, not of clients. Thread-safety: one owner thread.
#pragma once

#include <cstdint>
#include <span>

#include "client/trainer.h"
#include "common/model/flat_params.h"
#include "common/wire/messages.h"

namespace fsd::client {

class RoundWorker {
 public:
  RoundWorker(const model::ModelSpec& spec, const config::TrainingConfig& training,
              const config::LossConfig& loss);

  // Shuffling is seeded by (training.seed, round, client_index), so the result
  // does not depend on which worker runs the client.
  wire::Update Run(const data::Dataset& dataset, std::span<const std::int64_t> indices,
                   std::uint64_t round, std::uint64_t client_index, const wire::RoundStart& start);

  std::uint64_t schema_fingerprint() const { return schema_.fingerprint(); }
  std::size_t dim() const { return static_cast<std::size_t>(schema_.total_numel()); }
  model::MultiExitNet& model() { return model_; }

 private:
  model::MultiExitNet model_;
  model::FlatSchema schema_;
  config::TrainingConfig training_;
  LocalTrainer trainer_;
};

}  // namespace fsd::client
