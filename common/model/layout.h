// ModelLayout: where each model tensor sits in the flat vector, whether
// magnitude pruning may touch it, and which sub-networks hold it — the only
// thing about a model that masks, codecs and aggregation need. Plain values,
// no LibTorch; built from a FlatSchema by model::LayoutOf (flat_params.h).
//
// Sub-networks (heterogeneous clients, docs/DESIGN.md): a multi-exit network
// is a backbone of stages, stage k first read by exit k, and one head per
// exit. The sub-network of exit k is stages 1..k with the heads of exits 1..k
// (self-distillation among them), or with the head of exit k alone
// (loss.exits = "main": only that exit's path is trained and sent).
// Thread-safety: plain values. Errors: InternalError for an out-of-range exit.
#pragma once

#include <compare>
#include <cstdint>
#include <vector>

namespace fsd::model {

struct TensorRange {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  bool prunable = false;  // weights of convolutions and linear layers
  // The exit (1-based) whose path first needs this tensor: for a backbone
  // tensor the exit that first reads its stage, for a head tensor (`head`)
  // the exit it belongs to. 0: part of every sub-network (a layout built
  // without exits).
  int exit = 0;
  bool head = false;
  // Running statistics (BatchNorm), not trained by SGD: averaged, never
  // stepped by a server optimizer.
  bool statistics = false;
};

using ModelLayout = std::vector<TensorRange>;

// The exits of the network a layout describes (its largest TensorRange::exit;
// 1 when no range names an exit).
int NumExits(const ModelLayout& layout);

struct Subnetwork {
  int exit = 0;            // deepest exit it holds, 1-based; 0 = the network's deepest
  bool head_only = false;  // only that exit's head, no auxiliary heads
  auto operator<=>(const Subnetwork&) const = default;
};

// `subnet` with exit 0 replaced by the network's deepest exit.
// InternalError if subnet.exit is negative or above NumExits(layout).
Subnetwork Resolve(const Subnetwork& subnet, const ModelLayout& layout);
// Whether the (resolved) sub-network holds `range`.
bool Holds(const Subnetwork& resolved, const TensorRange& range);
// Whether `subnet` holds every tensor of `layout`.
bool IsWhole(const Subnetwork& subnet, const ModelLayout& layout);

}  // namespace fsd::model
