// Loads an MNIST-format IDX split (common/data/idx_file.h) into a Dataset.
//
// Every byte of a file is untrusted: the header is checked (magic, element type,
// rank, dimensions within IdxLimits) before anything is allocated, and the body
// must hold exactly the announced number of bytes.
// Errors: DataError naming the file and the problem; IoError when a file cannot
// be opened. Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "common/data/dataset.h"
#include "common/data/idx_file.h"

namespace fsd::data {

// Loads `<dir>/<split>-images-idx3-ubyte[.gz]` and the matching labels file
// (split is "train" or "t10k"). `max_samples` > 0 keeps only the first samples.
// Labels must lie in [0, num_classes).
Dataset LoadIdxDataset(const std::string& dir, const std::string& split, int num_classes,
                       const Normalization& normalization, std::int64_t max_samples = 0,
                       const IdxLimits& limits = {});

}  // namespace fsd::data
