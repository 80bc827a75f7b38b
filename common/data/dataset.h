// An in-memory labelled image dataset shared read-only by every client view.
//
// Clients never copy it: a client's shard is an index list (see partition.h)
// into one Dataset held through a shared_ptr<const Dataset>.
// Thread-safety: immutable after construction; safe to read from any thread.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/data/image_arrays.h"

namespace fsd::data {

struct Dataset {
  torch::Tensor images;  // float32 [N, C, H, W], normalized, contiguous
  torch::Tensor labels;  // int64 [N], each in [0, num_classes)
  int num_classes = 0;
  Normalization normalization;  // one mean and std per channel, as applied

  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  std::int64_t channels() const { return images.size(1); }
  std::int64_t height() const { return images.size(2); }
  std::int64_t width() const { return images.size(3); }
};

using SharedDataset = std::shared_ptr<const Dataset>;

// The same images (shared, not copied) with every label c replaced by
// C − 1 − c: what label-flipping attackers train on.
inline Dataset WithFlippedLabels(const Dataset& dataset) {
  return {dataset.images, (dataset.num_classes - 1) - dataset.labels, dataset.num_classes,
          dataset.normalization};
}

}  // namespace fsd::data
