// Loads the train and test splits a DataConfig describes (IDX, CIFAR or NumPy
// files, or the synthetic generator), each once, to be shared read-only by
// every client. The files decide the channels, the image size and (unless
// data.num_classes is set) the class count; the test split is normalized
// with the training split's statistics.
// Errors: those of the readers (IoError, DataError naming the file),
// DataError for test images of another shape than the training images,
// ConfigError for a normalization list of the wrong length.
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

// A deployment's processes each load their own files, so none may take the
// class count from its labels (a client without label 9 would build another
// network): ConfigError naming data.num_classes unless it is set or the
// source fixes it (cifar, synthetic). `program` names the caller.
void RequireFixedClassCount(const config::DataConfig& config, const std::string& program);

// What the files decided, written into the config the rest of the run reads
// (the coordinator's class count, the normalization an export records):
// data.num_classes, per-channel data.normalize_mean / normalize_std, and
// data.augment when not set (crop_flip for 3-channel images, else none).
void AdoptFromData(const Splits& splits, config::DataConfig& config);

// The model [model] describes, sized for `dataset`'s images and classes.
model::ModelSpec ModelSpecFor(const config::ModelConfig& config, const Dataset& dataset);

// The clients' shards of `train` as [federation] describes them. A partition
// file must have exactly `federation.clients` lines (ConfigError otherwise).
Partition BuildPartition(const config::FederationConfig& federation, const Dataset& train);

}  // namespace fsd::data
