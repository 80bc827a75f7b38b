#include "common/data/image_dataset.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/data/augment.h"
#include "common/errors.h"
#include "tests/testing/expect_error.h"
#include "tests/testing/temp_dir.h"

namespace fsd::data {
namespace {

using fsd::testing::ExpectError;
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

class IdxReaderTest : public ::testing::TestWithParam<bool> {};  // param: gzip

TEST_P(IdxReaderTest, LoadsImagesAndLabelsWithNormalization) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 5 * 16), LabelsFile(5), GetParam());
  const Normalization norm{{0.5}, {0.25}};
  const Dataset d = LoadIdxDataset(dir.path(), "train", 10, norm);
  ASSERT_EQ(d.images.sizes(), (std::vector<std::int64_t>{5, 1, 4, 4}));
  EXPECT_EQ(d.labels[3].item<std::int64_t>(), 3);
  // Byte 2 of the body is 74: (74/255 - 0.5) / 0.25.
  EXPECT_NEAR(d.images.flatten()[2].item<float>(), (74.0 / 255.0 - 0.5) / 0.25, 1e-5);
}

TEST_P(IdxReaderTest, RejectsTruncatedImages) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 5 * 16 - 3), LabelsFile(5), GetParam());
  ExpectError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); },
              {"train-images-idx3-ubyte", "truncated", "80", "77"});
}

TEST_P(IdxReaderTest, RejectsWrongMagic) {
  TempDir dir;
  std::string images = ImagesFile(5, 4, 80);
  images[0] = 0x12;
  WriteSplit(dir, images, LabelsFile(5), GetParam());
  ExpectError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"bad magic"});
}

TEST_P(IdxReaderTest, RejectsMismatchedImageAndLabelCounts) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 80), LabelsFile(4), GetParam());
  ExpectError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"5 images", "4 labels"});
}

TEST_P(IdxReaderTest, RejectsTrailingBytes) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 4, 81), LabelsFile(5), GetParam());
  ExpectError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"trailing bytes"});
}

TEST_P(IdxReaderTest, RejectsLabelOutsideClassRange) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(12, 4, 12 * 16), LabelsFile(12, 12), GetParam());
  ExpectError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"label 10", "index 10"});
}

TEST_P(IdxReaderTest, RejectsHeaderAnnouncingHugeCountWithoutAllocatingIt) {
  TempDir dir;
  // 10 million 4096x4096 images would be 160 TB; the file holds 80 bytes.
  WriteSplit(dir, ImagesFile(10'000'000, 4096, 80), LabelsFile(5), GetParam());
  ExpectError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"truncated"});
}

TEST_P(IdxReaderTest, RejectsDimensionBeyondLimit) {
  TempDir dir;
  WriteSplit(dir, ImagesFile(5, 5000, 80), LabelsFile(5), GetParam());
  ExpectError([&] { LoadIdxDataset(dir.path(), "train", 10, {}); }, {"dimension 1", "5000"});
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

// Two 3-channel 1x2 images: channel c of image n holds bytes (n*3+c)*10, +5.
ImageArrays TwoColourImages() {
  ImageArrays images;
  images.count = 2;
  images.channels = 3;
  images.height = 1;
  images.width = 2;
  for (int n = 0; n < 2; ++n) {
    for (int c = 0; c < 3; ++c) {
      images.bytes.push_back(static_cast<std::uint8_t>((n * 3 + c) * 10));
      images.bytes.push_back(static_cast<std::uint8_t>((n * 3 + c) * 10 + 5));
    }
  }
  images.labels = {0, 1};
  images.labels_path = "labels.npy";
  return images;
}

TEST(ImageDatasetTest, ComputesEachChannelsStatisticsWhenNoneAreGiven) {
  const Dataset d = ToDataset(TwoColourImages(), 2, {});
  ASSERT_EQ(d.images.sizes(), (std::vector<std::int64_t>{2, 3, 1, 2}));
  // Channel 0 holds 0, 5, 30, 35 (/255): mean 17.5/255, population std 15.2069/255.
  ASSERT_EQ(d.normalization.mean.size(), 3u);
  EXPECT_NEAR(d.normalization.mean[0], 17.5 / 255.0, 1e-9);
  EXPECT_NEAR(d.normalization.mean[2], 37.5 / 255.0, 1e-9);
  EXPECT_NEAR(d.normalization.std[1], std::sqrt(231.25) / 255.0, 1e-9);
  // Normalized: every channel has mean 0 and std 1.
  const auto per_channel = d.images.transpose(0, 1).reshape({3, -1});
  EXPECT_TRUE(torch::allclose(per_channel.mean(1), torch::zeros({3}), 1e-5, 1e-5));
  EXPECT_TRUE(
      torch::allclose(per_channel.std(1, /*unbiased=*/false), torch::ones({3}), 1e-4, 1e-4));
}

TEST(ImageDatasetTest, AppliesGivenListsPerChannelAndOneValueToEveryChannel) {
  const Dataset listed = ToDataset(TwoColourImages(), 2, {{0.0, 0.1, 0.2}, {1.0, 0.5, 0.25}});
  // Image 1, channel 2, pixel 1: byte 55.
  EXPECT_NEAR(listed.images[1][2][0][1].item<float>(), (55 / 255.0 - 0.2) / 0.25, 1e-5);
  const Dataset single = ToDataset(TwoColourImages(), 2, {{0.5}, {2.0}});
  EXPECT_EQ(single.normalization.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_NEAR(single.images[1][2][0][1].item<float>(), (55 / 255.0 - 0.5) / 2.0, 1e-5);
  try {
    ToDataset(TwoColourImages(), 2, {{0.1, 0.2}, {}});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(
        e.what(),
        "data.normalize_mean has 2 values; the images have 3 channels (give 1 value or 3)");
  }
}

TEST(ImageDatasetTest, LabelOutsideTheClassCountIsADataErrorNamingTheFile) {
  ExpectError([] { ToDataset(TwoColourImages(), 1, {}); },
              {"labels.npy", "label 1 at index 1", "outside [0, 1)"});
}

TEST(CropFlipTest, EachSampleIsItsImageShiftedByAtMostFourPixelsAndMaybeFlippedOverBlack) {
  torch::manual_seed(1);
  const Normalization normalization{{0.5, 0.25}, {0.5, 0.25}};  // black: -1 and -1
  const auto original = torch::rand({16, 2, 6, 8});
  auto batch = original.clone();
  random::Engine engine = random::StreamEngine(7, {"augment"});
  CropFlip(batch, normalization, engine);
  int flipped = 0, moved = 0;
  for (int i = 0; i < 16; ++i) {
    // Find the (dy, dx, flip) that explains sample i: exactly one must.
    int explanations = 0;
    for (int dy = -kCropPadding; dy <= kCropPadding; ++dy) {
      for (int dx = -kCropPadding; dx <= kCropPadding; ++dx) {
        auto expected = torch::full({2, 6, 8}, -1.0f);
        const int rows = 6 - std::abs(dy), cols = 8 - std::abs(dx);
        if (rows > 0 && cols > 0) {
          expected.narrow(1, std::max(0, -dy), rows)
              .narrow(2, std::max(0, -dx), cols)
              .copy_(original[i].narrow(1, std::max(0, dy), rows).narrow(2, std::max(0, dx), cols));
        }
        for (const bool flip : {false, true}) {
          if (torch::equal(batch[i], flip ? expected.flip({2}) : expected)) {
            ++explanations;
            flipped += flip ? 1 : 0;
            moved += dy != 0 || dx != 0 ? 1 : 0;
          }
        }
      }
    }
    EXPECT_EQ(explanations, 1) << "sample " << i;
  }
  // 16 draws: some flipped, some not; most moved.
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
  EXPECT_GT(moved, 8);
  // The same stream gives the same batch.
  auto again = original.clone();
  random::Engine same = random::StreamEngine(7, {"augment"});
  CropFlip(again, normalization, same);
  EXPECT_TRUE(torch::equal(again, batch));
}

}  // namespace
}  // namespace fsd::data
