#include "client/export.h"

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/errors.h"
#include "edge/shapes.h"

namespace fsd::client {
namespace {

// A slimmable convolution: its BatchNorm's |γ| chooses the output channels
// kept, and the layers that read those channels (`readers`: convolutions and
// linear layers, by parameter prefix) lose the matching inputs.
struct SlimGroup {
  std::string conv;
  std::string norm;
  std::vector<std::string> readers;
};

// The slimmable convolutions of `spec`'s full network, in ConvChannels order
// (none for an MLP or a TorchScript network).
std::vector<SlimGroup> SlimGroups(const model::ModelSpec& spec) {
  if (spec.architecture == model::Architecture::kMlp ||
      spec.architecture == model::Architecture::kTorchScript ||
      spec.architecture == model::Architecture::kCharGru) {
    return {};
  }
  if (model::IsResidual(spec.architecture)) {
    // The inner channels of every block (conv1's outputs, read by conv2 only),
    // so block outputs, shortcuts and additions keep the stage's width.
    const auto shape = model::ResidualShapeOf(spec.architecture);
    std::vector<SlimGroup> groups;
    for (std::size_t s = 0; s < shape.widths.size(); ++s) {
      const int first_block = s == 0 ? 4 : 0;  // stage 1 starts with the stem's 4 layers
      for (int b = 0; b < shape.blocks_per_stage; ++b) {
        const std::string block =
            "stage" + std::to_string(s + 1) + "." + std::to_string(first_block + b);
        groups.push_back({block + ".conv1", block + ".bn1", {block + ".conv2"}});
      }
    }
    for (std::size_t k = 1; k < shape.widths.size(); ++k) {
      const std::string head = "exit" + std::to_string(k);
      groups.push_back({head + ".0", head + ".1", {head + ".4"}});
    }
    return groups;
  }
  return {{"stage1.0", "stage1.2", {"stage2.0", "exit1.0"}},
          {"stage2.0", "stage2.1", {"stage3.0", "exit2.0"}},
          {"stage3.0", "stage3.1", {"exit3.1"}},
          {"exit1.0", "exit1.1", {"exit1.4"}},
          {"exit2.0", "exit2.1", {"exit2.4"}}};
}

// Indices of the `keep` channels with the largest |γ|, in ascending order.
torch::Tensor StrongestChannels(const torch::Tensor& gamma, std::int64_t keep) {
  const auto top = std::get<1>(gamma.abs().topk(keep));
  return std::get<0>(top.sort());
}

}  // namespace

model::MultiExitNet ExportExit(model::MultiExitNet& full, int exit, double keep_channels) {
  const model::ModelSpec& spec = full->spec();
  if (exit < 0 || exit >= full->num_exits()) {
    throw ConfigError("exit " + std::to_string(exit + 1) +
                      " does not exist: the model has exits 1.." +
                      std::to_string(full->num_exits()));
  }
  if (!(keep_channels > 0.0 && keep_channels <= 1.0)) {
    throw ConfigError("--keep-channels is " + std::to_string(keep_channels) + ", allowed (0, 1]");
  }
  const bool slim = keep_channels < 1.0;
  if (slim && spec.architecture == model::Architecture::kTorchScript) {
    throw ConfigError(
        "--keep-channels: a TorchScript network cannot be slimmed (fsd does not know which "
        "layers read which channels); export it at full width");
  }
  if (slim && spec.architecture == model::Architecture::kCharGru) {
    throw ConfigError(
        "--keep-channels: char-gru cannot be slimmed (channel slimming removes convolution "
        "channels by their BatchNorm scale; a GRU has neither); export it at full width");
  }
  if (slim && spec.architecture == model::Architecture::kMlp) {
    throw ConfigError(
        "--keep-channels needs a convolutional architecture (cnn3-s, cnn3-m, resnet8/20/32/18)");
  }
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> source;
  for (const auto& item : full->named_parameters()) source[item.key()] = item.value();
  for (const auto& item : full->named_buffers()) source[item.key()] = item.value();

  model::ModelSpec small = spec;
  small.exits = exit + 1;
  const std::vector<SlimGroup> groups = SlimGroups(spec);
  std::vector<torch::Tensor> kept;  // per group: kept output channels
  if (!groups.empty()) {
    const auto widths = model::ConvChannels(spec);
    FSD_CHECK(widths.size() == groups.size()) << widths.size() << " widths, " << groups.size();
    small.channels.clear();
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto keep = std::max<std::int64_t>(
          1, static_cast<std::int64_t>(std::ceil(keep_channels * widths[g])));
      // A truncated network lacks the deeper groups: they keep their width.
      const auto norm = source.find(groups[g].norm + ".weight");
      kept.push_back(norm == source.end() ? torch::arange(widths[g])
                                          : StrongestChannels(norm->second, keep));
      small.channels.push_back(static_cast<int>(kept.back().numel()));
    }
  }
  model::MultiExitNet out(small);
  out->eval();

  // Which kept sets select dimension 0 (outputs) and 1 (inputs) of a tensor.
  const auto selection = [&](const std::string& prefix)
      -> std::pair<std::optional<torch::Tensor>, std::optional<torch::Tensor>> {
    std::optional<torch::Tensor> outputs, inputs;
    for (std::size_t g = 0; g < kept.size(); ++g) {
      if (prefix == groups[g].conv || prefix == groups[g].norm) outputs = kept[g];
      for (const auto& reader : groups[g].readers) {
        if (prefix == reader) inputs = kept[g];
      }
    }
    return {outputs, inputs};
  };
  const auto copy_into = [&](const std::string& name, torch::Tensor& target) {
    torch::Tensor value = source.at(name);
    const auto dot = name.rfind('.');
    const std::string leaf = name.substr(dot + 1);
    auto [outputs, inputs] = selection(name.substr(0, dot));
    if (outputs && value.dim() >= 1 && leaf != "num_batches_tracked") {
      value = value.index_select(0, *outputs);
    }
    if (inputs && value.dim() >= 2) value = value.index_select(1, *inputs);
    FSD_CHECK(value.sizes() == target.sizes())
        << name << ": " << value.sizes() << " does not fit " << target.sizes();
    target.copy_(value);
  };
  for (auto& item : out->named_parameters()) copy_into(item.key(), item.value());
  for (auto& item : out->named_buffers()) copy_into(item.key(), item.value());
  return out;
}

namespace {

std::vector<float> ToVector(const torch::Tensor& t) {
  const auto c = t.contiguous().to(torch::kFloat32);
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

// A convolution as an edge layer (weights [out][kh][kw][in], a zero bias
// when it has none).
edge::Layer ConvLayer(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  edge::Layer layer;
  layer.kind = edge::LayerKind::kConv2d;
  layer.in_channels = static_cast<std::uint32_t>(o.in_channels());
  layer.out_channels = static_cast<std::uint32_t>(o.out_channels());
  layer.kernel = static_cast<std::uint32_t>((*o.kernel_size())[0]);
  layer.stride = static_cast<std::uint32_t>((*o.stride())[0]);
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  FSD_CHECK(padding != nullptr && (**padding)[0] == (**padding)[1] &&
            (*o.kernel_size())[0] == (*o.kernel_size())[1] && (*o.stride())[0] == (*o.stride())[1])
      << "only square kernels, strides and explicit symmetric padding export";
  layer.padding = static_cast<std::uint32_t>((**padding)[0]);
  layer.weights = ToVector(conv.weight.permute({0, 2, 3, 1}));
  layer.bias =
      conv.bias.defined() ? ToVector(conv.bias) : std::vector<float>(layer.out_channels, 0.0f);
  return layer;
}

// Folds a BatchNorm (running statistics) into the convolution before it.
void FoldBatchNorm(const torch::nn::BatchNorm2dImpl& norm, edge::Layer& conv) {
  const auto scale = norm.weight / torch::sqrt(norm.running_var + norm.options.eps());
  const auto folded_bias = (torch::tensor(conv.bias) - norm.running_mean) * scale + norm.bias;
  auto weights = torch::tensor(conv.weights).view({conv.out_channels, -1}) * scale.unsqueeze(1);
  conv.weights = ToVector(weights);
  conv.bias = ToVector(folded_bias);
}

// One Sequential block as edge layers; `shape` (of its input) advances.
edge::Block ToBlock(const torch::nn::Sequential& block, edge::Shape& shape) {
  namespace nn = torch::nn;
  edge::Block out;
  bool flattened = false;  // an MLP's Flatten: the next Linear reads NHWC order
  for (const auto& child : block->children()) {
    if (const auto* conv = child->as<nn::Conv2dImpl>()) {
      out.layers.push_back(ConvLayer(*conv));
      shape = edge::OutputShape(out.layers.back(), shape);
    } else if (const auto* norm = child->as<nn::BatchNorm2dImpl>()) {
      FSD_CHECK(!out.layers.empty() && out.layers.back().kind == edge::LayerKind::kConv2d)
          << "BatchNorm without a convolution before it";
      FoldBatchNorm(*norm, out.layers.back());
    } else if (const auto* block = child->as<model::ResidualBlockImpl>()) {
      // conv1+bn1 (ReLU), conv2+bn2, then the addition of the block's input
      // (through the folded projection when there is one) with ReLU.
      const auto source = static_cast<std::uint32_t>(out.layers.size());
      const edge::Shape input = shape;
      out.layers.push_back(ConvLayer(*block->conv1));
      FoldBatchNorm(*block->bn1, out.layers.back());
      out.layers.back().relu = true;
      shape = edge::OutputShape(out.layers.back(), shape);
      out.layers.push_back(ConvLayer(*block->conv2));
      FoldBatchNorm(*block->bn2, out.layers.back());
      shape = edge::OutputShape(out.layers.back(), shape);
      edge::Layer add;
      add.kind = edge::LayerKind::kResidualAdd;
      add.source = source;
      add.relu = true;
      add.in_channels = input.channels;
      add.out_channels = shape.channels;
      if (block->shortcut) {
        const auto* projection = block->shortcut->ptr(0)->as<nn::Conv2dImpl>();
        const auto* projection_norm = block->shortcut->ptr(1)->as<nn::BatchNorm2dImpl>();
        FSD_CHECK(projection != nullptr && projection_norm != nullptr)
            << "a shortcut that is not a convolution with BatchNorm";
        edge::Layer folded = ConvLayer(*projection);
        FoldBatchNorm(*projection_norm, folded);
        add.kernel = folded.kernel;
        add.stride = folded.stride;
        add.weights = std::move(folded.weights);
        add.bias = std::move(folded.bias);
      } else {
        add.kernel = 0;
      }
      out.layers.push_back(std::move(add));
    } else if (const auto* pool = child->as<nn::MaxPool2dImpl>()) {
      const auto& o = pool->options;
      edge::Layer layer;
      layer.kind = edge::LayerKind::kMaxPool2d;
      layer.kernel = static_cast<std::uint32_t>((*o.kernel_size())[0]);
      layer.stride = static_cast<std::uint32_t>((*o.stride())[0]);
      layer.padding = static_cast<std::uint32_t>((*o.padding())[0]);
      shape = edge::OutputShape(layer, shape);
      out.layers.push_back(std::move(layer));
    } else if (child->as<model::GlobalAveragePoolImpl>() != nullptr) {
      out.layers.push_back({edge::LayerKind::kGlobalAveragePool, 0, 0, 0, 1, 0, false, 0, {}, {}});
      shape = edge::OutputShape(out.layers.back(), shape);
    } else if (const auto* linear = child->as<nn::LinearImpl>()) {
      torch::Tensor weights = linear->weight;
      const auto outputs = weights.size(0);
      if (flattened && shape.height * shape.width > 1) {
        // Columns in NCHW flatten order → NHWC flatten order.
        weights = weights.view({outputs, shape.channels, shape.height, shape.width})
                      .permute({0, 2, 3, 1})
                      .reshape({outputs, -1});
      }
      flattened = false;
      edge::Layer layer;
      layer.kind = edge::LayerKind::kLinear;
      layer.in_channels = static_cast<std::uint32_t>(weights.size(1));
      layer.out_channels = static_cast<std::uint32_t>(outputs);
      layer.weights = ToVector(weights);
      layer.bias = linear->bias.defined() ? ToVector(linear->bias)
                                          : std::vector<float>(layer.out_channels, 0.0f);
      shape = edge::OutputShape(layer, shape);
      out.layers.push_back(std::move(layer));
    } else if (child->as<model::ReluImpl>() != nullptr || child->as<nn::ReLUImpl>() != nullptr) {
      FSD_CHECK(!out.layers.empty()) << "ReLU without a layer before it";
      out.layers.back().relu = true;
    } else if (child->as<nn::FlattenImpl>() != nullptr) {
      flattened = true;
    } else if (child->as<model::ChannelsLastImpl>() == nullptr) {
      throw InternalError("cannot export layer " + child->name());
    }
  }
  return out;
}

}  // namespace

edge::EdgeModel ToEdgeModel(model::MultiExitNet& net) {
  torch::NoGradGuard no_grad;
  const model::ModelSpec& spec = net->spec();
  if (spec.architecture == model::Architecture::kTorchScript) {
    throw ConfigError(
        "the XNNPACK runtime runs only fsd's own architectures (cnn3-s, cnn3-m, mlp, resnet*); a "
        "TorchScript network runs under LibTorch (fsd-infer --runtime libtorch)");
  }
  if (spec.architecture == model::Architecture::kCharGru) {
    throw ConfigError(
        "the XNNPACK runtime has no recurrent layers: char-gru runs under LibTorch only "
        "(fsd-infer --runtime libtorch)");
  }
  edge::EdgeModel out;
  out.in_channels = static_cast<std::uint32_t>(spec.in_channels);
  out.height = static_cast<std::uint32_t>(spec.height);
  out.width = static_cast<std::uint32_t>(spec.width);
  out.num_classes = static_cast<std::uint32_t>(spec.num_classes);
  const auto children = net->named_children();
  edge::Shape shape{out.height, out.width, out.in_channels};
  for (int k = 1; k <= net->num_exits(); ++k) {
    const auto stage =
        std::dynamic_pointer_cast<torch::nn::SequentialImpl>(children["stage" + std::to_string(k)]);
    const auto head =
        std::dynamic_pointer_cast<torch::nn::SequentialImpl>(children["exit" + std::to_string(k)]);
    FSD_CHECK(stage && head) << "stage or exit " << k << " is not a Sequential";
    out.stages.push_back(ToBlock(torch::nn::Sequential(stage), shape));
    auto head_shape = shape;
    out.heads.push_back(ToBlock(torch::nn::Sequential(head), head_shape));
  }
  return out;
}

}  // namespace fsd::client
