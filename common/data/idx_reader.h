// Reads MNIST-format IDX files (gzip-compressed or plain) into a Dataset.
//
// Every byte of a file is untrusted: the header is checked (magic, element type,
// rank, dimensions within IdxLimits) before anything is allocated, and the body
// must hold exactly the announced number of bytes.
// Errors: DataError naming the file and the problem; IoError when a file cannot
// be opened. Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/data/dataset.h"

namespace fsd::data {

// Upper bounds on what an IDX header may announce.
struct IdxLimits {
  std::int64_t max_items = 10'000'000;  // samples per file
  std::int64_t max_side = 4096;         // rows or columns of one image
};

// The decoded content of one unsigned-byte IDX file.
struct IdxArray {
  std::vector<std::int64_t> dims;   // e.g. {60000, 28, 28} or {60000}
  std::vector<std::uint8_t> bytes;  // row-major, product(dims) bytes
};

// Reads one IDX file of unsigned bytes with rank `expected_rank` (1 for labels,
// 3 for images).
IdxArray ReadIdxFile(const std::string& path, int expected_rank, const IdxLimits& limits = {});

// Loads `<dir>/<split>-images-idx3-ubyte[.gz]` and the matching labels file
// (split is "train" or "t10k"). `max_samples` > 0 keeps only the first samples.
// Labels must lie in [0, num_classes).
Dataset LoadIdxDataset(const std::string& dir, const std::string& split, int num_classes,
                       const Normalization& normalization, std::int64_t max_samples = 0,
                       const IdxLimits& limits = {});

}  // namespace fsd::data
