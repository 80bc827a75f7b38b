// A binary data file opened for checked reads: its size is known before any
// buffer is sized from what the file announces, and a short read is a
// DataError naming the file, never a partial result. Used by the CIFAR and
// NumPy readers. Errors: IoError when the file cannot be opened.
// Thread-safety: one owner.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace fsd::data {

class BinaryFile {
 public:
  explicit BinaryFile(std::string path);

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t position() const { return position_; }
  // Exactly `bytes` bytes into `out`; DataError ("truncated ...") otherwise.
  void Read(void* out, std::size_t bytes);

  // DataError "<path>: <problem>".
  [[noreturn]] void Fail(const std::string& problem) const;

 private:
  std::string path_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
  std::uint64_t position_ = 0;
};

}  // namespace fsd::data
