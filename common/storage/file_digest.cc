#include "common/storage/file_digest.h"

#include <fstream>
#include <iterator>
#include <span>
#include <vector>

#include "common/errors.h"
#include "common/wire/sha256.h"

namespace fsd::storage {

std::string FileSha256Hex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(path + ": read failed");
  return wire::ToHex(wire::Sha256({std::span<const std::uint8_t>(bytes)}));
}

}  // namespace fsd::storage
