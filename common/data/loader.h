// Loads the train and test splits a run's config describes (IDX, CIFAR,
// NumPy or text files, or the synthetic generator), each once, to be shared
// read-only by every client. The files decide the channels, the sample size
// and (unless data.num_classes is set) the class count; the test split is
// normalized with the training split's statistics (text is never
// normalized: its samples are symbol indices).
//
// With federation.partition = "natural", data.dir holds one folder per
// client (its training split in the source's format) and the shared test
// split at the top level: the training split is every folder's samples,
// one folder after the other, and Splits::natural their ranges.
// Errors: those of the readers (IoError, DataError naming the file),
// DataError for test samples of another shape than the training samples or
// client folders of different formats, ConfigError for a normalization list
// of the wrong length or a folder count other than federation.clients.
#pragma once

#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/data/dataset.h"
#include "common/data/partition.h"

namespace fsd::data {

struct Splits {
  SharedDataset train;
  SharedDataset test;
  // A natural partition: client k's samples of `train` (NaturalClients' order).
  Partition natural;
};

// The splits of a run — data.dir's, or a natural partition's folders — with
// what the files decided adopted into `config` (AdoptFromData).
Splits LoadRunData(config::RunConfig& config);

// data.dir's splits, read as one training and one test split (no folders).
Splits LoadSplits(const config::DataConfig& config);

// The training split of data.dir alone, not normalized by another split:
// what a deployed fsd-client trains on (its own folder, in either layout).
SharedDataset LoadTrainingSplit(const config::DataConfig& config);

// The test split of data.dir alone, normalized with data.normalize_mean /
// std (from the training split's statistics, e.g. an export's manifest;
// when empty, its own): what inference on an exported model reads.
SharedDataset LoadTestSplit(const config::DataConfig& config);

// A natural partition's clients: the subdirectories of data.dir sorted by
// name (hidden ones skipped), which name the clients. ConfigError unless
// there are federation.clients of them, or for the synthetic source.
std::vector<std::string> NaturalClients(const config::RunConfig& config);

// A deployment's processes each load their own files, so none may take the
// class count from its labels (a client without label 9 would build another
// network): ConfigError naming data.num_classes unless it is set or the
// source fixes it (cifar, text, synthetic). `program` names the caller.
void RequireFixedClassCount(const config::DataConfig& config, const std::string& program);

// What the files decided, written into the config the rest of the run reads
// (the coordinator's class count, the normalization an export records):
// data.num_classes, per-channel data.normalize_mean / normalize_std, and
// data.augment when not set (crop_flip for 3-channel images, else none).
void AdoptFromData(const Dataset& train, config::DataConfig& config);

// The model [model] describes, sized for `dataset`'s images and classes.
model::ModelSpec ModelSpecFor(const config::ModelConfig& config, const Dataset& dataset);

// The clients' shards of `splits.train` as [federation] describes them. A
// partition file must have exactly `federation.clients` lines (ConfigError
// otherwise); a natural partition is `splits.natural`.
Partition BuildPartition(const config::FederationConfig& federation, const Splits& splits);

}  // namespace fsd::data
