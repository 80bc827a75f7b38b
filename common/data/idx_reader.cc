#include "common/data/idx_reader.h"

#include "common/errors.h"

namespace fsd::data {

Dataset LoadIdxDataset(const std::string& dir, const std::string& split, int num_classes,
                       const Normalization& normalization, std::int64_t max_samples,
                       const IdxLimits& limits) {
  IdxSplit files = ReadIdxSplit(dir, split, num_classes, limits);
  IdxArray& images = files.images;
  IdxArray& labels = files.labels;

  std::int64_t count = images.dims[0];
  if (max_samples > 0 && max_samples < count) count = max_samples;
  const std::int64_t rows = images.dims[1];
  const std::int64_t cols = images.dims[2];

  Dataset dataset;
  dataset.num_classes = num_classes;
  auto pixels = torch::from_blob(images.bytes.data(), {count, 1, rows, cols}, torch::kUInt8);
  dataset.images = pixels.to(torch::kFloat32)
                       .div_(255.0)
                       .sub_(normalization.mean)
                       .div_(normalization.std)
                       .contiguous();
  dataset.labels = torch::from_blob(labels.bytes.data(), {count}, torch::kUInt8).to(torch::kInt64);
  return dataset;
}

}  // namespace fsd::data
