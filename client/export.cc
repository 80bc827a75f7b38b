#include "client/export.h"

#include <cmath>
#include <map>
#include <optional>
#include <string>

#include "common/errors.h"

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

}  // namespace fsd::client
