#include "common/storage/sealed_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/errors.h"
#include "common/storage/atomic_file.h"
#include "common/wire/sha256.h"

namespace fsd::storage {
namespace {

constexpr std::size_t kDigestBytes = 32;

}  // namespace

void WriteSealedFile(const std::string& path, std::span<const std::uint8_t> body) {
  const auto digest = wire::Sha256({body});
  std::vector<std::uint8_t> bytes(body.begin(), body.end());
  bytes.insert(bytes.end(), digest.begin(), digest.end());
  WriteFileAtomically(path, bytes, 0600);
}

std::vector<std::uint8_t> ReadSealedFile(const std::string& path, std::uint64_t max_body_bytes) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (error) throw IoError(path + ": cannot open: " + error.message());
  if (size < kDigestBytes) throw DataError(path + ": truncated (" + std::to_string(size) + " bytes)");
  if (size - kDigestBytes > max_body_bytes) {
    throw DataError(path + ": " + std::to_string(size) + " bytes, limit " +
                    std::to_string(max_body_bytes + kDigestBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open");
  std::vector<std::uint8_t> body(static_cast<std::size_t>(size - kDigestBytes));
  wire::Sha256Digest stored{};
  if (!in.read(reinterpret_cast<char*>(body.data()), static_cast<std::streamsize>(body.size())) ||
      !in.read(reinterpret_cast<char*>(stored.data()), kDigestBytes)) {
    throw DataError(path + ": truncated");
  }
  if (in.peek() != std::char_traits<char>::eof()) throw DataError(path + ": trailing bytes");
  if (wire::Sha256({std::span<const std::uint8_t>(body)}) != stored) {
    throw DataError(path + ": digest mismatch (corrupt file)");
  }
  return body;
}

const std::uint8_t* ByteReader::Take(std::size_t size) {
  if (size > remaining()) {
    throw DataError(path_ + ": truncated: " + std::to_string(size) + " bytes wanted, " +
                    std::to_string(remaining()) + " left");
  }
  const std::uint8_t* at = bytes_.data() + at_;
  at_ += size;
  return at;
}

void ByteReader::Fail(const char* what, std::uint64_t count) const {
  throw DataError(path_ + ": " + what + " claims " + std::to_string(count) +
                  " entries, more than the limit or the bytes left (" +
                  std::to_string(remaining()) + ")");
}

void ByteReader::ExpectEnd() const {
  if (remaining() != 0) throw DataError(path_ + ": " + std::to_string(remaining()) + " trailing bytes");
}

}  // namespace fsd::storage
