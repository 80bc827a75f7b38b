// SoftTargetAccumulator: builds a client's soft-target summary (per class c:
// n_c and the mean deepest-exit logits of its class-c samples) from the
// logits the training loop computes anyway, so the summary costs no extra
// forward pass. It therefore describes the model as it was trained through
// the last local epoch rather than its final weights — the convention of
// federated distillation, where clients report logits seen during training.
// Thread-safety: one owner thread. Errors: InternalError on shape mismatch.
#pragma once

#include <torch/torch.h>

#include "aggregation/soft_targets.h"

namespace fsd::client {

class SoftTargetAccumulator {
 public:
  explicit SoftTargetAccumulator(std::int64_t num_classes);
  // `deepest_logits` [B, C] (detached here), `labels` int64 [B].
  void Add(const torch::Tensor& deepest_logits, const torch::Tensor& labels);
  aggregation::SoftTargetSummary Finish() const;

 private:
  torch::Tensor sums_;    // [C, C] double
  torch::Tensor counts_;  // [C] int64
};

}  // namespace fsd::client
