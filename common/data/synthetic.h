// A deterministic, learnable, class-conditional synthetic image dataset for
// fast tests: each class has a fixed random prototype image and a sample is its
// class prototype plus Gaussian noise.
// Thread-safety: free function, no shared state.
#pragma once

#include <cstdint>

#include "common/data/dataset.h"

namespace fsd::data {

struct SyntheticSpec {
  int num_classes = 10;
  int channels = 1;
  int height = 28;
  int width = 28;
  double noise = 1.0;                // noise std relative to prototype std (1.0 is hard-ish)
  std::uint64_t prototype_seed = 7;  // same seed → same classes (train and test share it)
};

// `num_samples` samples with balanced labels (i mod num_classes, then shuffled
// by `sample_seed`). Use different sample seeds for train and test splits.
Dataset MakeSyntheticDataset(const SyntheticSpec& spec, std::int64_t num_samples,
                             std::uint64_t sample_seed);

}  // namespace fsd::data
