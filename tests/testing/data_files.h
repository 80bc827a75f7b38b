// Test helpers that write data files in the formats fsd reads: NumPy .npy
// files and CIFAR binary records, well-formed or deliberately broken.
#pragma once

#include <string>

namespace fsd::testing {

// A .npy file (format version `major`) of dtype `descr` (e.g. "|u1", "<f4")
// and shape `shape` (a Python tuple, e.g. "(2, 32, 32, 3)") around `data`,
// whatever its length; `fortran_order` is written as given ("False"/"True").
std::string NpyFile(const std::string& descr, const std::string& shape, const std::string& data,
                    int major = 1, const std::string& fortran_order = "False");

// `count` CIFAR records: the label byte(s) (CIFAR-100: coarse then fine) and
// 3,072 pixel bytes; record i has labels (i + label_offset) mod 20 / mod 10
// (CIFAR-10) or mod 100 (fine), and pixel p = (i + p) mod 256.
std::string CifarRecords(int count, bool hundred, int label_offset = 0);

}  // namespace fsd::testing
