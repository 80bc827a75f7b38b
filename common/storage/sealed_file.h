// Sealed files: a byte body followed by its SHA-256, written atomically
// (common/storage/atomic_file.h: O_EXCL|O_NOFOLLOW temp file, mode 0600,
// fsync, rename, directory fsync) and verified before any byte is used. The
// coordinator's checkpoints and clients' persisted weights are sealed files;
// each format starts its body with its own 8-byte magic.
// Thread-safety: free functions; concurrent writers of one path race (last
// rename wins). Errors: IoError (cannot create, write, open), DataError
// (larger than max_bytes, truncated, digest mismatch), each naming the file.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace fsd::storage {

void WriteSealedFile(const std::string& path, std::span<const std::uint8_t> body);

// The body of a sealed file of at most max_body_bytes.
std::vector<std::uint8_t> ReadSealedFile(const std::string& path, std::uint64_t max_body_bytes);

// Appends / reads little-endian plain values; the reader throws DataError
// naming `path` when fewer bytes remain than asked for.
class ByteWriter {
 public:
  template <typename T>
  void Put(const T& value) {
    Bytes(&value, sizeof(T));
  }
  template <typename T>
  void PutArray(std::span<const T> values) {
    Put(static_cast<std::uint64_t>(values.size()));
    Bytes(values.data(), values.size_bytes());
  }
  void Bytes(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out_.insert(out_.end(), bytes, bytes + size);
  }
  const std::vector<std::uint8_t>& bytes() const { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

class ByteReader {
 public:
  ByteReader(std::span<const std::uint8_t> bytes, std::string path)
      : bytes_(bytes), path_(std::move(path)) {}
  template <typename T>
  T Get() {
    T value;
    std::memcpy(&value, Take(sizeof(T)), sizeof(T));
    return value;
  }
  // A u64 count bounded by `max_count` and the bytes left, then the values.
  template <typename T>
  std::vector<T> GetArray(std::uint64_t max_count, const char* what) {
    const auto count = Get<std::uint64_t>();
    if (count > max_count || count > remaining() / sizeof(T)) Fail(what, count);
    std::vector<T> values(static_cast<std::size_t>(count));
    if (count > 0) std::memcpy(values.data(), Take(values.size() * sizeof(T)), values.size() * sizeof(T));
    return values;
  }
  std::size_t remaining() const { return bytes_.size() - at_; }
  void ExpectEnd() const;

 private:
  const std::uint8_t* Take(std::size_t size);
  [[noreturn]] void Fail(const char* what, std::uint64_t count) const;

  std::span<const std::uint8_t> bytes_;
  std::size_t at_ = 0;
  std::string path_;
};

}  // namespace fsd::storage
