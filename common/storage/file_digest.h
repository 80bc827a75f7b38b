// FileSha256Hex: the SHA-256 of a whole file as lowercase hex — what
// fsd-export writes into a model's manifest and fsd-infer checks before it
// lets torch::load read the file (a model file is trusted only when its
// digest matches). Thread-safety: free function.
// Errors: IoError when the file cannot be read.
#pragma once

#include <string>

namespace fsd::storage {

std::string FileSha256Hex(const std::string& path);

}  // namespace fsd::storage
