#include "common/data/loader.h"

#include "common/data/idx_reader.h"
#include "common/data/synthetic.h"

namespace fsd::data {

Splits LoadSplits(const config::DataConfig& config) {
  Splits splits;
  if (config.source == config::DataSource::kSynthetic) {
    SyntheticSpec spec;
    spec.num_classes = config.num_classes;
    spec.height = spec.width = config.synthetic_side;
    spec.noise = config.synthetic_noise;
    splits.train = std::make_shared<const Dataset>(
        MakeSyntheticDataset(spec, config.synthetic_train_samples, /*sample_seed=*/1));
    splits.test = std::make_shared<const Dataset>(
        MakeSyntheticDataset(spec, config.synthetic_test_samples, /*sample_seed=*/2));
    return splits;
  }
  splits.train = std::make_shared<const Dataset>(LoadIdxDataset(
      config.dir, "train", config.num_classes, config.normalization, config.max_train_samples));
  splits.test = std::make_shared<const Dataset>(LoadIdxDataset(
      config.dir, "t10k", config.num_classes, config.normalization, config.max_test_samples));
  return splits;
}

}  // namespace fsd::data
