#include "common/data/loader.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "common/data/image_dataset.h"
#include "common/data/synthetic.h"
#include "common/data/text_file.h"
#include "common/errors.h"
#include "common/log.h"

namespace fsd::data {

namespace {

ImageArrays ReadSplit(const config::DataConfig& config, const std::string& dir, bool train) {
  switch (config.source) {
    case config::DataSource::kIdx:
      return ReadIdxImages(dir, train ? "train" : "t10k");
    case config::DataSource::kCifar:
      return ReadCifarSplit(dir, train, config.cifar_labels);
    case config::DataSource::kNpy:
      return ReadNpySplit(dir, train ? "train" : "test", config.npy_layout);
    case config::DataSource::kText:
      return ReadTextSplit(dir, train ? "train" : "test",
                           {.window = config.text_window, .stride = config.text_stride});
    default:
      throw InternalError("ReadSplit: not a file source");
  }
}

std::string ShapeOf(const ImageArrays& a) {
  return std::to_string(a.channels) + "x" + std::to_string(a.height) + "x" +
         std::to_string(a.width) + (a.is_float() ? " float32" : " bytes");
}

bool SameShape(const ImageArrays& a, const ImageArrays& b) {
  return a.channels == b.channels && a.height == b.height && a.width == b.width &&
         a.is_float() == b.is_float();
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

// Text samples are symbol indices: never normalized.
Normalization NormalizationOf(const config::DataConfig& config) {
  if (config.source == config::DataSource::kText) return {{0.0}, {1.0}};
  return config.normalization;
}

std::string List(const std::vector<double>& values) {
  std::ostringstream text;
  for (std::size_t i = 0; i < values.size(); ++i) text << (i ? ", " : "[") << values[i];
  return text.str() + "]";
}

// The Datasets of two splits read from files: the test split of the
// training split's shape, normalized with the training split's statistics.
Splits ToSplits(const config::DataConfig& config, const ImageArrays& train,
                const ImageArrays& test) {
  if (!SameShape(test, train)) {
    throw DataError(test.images_path + ": test samples are " + ShapeOf(test) +
                    ", training samples (" + train.images_path + ") " + ShapeOf(train));
  }
  const int classes = ClassCount(config, train, test);
  Splits splits;
  auto train_set = std::make_shared<Dataset>(
      ToDataset(train, classes, NormalizationOf(config), config.max_train_samples));
  splits.test = std::make_shared<const Dataset>(
      ToDataset(test, classes, train_set->normalization, config.max_test_samples));
  splits.train = std::move(train_set);
  FSD_LOG(INFO) << "data: " << splits.train->size() << " training and " << splits.test->size()
                << " test samples of " << train.channels << "x" << train.height << "x"
                << train.width << ", " << classes << " classes, normalization mean "
                << List(splits.train->normalization.mean) << " std "
                << List(splits.train->normalization.std);
  return splits;
}

Splits LoadSynthetic(const config::DataConfig& config) {
  SyntheticSpec spec;
  spec.num_classes = config.num_classes > 0 ? config.num_classes : 10;
  spec.height = spec.width = config.synthetic_side;
  spec.noise = config.synthetic_noise;
  Splits splits;
  splits.train = std::make_shared<const Dataset>(
      MakeSyntheticDataset(spec, config.synthetic_train_samples, /*sample_seed=*/1));
  splits.test = std::make_shared<const Dataset>(
      MakeSyntheticDataset(spec, config.synthetic_test_samples, /*sample_seed=*/2));
  return splits;
}

// Every client folder's training split, one after the other, the partition
// their sample ranges, and data.dir's test split.
Splits LoadNaturalSplits(const config::DataConfig& config,
                         const std::vector<std::string>& clients) {
  ImageArrays train;
  Partition partition;
  for (const std::string& client : clients) {
    const ImageArrays own = ReadSplit(config, config.dir + "/" + client, /*train=*/true);
    if (partition.empty()) {
      train = own;
    } else {
      if (!SameShape(own, train)) {
        throw DataError(own.images_path + ": samples are " + ShapeOf(own) + ", those of " +
                        train.images_path + " " + ShapeOf(train) +
                        " (every client folder holds the same format)");
      }
      if (own.num_classes != train.num_classes) {
        throw DataError(own.labels_path + ": " + std::to_string(own.num_classes) +
                        " classes by its format, " + train.labels_path + " " +
                        std::to_string(train.num_classes));
      }
      train.bytes.insert(train.bytes.end(), own.bytes.begin(), own.bytes.end());
      train.floats.insert(train.floats.end(), own.floats.begin(), own.floats.end());
      train.labels.insert(train.labels.end(), own.labels.begin(), own.labels.end());
    }
    std::vector<std::int64_t> range(static_cast<std::size_t>(own.count));
    std::iota(range.begin(), range.end(), train.labels.size() - range.size());
    partition.push_back(std::move(range));
  }
  train.count = static_cast<std::int64_t>(train.labels.size());
  train.images_path = train.labels_path = config.dir + "/*/";
  Splits splits = ToSplits(config, train, ReadSplit(config, config.dir, /*train=*/false));
  splits.natural = std::move(partition);
  return splits;
}

// One split of data.dir alone, normalized as the config says (else by its
// own statistics; text never).
SharedDataset LoadOneSplit(const config::DataConfig& config, bool train) {
  if (config.source == config::DataSource::kSynthetic) {
    const Splits splits = LoadSynthetic(config);
    return train ? splits.train : splits.test;
  }
  const ImageArrays split = ReadSplit(config, config.dir, train);
  const int classes =
      config.num_classes > 0 ? config.num_classes : ClassCount(config, split, split);
  auto dataset = std::make_shared<const Dataset>(
      ToDataset(split, classes, NormalizationOf(config),
                train ? config.max_train_samples : config.max_test_samples));
  FSD_LOG(INFO) << "data: " << dataset->size() << (train ? " training" : " test") << " samples of "
                << split.channels << "x" << split.height << "x" << split.width << ", " << classes
                << " classes, normalization mean " << List(dataset->normalization.mean) << " std "
                << List(dataset->normalization.std);
  return dataset;
}

}  // namespace

Splits LoadSplits(const config::DataConfig& config) {
  if (config.source == config::DataSource::kSynthetic) return LoadSynthetic(config);
  // The training split first: its errors are the ones to report.
  const ImageArrays train = ReadSplit(config, config.dir, /*train=*/true);
  return ToSplits(config, train, ReadSplit(config, config.dir, /*train=*/false));
}

SharedDataset LoadTestSplit(const config::DataConfig& config) {
  return LoadOneSplit(config, /*train=*/false);
}

std::vector<std::string> NaturalClients(const config::RunConfig& config) {
  const std::string& dir = config.data.dir;
  if (config.data.source == config::DataSource::kSynthetic) {
    throw ConfigError(
        "federation.partition: \"natural\" needs client folders of files; data.source = "
        "\"synthetic\" has none");
  }
  std::error_code error;
  std::vector<std::string> clients;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && !name.starts_with(".")) clients.push_back(name);
  }
  if (error) throw IoError(dir + ": cannot list the client folders: " + error.message());
  std::sort(clients.begin(), clients.end());
  if (static_cast<int>(clients.size()) != config.federation.clients) {
    throw ConfigError("federation.clients is " + std::to_string(config.federation.clients) +
                      " but " + dir + " holds " + std::to_string(clients.size()) +
                      " client folders (federation.partition = \"natural\": one client per "
                      "folder)");
  }
  return clients;
}

Splits LoadRunData(config::RunConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  Splits splits = config.federation.partition == config::PartitionKind::kNatural
                      ? LoadNaturalSplits(config.data, NaturalClients(config))
                      : LoadSplits(config.data);
  AdoptFromData(*splits.train, config.data);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  FSD_LOG(INFO) << "data: loaded in " << seconds.count() << " s";
  return splits;
}

SharedDataset LoadTrainingSplit(const config::DataConfig& config) {
  return LoadOneSplit(config, /*train=*/true);
}

void RequireFixedClassCount(const config::DataConfig& config, const std::string& program) {
  const bool fixed_by_source = config.source == config::DataSource::kCifar ||
                               config.source == config::DataSource::kText ||
                               config.source == config::DataSource::kSynthetic;
  if (config.num_classes == 0 && !fixed_by_source) {
    throw ConfigError(
        "data.num_classes: required by " + program +
        " unless data.source is \"cifar\", \"text\" or \"synthetic\": every process of a "
        "deployment builds the same network, and would otherwise take the largest "
        "label in its own files + 1 (set it to the task's class count, e.g. 10)");
  }
}

void AdoptFromData(const Dataset& train, config::DataConfig& config) {
  config.num_classes = train.num_classes;
  config.normalization = train.normalization;
  if (!config.augment) {
    config.augment = train.channels() == 3 ? Augmentation::kCropFlip : Augmentation::kNone;
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

Partition BuildPartition(const config::FederationConfig& federation, const Splits& splits) {
  const Dataset& train = *splits.train;
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
    case config::PartitionKind::kNatural:
      FSD_CHECK(!splits.natural.empty()) << "a natural partition needs LoadRunData's splits";
      return splits.natural;
    default:
      throw InternalError("unknown partition kind");
  }
}

}  // namespace fsd::data
