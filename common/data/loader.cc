#include "common/data/loader.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "common/data/image_dataset.h"
#include "common/data/synthetic.h"
#include "common/errors.h"
#include "common/log.h"

namespace fsd::data {

namespace {

ImageArrays ReadSplit(const config::DataConfig& config, bool train) {
  switch (config.source) {
    case config::DataSource::kIdx:
      return ReadIdxImages(config.dir, train ? "train" : "t10k");
    case config::DataSource::kCifar:
      return ReadCifarSplit(config.dir, train, config.cifar_labels);
    case config::DataSource::kNpy:
      return ReadNpySplit(config.dir, train ? "train" : "test", config.npy_layout);
    default:
      throw InternalError("ReadSplit: not a file source");
  }
}

// The class count in force: the config's, else the format's, else the
// largest label of either split + 1.
int ClassCount(const config::DataConfig& config, const ImageArrays& train,
               const ImageArrays& test) {
  if (config.num_classes > 0) return config.num_classes;
  if (train.num_classes > 0) return train.num_classes;
  std::int64_t largest = 0;
  for (const ImageArrays* split : {&train, &test}) {
    for (const std::int64_t label : split->labels) largest = std::max(largest, label);
  }
  if (largest < 1) {
    throw DataError(train.labels_path + ", " + test.labels_path +
                    ": every label is 0; a classifier needs at least 2 classes");
  }
  return static_cast<int>(largest + 1);
}

}  // namespace

Splits LoadSplits(const config::DataConfig& config) {
  Splits splits;
  if (config.source == config::DataSource::kSynthetic) {
    SyntheticSpec spec;
    spec.num_classes = config.num_classes > 0 ? config.num_classes : 10;
    spec.height = spec.width = config.synthetic_side;
    spec.noise = config.synthetic_noise;
    splits.train = std::make_shared<const Dataset>(
        MakeSyntheticDataset(spec, config.synthetic_train_samples, /*sample_seed=*/1));
    splits.test = std::make_shared<const Dataset>(
        MakeSyntheticDataset(spec, config.synthetic_test_samples, /*sample_seed=*/2));
    return splits;
  }
  const auto start = std::chrono::steady_clock::now();
  const ImageArrays train = ReadSplit(config, /*train=*/true);
  ImageArrays test = ReadSplit(config, /*train=*/false);
  if (test.channels != train.channels || test.height != train.height || test.width != train.width) {
    const auto shape = [](const ImageArrays& a) {
      return std::to_string(a.channels) + "x" + std::to_string(a.height) + "x" +
             std::to_string(a.width);
    };
    throw DataError(test.images_path + ": test images are " + shape(test) + ", training images (" +
                    train.images_path + ") " + shape(train));
  }
  const int classes = ClassCount(config, train, test);
  auto train_set = std::make_shared<Dataset>(
      ToDataset(train, classes, config.normalization, config.max_train_samples));
  // The test split is normalized with the training split's statistics.
  splits.test = std::make_shared<const Dataset>(
      ToDataset(test, classes, train_set->normalization, config.max_test_samples));
  splits.train = std::move(train_set);
  const auto list = [](const std::vector<double>& values) {
    std::ostringstream text;
    for (std::size_t i = 0; i < values.size(); ++i) text << (i ? ", " : "[") << values[i];
    return text.str() + "]";
  };
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  FSD_LOG(INFO) << "data: " << splits.train->size() << " training and " << splits.test->size()
                << " test images of " << train.channels << "x" << train.height << "x" << train.width
                << ", " << classes << " classes, normalization mean "
                << list(splits.train->normalization.mean) << " std "
                << list(splits.train->normalization.std) << " (loaded in " << seconds.count()
                << " s)";
  return splits;
}

void RequireFixedClassCount(const config::DataConfig& config, const std::string& program) {
  const bool fixed_by_source = config.source == config::DataSource::kCifar ||
                               config.source == config::DataSource::kSynthetic;
  if (config.num_classes == 0 && !fixed_by_source) {
    throw ConfigError("data.num_classes: required by " + program +
                      " unless data.source is \"cifar\" or \"synthetic\": every process of a "
                      "deployment builds the same network, and would otherwise take the largest "
                      "label in its own files + 1 (set it to the task's class count, e.g. 10)");
  }
}

void AdoptFromData(const Splits& splits, config::DataConfig& config) {
  config.num_classes = splits.train->num_classes;
  config.normalization = splits.train->normalization;
  if (!config.augment) {
    config.augment = splits.train->channels() == 3 ? Augmentation::kCropFlip : Augmentation::kNone;
  }
}

model::ModelSpec ModelSpecFor(const config::ModelConfig& config, const Dataset& dataset) {
  model::ModelSpec spec;
  spec.architecture = config.architecture;
  spec.script_path = config.path;
  spec.in_channels = static_cast<int>(dataset.channels());
  spec.height = static_cast<int>(dataset.height());
  spec.width = static_cast<int>(dataset.width());
  spec.num_classes = dataset.num_classes;
  return spec;
}

Partition BuildPartition(const config::FederationConfig& federation, const Dataset& train) {
  const int clients = federation.clients;
  const auto* labels = train.labels.data_ptr<std::int64_t>();
  const std::span<const std::int64_t> label_span(labels, static_cast<std::size_t>(train.size()));
  switch (federation.partition) {
    case config::PartitionKind::kFile: {
      Partition partition = ReadPartitionFile(federation.partition_file, train.size());
      if (static_cast<int>(partition.size()) != clients) {
        throw ConfigError("federation.clients is " + std::to_string(clients) + " but " +
                          federation.partition_file + " has " + std::to_string(partition.size()) +
                          " clients");
      }
      return partition;
    }
    case config::PartitionKind::kIid:
      return PartitionIid(train.size(), clients, federation.seed);
    case config::PartitionKind::kDirichlet:
      return PartitionDirichlet(label_span, train.num_classes, clients, federation.dirichlet_alpha,
                                federation.seed);
    case config::PartitionKind::kShards:
      return PartitionShards(label_span, clients, federation.shards_per_client, federation.seed);
    default:
      throw InternalError("unknown partition kind");
  }
}

}  // namespace fsd::data
