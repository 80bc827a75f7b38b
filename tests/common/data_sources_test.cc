// The CIFAR and NumPy sources on files these tests write: what a well-formed
// file gives, and for each way a file can be wrong a DataError naming the
// file and the problem; then LoadSplits across sources (channels, size and
// classes from the files, the training split's statistics on both splits).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/config/toml_loader.h"
#include "common/data/cifar_file.h"
#include "common/data/loader.h"
#include "common/data/npy_file.h"
#include "common/data/text_file.h"
#include "common/errors.h"
#include "tests/testing/data_files.h"
#include "tests/testing/expect_error.h"
#include "tests/testing/temp_dir.h"

namespace fsd::data {
namespace {

using fsd::testing::CifarRecords;
using fsd::testing::ExpectError;
using fsd::testing::NpyFile;
using fsd::testing::TempDir;
using fsd::testing::WriteFile;

void WriteCifar10(const TempDir& dir, int per_batch = 2) {
  for (int b = 1; b <= 5; ++b)
    WriteFile(dir.File("data_batch_" + std::to_string(b) + ".bin"),
              CifarRecords(per_batch, false, b));
  WriteFile(dir.File("test_batch.bin"), CifarRecords(3, false));
}

TEST(CifarFileTest, ReadsTheFiveCifar10BatchesInOrderAsChannelPlanes) {
  TempDir dir;
  WriteCifar10(dir);
  const ImageArrays train = ReadCifarSplit(dir.path(), true, CifarLabels::kFine);
  EXPECT_EQ(train.count, 10);
  EXPECT_EQ(train.channels, 3);
  EXPECT_EQ(train.height, 32);
  EXPECT_EQ(train.num_classes, 10);
  // Batch 2's first record has label 2; record 3 of the split is batch 2's second.
  EXPECT_EQ(train.labels[2], 2);
  EXPECT_EQ(train.labels[3], 3);
  // Record 3 (i = 1 within its file), green plane (p = 1024 + 5): (1 + 1029) % 256.
  EXPECT_EQ(train.bytes[3 * 3072 + 1024 + 5], (1 + 1029) % 256);
  EXPECT_EQ(ReadCifarSplit(dir.path(), false, CifarLabels::kFine).count, 3);
}

TEST(CifarFileTest, Cifar100GivesFineOrCoarseLabelsAndIsFoundInItsArchiveFolder) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("cifar-100-binary"));
  WriteFile(dir.File("cifar-100-binary/train.bin"), CifarRecords(4, true, 37));
  WriteFile(dir.File("cifar-100-binary/test.bin"), CifarRecords(2, true));
  const ImageArrays fine = ReadCifarSplit(dir.path(), true, CifarLabels::kFine);
  const ImageArrays coarse = ReadCifarSplit(dir.path(), true, CifarLabels::kCoarse);
  EXPECT_EQ(fine.num_classes, 100);
  EXPECT_EQ(coarse.num_classes, 20);
  EXPECT_EQ(fine.labels, (std::vector<std::int64_t>{37, 38, 39, 40}));
  EXPECT_EQ(coarse.labels, (std::vector<std::int64_t>{17, 18, 19, 0}));
  EXPECT_EQ(fine.bytes, coarse.bytes);
}

TEST(CifarFileTest, BadFilesAreRefusedNamingTheFileAndTheProblem) {
  TempDir dir;
  WriteCifar10(dir);
  // A truncated last record.
  std::string batch = CifarRecords(2, false);
  WriteFile(dir.File("data_batch_4.bin"), batch.substr(0, batch.size() - 7));
  ExpectError(
      [&] { ReadCifarSplit(dir.path(), true, CifarLabels::kFine); },
      {"data_batch_4.bin", "6139 bytes is not a whole number of 3073-byte CIFAR-10 records"});
  // A label byte outside CIFAR-10's classes.
  batch[3073] = 12;
  WriteFile(dir.File("data_batch_4.bin"), batch);
  ExpectError([&] { ReadCifarSplit(dir.path(), true, CifarLabels::kFine); },
              {"data_batch_4.bin", "label 12 of record 1 is outside [0, 10)"});
  // A missing batch, and a folder without CIFAR files: I/O errors naming what is missing.
  std::filesystem::remove(dir.File("data_batch_4.bin"));
  ExpectError<IoError>([&] { ReadCifarSplit(dir.path(), true, CifarLabels::kFine); },
                       {"data_batch_4.bin"});
  TempDir empty;
  ExpectError<IoError>([&] { ReadCifarSplit(empty.path(), true, CifarLabels::kFine); },
                       {"no CIFAR files in", "test_batch.bin", "train.bin"});
  // Coarse labels exist in CIFAR-100 only.
  TempDir ten;
  WriteCifar10(ten);
  ExpectError<ConfigError>([&] { ReadCifarSplit(ten.path(), true, CifarLabels::kCoarse); },
                           {"data.cifar_labels = \"coarse\" needs CIFAR-100"});
}

std::string Floats(const std::vector<float>& values) {
  std::string bytes(values.size() * 4, '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::string Bytes(int count, int start = 0) {
  std::string bytes;
  for (int i = 0; i < count; ++i) bytes.push_back(static_cast<char>(start + i));
  return bytes;
}

// Two 2x2 RGB images, N×H×W×C bytes 0..23, labels 1 and 2 as int64.
void WriteRgbNpy(const TempDir& dir, const std::string& split) {
  WriteFile(dir.File("x_" + split + ".npy"), NpyFile("|u1", "(2, 2, 2, 3)", Bytes(24)));
  WriteFile(dir.File("y_" + split + ".npy"),
            NpyFile("<i8", "(2,)", std::string("\x01\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0", 16)));
}

TEST(NpyFileTest, ReadsNhwcBytesAsChannelPlanesAndNchwAsIs) {
  TempDir dir;
  WriteRgbNpy(dir, "train");
  const ImageArrays nhwc = ReadNpySplit(dir.path(), "train", NpyLayout::kNhwc);
  EXPECT_EQ(nhwc.count, 2);
  EXPECT_EQ(nhwc.channels, 3);
  EXPECT_EQ(nhwc.height, 2);
  EXPECT_EQ(nhwc.labels, (std::vector<std::int64_t>{1, 2}));
  // Image 0's red plane: pixels 0, 3, 6, 9; its blue plane 2, 5, 8, 11.
  EXPECT_EQ(std::vector<std::uint8_t>(nhwc.bytes.begin(), nhwc.bytes.begin() + 4),
            (std::vector<std::uint8_t>{0, 3, 6, 9}));
  EXPECT_EQ(nhwc.bytes[8], 2);
  EXPECT_EQ(nhwc.bytes[12], 12);  // image 1 starts with its red pixel 0
  // The same bytes read as N×C×H×W: 2 channels of 2x3.
  const ImageArrays nchw = ReadNpySplit(dir.path(), "train", NpyLayout::kNchw);
  EXPECT_EQ(nchw.channels, 2);
  EXPECT_EQ(nchw.width, 3);
  EXPECT_EQ(nchw.bytes[5], 5);
}

TEST(NpyFileTest, ReadsFloatImagesOfOneChannelAndVersion2Headers) {
  TempDir dir;
  WriteFile(dir.File("x_test.npy"), NpyFile("<f4", "(1, 1, 2)", Floats({0.25f, -1.5f}), 2));
  WriteFile(dir.File("y_test.npy"), NpyFile("|u1", "(1, 1)", Bytes(1, 7), 3));
  const ImageArrays split = ReadNpySplit(dir.path(), "test", NpyLayout::kNhwc);
  EXPECT_EQ(split.channels, 1);
  EXPECT_EQ(split.floats, (std::vector<float>{0.25f, -1.5f}));
  EXPECT_TRUE(split.bytes.empty());
  EXPECT_EQ(split.labels, (std::vector<std::int64_t>{7}));
}

TEST(NpyFileTest, BadFilesAreRefusedNamingTheFileAndTheProblem) {
  TempDir dir;
  WriteRgbNpy(dir, "train");
  const auto read = [&] { ReadNpySplit(dir.path(), "train", NpyLayout::kNhwc); };
  const std::string x = dir.File("x_train.npy"), y = dir.File("y_train.npy");
  const std::vector<std::pair<std::string, std::vector<std::string>>> images = {
      {"not numpy at all", {"x_train.npy", "not a .npy file"}},
      {NpyFile("|u1", "(2, 2, 2, 3)", Bytes(20)),
       {"x_train.npy", "announces shape (2, 2, 2, 3) of '|u1' = 24 data bytes, the file holds 20"}},
      {NpyFile("|u1", "(2, 2, 2, 3)", Bytes(24), 1, "True"), {"Fortran-ordered"}},
      {NpyFile(">f4", "(2, 2, 2, 3)", Bytes(96)), {"dtype '>f4' is not supported"}},
      {NpyFile("<i4", "(2, 2, 2, 3)", Bytes(96)), {"images must be uint8", "or float32"}},
      {NpyFile("|u1", "(24,)", Bytes(24)), {"images of shape (24,)"}},
      {NpyFile("<f4", "(1, 1, 2, 1)", Floats({1.0f, std::nanf("")})), {"non-finite", "element 1"}},
      {NpyFile("|u1", "(2, 3, 2, 100)", Bytes(1200)),
       {"100 channels", "looks like data.npy_layout = \"nchw\""}},
      {std::string("\x93NUMPY\x04\0\x02\0{}", 12), {"unknown .npy format version 4.0"}},
      {NpyFile("|u1", "(2, 2, 2, 3)", Bytes(24)).replace(10, 9, "{'descr' "), {"header"}},
  };
  for (const auto& [bytes, fragments] : images) {
    WriteFile(x, bytes);
    ExpectError(read, fragments);
  }
  WriteRgbNpy(dir, "train");
  const std::vector<std::pair<std::string, std::vector<std::string>>> labels = {
      {NpyFile("<i8", "(3,)", std::string(24, '\0')), {"holds 2 images but", "holds 3 labels"}},
      {NpyFile("<f4", "(2,)", Floats({1, 2})), {"y_train.npy", "labels must be integers"}},
      {NpyFile("|i1", "(2,)", "\x01\xff"), {"y_train.npy", "label -1 at index 1"}},
      {NpyFile("<i4", "(2, 2)", std::string(16, '\0')), {"labels of shape (2, 2)"}},
  };
  for (const auto& [bytes, fragments] : labels) {
    WriteFile(y, bytes);
    ExpectError(read, fragments);
  }
  std::filesystem::remove(y);
  ExpectError<IoError>(read, {"y_train.npy"});
}

config::DataConfig NpyConfig(const TempDir& dir) {
  config::DataConfig config;
  config.source = config::DataSource::kNpy;
  config.dir = dir.path();
  return config;
}

TEST(LoadSplitsTest, FilesDecideChannelsSizeAndClassesAndTheTrainingStatisticsNormalizeBoth) {
  TempDir dir;
  WriteRgbNpy(dir, "train");
  WriteRgbNpy(dir, "test");
  config::DataConfig config = NpyConfig(dir);
  const Splits splits = LoadSplits(config);
  EXPECT_EQ(splits.train->channels(), 3);
  EXPECT_EQ(splits.train->height(), 2);
  EXPECT_EQ(splits.train->num_classes, 3);  // the largest label is 2
  ASSERT_EQ(splits.test->normalization.mean, splits.train->normalization.mean);
  // Red intensities 0, 3, 6, 9, 12, 15, 18, 21 (/255): mean 10.5/255.
  EXPECT_NEAR(splits.train->normalization.mean[0], 10.5 / 255.0, 1e-9);
  AdoptFromData(*splits.train, config);
  EXPECT_EQ(config.num_classes, 3);
  EXPECT_EQ(config.normalization.std.size(), 3u);
  // A class count set in the config bounds the labels instead.
  config.num_classes = 2;
  ExpectError([&] { LoadSplits(config); }, {"y_train.npy", "label 2 at index 1", "[0, 2)"});
}

TEST(LoadSplitsTest, TestImagesOfAnotherShapeThanTheTrainingImagesAreRefused) {
  TempDir dir;
  WriteRgbNpy(dir, "train");
  WriteFile(dir.File("x_test.npy"), NpyFile("|u1", "(1, 2, 2)", Bytes(4)));
  WriteFile(dir.File("y_test.npy"), NpyFile("|u1", "(1,)", Bytes(1)));
  ExpectError([&] { LoadSplits(NpyConfig(dir)); },
              {"x_test.npy", "test samples are 1x2x2 bytes, training samples", "3x2x2"});
}

TEST(LoadSplitsTest, CifarConfigKeysReachTheReader) {
  TempDir dir;
  WriteFile(dir.File("train.bin"), CifarRecords(3, true));
  WriteFile(dir.File("test.bin"), CifarRecords(2, true));
  const config::RunConfig config = config::ParseConfig(
      "[data]\nsource = \"cifar\"\ndir = \"" + dir.path() +
          "\"\ncifar_labels = \"coarse\"\nnormalize_mean = [0.5, 0.4, 0.3]\nnormalize_std = 0.25\n",
      "cifar.toml");
  const Splits splits = LoadSplits(config.data);
  EXPECT_EQ(splits.train->num_classes, 20);
  EXPECT_EQ(splits.train->images.sizes(), (std::vector<std::int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(splits.train->normalization.mean, (std::vector<double>{0.5, 0.4, 0.3}));
  EXPECT_EQ(splits.train->normalization.std, (std::vector<double>{0.25, 0.25, 0.25}));
  ExpectError<ConfigError>([] { config::ParseConfig("[data]\nnormalize_std = [1.0, 0.0]\n", "x"); },
                           {"data.normalize_std", "list of 1..64 numbers, each in (0, 1000]"});
  ExpectError<ConfigError>([] { config::ParseConfig("[data]\nnpy_layout = \"hwc\"\n", "x"); },
                           {"data.npy_layout", "one of: nhwc, nchw"});
}

TEST(TextFileTest, EachWindowIsLabelledWithTheSymbolAfterIt) {
  TempDir dir;
  WriteFile(dir.File("train.txt"), "abcdefghij");
  const ImageArrays samples = ReadTextSplit(dir.path(), "train", {.window = 3, .stride = 2});
  ASSERT_EQ(samples.count, 4);  // abc→d, cde→f, efg→h, ghi→j
  EXPECT_EQ(samples.width, 3);
  EXPECT_EQ(samples.num_classes, kTextSymbols);
  const auto symbol = [](char c) { return static_cast<float>(c - ' ' + 1); };
  EXPECT_EQ(samples.floats,
            (std::vector<float>{symbol('a'), symbol('b'), symbol('c'), symbol('c'), symbol('d'),
                                symbol('e'), symbol('e'), symbol('f'), symbol('g'), symbol('g'),
                                symbol('h'), symbol('i')}));
  EXPECT_EQ(samples.labels, (std::vector<std::int64_t>{TextSymbol('d'), TextSymbol('f'),
                                                       TextSymbol('h'), TextSymbol('j')}));
  EXPECT_EQ(TextSymbol('\n'), 0);
  EXPECT_EQ(TextSymbol('~'), kTextSymbols - 1);
}

TEST(TextFileTest, BytesOutsideTheVocabularyAndShortFilesAreRefusedByName) {
  TempDir dir;
  WriteFile(dir.File("train.txt"), "ab\tcdefgh");
  ExpectError([&] { ReadTextSplit(dir.path(), "train", {.window = 3, .stride = 1}); },
              {"train.txt", "byte 0x09 at offset 2", "outside the text vocabulary"});
  WriteFile(dir.File("test.txt"), "caf\xC3\xA9 au lait");
  ExpectError([&] { ReadTextSplit(dir.path(), "test", {.window = 3, .stride = 1}); },
              {"test.txt", "byte 0xC3 at offset 3"});
  WriteFile(dir.File("train.txt"), "abc");
  ExpectError([&] { ReadTextSplit(dir.path(), "train", {.window = 3, .stride = 1}); },
              {"train.txt", "holds 3 characters; one sample needs 4 (data.text_window + 1)"});
  ExpectError<IoError>([&] { ReadTextSplit(dir.File("missing"), "train", {}); }, {"missing"});
}

// data.dir with client folders b/ and a/ (text), a hidden folder, test.txt.
config::RunConfig NaturalTextConfig(const TempDir& dir, int clients) {
  std::filesystem::create_directories(dir.File("b"));
  std::filesystem::create_directories(dir.File("a"));
  std::filesystem::create_directories(dir.File(".cache"));
  WriteFile(dir.File("a/train.txt"), "0123456789");     // 3 windows of 4 at stride 2
  WriteFile(dir.File("b/train.txt"), "abcdefghijklm");  // 5 windows
  WriteFile(dir.File("test.txt"), "0123456789abc");
  return config::ParseConfig("[data]\nsource = \"text\"\ndir = \"" + dir.path() +
                                 "\"\ntext_window = 4\ntext_stride = 2\n[model]\narchitecture = "
                                 "\"char-gru\"\n[federation]\npartition = \"natural\"\nclients = " +
                                 std::to_string(clients) + "\n",
                             "natural.toml");
}

TEST(NaturalPartitionTest, EveryFolderIsAClientHoldingItsOwnSamplesInNameOrder) {
  TempDir dir;
  config::RunConfig config = NaturalTextConfig(dir, 2);
  EXPECT_EQ(NaturalClients(config), (std::vector<std::string>{"a", "b"}));
  const Splits splits = LoadRunData(config);
  ASSERT_EQ(splits.train->size(), 8);
  EXPECT_EQ(splits.test->size(), 5);
  const Partition partition = BuildPartition(config.federation, splits);
  EXPECT_EQ(partition, (Partition{{0, 1, 2}, {3, 4, 5, 6, 7}}));
  // Client b's first window is "abcd", labelled 'e'; symbols are not normalized.
  EXPECT_EQ(splits.train->labels[3].item<std::int64_t>(), TextSymbol('e'));
  EXPECT_EQ(splits.train->images[3][0][0][0].item<float>(), TextSymbol('a'));
  EXPECT_EQ(config.data.num_classes, kTextSymbols);
  EXPECT_EQ(config.data.normalization.mean, std::vector<double>{0.0});
  // A deployed client reads its own folder's training split alone.
  config.data.dir = dir.File("b");
  EXPECT_EQ(LoadTrainingSplit(config.data)->size(), 5);
}

TEST(NaturalPartitionTest, FolderCountOtherThanTheClientsAndMixedFormatsAreRefused) {
  TempDir dir;
  config::RunConfig config = NaturalTextConfig(dir, 3);
  ExpectError<ConfigError>([&] { LoadRunData(config); },
                           {"federation.clients is 3", "holds 2 client folders"});
  TempDir npy;
  for (const char* client : {"x", "y"}) std::filesystem::create_directories(npy.File(client));
  WriteFile(npy.File("x/x_train.npy"), NpyFile("|u1", "(1, 2, 2)", Bytes(4)));
  WriteFile(npy.File("x/y_train.npy"), NpyFile("|u1", "(1,)", Bytes(1)));
  WriteFile(npy.File("y/x_train.npy"), NpyFile("<f4", "(1, 2, 2)", std::string(16, '\0')));
  WriteFile(npy.File("y/y_train.npy"), NpyFile("|u1", "(1,)", Bytes(1)));
  config::RunConfig mixed;
  mixed.data.source = config::DataSource::kNpy;
  mixed.data.dir = npy.path();
  mixed.federation.partition = config::PartitionKind::kNatural;
  mixed.federation.clients = 2;
  ExpectError([&] { LoadRunData(mixed); },
              {"y/x_train.npy", "1x2x2 float32", "1x2x2 bytes", "the same format"});
}

}  // namespace
}  // namespace fsd::data
