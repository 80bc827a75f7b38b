// MultiExitNet: a backbone of stages with a classifier exit attached after
// some stages; the deepest exit is the main classifier. Architectures: cnn3-s,
// cnn3-m (BENCHMARK.md), an MLP with one auxiliary exit, and residual networks
// with an exit after every stage (He et al. 2016; "Be Your Own Teacher",
// Zhang et al. 2019): resnet8/20/32 (three stages of 1/3/5 basic blocks,
// 16/32/64 channels) and resnet18 (four stages of 2 blocks, 64…512 channels,
// the DepthFL setting). char-gru, for the text source (common/data/
// text_file.h): an embedding of the window's symbols and three stacked GRU
// layers with an exit after each, reading the layer's last step — the next
// symbol's prediction. Input channels and size come from the spec (the
// data), never from the architecture's name. "torchscript" builds the network from a
// user's TorchScript file (common/model/scripted_block.h).
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
#include <utility>
#include <vector>

namespace fsd::model {

enum class Architecture {
  kCnn3S,
  kCnn3M,
  kMlp,
  kResNet8,
  kResNet20,
  kResNet32,
  kResNet18,
  kTorchScript,
  kCharGru
};

// Every architecture with its configuration name, in documentation order.
const std::vector<std::pair<std::string, Architecture>>& ArchitectureNames();
// A name of ArchitectureNames(); throws ConfigError naming the allowed values.
Architecture ParseArchitecture(std::string_view name);
std::string ArchitectureName(Architecture architecture);
bool IsResidual(Architecture architecture);

struct ModelSpec {
  Architecture architecture = Architecture::kCnn3S;
  int in_channels = 1;
  int height = 28;
  int width = 28;
  int num_classes = 10;
  // Deployment variants (client/export.h): the widths of the slimmable
  // convolutions (empty: the architecture's widths; see ConvChannels), and the
  // number of exits kept (0: all; k: the network truncated after exit k).
  std::vector<int> channels;
  int exits = 0;
  // torchscript: the file, and its SHA-256 (hex). An empty digest is filled
  // in when the network is built; a given one must match the file.
  std::string script_path;
  std::string script_sha256;
};

// The widths of a network's slimmable convolutions: spec.channels, or the
// architecture's default. cnn3: the outputs of {stage1, stage2, stage3,
// exit1, exit2}. Residual: the inner width of every block (its first
// convolution's outputs; the block's output keeps the stage's width so that
// the residual addition stays consistent), shallow to deep, then the
// convolution of every auxiliary exit. mlp: none.
std::vector<int> ConvChannels(const ModelSpec& spec);

// A residual network's shape: the width of every stage and the basic blocks
// per stage. InternalError for a non-residual architecture.
struct ResidualShape {
  std::vector<int> widths;
  int blocks_per_stage = 0;
};
ResidualShape ResidualShapeOf(Architecture architecture);

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

// The char-gru parts. SymbolEmbedding reads [N, 1, 1, L] symbol indices
// held as floats (the text source's samples) and embeds them: [N, L, dim].
struct SymbolEmbeddingImpl : torch::nn::Module {
  SymbolEmbeddingImpl(int symbols, int dim);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Embedding embedding{nullptr};
};
TORCH_MODULE(SymbolEmbedding);
// One GRU layer over the sequence: [N, L, in] → [N, L, hidden].
struct RecurrentLayerImpl : torch::nn::Module {
  RecurrentLayerImpl(int in, int hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::GRU gru{nullptr};
};
TORCH_MODULE(RecurrentLayer);
// [N, L, H] → [N, H]: the last step, which has read the whole window.
struct LastStepImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(LastStep);

// The char-gru shape: embedding width, GRU width, layers (= exits).
struct RecurrentShape {
  int embedding = 8;
  int hidden = 128;
  int layers = 3;
};

// A basic residual block: conv3x3(stride)-BN-ReLU-conv3x3-BN plus the input
// — through a 1x1 convolution with BatchNorm (the projection shortcut) when
// the stride or the width changes — then ReLU. Convolutions have no bias (a
// BatchNorm follows each). `inner` is the first convolution's width.
struct ResidualBlockImpl : torch::nn::Module {
  ResidualBlockImpl(int in_channels, int inner_channels, int out_channels, int stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Sequential shortcut{nullptr};  // conv1x1(stride) + BN; null: identity
  int stride = 1;

 private:
  Relu relu_;
};
TORCH_MODULE(ResidualBlock);

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
  // Stages and exits of a residual architecture, the first `exits` of them.
  void BuildResidual(int exits);
  // Stages and exits of char-gru, the first `exits` of them.
  void BuildCharGru(int exits);
  // Stages and exits of the TorchScript file spec_.script_path.
  void BuildScripted();
  void AddStage(torch::nn::Sequential stage);
  void AddExit(torch::nn::Sequential head);  // attaches after the last added stage

  ModelSpec spec_;
  std::vector<torch::nn::Sequential> stages_;
  std::vector<torch::nn::Sequential> heads_;
  std::vector<int> head_after_stage_;  // exit k reads the output of stages_[head_after_stage_[k]]
};
TORCH_MODULE(MultiExitNet);

}  // namespace fsd::model
