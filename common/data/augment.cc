#include "common/data/augment.h"

#include "common/errors.h"

namespace fsd::data {

void CropFlip(torch::Tensor& batch, const Normalization& normalization, random::Engine& engine) {
  FSD_CHECK(batch.dim() == 4 && batch.is_contiguous()) << "CropFlip needs a contiguous NCHW batch";
  const std::int64_t channels = batch.size(1), height = batch.size(2), width = batch.size(3);
  FSD_CHECK(static_cast<std::int64_t>(normalization.mean.size()) == channels &&
            static_cast<std::int64_t>(normalization.std.size()) == channels)
      << "normalization has " << normalization.mean.size() << " channels, the batch " << channels;
  std::vector<float> black(static_cast<std::size_t>(channels));
  for (std::int64_t c = 0; c < channels; ++c)
    black[c] = static_cast<float>(-normalization.mean[c] / normalization.std[c]);
  const auto padding = torch::from_blob(black.data(), {channels, 1, 1}, torch::kFloat32);
  torch::NoGradGuard no_grad;
  auto shifted = torch::empty({channels, height, width}, torch::kFloat32);
  for (std::int64_t i = 0; i < batch.size(0); ++i) {
    // Offsets in [−4, 4]: the crop window's corner in the padded image, less 4.
    const auto dy = static_cast<std::int64_t>(random::UniformBelow(engine, 2 * kCropPadding + 1)) -
                    kCropPadding;
    const auto dx = static_cast<std::int64_t>(random::UniformBelow(engine, 2 * kCropPadding + 1)) -
                    kCropPadding;
    const bool flip = random::UniformBelow(engine, 2) == 1;
    auto image = batch[i];
    shifted.copy_(padding.expand({channels, height, width}));
    // out[y, x] = in[y + dy, x + dx] where that lies inside the image.
    const std::int64_t rows = height - std::abs(dy), cols = width - std::abs(dx);
    if (rows > 0 && cols > 0) {
      shifted.narrow(1, std::max<std::int64_t>(0, -dy), rows)
          .narrow(2, std::max<std::int64_t>(0, -dx), cols)
          .copy_(image.narrow(1, std::max<std::int64_t>(0, dy), rows)
                     .narrow(2, std::max<std::int64_t>(0, dx), cols));
    }
    image.copy_(flip ? shifted.flip({2}) : shifted);
  }
}

}  // namespace fsd::data
