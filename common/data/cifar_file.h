// Reads the CIFAR-10 and CIFAR-100 binary formats as distributed (the
// "binary version" archives), without LibTorch.
//
// CIFAR-10: data_batch_1.bin … data_batch_5.bin (training) and
// test_batch.bin, records of 1 label byte + 3072 pixel bytes. CIFAR-100:
// train.bin and test.bin, records of a coarse label byte (20 classes), a fine
// label byte (100 classes) + 3072 pixel bytes. Pixels are 32×32 red, then
// green, then blue planes, row-major: already C×H×W. The files may sit in
// `dir` itself or in the folder the archive extracts to
// (cifar-10-batches-bin/, cifar-100-binary/).
//
// Every file is untrusted: its size must be a whole number of records (no
// truncated record), every label byte within the format's classes.
// Errors: IoError when no CIFAR files are found or one cannot be opened
// (naming what was looked for); DataError naming the file and the problem;
// ConfigError for coarse labels asked of CIFAR-10.
// Thread-safety: free functions, no shared state.
#pragma once

#include <string>

#include "common/data/image_arrays.h"

namespace fsd::data {

enum class CifarLabels { kFine, kCoarse };

// The training split (`train` true) or the test split.
ImageArrays ReadCifarSplit(const std::string& dir, bool train, CifarLabels labels,
                           const ImageLimits& limits = {});

}  // namespace fsd::data
