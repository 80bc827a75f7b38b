#include "common/data/synthetic.h"

#include "common/errors.h"

namespace fsd::data {

Dataset MakeSyntheticDataset(const SyntheticSpec& spec, std::int64_t num_samples,
                             std::uint64_t sample_seed) {
  FSD_CHECK(spec.num_classes >= 2 && num_samples >= 1) << "bad synthetic spec";
  auto prototype_gen = at::make_generator<at::CPUGeneratorImpl>(spec.prototype_seed);
  const auto prototypes = torch::randn({spec.num_classes, spec.channels, spec.height, spec.width},
                                       prototype_gen, torch::kFloat32);

  auto sample_gen = at::make_generator<at::CPUGeneratorImpl>(sample_seed);
  auto labels = torch::arange(num_samples, torch::kInt64).remainder_(spec.num_classes);
  labels = labels.index_select(0, torch::randperm(num_samples, sample_gen, torch::kInt64));
  auto noise = torch::randn({num_samples, spec.channels, spec.height, spec.width}, sample_gen,
                            torch::kFloat32);

  Dataset dataset;
  dataset.num_classes = spec.num_classes;
  dataset.images = prototypes.index_select(0, labels).add_(noise.mul_(spec.noise)).contiguous();
  dataset.labels = labels.contiguous();
  // Values are used as generated: the identity normalization, per channel.
  const auto channels = static_cast<std::size_t>(spec.channels);
  dataset.normalization = {std::vector<double>(channels, 0.0), std::vector<double>(channels, 1.0)};
  return dataset;
}

}  // namespace fsd::data
