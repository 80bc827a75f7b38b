// fsd-sim on the user's own data, as docs/DATA.md says to run it: NumPy
// arrays of 3-channel images (4 classes) and CIFAR-100 files with coarse
// labels, written by the test; what the files decided reaches summary.json,
// the federation learns, and a broken file stops the run with the data
// exit code and the file's name. And the partition a run uses, written by
// fsd-sim --write-partition and kept with every run, reproduces the split.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "tests/testing/data_files.h"
#include "tests/testing/sim_run.h"
#include "tests/testing/temp_dir.h"

namespace fsd {
namespace {

using testing::Concat;
using testing::RunToEnd;

// `count` 12x12 RGB images (N×H×W×C bytes) whose brightness says the class
// (i mod 4), with a position-dependent texture, and their int64 labels.
void WriteNpySplit(const testing::TempDir& dir, const std::string& split, int count) {
  std::string images, labels;
  for (int i = 0; i < count; ++i) {
    const int label = i % 4;
    for (int p = 0; p < 12 * 12 * 3; ++p)
      images.push_back(static_cast<char>(label * 60 + (i * 7 + p * 13) % 40));
    for (int b = 0; b < 8; ++b) labels.push_back(static_cast<char>(b == 0 ? label : 0));
  }
  const std::string n = std::to_string(count);
  testing::WriteFile(dir.File("x_" + split + ".npy"),
                     testing::NpyFile("|u1", "(" + n + ", 12, 12, 3)", images));
  testing::WriteFile(dir.File("y_" + split + ".npy"),
                     testing::NpyFile("<i8", "(" + n + ",)", labels));
}

std::vector<std::string> SimOn(const testing::TempDir& data, const testing::TempDir& out,
                               const std::string& source, int rounds) {
  return {testing::BinDir() + "/fsd-sim",
          "--config",
          testing::SourceDir() + "/configs/fmnist-sd.toml",
          "--out",
          out.File("run"),
          "--rounds",
          std::to_string(rounds),
          "--clients",
          "3",
          "--workers",
          "2",
          "--set",
          "data.source=" + source,
          "--set",
          "data.dir=" + data.path(),
          "--set",
          "data.num_classes=0",  // from the files (configs/fmnist-sd.toml fixes 10)
          "--set",
          "federation.partition=iid"};
}

TEST(DataSourcesTest, FederationOnNumpyColourImagesLearnsWithWhatTheFilesSay) {
  testing::TempDir data, out;
  WriteNpySplit(data, "train", 900);
  WriteNpySplit(data, "test", 200);
  ASSERT_EQ(RunToEnd(SimOn(data, out, "npy", 3), out.File("sim.log")), kExitOk)
      << testing::ReadFile(out.File("sim.log"));
  EXPECT_NE(testing::ReadFile(out.File("sim.log"))
                .find("data: 900 training and 200 test images of 3x12x12, 4 classes"),
            std::string::npos)
      << testing::ReadFile(out.File("sim.log"));
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("run/summary.json")));
  EXPECT_EQ(summary["data"]["images"].get<std::vector<int>>(), (std::vector<int>{3, 12, 12}));
  EXPECT_EQ(summary["data"]["num_classes"], 4);
  EXPECT_EQ(summary["data"]["augment"], "crop_flip");  // the default for colour images
  EXPECT_EQ(summary["data"]["normalize_mean"].size(), 3u);
  // Brightness separates the classes: far above chance (0.25) after 3 rounds.
  const auto records = testing::ReadMetrics(out.File("run"));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_GT(records.back()["acc"].back().get<double>(), 0.6) << records.back().dump();

  // A label file cut short: the data exit code, naming the file.
  const std::string labels = testing::ReadFile(data.File("y_train.npy"));
  testing::WriteFile(data.File("y_train.npy"), labels.substr(0, labels.size() - 8));
  EXPECT_EQ(RunToEnd(SimOn(data, out, "npy", 1), out.File("bad.log")), kExitData);
  EXPECT_NE(
      testing::ReadFile(out.File("bad.log")).find("y_train.npy: header announces shape (900,)"),
      std::string::npos)
      << testing::ReadFile(out.File("bad.log"));
}

TEST(DataSourcesTest, FederationOnCifar100FilesUsesTheCoarseLabelsAsked) {
  testing::TempDir data, out;
  testing::WriteFile(data.File("train.bin"), testing::CifarRecords(60, true));
  testing::WriteFile(data.File("test.bin"), testing::CifarRecords(20, true, 3));
  ASSERT_EQ(RunToEnd(Concat(SimOn(data, out, "cifar", 1),
                            {"--set", "data.cifar_labels=coarse", "--set", "data.augment=none"}),
                     out.File("sim.log")),
            kExitOk)
      << testing::ReadFile(out.File("sim.log"));
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("run/summary.json")));
  EXPECT_EQ(summary["data"]["images"].get<std::vector<int>>(), (std::vector<int>{3, 32, 32}));
  EXPECT_EQ(summary["data"]["num_classes"], 20);
  EXPECT_EQ(summary["data"]["train_samples"], 60);
  EXPECT_EQ(summary["data"]["augment"], "none");
  EXPECT_EQ(testing::ReadMetrics(out.File("run"))[0]["acc"].size(), 3u);
}

TEST(DataSourcesTest, AWrittenPartitionIsTheOneTheRunKeepsAndReproducesIt) {
  testing::TempDir out;
  // The Dirichlet partition of 4 clients, written without running.
  const auto dirichlet =
      Concat(testing::SyntheticSimArguments(out.File("unused"), 1, "fmnist-sd.toml", 4),
             {"--write-partition", out.File("split.txt")});
  ASSERT_EQ(RunToEnd(dirichlet, out.File("write.log")), kExitOk)
      << testing::ReadFile(out.File("write.log"));
  EXPECT_NE(testing::ReadFile(out.File("write.log")).find("the partition of 4 clients"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out.File("unused/metrics.jsonl")));
  const std::string written = testing::ReadFile(out.File("split.txt"));
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 4);
  // A run with the same config keeps the same partition beside its metrics ...
  ASSERT_EQ(RunToEnd(testing::SyntheticSimArguments(out.File("a"), 1, "fmnist-sd.toml", 4),
                     out.File("a.log")),
            kExitOk);
  EXPECT_EQ(testing::ReadFile(out.File("a/partition.txt")), written);
  // ... and a run told to read the file uses exactly that split.
  ASSERT_EQ(RunToEnd(Concat(testing::SyntheticSimArguments(out.File("b"), 1, "fmnist-sd.toml", 4),
                            {"--set", "federation.partition=file", "--set",
                             "federation.partition_file=" + out.File("split.txt")}),
                     out.File("b.log")),
            kExitOk)
      << testing::ReadFile(out.File("b.log"));
  EXPECT_EQ(testing::ReadFile(out.File("b/partition.txt")), written);
  EXPECT_EQ(testing::ReadMetrics(out.File("b"))[0]["samples"],
            testing::ReadMetrics(out.File("a"))[0]["samples"]);
}

}  // namespace
}  // namespace fsd
