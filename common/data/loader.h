// Loads the train and test splits a DataConfig describes (IDX files or the
// synthetic generator), each once, to be shared read-only by every client.
// Errors: those of LoadIdxDataset (IoError, DataError).
#pragma once

#include "common/config/config.h"
#include "common/data/dataset.h"
#include "common/data/partition.h"

namespace fsd::data {

struct Splits {
  SharedDataset train;
  SharedDataset test;
};

Splits LoadSplits(const config::DataConfig& config);

// The model [model] describes, sized for `dataset`'s images and classes.
model::ModelSpec ModelSpecFor(const config::ModelConfig& config, const Dataset& dataset);

// The clients' shards of `train` as [federation] describes them. A partition
// file must have exactly `federation.clients` lines (ConfigError otherwise).
Partition BuildPartition(const config::FederationConfig& federation, const Dataset& train);

}  // namespace fsd::data
