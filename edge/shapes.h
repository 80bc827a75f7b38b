// Shapes of NHWC activations through EdgeModel layers (edge/model_file.h):
// the checks a parsed file must pass and the sizes the engine allocates.
// Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "edge/model_file.h"

namespace fsd::edge {

struct Shape {
  std::uint32_t height = 1, width = 1, channels = 1;
  std::uint64_t elements() const { return std::uint64_t{height} * width * channels; }
};

// Why `layer` cannot read an input of `input` shape (or has bad parameters);
// nullopt when it can. `skip`: for a residual addition, the shape of the
// input it adds (the input of its source layer); ignored otherwise.
std::optional<std::string> CheckLayer(const Layer& layer, const Shape& input, const Shape& skip);
// REQUIRES: CheckLayer(layer, input) is nullopt.
Shape OutputShape(const Layer& layer, const Shape& input);
std::uint64_t WeightCount(const Layer& layer);
std::uint64_t BiasCount(const Layer& layer);

}  // namespace fsd::edge
