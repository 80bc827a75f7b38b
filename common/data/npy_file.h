// Reads NumPy .npy files (format versions 1.0, 2.0 and 3.0), without
// LibTorch, as a labelled image split: `<dir>/x_<split>.npy` (images) and
// `<dir>/y_<split>.npy` (labels), split "train" or "test".
//
// The header is parsed, not guessed: magic, version, header length (bounded),
// and the dict's 'descr', 'fortran_order' and 'shape' keys. Images: uint8
// ('|u1') or little-endian float32 ('<f4'), shape N×H×W (one channel) or
// N×H×W×C / N×C×H×W as `layout` says, checked against the shape (a layout
// whose channel axis is implausible is refused with the other layout named).
// Labels: a little-endian integer array ('|u1', '|i1', '<i2', '<u2', '<i4',
// '<u4', '<i8', '<u8') of shape (N,) or (N, 1). Refused by name: Fortran
// order, big-endian or other dtypes, a data size that differs from what the
// header announces, NaN/Inf in float images, negative labels, image and
// label counts that differ.
// Errors: DataError naming the file and the problem; IoError when a file
// is missing. Thread-safety: free functions, no shared state.
#pragma once

#include <string>

#include "common/data/image_arrays.h"

namespace fsd::data {

enum class NpyLayout { kNhwc, kNchw };

ImageArrays ReadNpySplit(const std::string& dir, const std::string& split, NpyLayout layout,
                         const ImageLimits& limits = {});

}  // namespace fsd::data
