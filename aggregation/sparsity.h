// Sparsity masks over the flat model vector (DESIGN.md, SparsitySchedule +
// mask selection): the cubic schedule, magnitude-based mask selection by the
// coordinator, and moving values between the dense vector and the kept
// values (in flat order, no indices) that travel on the wire.
//
// A Mask has one byte per flat value, 1 = kept; an empty Mask means dense
// (everything kept). Only prunable tensors (model::TensorRange::prunable) are
// ever pruned. Pure math, no LibTorch. Thread-safety: free functions and an
// immutable schedule. Errors: InternalError on inconsistent sizes (inputs
// are validated before they get here).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/model/layout.h"

namespace fsd::aggregation {

using Mask = std::vector<std::uint8_t>;

// s_t = s_f + (s_0 − s_f)·(1 − (t − t_0)/(t_end − t_0))³ at the pruning steps
// t = t_0, t_0 + every, …; s_f from t_end on; 0 before t_0 (no mask).
class SparsitySchedule {
 public:
  SparsitySchedule() = default;  // never prunes
  SparsitySchedule(double initial, double final, int start_round, int end_round, int every);
  // The sparsity in force during `round` (1-based).
  double At(std::uint64_t round) const;
  bool enabled() const { return final_ > 0.0; }

 private:
  double initial_ = 0.0, final_ = 0.0;
  int start_ = 1, end_ = 1, every_ = 1;
};

enum class MaskScope { kGlobal, kPerLayer };

// Prunes round(sparsity × prunable values) of the smallest magnitudes of
// `values` — over all prunable tensors at once (kGlobal) or within each
// (kPerLayer) — while every prunable tensor keeps at least
// ceil(min_keep × its size) values. Ties go to the lower index.
Mask SelectMask(std::span<const float> values, const model::ModelLayout& layout, double sparsity,
                MaskScope scope, double min_keep);

// The coordinates a client training `subnet` exchanges: the values `mask`
// keeps (all when empty) within the tensors the sub-network holds, over a
// vector of `dim` values; `mask` itself when the sub-network is the whole
// network, so a federation without sub-networks sends what it always did.
Mask SubnetworkMask(const Mask& mask, const model::ModelLayout& layout,
                    const model::Subnetwork& subnet, std::uint64_t dim);

// Kept values per tensor (the int8 codec's segments); sizes when dense.
std::vector<std::uint64_t> KeptPerTensor(const model::ModelLayout& layout, const Mask& mask);
std::uint64_t KeptCount(const Mask& mask, std::uint64_t total);
// Share of prunable values the mask prunes.
double SparsityOf(const Mask& mask, const model::ModelLayout& layout);

// dense → kept values in flat order; dense → copy when the mask is empty.
std::vector<float> Gather(std::span<const float> dense, const Mask& mask);
// kept values → dense, pruned positions 0.
void Scatter(std::span<const float> kept, const Mask& mask, std::span<float> dense);
// kept values → their positions in `dense`; every other position keeps its value.
void ScatterKept(std::span<const float> kept, const Mask& mask, std::span<float> dense);
// Zeroes the pruned positions of `dense` in place.
void ApplyMask(const Mask& mask, std::span<float> dense);

}  // namespace fsd::aggregation
