#include "tests/testing/data_files.h"

#include <cstdint>

namespace fsd::testing {

std::string NpyFile(const std::string& descr, const std::string& shape, const std::string& data,
                    int major, const std::string& fortran_order) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + fortran_order +
                     ", 'shape': " + shape + ", }";
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + dict.size() + 1) % 64 != 0) dict.push_back(' ');  // as numpy aligns it
  dict.push_back('\n');
  std::string bytes = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  const auto length = static_cast<std::uint32_t>(dict.size());
  bytes.push_back(static_cast<char>(length & 0xff));
  bytes.push_back(static_cast<char>(length >> 8));
  if (major != 1) bytes += std::string(2, '\0');
  return bytes + dict + data;
}

std::string CifarRecords(int count, bool hundred, int label_offset) {
  std::string bytes;
  for (int i = 0; i < count; ++i) {
    if (hundred) bytes.push_back(static_cast<char>((i + label_offset) % 20));
    bytes.push_back(static_cast<char>((i + label_offset) % (hundred ? 100 : 10)));
    for (int p = 0; p < 3072; ++p) bytes.push_back(static_cast<char>((i + p) % 256));
  }
  return bytes;
}

}  // namespace fsd::testing
