#include "client/soft_target_summary.h"

#include "common/errors.h"

namespace fsd::client {

SoftTargetAccumulator::SoftTargetAccumulator(std::int64_t num_classes)
    : sums_(torch::zeros({num_classes, num_classes}, torch::kFloat64)),
      counts_(torch::zeros({num_classes}, torch::kInt64)) {}

void SoftTargetAccumulator::Add(const torch::Tensor& deepest_logits, const torch::Tensor& labels) {
  FSD_CHECK(deepest_logits.dim() == 2 && deepest_logits.size(1) == sums_.size(0) &&
            labels.size(0) == deepest_logits.size(0))
      << "logits " << deepest_logits.sizes() << " labels " << labels.sizes();
  torch::NoGradGuard no_grad;
  sums_.index_add_(0, labels, deepest_logits.detach().to(torch::kFloat64));
  counts_.index_add_(0, labels, torch::ones_like(labels));
}

aggregation::SoftTargetSummary SoftTargetAccumulator::Finish() const {
  const auto classes = sums_.size(0);
  aggregation::SoftTargetSummary summary;
  const auto counts = counts_.contiguous();
  summary.counts.assign(counts.data_ptr<std::int64_t>(), counts.data_ptr<std::int64_t>() + classes);
  const auto means =
      (sums_ / counts_.clamp_min(1).to(torch::kFloat64).unsqueeze(1)).to(torch::kFloat32).contiguous();
  summary.mean_logits.assign(means.data_ptr<float>(), means.data_ptr<float>() + classes * classes);
  return summary;
}

}  // namespace fsd::client
