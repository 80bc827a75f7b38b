#include "common/data/idx_reader.h"

#include <gtest/gtest.h>

#include <string>

#include "common/errors.h"
#include "tests/testing/temp_dir.h"

namespace fsd::data {
namespace {

using fsd::testing::TempDir;
using fsd::testing::WriteFile;

std::string BigEndian(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string ImagesFile(std::uint32_t count, std::uint32_t side, std::size_t body_bytes) {
  std::string bytes =
      std::string("\0\0\x08\x03", 4) + BigEndian(count) + BigEndian(side) + BigEndian(side);
  for (std::size_t i = 0; i < body_bytes; ++i) bytes.push_back(static_cast<char>(i * 37 % 256));
  return bytes;
}

std::string LabelsFile(std::uint32_t count, std::uint8_t modulo = 10) {
  std::string bytes = std::string("\0\0\x08\x01", 4) + BigEndian(count);
  for (std::uint32_t i = 0; i < count; ++i) bytes.push_back(static_cast<char>(i % modulo));
  return bytes;
}

void WriteSplit(const TempDir& dir, const std::string& images, const std::string& labels,
                bool gzip) {
  const std::string suffix = gzip ? ".gz" : "";
  WriteFile(dir.File("train-images-idx3-ubyte" + suffix), images, gzip);
  WriteFile(dir.File("train-labels-idx1-ubyte" + suffix), labels, gzip);
}

// Runs `fn`, expecting DataError whose message contains every fragment.
template <typename Fn>
void ExpectDataError(Fn fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    for (const auto& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

class IdxReaderTest : public ::testing::TestWithParam<bool> {};  // param: gzip

TEST_P(IdxReaderTest, LoadsImagesAndLabelsWithNormalization) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 5 * 16), LabelsFile(5), GetParam());
  const Normalization norm{0.5, 0.25};
  const Dataset d = LoadIdxDataset(dir.path(), "train", 10, norm);
  ASSERT_EQ(d.images.sizes(), (std::vector<std::int64_t>{5, 1, 4, 4}));
  EXPECT_EQ(d.labels[3].item<std::int64_t>(), 3);
  // Byte 2 of the body is 74: (74/255 - 0.5) / 0.25.
  EXPECT_NEAR(d.images.flatten()[2].item<float>(), (74.0 / 255.0 - 0.5) / 0.25, 1e-5);
}

TEST_P(IdxReaderTest, RejectsTruncatedImages) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 5 * 16 - 3), LabelsFile(5), GetParam());
  ExpectDataError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); },
                  {"train-images-idx3-ubyte", "truncated", "80", "77"});
}

TEST_P(IdxReaderTest, RejectsWrongMagic) {
  TempDir dir;
  std::string images = ImagesFile(5, 4, 80);
  images[0] = 0x12;
  WriteSplit(dir, images, LabelsFile(5), GetParam());
  ExpectDataError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"bad magic"});
}

TEST_P(IdxReaderTest, RejectsMismatchedImageAndLabelCounts) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 80), LabelsFile(4), GetParam());
  ExpectDataError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"5 images", "4 labels"});
}

TEST_P(IdxReaderTest, RejectsTrailingBytes) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 81), LabelsFile(5), GetParam());
  ExpectDataError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"trailing bytes"});
}

TEST_P(IdxReaderTest, RejectsLabelOutsideClassRange) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(12, 4, 12 * 16), LabelsFile(12, 12), GetParam());
  ExpectDataError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"label 10", "index 10"});
}

TEST_P(IdxReaderTest, RejectsHeaderAnnouncingHugeCountWithoutAllocatingIt) {
  TempDir dir;
  // 10 million 4096x4096 images would be 160 TB; the file holds 80 bytes.
  WriteSplit(dir, ImagesFile(10'000'000, 4096, 80), LabelsFile(5), GetParam());
  ExpectDataError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"truncated"});
}

TEST_P(IdxReaderTest, RejectsDimensionBeyondLimit) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 5000, 80), LabelsFile(5), GetParam());
  ExpectDataError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"dimension 1", "5000"});
}

TEST_P(IdxReaderTest, KeepsOnlyFirstSamplesWhenLimited) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 80), LabelsFile(5), GetParam());
  const Dataset d = LoadIdxDataset(dir.path(), "train", 10, {}, /*max_samples=*/2);
  EXPECT_EQ(d.size(), 2);
  EXPECT_EQ(d.labels[1].item<std::int64_t>(), 1);
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, IdxReaderTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Gzip" : "Plain"; });

TEST(IdxReaderFilesTest, MissingDirectoryIsIoErrorNamingTheFile) {
  try {
    LoadIdxDataset("/nonexistent-fsd", "train", 10, {});
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte"), std::string::npos);
  }
}

TEST(IdxReaderFilesTest, RejectsCorruptGzipStream) {
  TempDir dir;
  // A gzip header followed by garbage deflate data.
  WriteFile(dir.File("train-images-idx3-ubyte.gz"),
            std::string("\x1f\x8b\x08\x00\0\0\0\0\0\x03garbage!!", 19));
  WriteFile(dir.File("train-labels-idx1-ubyte"), LabelsFile(5));
  EXPECT_THROW(LoadIdxDataset(dir.path(), "train", 10, {}), DataError);
}

}  // namespace
}  // namespace fsd::data
