#include "common/model/multi_exit_net.h"

#include "common/errors.h"
#include "common/model/scripted_block.h"

namespace fsd::model {
namespace {

namespace nn = torch::nn;

}  // namespace

// Placed after the first convolution: from there every convolution,
// BatchNorm, ReLU and max-pool runs its channels-last kernels, which in
// LibTorch 1.13 on CPU are 2-3x faster for these shapes than the NCHW ones
// (max-pool and ReLU backward especially). A one-channel input cannot carry
// the layout itself (its NCHW and NHWC strides coincide), hence the explicit
// switch.
torch::Tensor ChannelsLastImpl::forward(const torch::Tensor& x) {
  return x.contiguous(torch::MemoryFormat::ChannelsLast);
}

namespace {

// ReLU whose backward first brings the incoming gradient into the layout of
// the activation. MKLDNN convolution backward hands NCHW gradients to
// channels-last activations, and LibTorch's threshold_backward on mixed
// layouts falls back to a strided loop ~10x slower than the matched one.
struct LayoutMatchedRelu : torch::autograd::Function<LayoutMatchedRelu> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x) {
    auto y = torch::relu(x);
    context->save_for_backward({y});
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list grads) {
    const auto y = context->get_saved_variables()[0];
    const auto grad = grads[0].contiguous(y.suggest_memory_format());
    return {torch::threshold_backward(grad, y, /*threshold=*/0)};
  }
};

}  // namespace

torch::Tensor ReluImpl::forward(const torch::Tensor& x) {
  // Without gradients (evaluation, inference) the custom backward is moot,
  // and skipping the autograd node saves its per-call overhead.
  return torch::GradMode::is_enabled() ? LayoutMatchedRelu::apply(x) : torch::relu(x);
}

torch::Tensor GlobalAveragePoolImpl::forward(const torch::Tensor& x) { return x.mean({2, 3}); }

namespace {

// Appends Conv(3x3, pad 1, bias) - BatchNorm - ReLU to `block` and returns it.
nn::Sequential ConvBnRelu(nn::Sequential block, int in_channels, int out_channels, int stride,
                          bool switch_to_channels_last = false) {
  block->push_back(nn::Conv2d(
      nn::Conv2dOptions(in_channels, out_channels, /*kernel_size=*/3).stride(stride).padding(1)));
  if (switch_to_channels_last) block->push_back(ChannelsLast());
  block->push_back(nn::BatchNorm2d(out_channels));
  block->push_back(Relu());
  return block;
}

}  // namespace

const std::vector<std::pair<std::string, Architecture>>& ArchitectureNames() {
  static const std::vector<std::pair<std::string, Architecture>> names = {
      {"cnn3-s", Architecture::kCnn3S},      {"cnn3-m", Architecture::kCnn3M},
      {"mlp", Architecture::kMlp},           {"resnet8", Architecture::kResNet8},
      {"resnet20", Architecture::kResNet20}, {"resnet32", Architecture::kResNet32},
      {"resnet18", Architecture::kResNet18}, {"torchscript", Architecture::kTorchScript},
      {"char-gru", Architecture::kCharGru}};
  return names;
}

Architecture ParseArchitecture(std::string_view name) {
  std::string allowed;
  for (const auto& [known, architecture] : ArchitectureNames()) {
    if (name == known) return architecture;
    allowed += (allowed.empty() ? "" : ", ") + known;
  }
  throw ConfigError("model.architecture is '" + std::string(name) + "', allowed: " + allowed);
}

std::string ArchitectureName(Architecture architecture) {
  for (const auto& [name, known] : ArchitectureNames()) {
    if (known == architecture) return name;
  }
  throw InternalError("unknown architecture");
}

bool IsResidual(Architecture architecture) {
  return architecture == Architecture::kResNet8 || architecture == Architecture::kResNet20 ||
         architecture == Architecture::kResNet32 || architecture == Architecture::kResNet18;
}

ResidualShape ResidualShapeOf(Architecture architecture) {
  switch (architecture) {
    case Architecture::kResNet8:
      return {{16, 32, 64}, 1};
    case Architecture::kResNet20:
      return {{16, 32, 64}, 3};
    case Architecture::kResNet32:
      return {{16, 32, 64}, 5};
    case Architecture::kResNet18:
      return {{64, 128, 256, 512}, 2};
    default:
      throw InternalError("not a residual architecture: " + ArchitectureName(architecture));
  }
}

std::vector<int> ConvChannels(const ModelSpec& spec) {
  if (!spec.channels.empty()) return spec.channels;
  if (IsResidual(spec.architecture)) {
    const auto shape = ResidualShapeOf(spec.architecture);
    std::vector<int> widths;
    for (const int width : shape.widths) widths.insert(widths.end(), shape.blocks_per_stage, width);
    // An auxiliary exit's convolution widens to the next stage's width.
    widths.insert(widths.end(), shape.widths.begin() + 1, shape.widths.end());
    return widths;
  }
  switch (spec.architecture) {
    case Architecture::kCnn3S:
      return {16, 32, 64, 32, 64};
    case Architecture::kCnn3M:
      return {32, 64, 128, 64, 128};
    default:
      return {};
  }
}

SymbolEmbeddingImpl::SymbolEmbeddingImpl(int symbols, int dim) {
  embedding = register_module("embedding", nn::Embedding(symbols, dim));
}

torch::Tensor SymbolEmbeddingImpl::forward(const torch::Tensor& x) {
  // The indices are exact in float32; the text reader checked their range.
  return embedding->forward(x.reshape({x.size(0), -1}).to(torch::kInt64));
}

RecurrentLayerImpl::RecurrentLayerImpl(int in, int hidden) {
  gru = register_module("gru", nn::GRU(nn::GRUOptions(in, hidden).batch_first(true)));
}

torch::Tensor RecurrentLayerImpl::forward(const torch::Tensor& x) {
  return std::get<0>(gru->forward(x));
}

torch::Tensor LastStepImpl::forward(const torch::Tensor& x) { return x.select(1, x.size(1) - 1); }

ResidualBlockImpl::ResidualBlockImpl(int in_channels, int inner_channels, int out_channels,
                                     int stride)
    : stride(stride) {
  const auto conv = [](int in, int out, int kernel, int stride) {
    return nn::Conv2d(
        nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
  };
  conv1 = register_module("conv1", conv(in_channels, inner_channels, 3, stride));
  bn1 = register_module("bn1", nn::BatchNorm2d(inner_channels));
  conv2 = register_module("conv2", conv(inner_channels, out_channels, 3, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    shortcut = register_module(
        "shortcut",
        nn::Sequential(conv(in_channels, out_channels, 1, stride), nn::BatchNorm2d(out_channels)));
  }
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto h = bn2->forward(conv2->forward(relu_->forward(bn1->forward(conv1->forward(x)))));
  return relu_->forward(h + (shortcut ? shortcut->forward(x) : x));
}

MultiExitNetImpl::MultiExitNetImpl(const ModelSpec& spec) : spec_(spec) {
  if (spec.architecture == Architecture::kTorchScript) {
    BuildScripted();
    return;
  }
  const int classes = spec.num_classes;
  const int all_exits = IsResidual(spec.architecture)
                            ? static_cast<int>(ResidualShapeOf(spec.architecture).widths.size())
                        : spec.architecture == Architecture::kMlp     ? 2
                        : spec.architecture == Architecture::kCharGru ? RecurrentShape{}.layers
                                                                      : 3;
  const int exits = spec.exits > 0 ? spec.exits : all_exits;
  FSD_CHECK(exits <= all_exits) << exits << " exits of " << all_exits;
  switch (spec.architecture) {
    case Architecture::kCnn3S:
    case Architecture::kCnn3M: {
      // BENCHMARK.md: three conv stages; aux exits after stages 1 and 2.
      const auto c = ConvChannels(spec);
      FSD_CHECK(c.size() == 5) << "cnn3 needs 5 conv widths, got " << c.size();
      auto stage1 = ConvBnRelu(nn::Sequential(), spec.in_channels, c[0], 1,
                               /*switch_to_channels_last=*/true);
      stage1->push_back(nn::MaxPool2d(2));
      AddStage(stage1);
      auto exit1 = ConvBnRelu(nn::Sequential(), c[0], c[3], /*stride=*/2);
      exit1->push_back(GlobalAveragePool());
      exit1->push_back(nn::Linear(c[3], classes));
      AddExit(exit1);
      if (exits == 1) break;
      auto stage2 = ConvBnRelu(nn::Sequential(), c[0], c[1], 1);
      stage2->push_back(nn::MaxPool2d(2));
      AddStage(stage2);
      auto exit2 = ConvBnRelu(nn::Sequential(), c[1], c[4], /*stride=*/1);
      exit2->push_back(GlobalAveragePool());
      exit2->push_back(nn::Linear(c[4], classes));
      AddExit(exit2);
      if (exits == 2) break;
      AddStage(ConvBnRelu(nn::Sequential(), c[1], c[2], 1));
      AddExit(nn::Sequential(GlobalAveragePool(), nn::Linear(c[2], classes)));
      break;
    }
    case Architecture::kMlp: {
      const int inputs = spec.in_channels * spec.height * spec.width;
      AddStage(nn::Sequential(nn::Flatten(), nn::Linear(inputs, 256),
                              nn::ReLU(nn::ReLUOptions().inplace(true))));
      AddExit(nn::Sequential(nn::Linear(256, classes)));
      if (exits == 1) break;
      AddStage(nn::Sequential(nn::Linear(256, 128), nn::ReLU(nn::ReLUOptions().inplace(true))));
      AddExit(nn::Sequential(nn::Linear(128, classes)));
      break;
    }
    case Architecture::kResNet8:
    case Architecture::kResNet20:
    case Architecture::kResNet32:
    case Architecture::kResNet18:
      BuildResidual(exits);
      break;
    case Architecture::kCharGru:
      BuildCharGru(exits);
      break;
    default:
      throw InternalError("unknown architecture");
  }
}

void MultiExitNetImpl::BuildResidual(int exits) {
  const auto shape = ResidualShapeOf(spec_.architecture);
  const auto c = ConvChannels(spec_);
  const auto stages = shape.widths.size();
  const auto blocks = static_cast<std::size_t>(shape.blocks_per_stage);
  FSD_CHECK(c.size() == stages * blocks + stages - 1)
      << ArchitectureName(spec_.architecture) << " needs " << stages * blocks + stages - 1
      << " conv widths, got " << c.size();
  int channels = spec_.in_channels;
  for (std::size_t s = 0; s < stages && static_cast<int>(s) < exits; ++s) {
    const int width = shape.widths[s];
    nn::Sequential stage;
    if (s == 0) {  // the stem: conv3x3-BN-ReLU at the input's resolution
      stage->push_back(nn::Conv2d(nn::Conv2dOptions(channels, width, 3).padding(1).bias(false)));
      stage->push_back(ChannelsLast());
      stage->push_back(nn::BatchNorm2d(width));
      stage->push_back(Relu());
      channels = width;
    }
    for (std::size_t b = 0; b < blocks; ++b) {
      const int stride = s > 0 && b == 0 ? 2 : 1;
      stage->push_back(ResidualBlock(channels, c[s * blocks + b], width, stride));
      channels = width;
    }
    AddStage(stage);
    nn::Sequential head;
    if (s + 1 < stages) {  // auxiliary exit: conv3x3(stride 2)-BN-ReLU, pooled
      const int head_width = c[stages * blocks + s];
      head->push_back(
          nn::Conv2d(nn::Conv2dOptions(width, head_width, 3).stride(2).padding(1).bias(false)));
      head->push_back(nn::BatchNorm2d(head_width));
      head->push_back(Relu());
      head->push_back(GlobalAveragePool());
      head->push_back(nn::Linear(head_width, spec_.num_classes));
    } else {
      head->push_back(GlobalAveragePool());
      head->push_back(nn::Linear(width, spec_.num_classes));
    }
    AddExit(head);
  }
}

void MultiExitNetImpl::BuildCharGru(int exits) {
  const RecurrentShape shape;
  for (int k = 0; k < exits; ++k) {
    nn::Sequential stage;
    if (k == 0) stage->push_back(SymbolEmbedding(spec_.num_classes, shape.embedding));
    stage->push_back(RecurrentLayer(k == 0 ? shape.embedding : shape.hidden, shape.hidden));
    AddStage(stage);
    AddExit(nn::Sequential(LastStep(), nn::Linear(shape.hidden, spec_.num_classes)));
  }
}

void MultiExitNetImpl::BuildScripted() {
  ScriptedNetwork network =
      LoadScriptedNetwork(spec_.script_path, spec_.in_channels, spec_.height, spec_.width,
                          spec_.num_classes, spec_.script_sha256);
  spec_.script_sha256 = network.sha256;
  const int all_exits = static_cast<int>(network.stages.size());
  const int exits = spec_.exits > 0 ? spec_.exits : all_exits;
  if (exits > all_exits) {
    throw DataError(spec_.script_path + ": " + std::to_string(all_exits) + " exits, " +
                    std::to_string(exits) + " wanted");
  }
  for (int k = 0; k < exits; ++k) {
    AddStage(nn::Sequential(ScriptedBlock(network.stages[static_cast<std::size_t>(k)])));
    AddExit(nn::Sequential(ScriptedBlock(network.heads[static_cast<std::size_t>(k)])));
  }
}

void MultiExitNetImpl::AddStage(nn::Sequential stage) {
  stages_.push_back(register_module("stage" + std::to_string(stages_.size() + 1), stage));
}

void MultiExitNetImpl::AddExit(nn::Sequential head) {
  FSD_CHECK(!stages_.empty()) << "an exit needs a stage before it";
  heads_.push_back(register_module("exit" + std::to_string(heads_.size() + 1), head));
  head_after_stage_.push_back(static_cast<int>(stages_.size()) - 1);
}

std::vector<torch::Tensor> MultiExitNetImpl::forward(const torch::Tensor& x) {
  return ForwardExits(x, num_exits());
}

std::vector<torch::Tensor> MultiExitNetImpl::ForwardExits(const torch::Tensor& x, int count) {
  FSD_CHECK(count >= 1 && count <= num_exits()) << count << " exits of " << num_exits();
  const auto heads = static_cast<std::size_t>(count);
  std::vector<torch::Tensor> logits;
  logits.reserve(heads);
  torch::Tensor h = x;
  std::size_t next_head = 0;
  for (std::size_t s = 0; s < stages_.size() && next_head < heads; ++s) {
    h = stages_[s]->forward(h);
    while (next_head < heads && head_after_stage_[next_head] == static_cast<int>(s)) {
      logits.push_back(heads_[next_head]->forward(h));
      ++next_head;
    }
  }
  return logits;
}

torch::Tensor MultiExitNetImpl::forward_to(const torch::Tensor& x, int exit) {
  FSD_CHECK(exit >= 0 && exit < num_exits()) << "exit " << exit << " of " << num_exits();
  torch::Tensor h = x;
  for (int s = 0; s <= head_after_stage_[exit]; ++s) h = stages_[s]->forward(h);
  return heads_[exit]->forward(h);
}

std::pair<int, torch::Tensor> MultiExitNetImpl::ForwardUntilConfident(const torch::Tensor& x,
                                                                      double threshold) {
  torch::Tensor h = x;
  std::size_t next_head = 0;
  for (std::size_t s = 0; s < stages_.size(); ++s) {
    h = stages_[s]->forward(h);
    while (next_head < heads_.size() && head_after_stage_[next_head] == static_cast<int>(s)) {
      auto logits = heads_[next_head]->forward(h);
      const bool last = next_head + 1 == heads_.size();
      if (last || torch::softmax(logits, 1).max().item<double>() >= threshold) {
        return {static_cast<int>(next_head), logits};
      }
      ++next_head;
    }
  }
  throw InternalError("a network without exits");
}

std::int64_t MultiExitNetImpl::PathParameterCount(int exit) const {
  FSD_CHECK(exit >= 0 && exit < num_exits()) << "exit " << exit << " of " << num_exits();
  std::int64_t count = 0;
  for (int s = 0; s <= head_after_stage_[exit]; ++s) {
    for (const auto& p : stages_[s]->parameters()) count += p.numel();
  }
  for (const auto& p : heads_[exit]->parameters()) count += p.numel();
  return count;
}

}  // namespace fsd::model
