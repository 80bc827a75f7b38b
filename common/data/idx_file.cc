#include "common/data/idx_file.h"

#include <zlib.h>

#include <filesystem>
#include <memory>

#include "common/errors.h"

namespace fsd::data {
namespace {

constexpr std::uint8_t kUnsignedByteType = 0x08;
constexpr std::size_t kReadChunkBytes = 16 << 20;

struct GzCloser {
  void operator()(gzFile file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

[[noreturn]] void Fail(const std::string& path, const std::string& problem) {
  throw DataError(path + ": " + problem);
}

// Reads exactly `size` bytes; returns how many were read before end of file.
std::size_t ReadUpTo(gzFile file, const std::string& path, std::uint8_t* out, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size - done, 1 << 30));
    const int got = gzread(file, out + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      Fail(path, std::string("corrupt compressed data (") + message + ")");
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

}  // namespace

std::string FindIdxFile(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {dir + "/" + stem + ".gz", dir + "/" + stem}) {
    if (std::filesystem::is_regular_file(candidate)) return candidate;
  }
  throw IoError("no file " + dir + "/" + stem + "[.gz] (set data.dir to a directory with " +
                "MNIST-format IDX files)");
}

IdxArray ReadIdxFile(const std::string& path, int expected_rank, const IdxLimits& limits) {
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) throw IoError(path + ": cannot open");

  std::uint8_t magic[4];
  if (ReadUpTo(file.get(), path, magic, 4) != 4)
    Fail(path, "truncated: shorter than the 4-byte magic");
  if (magic[0] != 0 || magic[1] != 0) Fail(path, "bad magic: not an IDX file");
  if (magic[2] != kUnsignedByteType) {
    Fail(path,
         "unsupported element type 0x" + std::to_string(magic[2]) + " (only unsigned bytes, 0x08)");
  }
  if (magic[3] != expected_rank) {
    Fail(path, "rank " + std::to_string(magic[3]) + ", expected " + std::to_string(expected_rank));
  }

  IdxArray array;
  std::int64_t total = 1;
  for (int d = 0; d < expected_rank; ++d) {
    std::uint8_t raw[4];
    if (ReadUpTo(file.get(), path, raw, 4) != 4) Fail(path, "truncated header");
    const std::int64_t dim = (std::int64_t{raw[0]} << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3];
    const std::int64_t limit = d == 0 ? limits.max_items : limits.max_side;
    if (dim < 1 || dim > limit) {
      Fail(path, "dimension " + std::to_string(d) + " is " + std::to_string(dim) + ", allowed 1.." +
                     std::to_string(limit));
    }
    array.dims.push_back(dim);
    total *= dim;  // bounded by max_items * max_side^2 < 2^63
  }

  // Grow with the bytes actually present, so a header announcing more data than
  // the file holds cannot make us allocate it.
  const auto announced = static_cast<std::size_t>(total);
  std::size_t got = 0;
  while (got < announced) {
    const std::size_t chunk = std::min<std::size_t>(announced - got, kReadChunkBytes);
    array.bytes.resize(got + chunk);
    const std::size_t read = ReadUpTo(file.get(), path, array.bytes.data() + got, chunk);
    got += read;
    if (read < chunk) break;
  }
  if (got != announced) {
    Fail(path, "truncated: header announces " + std::to_string(total) + " data bytes, file holds " +
                   std::to_string(got));
  }
  std::uint8_t extra = 0;
  if (ReadUpTo(file.get(), path, &extra, 1) != 0)
    Fail(path, "trailing bytes after the announced data");
  return array;
}

IdxSplit ReadIdxSplit(const std::string& dir, const std::string& split, int num_classes,
                      const IdxLimits& limits) {
  if (num_classes < 2 || num_classes > 256) {
    throw ConfigError("num_classes is " + std::to_string(num_classes) + ", allowed 2..256");
  }
  IdxSplit out;
  out.images_path = FindIdxFile(dir, split + "-images-idx3-ubyte");
  out.labels_path = FindIdxFile(dir, split + "-labels-idx1-ubyte");
  out.images = ReadIdxFile(out.images_path, 3, limits);
  out.labels = ReadIdxFile(out.labels_path, 1, limits);
  if (out.images.dims[0] != out.labels.dims[0]) {
    throw DataError(out.images_path + " holds " + std::to_string(out.images.dims[0]) +
                    " images but " + out.labels_path + " holds " +
                    std::to_string(out.labels.dims[0]) + " labels");
  }
  for (std::size_t i = 0; i < out.labels.bytes.size(); ++i) {
    if (out.labels.bytes[i] >= num_classes) {
      throw DataError(out.labels_path + ": label " + std::to_string(out.labels.bytes[i]) +
                      " at index " + std::to_string(i) + " is outside [0, " +
                      std::to_string(num_classes) + ")");
    }
  }
  return out;
}

ImageArrays ReadIdxImages(const std::string& dir, const std::string& split,
                          const IdxLimits& limits) {
  IdxSplit files = ReadIdxSplit(dir, split, 256, limits);
  ImageArrays out;
  out.count = files.images.dims[0];
  out.channels = 1;
  out.height = files.images.dims[1];
  out.width = files.images.dims[2];
  out.bytes = std::move(files.images.bytes);
  out.labels.assign(files.labels.bytes.begin(), files.labels.bytes.end());
  out.images_path = std::move(files.images_path);
  out.labels_path = std::move(files.labels_path);
  return out;
}

}  // namespace fsd::data
