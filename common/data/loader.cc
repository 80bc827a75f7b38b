#include "common/data/loader.h"

#include "common/data/idx_reader.h"
#include "common/data/synthetic.h"
#include "common/errors.h"

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
