// Flattens a module's parameters and floating-point buffers (BatchNorm running
// statistics) into one contiguous float vector in a stable order, and back.
//
// This vector is what aggregation, codecs and the wire carry. Its FlatSchema
// (names, shapes, offsets) has a fingerprint: two models can exchange vectors
// only if their fingerprints match. Integer buffers (BatchNorm's
// num_batches_tracked) are not carried: they do not affect the forward pass
// when BatchNorm has a momentum, and a float vector cannot hold them exactly.
// Thread-safety: FlatSchema is immutable; Flatten/Unflatten touch the module,
// which the caller owns. Errors: InternalError when a vector or module does
// not match the schema.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/model/layout.h"

namespace fsd::model {

struct FlatEntry {
  std::string name;  // e.g. "stage1.0.0.weight"
  std::vector<std::int64_t> shape;
  std::int64_t offset = 0;  // first element in the flat vector
  std::int64_t numel = 0;
  bool is_buffer = false;  // running statistics, not trained by SGD
};

class FlatSchema {
 public:
  // Parameters in registration order, then floating-point buffers.
  static FlatSchema Of(const torch::nn::Module& module);

  const std::vector<FlatEntry>& entries() const { return entries_; }
  std::int64_t total_numel() const { return total_numel_; }
  // FNV-1a 64 over every entry's name, shape and kind, and for a TorchScript
  // MultiExitNet the file's SHA-256: equal iff layouts (and scripts) agree.
  std::uint64_t fingerprint() const { return fingerprint_; }
  std::string FingerprintHex() const;

 private:
  std::vector<FlatEntry> entries_;
  std::int64_t total_numel_ = 0;
  std::uint64_t fingerprint_ = 0;
};

// Every entry as a TensorRange; prunable = a trained tensor of rank ≥ 2
// (convolution and linear weights), never a bias, BatchNorm affine parameter
// or running statistic. Tensors named "stageK.…" / "exitK.…" (MultiExitNet)
// carry exit K (and head for the latter); others belong to every sub-network.
ModelLayout LayoutOf(const FlatSchema& schema);

// Copies the module's values into `out` (size total_numel) in schema order.
void Flatten(const torch::nn::Module& module, const FlatSchema& schema, std::span<float> out);
std::vector<float> Flatten(const torch::nn::Module& module, const FlatSchema& schema);

// Copies `values` into the module's tensors in place (no autograd history).
// REQUIRES: FlatSchema::Of(module).fingerprint() == schema.fingerprint().
void Unflatten(std::span<const float> values, const FlatSchema& schema, torch::nn::Module& module);

}  // namespace fsd::model
