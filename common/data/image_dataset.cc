#include "common/data/image_dataset.h"

#include <cmath>

#include "common/errors.h"

namespace fsd::data {
namespace {

// `values` with one entry per channel: as given, or its single value repeated.
std::vector<double> PerChannel(const std::vector<double>& values, std::int64_t channels,
                               const char* key) {
  if (values.size() == 1) return std::vector<double>(static_cast<std::size_t>(channels), values[0]);
  if (static_cast<std::int64_t>(values.size()) != channels) {
    throw ConfigError(std::string(key) + " has " + std::to_string(values.size()) +
                      " values; the images have " + std::to_string(channels) +
                      " channels (give 1 value or " + std::to_string(channels) + ")");
  }
  return values;
}

// Intensities of the first `count` images as float32 [count, C, H, W].
torch::Tensor Intensities(const ImageArrays& images, std::int64_t count) {
  const std::vector<std::int64_t> shape = {count, images.channels, images.height, images.width};
  if (images.is_float()) {
    return torch::from_blob(const_cast<float*>(images.floats.data()), shape, torch::kFloat32)
        .clone();
  }
  return torch::from_blob(const_cast<std::uint8_t*>(images.bytes.data()), shape, torch::kUInt8)
      .to(torch::kFloat32)
      .div_(255.0);
}

}  // namespace

Normalization ChannelStatistics(const ImageArrays& images, std::int64_t count) {
  Normalization statistics;
  const std::int64_t plane = images.height * images.width;
  for (std::int64_t c = 0; c < images.channels; ++c) {
    double sum = 0.0, sum_squares = 0.0;  // double: 50,000 × 1024 values per channel
    for (std::int64_t n = 0; n < count; ++n) {
      const std::int64_t base = (n * images.channels + c) * plane;
      for (std::int64_t p = 0; p < plane; ++p) {
        const double v =
            images.is_float() ? images.floats[base + p] : images.bytes[base + p] / 255.0;
        sum += v;
        sum_squares += v * v;
      }
    }
    const double values = static_cast<double>(count * plane);
    const double mean = sum / values;
    const double variance = std::max(0.0, sum_squares / values - mean * mean);
    statistics.mean.push_back(mean);
    // A constant channel would divide by zero: keep its values centred instead.
    statistics.std.push_back(variance > 1e-12 ? std::sqrt(variance) : 1.0);
  }
  return statistics;
}

Dataset ToDataset(const ImageArrays& images, int num_classes, const Normalization& normalization,
                  std::int64_t max_samples) {
  const std::int64_t count =
      max_samples > 0 && max_samples < images.count ? max_samples : images.count;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t label = images.labels[static_cast<std::size_t>(i)];
    if (label < 0 || label >= num_classes) {
      throw DataError(images.labels_path + ": label " + std::to_string(label) + " at index " +
                      std::to_string(i) + " is outside [0, " + std::to_string(num_classes) + ")");
    }
  }
  Dataset dataset;
  dataset.num_classes = num_classes;
  const bool complete = !normalization.mean.empty() && !normalization.std.empty();
  const Normalization own = complete ? Normalization{} : ChannelStatistics(images, count);
  dataset.normalization.mean =
      PerChannel(normalization.mean.empty() ? own.mean : normalization.mean, images.channels,
                 "data.normalize_mean");
  dataset.normalization.std = PerChannel(normalization.std.empty() ? own.std : normalization.std,
                                         images.channels, "data.normalize_std");
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  const auto mean = torch::tensor(dataset.normalization.mean, options)
                        .to(torch::kFloat32)
                        .view({1, images.channels, 1, 1});
  const auto std = torch::tensor(dataset.normalization.std, options)
                       .to(torch::kFloat32)
                       .view({1, images.channels, 1, 1});
  dataset.images = Intensities(images, count).sub_(mean).div_(std).contiguous();
  dataset.labels =
      torch::tensor(std::vector<std::int64_t>(images.labels.begin(), images.labels.begin() + count),
                    torch::kInt64);
  return dataset;
}

Dataset LoadIdxDataset(const std::string& dir, const std::string& split, int num_classes,
                       const Normalization& normalization, std::int64_t max_samples,
                       const IdxLimits& limits) {
  if (num_classes < 2 || num_classes > 256) {
    throw ConfigError("num_classes is " + std::to_string(num_classes) + ", allowed 2..256");
  }
  return ToDataset(ReadIdxImages(dir, split, limits), num_classes, normalization, max_samples);
}

}  // namespace fsd::data
