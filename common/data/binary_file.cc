#include "common/data/binary_file.h"

#include <filesystem>
#include <system_error>

#include "common/errors.h"

namespace fsd::data {

BinaryFile::BinaryFile(std::string path) : path_(std::move(path)) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path_, error)) {
    throw IoError(path_ + (error                                   ? ": " + error.message()
                           : std::filesystem::exists(path_, error) ? ": not a regular file"
                                                                   : ": no such file"));
  }
  size_ = std::filesystem::file_size(path_, error);
  if (error) throw IoError(path_ + ": cannot read its size (" + error.message() + ")");
  in_.open(path_, std::ios::binary);
  if (!in_) throw IoError(path_ + ": cannot open");
}

void BinaryFile::Read(void* out, std::size_t bytes) {
  if (bytes > size_ - position_) {
    Fail("truncated: needs " + std::to_string(bytes) + " bytes at offset " +
         std::to_string(position_) + ", the file has " + std::to_string(size_ - position_) +
         " left");
  }
  in_.read(static_cast<char*>(out), static_cast<std::streamsize>(bytes));
  if (in_.gcount() != static_cast<std::streamsize>(bytes)) {
    throw IoError(path_ + ": read failed at offset " + std::to_string(position_));
  }
  position_ += bytes;
}

void BinaryFile::Fail(const std::string& problem) const { throw DataError(path_ + ": " + problem); }

}  // namespace fsd::data
