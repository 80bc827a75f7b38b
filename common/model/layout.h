// ModelLayout: where each model tensor sits in the flat vector and whether
// magnitude pruning may touch it — the only thing about a model that masks,
// codecs and aggregation need. Plain values, no LibTorch; built from a
// FlatSchema by model::LayoutOf (flat_params.h). Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <vector>

namespace fsd::model {

struct TensorRange {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  bool prunable = false;  // weights of convolutions and linear layers
};

using ModelLayout = std::vector<TensorRange>;

}  // namespace fsd::model
