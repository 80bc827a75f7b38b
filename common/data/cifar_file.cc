#include "common/data/cifar_file.h"

#include <filesystem>
#include <vector>

#include "common/data/binary_file.h"
#include "common/errors.h"

namespace fsd::data {
namespace {

constexpr std::int64_t kSide = 32;
constexpr std::int64_t kChannels = 3;
constexpr std::int64_t kPixels = kChannels * kSide * kSide;  // 3072

struct Format {
  std::string folder;              // where the files are
  bool hundred = false;            // CIFAR-100
  std::vector<std::string> train;  // file names
  std::vector<std::string> test;
};

Format FindFormat(const std::string& dir) {
  namespace fs = std::filesystem;
  for (const std::string& folder :
       {dir, dir + "/cifar-10-batches-bin", dir + "/cifar-100-binary"}) {
    if (fs::is_regular_file(folder + "/data_batch_1.bin")) {
      return {folder,
              false,
              {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
               "data_batch_5.bin"},
              {"test_batch.bin"}};
    }
    if (fs::is_regular_file(folder + "/train.bin")) {
      return {folder, true, {"train.bin"}, {"test.bin"}};
    }
  }
  throw IoError("no CIFAR files in " + dir +
                ": expected data_batch_1.bin … data_batch_5.bin and test_batch.bin (CIFAR-10) or "
                "train.bin and test.bin (CIFAR-100), there or in cifar-10-batches-bin/ or "
                "cifar-100-binary/");
}

// Appends the records of one file to `out`.
void ReadRecords(const std::string& path, bool hundred, CifarLabels which,
                 const ImageLimits& limits, ImageArrays& out) {
  BinaryFile file(path);
  const std::int64_t label_bytes = hundred ? 2 : 1;
  const std::int64_t record = label_bytes + kPixels;
  if (file.size() == 0) file.Fail("empty");
  if (file.size() % record != 0) {
    file.Fail("size " + std::to_string(file.size()) + " bytes is not a whole number of " +
              std::to_string(record) + "-byte " + (hundred ? "CIFAR-100" : "CIFAR-10") +
              " records (truncated, or another format)");
  }
  const auto records = static_cast<std::int64_t>(file.size() / record);
  if (out.count + records > limits.max_items) {
    file.Fail("brings the split to " + std::to_string(out.count + records) +
              " images, more than the limit of " + std::to_string(limits.max_items));
  }
  const int classes = out.num_classes;
  const std::size_t first = out.bytes.size();
  out.bytes.resize(first + static_cast<std::size_t>(records * kPixels));
  out.labels.reserve(out.labels.size() + static_cast<std::size_t>(records));
  std::uint8_t label[2];
  for (std::int64_t i = 0; i < records; ++i) {
    file.Read(label, static_cast<std::size_t>(label_bytes));
    const int value = hundred && which == CifarLabels::kFine ? label[1] : label[0];
    if (value >= classes) {
      file.Fail("label " + std::to_string(value) + " of record " + std::to_string(i) +
                " is outside [0, " + std::to_string(classes) + ")");
    }
    out.labels.push_back(value);
    file.Read(out.bytes.data() + first + static_cast<std::size_t>(i * kPixels), kPixels);
  }
  out.count += records;
}

}  // namespace

ImageArrays ReadCifarSplit(const std::string& dir, bool train, CifarLabels labels,
                           const ImageLimits& limits) {
  const Format format = FindFormat(dir);
  if (!format.hundred && labels == CifarLabels::kCoarse) {
    throw ConfigError("data.cifar_labels = \"coarse\" needs CIFAR-100 (train.bin, test.bin); " +
                      format.folder + " holds CIFAR-10, which has one label: use \"fine\"");
  }
  ImageArrays out;
  out.channels = kChannels;
  out.height = out.width = kSide;
  out.num_classes = !format.hundred ? 10 : labels == CifarLabels::kFine ? 100 : 20;
  for (const std::string& name : train ? format.train : format.test) {
    const std::string path = format.folder + "/" + name;
    ReadRecords(path, format.hundred, labels, limits, out);
    out.images_path = out.images_path.empty() ? path : out.images_path + ", " + path;
  }
  out.labels_path = out.images_path;
  return out;
}

}  // namespace fsd::data
