#include "edge/shapes.h"

namespace fsd::edge {

std::optional<std::string> CheckLayer(const Layer& layer, const Shape& input, const Shape& skip) {
  const auto number = [](std::uint64_t v) { return std::to_string(v); };
  const auto describe = [&](const Shape& s) {
    return number(s.height) + "x" + number(s.width) + "x" + number(s.channels);
  };
  switch (layer.kind) {
    case LayerKind::kResidualAdd: {
      if (layer.in_channels != skip.channels || layer.out_channels != input.channels)
        return "residual addition of " + number(layer.in_channels) + " to " +
               number(layer.out_channels) + " channels over inputs " + describe(skip) + " and " +
               describe(input);
      if (layer.padding != 0 || layer.kernel > 1 || layer.stride < 1 || layer.stride > kMaxKernel ||
          (layer.kernel == 0 && layer.stride != 1))
        return "residual addition with kernel " + number(layer.kernel) + ", stride " +
               number(layer.stride) + ", padding " + number(layer.padding) +
               " (allowed: kernel 0 with stride 1, or kernel 1, no padding)";
      const auto side = [&](std::uint32_t in) { return (in - 1) / layer.stride + 1; };
      const Shape added =
          layer.kernel == 0 ? skip : Shape{side(skip.height), side(skip.width), layer.out_channels};
      if (added.height != input.height || added.width != input.width ||
          added.channels != input.channels)
        return "residual addition of a " + describe(added) + " shortcut to a " + describe(input) +
               " output";
      return std::nullopt;
    }
    case LayerKind::kConv2d:
      if (layer.in_channels != input.channels)
        return "convolution reads " + number(layer.in_channels) + " channels, its input has " +
               number(input.channels);
      if (layer.out_channels < 1 || layer.out_channels > kMaxChannels)
        return "convolution with " + number(layer.out_channels) + " filters";
      [[fallthrough]];
    case LayerKind::kMaxPool2d: {
      if (layer.kernel < 1 || layer.kernel > kMaxKernel || layer.stride < 1 ||
          layer.stride > kMaxKernel || layer.padding >= layer.kernel)
        return "kernel " + number(layer.kernel) + ", stride " + number(layer.stride) +
               ", padding " + number(layer.padding) + " out of bounds";
      const std::uint64_t h = std::uint64_t{input.height} + 2 * layer.padding;
      const std::uint64_t w = std::uint64_t{input.width} + 2 * layer.padding;
      if (h < layer.kernel || w < layer.kernel)
        return "a " + number(layer.kernel) + "x" + number(layer.kernel) + " window over a " +
               number(input.height) + "x" + number(input.width) + " input";
      return std::nullopt;
    }
    case LayerKind::kGlobalAveragePool:
      return std::nullopt;
    case LayerKind::kLinear:
      if (layer.in_channels != input.elements())
        return "fully connected layer reads " + number(layer.in_channels) +
               " features, its input has " + number(input.elements());
      if (layer.out_channels < 1 || layer.out_channels > kMaxChannels)
        return "fully connected layer with " + number(layer.out_channels) + " outputs";
      return std::nullopt;
  }
  return "unknown layer kind";
}

Shape OutputShape(const Layer& layer, const Shape& input) {
  switch (layer.kind) {
    case LayerKind::kConv2d:
    case LayerKind::kMaxPool2d: {
      const auto side = [&](std::uint32_t in) {
        return (in + 2 * layer.padding - layer.kernel) / layer.stride + 1;
      };
      return {side(input.height), side(input.width),
              layer.kind == LayerKind::kConv2d ? layer.out_channels : input.channels};
    }
    case LayerKind::kGlobalAveragePool:
      return {1, 1, input.channels};
    case LayerKind::kLinear:
      return {1, 1, layer.out_channels};
    case LayerKind::kResidualAdd:
      return input;
  }
  return input;
}

std::uint64_t WeightCount(const Layer& layer) {
  switch (layer.kind) {
    case LayerKind::kConv2d:
      return std::uint64_t{layer.out_channels} * layer.kernel * layer.kernel * layer.in_channels;
    case LayerKind::kLinear:
      return std::uint64_t{layer.out_channels} * layer.in_channels;
    case LayerKind::kResidualAdd:  // the projection, if any
      return std::uint64_t{layer.out_channels} * layer.kernel * layer.kernel * layer.in_channels;
    default:
      return 0;
  }
}

std::uint64_t BiasCount(const Layer& layer) {
  switch (layer.kind) {
    case LayerKind::kConv2d:
    case LayerKind::kLinear:
      return layer.out_channels;
    case LayerKind::kResidualAdd:
      return layer.kernel == 0 ? 0 : layer.out_channels;
    default:
      return 0;
  }
}

}  // namespace fsd::edge
