#include "coordinator/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/errors.h"
#include "common/wire/sha256.h"

namespace fsd::coordinator {
namespace {

constexpr char kMagic[8] = {'F', 'S', 'D', 'C', 'K', 'P', 'T', '1'};
constexpr std::size_t kHeaderBytes = 8 + 3 * 8;

template <typename T>
void Append(std::vector<std::uint8_t>& out, const T& value) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

}  // namespace

void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  std::vector<std::uint8_t> bytes(kMagic, kMagic + 8);
  Append(bytes, checkpoint.round);
  Append(bytes, checkpoint.schema_fingerprint);
  Append(bytes, static_cast<std::uint64_t>(checkpoint.global.size()));
  const auto* values = reinterpret_cast<const std::uint8_t*>(checkpoint.global.data());
  bytes.insert(bytes.end(), values, values + checkpoint.global.size() * sizeof(float));
  const auto digest = wire::Sha256({std::span<const std::uint8_t>(bytes)});
  bytes.insert(bytes.end(), digest.begin(), digest.end());

  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw IoError(temp + ": cannot create checkpoint");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      throw IoError(temp + ": write failed");
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(temp.c_str(), path.c_str()) != 0) {
    throw IoError(path + ": cannot commit checkpoint");
  }
}

Checkpoint ReadCheckpoint(const std::string& path, std::uint64_t max_values) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open checkpoint");
  std::uint8_t header[kHeaderBytes];
  if (!in.read(reinterpret_cast<char*>(header), kHeaderBytes)) {
    throw DataError(path + ": truncated checkpoint header");
  }
  if (std::memcmp(header, kMagic, 8) != 0) throw DataError(path + ": not an fsd checkpoint");
  Checkpoint checkpoint;
  std::uint64_t count = 0;
  std::memcpy(&checkpoint.round, header + 8, 8);
  std::memcpy(&checkpoint.schema_fingerprint, header + 16, 8);
  std::memcpy(&count, header + 24, 8);
  if (count > max_values) {
    throw DataError(path + ": checkpoint holds " + std::to_string(count) + " values, limit " +
                    std::to_string(max_values));
  }
  checkpoint.global.resize(static_cast<std::size_t>(count));
  const auto value_bytes = static_cast<std::streamsize>(count * sizeof(float));
  wire::Sha256Digest stored{};
  if (!in.read(reinterpret_cast<char*>(checkpoint.global.data()), value_bytes) ||
      !in.read(reinterpret_cast<char*>(stored.data()), stored.size())) {
    throw DataError(path + ": truncated checkpoint");
  }
  if (in.peek() != std::char_traits<char>::eof()) throw DataError(path + ": trailing bytes");
  const auto digest =
      wire::Sha256({std::span<const std::uint8_t>(header, kHeaderBytes),
                    std::span<const std::uint8_t>(
                        reinterpret_cast<const std::uint8_t*>(checkpoint.global.data()),
                        static_cast<std::size_t>(value_bytes))});
  if (digest != stored) throw DataError(path + ": checkpoint digest mismatch (corrupt file)");
  return checkpoint;
}

}  // namespace fsd::coordinator
