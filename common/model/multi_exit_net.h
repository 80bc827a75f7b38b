// MultiExitNet: a backbone of stages with a classifier exit attached after
// some stages; the deepest exit is the main classifier. Architectures: cnn3-s,
// cnn3-m (BENCHMARK.md) and an MLP with one auxiliary exit.
//
// Stage k is first read by exit k (one exit per stage), and sub-modules are
// named "stageK" and "exitK": model::LayoutOf derives the sub-networks of
// heterogeneous clients (common/model/layout.h) from those names.
// Exit order is shallow to deep everywhere (forward's result, metrics' `acc`
// arrays, forward_to's index). Registration order of sub-modules is the order
// of the flat parameter vector (common/model/flat_params.h), so it never changes
// for an existing architecture.
// Thread-safety: a module is owned by one thread at a time (like any
// torch::nn::Module). Errors: ConfigError for unknown architecture names,
// InternalError for an out-of-range exit index.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fsd::model {

enum class Architecture { kCnn3S, kCnn3M, kMlp };

// "cnn3-s" | "cnn3-m" | "mlp"; throws ConfigError naming the allowed values.
Architecture ParseArchitecture(std::string_view name);
std::string ArchitectureName(Architecture architecture);

struct ModelSpec {
  Architecture architecture = Architecture::kCnn3S;
  int in_channels = 1;
  int height = 28;
  int width = 28;
  int num_classes = 10;
  // Deployment variants (client/export.h): output channels of the
  // convolutions {stage1, stage2, stage3, exit1, exit2} of a cnn3 network
  // (empty: the architecture's widths), and the number of exits kept (0: all;
  // k: the network truncated after exit k).
  std::vector<int> channels;
  int exits = 0;
};

// The conv widths a spec builds: spec.channels, or the architecture's default.
std::vector<int> ConvChannels(const ModelSpec& spec);

// The parameter-free layers of the cnn3 blocks, as named modules so that an
// exporter can tell them apart (client/export.h).
// Switches activations to channels-last (NHWC) layout, values unchanged.
struct ChannelsLastImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(ChannelsLast);
// ReLU (with a backward that matches the activation's memory layout).
struct ReluImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(Relu);
// [N, C, H, W] → [N, C]: the mean over H and W.
struct GlobalAveragePoolImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(GlobalAveragePool);

class MultiExitNetImpl : public torch::nn::Module {
 public:
  explicit MultiExitNetImpl(const ModelSpec& spec);

  // Logits of every exit, shallow to deep; each [batch, num_classes].
  std::vector<torch::Tensor> forward(const torch::Tensor& x);

  // Logits of the first `count` exits, shallow to deep, computing only the
  // stages they read (a client that trains the sub-network of exit `count`).
  std::vector<torch::Tensor> ForwardExits(const torch::Tensor& x, int count);

  // Logits of exit `exit` only, computing just the stages it depends on.
  torch::Tensor forward_to(const torch::Tensor& x, int exit);

  int num_exits() const { return static_cast<int>(heads_.size()); }
  int main_exit() const { return num_exits() - 1; }
  const ModelSpec& spec() const { return spec_; }

  // Number of trainable parameters on the path to exit `exit`: the size of the
  // model one would deploy to serve that exit alone.
  std::int64_t PathParameterCount(int exit) const;

  // Anytime inference of one sample: computes exits shallow to deep and stops
  // at the first whose max softmax probability is ≥ threshold (else the
  // deepest). Returns (exit index, its logits).
  std::pair<int, torch::Tensor> ForwardUntilConfident(const torch::Tensor& x, double threshold);

 private:
  void AddStage(torch::nn::Sequential stage);
  void AddExit(torch::nn::Sequential head);  // attaches after the last added stage

  ModelSpec spec_;
  std::vector<torch::nn::Sequential> stages_;
  std::vector<torch::nn::Sequential> heads_;
  std::vector<int> head_after_stage_;  // exit k reads the output of stages_[head_after_stage_[k]]
};
TORCH_MODULE(MultiExitNet);

}  // namespace fsd::model
