// One split of labelled images as its files hold them, before normalization,
// without LibTorch: what the IDX, CIFAR and NumPy readers return
// (common/data/{idx,cifar,npy}_file.h) and what common/data/image_dataset.h
// turns into a Dataset.
//
// Contract of a returned ImageArrays: count ≥ 1 images of channels × height ×
// width in N×C×H×W order, held as unsigned bytes (intensity = byte / 255) or
// as finite float32 intensities, never both; one label per image in
// [0, num_classes). Every reader checks its file's sizes before allocating,
// names the file in each DataError, and never returns a partial read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fsd::data {

// Upper bounds on what a file may announce (the IDX reader has its own).
struct ImageLimits {
  std::int64_t max_items = 10'000'000;  // images per split
  std::int64_t max_side = 4096;         // rows or columns of one image
  std::int64_t max_channels = 64;       // channels of one image
  int max_classes = 1000;               // label values 0..max_classes-1
};

struct ImageArrays {
  std::int64_t count = 0, channels = 0, height = 0, width = 0;
  std::vector<std::uint8_t> bytes;   // N×C×H×W, when the file stores bytes
  std::vector<float> floats;         // N×C×H×W, when it stores float32
  std::vector<std::int64_t> labels;  // count labels
  // Classes the format defines (CIFAR: 10, 20 or 100); 0 when the format does
  // not say (IDX, NumPy), and the loader takes it from the config or labels.
  int num_classes = 0;
  std::string images_path, labels_path;  // for messages

  std::int64_t pixels_per_image() const { return channels * height * width; }
  bool is_float() const { return !floats.empty(); }
};

// Per-channel normalization applied on load: x = (intensity − mean[c]) / std[c],
// intensity = byte / 255 or the float as stored. One value applies to every
// channel; an empty list is computed from the training split
// (common/data/image_dataset.h records the values in force in the Dataset).
struct Normalization {
  std::vector<double> mean;
  std::vector<double> std;
};

}  // namespace fsd::data
