#include "client/sgd.h"

namespace fsd::client {

SgdMomentum::SgdMomentum(std::vector<torch::Tensor> parameters, double momentum,
                         double weight_decay)
    : parameters_(std::move(parameters)),
      momentum_buffers_(parameters_.size()),
      momentum_(momentum),
      weight_decay_(weight_decay) {}

void SgdMomentum::Step(double lr) {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    auto& p = parameters_[i];
    auto& grad = p.mutable_grad();
    if (!grad.defined()) continue;
    if (weight_decay_ != 0.0) grad.add_(p, weight_decay_);  // the gradient is ours to overwrite
    torch::Tensor direction = grad;
    if (momentum_ != 0.0) {
      auto& buffer = momentum_buffers_[i];
      if (!buffer.defined()) {
        buffer = grad.clone();
      } else {
        buffer.mul_(momentum_).add_(grad);
      }
      direction = buffer;
    }
    p.add_(direction, -lr);
  }
}

void SgdMomentum::ZeroGrad() {
  for (auto& p : parameters_) p.mutable_grad().reset();
}

void SgdMomentum::ResetState() {
  for (auto& buffer : momentum_buffers_) buffer.reset();
}

}  // namespace fsd::client
