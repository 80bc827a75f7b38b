// Reads MNIST-format IDX files (gzip-compressed or plain) into plain byte
// arrays, without LibTorch (the edge inference binary reads them too;
// common/data/image_dataset.h turns them into a Dataset).
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

#include "common/data/image_arrays.h"

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

// `<dir>/<stem>.gz` or `<dir>/<stem>`; IoError when neither exists.
std::string FindIdxFile(const std::string& dir, const std::string& stem);

// One split's images and labels, checked against each other: as many labels
// as images, every label in [0, num_classes). ConfigError for num_classes
// outside 2..256.
struct IdxSplit {
  IdxArray images;  // {n, rows, cols}
  IdxArray labels;  // {n}
  std::string images_path, labels_path;
};
IdxSplit ReadIdxSplit(const std::string& dir, const std::string& split, int num_classes,
                      const IdxLimits& limits = {});

// The same split as one-channel ImageArrays (labels below 256; the loader
// checks them against the class count in force).
ImageArrays ReadIdxImages(const std::string& dir, const std::string& split,
                          const IdxLimits& limits = {});

}  // namespace fsd::data
