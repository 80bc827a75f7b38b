// Training-time augmentation of image batches (data.augment): the standard
// CIFAR recipe, a random 32×32 crop of the image padded by 4 pixels on each
// side and a horizontal flip with probability 1/2, drawn per sample from a
// random stream, so a run is reproducible from its seed.
//
// Batches are already normalized: the padding is each channel's
// normalized black, (0 − mean[c]) / std[c], what padding the raw image and
// normalizing afterwards gives. Thread-safety: free functions.
#pragma once

#include <torch/torch.h>

#include "common/data/image_arrays.h"
#include "common/random/streams.h"

namespace fsd::data {

enum class Augmentation { kNone, kCropFlip };

inline constexpr int kCropPadding = 4;

// Crops and flips every sample of `batch` ([B, C, H, W], float32,
// contiguous) in place, each with its own draws from `engine`.
void CropFlip(torch::Tensor& batch, const Normalization& normalization, random::Engine& engine);

}  // namespace fsd::data
