// SGD with momentum and weight decay, updating parameters in place without
// per-step allocations (PyTorch semantics: dampening 0, no Nesterov):
//   g ← grad + wd·p;  buf ← m·buf + g (buf = g on the first step);  p ← p − lr·buf
// Thread-safety: one instance per model, used by the thread that owns the model.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace fsd::client {

class SgdMomentum {
 public:
  // Holds references to `parameters` (shared tensor storage; no copy).
  SgdMomentum(std::vector<torch::Tensor> parameters, double momentum, double weight_decay);

  // Applies one update with learning rate `lr` to every parameter that has a gradient.
  void Step(double lr);
  // Drops gradients (set to none), so the next backward writes fresh ones.
  void ZeroGrad();
  // Forgets the momentum buffers (a new local run starts from rest).
  void ResetState();

 private:
  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> momentum_buffers_;
  double momentum_;
  double weight_decay_;
};

}  // namespace fsd::client
