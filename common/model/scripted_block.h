// TorchScript multi-exit networks: a module a user wrote in PyTorch and saved
// with torch.jit.script(...).save(...), federated by fsd (docs/MODELS.md).
//
// The contract: the module has a ModuleList `stages` and a ModuleList `heads`
// of the same length (1..16); exit k is heads[k](stages[k](…stages[0](x))).
// fsd composes the forward passes itself, so sub-networks, forward_to(k) and
// anytime exits work as on its own architectures. LoadScriptedNetwork checks
// the contract before fsd uses a byte of it. A TorchScript file is code:
// nothing in it is trusted beyond what LibTorch's loader checks, so it must
// come from a trusted source (its SHA-256 is part of the model's fingerprint).
//
// ScriptedBlock wraps one stage or head as a torch::nn::Module whose
// parameters and buffers are the script's own tensors (shared, not copied),
// registered under the script's names in its registration order, so
// flattening, optimizers and checkpoints see them like any other module's.
// Thread-safety: a module is owned by one thread at a time. Errors:
// DataError naming the file for a file that breaks the contract; IoError
// when it cannot be read.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace fsd::model {

class MultiExitNetImpl;

class ScriptedBlockImpl : public torch::nn::Module {
 public:
  explicit ScriptedBlockImpl(torch::jit::Module script);
  torch::Tensor forward(const torch::Tensor& x);
  void train(bool on = true) override;
  // The wrapped module (its tensors are this module's).
  const torch::jit::Module& script() const { return script_; }

 private:
  torch::jit::Module script_;
};
TORCH_MODULE(ScriptedBlock);

struct ScriptedNetwork {
  std::vector<torch::jit::Module> stages;
  std::vector<torch::jit::Module> heads;
  std::string sha256;  // of the file, hex
};

// Loads `path` and checks the contract: `stages` and `heads` exist and have
// the same length, every parameter and buffer is finite, and on a probe of
// two images of [in_channels, height, width] every exit returns finite
// [2, num_classes] logits. `expected_sha256` (hex; empty: any) must match
// the file's digest.
ScriptedNetwork LoadScriptedNetwork(const std::string& path, int in_channels, int height, int width,
                                    int num_classes, const std::string& expected_sha256);

// Writes the stages and heads of `net` (built from a TorchScript file, and
// possibly truncated: MultiExitNet's spec.exits) as one TorchScript module
// honouring the contract above, with the network's current tensors — what
// fsd-export writes for the LibTorch runtime. InternalError for a network
// of another architecture.
void SaveScriptedNetwork(const MultiExitNetImpl& net, const std::string& path);

}  // namespace fsd::model
