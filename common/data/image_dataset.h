// Turns ImageArrays (common/data/image_arrays.h: what the IDX, CIFAR and
// NumPy readers return) into a normalized Dataset.
//
// Errors: DataError naming the labels file for a label outside
// [0, num_classes); ConfigError naming data.normalize_mean / normalize_std
// when a list's length is neither 1 nor the images' channel count.
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "common/data/dataset.h"
#include "common/data/idx_file.h"
#include "common/data/image_arrays.h"

namespace fsd::data {

// Mean and population standard deviation of each channel's intensities
// (byte / 255, or the float as stored) over the first `count` images.
Normalization ChannelStatistics(const ImageArrays& images, std::int64_t count);

// The first `max_samples` images (all when 0) as a Dataset normalized by
// `normalization`, whose empty lists are filled with these images' own
// ChannelStatistics; every label must lie in [0, num_classes).
Dataset ToDataset(const ImageArrays& images, int num_classes, const Normalization& normalization,
                  std::int64_t max_samples = 0);

// An MNIST-format IDX split (`<dir>/<split>-images-idx3-ubyte[.gz]` and its
// labels, split "train" or "t10k") as a Dataset: ReadIdxImages + ToDataset.
Dataset LoadIdxDataset(const std::string& dir, const std::string& split, int num_classes,
                       const Normalization& normalization, std::int64_t max_samples = 0,
                       const IdxLimits& limits = {});

}  // namespace fsd::data
