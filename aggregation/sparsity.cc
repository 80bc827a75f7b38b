#include "aggregation/sparsity.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/errors.h"

namespace fsd::aggregation {
namespace {

// Indices of a tensor's values sorted by magnitude, smallest first (stable).
std::vector<std::uint64_t> ByMagnitude(std::span<const float> values,
                                       const std::vector<std::uint64_t>& indices) {
  std::vector<std::uint64_t> order = indices;
  std::stable_sort(order.begin(), order.end(), [&](std::uint64_t a, std::uint64_t b) {
    return std::fabs(values[a]) < std::fabs(values[b]);
  });
  return order;
}

std::uint64_t Floor(const model::TensorRange& range, double min_keep) {
  return std::min<std::uint64_t>(
      range.size, static_cast<std::uint64_t>(std::ceil(min_keep * static_cast<double>(range.size))));
}

}  // namespace

SparsitySchedule::SparsitySchedule(double initial, double final, int start_round, int end_round,
                                   int every)
    : initial_(initial), final_(final), start_(start_round), end_(end_round), every_(every) {
  FSD_CHECK(initial >= 0.0 && initial <= final && final < 1.0 && start_round >= 1 &&
            end_round >= start_round && every >= 1)
      << "sparsity schedule " << initial << " → " << final << " rounds " << start_round << ".."
      << end_round << " every " << every;
}

double SparsitySchedule::At(std::uint64_t round) const {
  if (!enabled() || round < static_cast<std::uint64_t>(start_)) return 0.0;
  if (round >= static_cast<std::uint64_t>(end_) || end_ == start_) return final_;
  const auto t = static_cast<double>(round - static_cast<std::uint64_t>(start_));
  const double step = std::floor(t / every_) * every_;  // sparsity changes only at steps
  const double progress = step / static_cast<double>(end_ - start_);
  return final_ + (initial_ - final_) * std::pow(1.0 - progress, 3.0);
}

Mask SelectMask(std::span<const float> values, const model::ModelLayout& layout, double sparsity,
                MaskScope scope, double min_keep) {
  FSD_CHECK(sparsity >= 0.0 && sparsity < 1.0) << "sparsity " << sparsity;
  Mask mask(values.size(), 1);
  const auto prune_smallest = [&](const std::vector<std::uint64_t>& order, std::uint64_t count) {
    for (std::uint64_t i = 0; i < count && i < order.size(); ++i) mask[order[i]] = 0;
  };
  if (scope == MaskScope::kPerLayer) {
    for (const auto& range : layout) {
      if (!range.prunable) continue;
      FSD_CHECK(range.offset + range.size <= values.size()) << "layout beyond the vector";
      std::vector<std::uint64_t> indices(range.size);
      std::iota(indices.begin(), indices.end(), range.offset);
      const auto wanted = static_cast<std::uint64_t>(std::llround(sparsity * range.size));
      prune_smallest(ByMagnitude(values, indices), std::min(wanted, range.size - Floor(range, min_keep)));
    }
    return mask;
  }
  std::vector<std::uint64_t> indices;
  for (const auto& range : layout) {
    if (!range.prunable) continue;
    FSD_CHECK(range.offset + range.size <= values.size()) << "layout beyond the vector";
    for (std::uint64_t i = range.offset; i < range.offset + range.size; ++i) indices.push_back(i);
  }
  const auto order = ByMagnitude(values, indices);
  prune_smallest(order, static_cast<std::uint64_t>(std::llround(sparsity * order.size())));
  // The floor: a layer pruned below it gets back its largest pruned values.
  for (const auto& range : layout) {
    if (!range.prunable) continue;
    const std::uint64_t floor = Floor(range, min_keep);
    const auto first = mask.begin() + static_cast<std::ptrdiff_t>(range.offset);
    std::uint64_t kept = static_cast<std::uint64_t>(
        std::count(first, first + static_cast<std::ptrdiff_t>(range.size), std::uint8_t{1}));
    if (kept >= floor) continue;
    std::vector<std::uint64_t> layer(range.size);
    std::iota(layer.begin(), layer.end(), range.offset);
    const auto layer_order = ByMagnitude(values, layer);
    for (auto it = layer_order.rbegin(); it != layer_order.rend() && kept < floor; ++it) {
      if (!mask[*it]) {
        mask[*it] = 1;
        ++kept;
      }
    }
  }
  return mask;
}

Mask SubnetworkMask(const Mask& mask, const model::ModelLayout& layout,
                    const model::Subnetwork& subnet, std::uint64_t dim) {
  if (model::IsWhole(subnet, layout)) return mask;
  FSD_CHECK(mask.empty() || mask.size() == dim) << "mask of " << mask.size() << " for " << dim;
  const model::Subnetwork resolved = model::Resolve(subnet, layout);
  Mask restricted(dim, std::uint8_t{0});
  for (const auto& range : layout) {
    FSD_CHECK(range.offset + range.size <= dim) << "layout beyond the vector";
    if (!model::Holds(resolved, range)) continue;
    for (std::uint64_t i = range.offset; i < range.offset + range.size; ++i) {
      restricted[i] = mask.empty() ? std::uint8_t{1} : mask[i];
    }
  }
  return restricted;
}

std::vector<std::uint64_t> KeptPerTensor(const model::ModelLayout& layout, const Mask& mask) {
  std::vector<std::uint64_t> kept;
  kept.reserve(layout.size());
  for (const auto& range : layout) {
    if (mask.empty()) {
      kept.push_back(range.size);
      continue;
    }
    FSD_CHECK(range.offset + range.size <= mask.size()) << "layout beyond the mask";
    const auto first = mask.begin() + static_cast<std::ptrdiff_t>(range.offset);
    kept.push_back(static_cast<std::uint64_t>(
        std::count(first, first + static_cast<std::ptrdiff_t>(range.size), std::uint8_t{1})));
  }
  return kept;
}

std::uint64_t KeptCount(const Mask& mask, std::uint64_t total) {
  return mask.empty() ? total
                      : static_cast<std::uint64_t>(std::count(mask.begin(), mask.end(), std::uint8_t{1}));
}

double SparsityOf(const Mask& mask, const model::ModelLayout& layout) {
  if (mask.empty()) return 0.0;
  std::uint64_t prunable = 0, pruned = 0;
  for (const auto& range : layout) {
    if (!range.prunable) continue;
    prunable += range.size;
    for (std::uint64_t i = range.offset; i < range.offset + range.size; ++i) pruned += mask[i] == 0;
  }
  return prunable > 0 ? static_cast<double>(pruned) / static_cast<double>(prunable) : 0.0;
}

std::vector<float> Gather(std::span<const float> dense, const Mask& mask) {
  if (mask.empty()) return {dense.begin(), dense.end()};
  FSD_CHECK(mask.size() == dense.size()) << "mask " << mask.size() << " vs " << dense.size();
  std::vector<float> kept;
  kept.reserve(KeptCount(mask, dense.size()));
  for (std::size_t i = 0; i < dense.size(); ++i) {
    if (mask[i]) kept.push_back(dense[i]);
  }
  return kept;
}

void Scatter(std::span<const float> kept, const Mask& mask, std::span<float> dense) {
  if (mask.empty()) {
    FSD_CHECK(kept.size() == dense.size()) << kept.size() << " values for " << dense.size();
    std::copy(kept.begin(), kept.end(), dense.begin());
    return;
  }
  FSD_CHECK(mask.size() == dense.size() && KeptCount(mask, dense.size()) == kept.size())
      << kept.size() << " kept values for a mask keeping " << KeptCount(mask, dense.size());
  std::size_t at = 0;
  for (std::size_t i = 0; i < dense.size(); ++i) dense[i] = mask[i] ? kept[at++] : 0.0f;
}

void ScatterKept(std::span<const float> kept, const Mask& mask, std::span<float> dense) {
  if (mask.empty()) return Scatter(kept, mask, dense);
  FSD_CHECK(mask.size() == dense.size() && KeptCount(mask, dense.size()) == kept.size())
      << kept.size() << " kept values for a mask keeping " << KeptCount(mask, dense.size());
  std::size_t at = 0;
  for (std::size_t i = 0; i < dense.size(); ++i) {
    if (mask[i]) dense[i] = kept[at++];
  }
}

void ApplyMask(const Mask& mask, std::span<float> dense) {
  if (mask.empty()) return;
  FSD_CHECK(mask.size() == dense.size()) << "mask " << mask.size() << " vs " << dense.size();
  for (std::size_t i = 0; i < dense.size(); ++i) {
    if (!mask[i]) dense[i] = 0.0f;
  }
}

}  // namespace fsd::aggregation
