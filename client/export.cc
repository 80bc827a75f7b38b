#include "client/export.h"

#include <cmath>
#include <map>
#include <optional>
#include <string>

#include "common/errors.h"
#include "edge/shapes.h"

namespace fsd::client {
namespace {

// cnn3 conv blocks in ConvChannels order, with the parameter prefixes of their
// convolution and BatchNorm, and which block feeds them (-1: the image).
struct ConvBlock {
  const char* conv;
  const char* norm;
  int input;
};
constexpr ConvBlock kBlocks[] = {
    {"stage1.0", "stage1.2", -1}, {"stage2.0", "stage2.1", 0}, {"stage3.0", "stage3.1", 1},
    {"exit1.0", "exit1.1", 0},    {"exit2.0", "exit2.1", 1},
};
// Linear classifiers and the block whose pooled channels they read.
const std::map<std::string, int> kLinearInputs = {
    {"exit1.4", 3}, {"exit2.4", 4}, {"exit3.1", 2}};

// Indices of the `keep` channels with the largest |γ|, in ascending order.
torch::Tensor StrongestChannels(const torch::Tensor& gamma, std::int64_t keep) {
  const auto top = std::get<1>(gamma.abs().topk(keep));
  return std::get<0>(top.sort());
}

}  // namespace

model::MultiExitNet ExportExit(model::MultiExitNet& full, int exit, double keep_channels) {
  const model::ModelSpec& spec = full->spec();
  if (exit < 0 || exit >= full->num_exits()) {
    throw ConfigError("exit " + std::to_string(exit + 1) + " does not exist: the model has exits 1.." +
                      std::to_string(full->num_exits()));
  }
  if (!(keep_channels > 0.0 && keep_channels <= 1.0)) {
    throw ConfigError("--keep-channels is " + std::to_string(keep_channels) + ", allowed (0, 1]");
  }
  const bool slim = keep_channels < 1.0;
  if (slim && spec.architecture == model::Architecture::kMlp) {
    throw ConfigError("--keep-channels needs a convolutional architecture (cnn3-s, cnn3-m)");
  }
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> source;
  for (const auto& item : full->named_parameters()) source[item.key()] = item.value();
  for (const auto& item : full->named_buffers()) source[item.key()] = item.value();

  model::ModelSpec small = spec;
  small.exits = exit + 1;
  std::vector<torch::Tensor> kept;  // per conv block: kept output channels
  if (spec.architecture != model::Architecture::kMlp) {
    const auto widths = model::ConvChannels(spec);
    small.channels.clear();
    for (std::size_t b = 0; b < std::size(kBlocks); ++b) {
      const auto keep = std::max<std::int64_t>(
          1, static_cast<std::int64_t>(std::ceil(keep_channels * widths[b])));
      kept.push_back(StrongestChannels(source.at(std::string(kBlocks[b].norm) + ".weight"), keep));
      small.channels.push_back(static_cast<int>(keep));
    }
  }
  model::MultiExitNet out(small);
  out->eval();

  // Which kept sets select dimension 0 (outputs) and 1 (inputs) of a tensor.
  const auto selection = [&](const std::string& prefix)
      -> std::pair<std::optional<torch::Tensor>, std::optional<torch::Tensor>> {
    if (kept.empty()) return {};
    for (std::size_t b = 0; b < std::size(kBlocks); ++b) {
      if (prefix == kBlocks[b].norm) return {kept[b], std::nullopt};
      if (prefix == kBlocks[b].conv) {
        const int input = kBlocks[b].input;
        return {kept[b], input >= 0 ? std::optional(kept[static_cast<std::size_t>(input)])
                                    : std::nullopt};
      }
    }
    if (auto it = kLinearInputs.find(prefix); it != kLinearInputs.end()) {
      return {std::nullopt, kept[static_cast<std::size_t>(it->second)]};
    }
    return {};
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

// One Sequential block as edge layers; `shape` (of its input) advances.
edge::Block ToBlock(const torch::nn::Sequential& block, edge::Shape& shape) {
  namespace nn = torch::nn;
  edge::Block out;
  bool flattened = false;  // an MLP's Flatten: the next Linear reads NHWC order
  for (const auto& child : block->children()) {
    if (const auto* conv = child->as<nn::Conv2dImpl>()) {
      const auto& o = conv->options;
      edge::Layer layer;
      layer.kind = edge::LayerKind::kConv2d;
      layer.in_channels = static_cast<std::uint32_t>(o.in_channels());
      layer.out_channels = static_cast<std::uint32_t>(o.out_channels());
      layer.kernel = static_cast<std::uint32_t>((*o.kernel_size())[0]);
      layer.stride = static_cast<std::uint32_t>((*o.stride())[0]);
      const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
      FSD_CHECK(padding != nullptr && (**padding)[0] == (**padding)[1] &&
                (*o.kernel_size())[0] == (*o.kernel_size())[1] &&
                (*o.stride())[0] == (*o.stride())[1])
          << "only square kernels, strides and explicit symmetric padding export";
      layer.padding = static_cast<std::uint32_t>((**padding)[0]);
      layer.weights = ToVector(conv->weight.permute({0, 2, 3, 1}));
      layer.bias = conv->bias.defined() ? ToVector(conv->bias)
                                        : std::vector<float>(layer.out_channels, 0.0f);
      shape = edge::OutputShape(layer, shape);
      out.layers.push_back(std::move(layer));
    } else if (const auto* norm = child->as<nn::BatchNorm2dImpl>()) {
      FSD_CHECK(!out.layers.empty() && out.layers.back().kind == edge::LayerKind::kConv2d)
          << "BatchNorm without a convolution before it";
      edge::Layer& conv = out.layers.back();
      const auto scale = norm->weight / torch::sqrt(norm->running_var + norm->options.eps());
      const auto folded_bias = (torch::tensor(conv.bias) - norm->running_mean) * scale + norm->bias;
      auto weights = torch::tensor(conv.weights).view({conv.out_channels, -1}) * scale.unsqueeze(1);
      conv.weights = ToVector(weights);
      conv.bias = ToVector(folded_bias);
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
      out.layers.push_back({edge::LayerKind::kGlobalAveragePool, 0, 0, 0, 1, 0, false, {}, {}});
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
