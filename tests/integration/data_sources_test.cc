// fsd-sim on the user's own data, as docs/DATA.md says to run it: NumPy
// arrays of 3-channel images (4 classes) and CIFAR-100 files with coarse
// labels, written by the test; what the files decided reaches summary.json,
// the federation learns, and a broken file stops the run with the data
// exit code and the file's name. And the partition a run uses, written by
// fsd-sim --write-partition and kept with every run, reproduces the split.
// Then the natural partition on the text task: a simulation makes one client
// per folder named after it, a deployment runs each fsd-client on its own
// folder, and the King James Bible prepared from Debian's package runs with
// configs/kjv-chars.toml as docs/DATA.md says.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

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
                .find("data: 900 training and 200 test samples of 3x12x12, 4 classes"),
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

const std::vector<std::string> kSentences = {
    "in the beginning was the word, and the word was with god.\n",
    "blessed are the meek: for they shall inherit the earth.\n",
    "let every thing that hath breath praise the lord.\n"};

// One folder per client of `clients` (client k repeats sentence k) and a
// test split holding every sentence.
void WriteTextFolders(const testing::TempDir& dir, const std::vector<std::string>& clients) {
  std::string test;
  for (std::size_t k = 0; k < clients.size(); ++k) {
    std::string text;
    for (int i = 0; i < 40; ++i) text += kSentences[k % kSentences.size()];
    std::filesystem::create_directories(dir.File(clients[k]));
    testing::WriteFile(dir.File(clients[k] + "/train.txt"), text);
    for (int i = 0; i < 4; ++i) test += kSentences[k % kSentences.size()];
  }
  testing::WriteFile(dir.File("test.txt"), test);
}

// configs/kjv-chars.toml on `data`: `clients` folders, every client each
// round, windows of 16 symbols at every 2nd symbol.
std::vector<std::string> TextSettings(const testing::TempDir& data, int clients) {
  std::vector<std::string> settings;
  const auto set = [&](const std::string& assignment) {
    settings.push_back("--set");
    settings.push_back(assignment);
  };
  set("data.dir=" + data.path());
  set("data.text_window=16");
  set("data.text_stride=2");
  set("federation.fraction=1");
  std::ostringstream clients_setting;  // not "..." + to_string: GCC 12's -Warray-bounds misfires
  clients_setting << "federation.clients=" << clients;
  set(clients_setting.str());
  return settings;
}

TEST(NaturalPartitionTest, SimulationMakesOneClientPerFolderNamedAfterIt) {
  testing::TempDir data, out;
  WriteTextFolders(data, {"john", "amos", "mark"});
  ASSERT_EQ(RunToEnd(Concat({testing::BinDir() + "/fsd-sim", "--config",
                             testing::SourceDir() + "/configs/kjv-chars.toml", "--out",
                             out.File("run"), "--rounds", "8", "--workers", "2"},
                            TextSettings(data, 3)),
                     out.File("sim.log")),
            kExitOk)
      << testing::ReadFile(out.File("sim.log"));
  const std::string log = testing::ReadFile(out.File("sim.log"));
  for (const char* name : {"client amos joined", "client john joined", "client mark joined"})
    EXPECT_NE(log.find(name), std::string::npos) << name;
  // Folders in name order: amos (sentence 1), john (0), mark (2), each its
  // own samples — (40 sentences − 16 − 1) / 2 + 1 windows.
  const std::string partition = testing::ReadFile(out.File("run/partition.txt"));
  std::vector<std::size_t> sizes;
  std::istringstream lines(partition);
  for (std::string line; std::getline(lines, line);)
    sizes.push_back(static_cast<std::size_t>(std::count(line.begin(), line.end(), ' ') + 1));
  const auto windows = [](std::size_t k) { return (40 * kSentences[k].size() - 17) / 2 + 1; };
  EXPECT_EQ(sizes, (std::vector<std::size_t>{windows(1), windows(0), windows(2)}));
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("run/summary.json")));
  EXPECT_EQ(summary["data"]["num_classes"], 96);
  // Repeated sentences: the main exit predicts far better than its most
  // frequent symbol (the space, under 20%) after 8 rounds.
  const auto records = testing::ReadMetrics(out.File("run"));
  ASSERT_EQ(records.size(), 8u);
  EXPECT_EQ(records[0]["acc"].size(), 3u);
  EXPECT_GT(records.back()["acc"].back().get<double>(), 0.4) << records.back().dump();
}

// Everything that does not depend on the layer types runs on char-gru: each
// case is one feature over 2 rounds of 3 books, checked in the metrics.
struct ModelAgnosticCase {
  const char* name;
  const char* tables;  // TOML tables appended to configs/kjv-chars.toml
  std::vector<std::string> settings;
  std::function<void(const std::vector<nlohmann::json>&)> check;
};

void PrintTo(const ModelAgnosticCase& feature, std::ostream* out) { *out << feature.name; }

class CharGruFeatureTest : public ::testing::TestWithParam<ModelAgnosticCase> {};

TEST_P(CharGruFeatureTest, RunsOnTheSequenceModel) {
  testing::TempDir data, out;
  WriteTextFolders(data, {"john", "amos", "mark"});
  const std::string config = out.File("config.toml");
  testing::WriteFile(config, testing::ReadFile(testing::SourceDir() + "/configs/kjv-chars.toml") +
                                 "\n" + GetParam().tables);
  ASSERT_EQ(RunToEnd(Concat(Concat({testing::BinDir() + "/fsd-sim", "--config", config, "--out",
                                    out.File("run"), "--rounds", "2", "--workers", "2"},
                                   TextSettings(data, 3)),
                            GetParam().settings),
                     out.File("sim.log")),
            kExitOk)
      << testing::ReadFile(out.File("sim.log"));
  const auto records = testing::ReadMetrics(out.File("run"));
  ASSERT_EQ(records.size(), 2u);
  GetParam().check(records);
}

INSTANTIATE_TEST_SUITE_P(
    NaturalPartitionTest, CharGruFeatureTest,
    ::testing::Values(
        ModelAgnosticCase{"PruningAndInt8",
                          "[compression]\nuplink = \"int8\"\n[pruning]\nfinal_sparsity = 0.5\n"
                          "start_round = 1\nend_round = 2\n",
                          {},
                          [](const auto& records) {
                            EXPECT_EQ(records[1]["sparsity"].template get<double>(), 0.5);
                            EXPECT_LT(records[1]["bytes_up"].template get<double>(),
                                      records[0]["bytes_up"].template get<double>());
                          }},
        ModelAgnosticCase{"SecureAggregation",
                          "",
                          {"--set", "secure_aggregation.enabled=true"},
                          [](const auto& records) {
                            EXPECT_EQ(records[1]["secure_aggregation"]["survivors"], 3);
                          }},
        ModelAgnosticCase{
            "CentralDp",
            "",
            {"--set", "privacy.dp=central", "--set", "aggregation.weighting=uniform", "--set",
             "privacy.noise_multiplier=0.5", "--set", "privacy.clip_norm=1.0"},
            [](const auto& records) {
              EXPECT_EQ(records[1]["privacy_steps"], 2);
              EXPECT_GT(records[1]["epsilon"].template get<double>(), 0.0);
            }},
        ModelAgnosticCase{
            "HeterogeneousExits",
            "[[heterogeneity.profile]]\nshare = 0.34\nmax_exit = 1\n"
            "[[heterogeneity.profile]]\nshare = 0.66\nmax_exit = 0\n",
            {},
            [](const auto& records) {
              EXPECT_EQ(records[1]["clients_by_exit"], nlohmann::json::array({1, 0, 2}));
            }}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(NaturalPartitionTest, CoordinatorAndTwoClientsEachOnItsOwnFolder) {
  testing::TempDir data, dir;
  WriteTextFolders(data, {"client-1", "client-2"});
  const auto bin = [](const char* name) { return testing::BinDir() + "/" + name; };
  ASSERT_EQ(RunToEnd({bin("fsd-keygen"), "--out", dir.File("keys"), "--name", "coordinator"},
                     dir.File("k.log")),
            kExitOk);
  for (const char* name : {"client-1", "client-2"}) {
    ASSERT_EQ(RunToEnd({bin("fsd-keygen"), "--out", dir.File("allow"), "--name", name},
                       dir.File("k.log")),
              kExitOk);
  }
  // The coordinator holds the test split only; the folders are the clients'.
  std::filesystem::create_directories(dir.File("server"));
  std::filesystem::copy_file(data.File("test.txt"), dir.File("server/test.txt"));
  const std::vector<std::string> config = {"--config",
                                           testing::SourceDir() + "/configs/kjv-chars.toml"};
  const int coordinator = testing::SpawnProcess(
      Concat(Concat(Concat({bin("fsd-coordinator")}, config), TextSettings(data, 2)),
             {"--out", dir.File("coord"), "--key", dir.File("keys/coordinator.key"), "--allow",
              dir.File("allow"), "--bind", "tcp://127.0.0.1:*", "--rounds", "2", "--min-clients",
              "2", "--set", "data.dir=" + dir.File("server")}),
      dir.File("coord.log"));
  const std::string endpoint = testing::ListeningEndpoint(dir.File("coord.log"));
  ASSERT_FALSE(endpoint.empty()) << testing::ReadFile(dir.File("coord.log"));
  std::vector<int> clients;
  for (const std::string name : {"client-1", "client-2"}) {
    // Its own folder is its data directory; the test split is the coordinator's.
    clients.push_back(testing::SpawnProcess(
        Concat(Concat(Concat({bin("fsd-client")}, config), TextSettings(data, 2)),
               {"--set", "data.dir=" + data.File(name), "--connect", endpoint, "--key",
                dir.File("allow/" + name + ".key"), "--server-key",
                dir.File("keys/coordinator.pub"), "--name", name}),
        dir.File(name + ".log")));
  }
  EXPECT_EQ(testing::WaitProcess(coordinator, 240.0), kExitOk)
      << testing::ReadFile(dir.File("coord.log"));
  for (std::size_t k = 0; k < clients.size(); ++k) {
    EXPECT_EQ(testing::WaitProcess(clients[k], 240.0), kExitOk)
        << testing::ReadFile(dir.File("client-" + std::to_string(k + 1) + ".log"));
  }
  const auto records = testing::ReadMetrics(dir.File("coord"));
  ASSERT_EQ(records.size(), 2u);
  for (const auto& record : records) EXPECT_EQ(record["clients_reported"].get<int>(), 2);
  // Each client trained on its folder alone: 40 sentences' windows.
  EXPECT_NE(testing::ReadFile(dir.File("client-2.log"))
                .find(std::to_string((40 * kSentences[1].size() - 17) / 2 + 1) + " samples"),
            std::string::npos)
      << testing::ReadFile(dir.File("client-2.log"));
}

TEST(NaturalPartitionTest, KingJamesBibleFromThePackageRunsAsDataMdSays) {
  testing::TempDir data, out;
  ASSERT_EQ(RunToEnd({testing::SourceDir() + "/scripts/prepare-kjv", data.File("kjv")},
                     out.File("prepare.log")),
            kExitOk)
      << testing::ReadFile(out.File("prepare.log"));
  EXPECT_NE(testing::ReadFile(out.File("prepare.log")).find("prepare-kjv: 66 books"),
            std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(data.File("kjv/19-psalms/train.txt")));
  // One round on a sparse sample of the windows (one every 4096 symbols).
  const std::vector<std::string> settings = {"--set", "data.dir=" + data.File("kjv"), "--set",
                                             "data.text_stride=4096"};
  ASSERT_EQ(RunToEnd(Concat({testing::BinDir() + "/fsd-sim", "--config",
                             testing::SourceDir() + "/configs/kjv-chars.toml", "--out",
                             out.File("run"), "--rounds", "1", "--workers", "2"},
                            settings),
                     out.File("sim.log")),
            kExitOk)
      << testing::ReadFile(out.File("sim.log"));
  const std::string log = testing::ReadFile(out.File("sim.log"));
  EXPECT_NE(log.find("14/14 clients"), std::string::npos) << log;  // 20% of 66 books
  const auto summary = nlohmann::json::parse(testing::ReadFile(out.File("run/summary.json")));
  EXPECT_EQ(summary["clients"], 66);
  // Exported: a LibTorch model only; slimming is refused by name.
  const auto exporter = [&](const std::vector<std::string>& flags, const std::string& log_name) {
    return RunToEnd(Concat(Concat({testing::BinDir() + "/fsd-export", "--config",
                                   testing::SourceDir() + "/configs/kjv-chars.toml", "--checkpoint",
                                   out.File("run/checkpoint.bin")},
                                  settings),
                           flags),
                    out.File(log_name));
  };
  ASSERT_EQ(exporter({"--exit", "2", "--out", out.File("exit2.pt")}, "export.log"), kExitOk)
      << testing::ReadFile(out.File("export.log"));
  EXPECT_NE(testing::ReadFile(out.File("export.log")).find("char-gru: no XNNPACK runtime file"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out.File("exit2.fsdm")));
  const auto manifest = nlohmann::json::parse(testing::ReadFile(out.File("exit2.json")));
  EXPECT_EQ(manifest["architecture"], "char-gru");
  EXPECT_TRUE(manifest["runtime_model"].is_null());
  // fsd-infer reads the test text as the model was trained (the manifest's
  // windows); the XNNPACK runtimes are refused by name.
  const auto infer = [&](const std::string& program, const std::vector<std::string>& flags,
                         const std::string& log_name) {
    return RunToEnd(Concat({testing::BinDir() + "/" + program, "--model", out.File("exit2.pt"),
                            "--data", data.File("kjv"), "--max-samples", "300"},
                           flags),
                    out.File(log_name));
  };
  ASSERT_EQ(infer("fsd-infer", {"--runtime", "libtorch", "--batch-sizes", "64"}, "infer.log"),
            kExitOk)
      << testing::ReadFile(out.File("infer.log"));
  // The manifest's windows: one every 4096 symbols of test.txt.
  const auto test_windows = (std::filesystem::file_size(data.File("kjv/test.txt")) - 81) / 4096 + 1;
  char samples[64];
  std::snprintf(samples, sizeof(samples), "%ju test samples", std::uintmax_t{test_windows});
  const std::string inferred = testing::ReadFile(out.File("infer.log"));
  EXPECT_NE(inferred.find(samples), std::string::npos) << inferred;
  EXPECT_NE(inferred.find("batch   64: accuracy"), std::string::npos) << inferred;
  EXPECT_EQ(infer("fsd-infer", {"--runtime", "xnnpack"}, "xnnpack.log"), kExitUsage);
  EXPECT_NE(testing::ReadFile(out.File("xnnpack.log")).find("char-gru network, which runs under"),
            std::string::npos)
      << testing::ReadFile(out.File("xnnpack.log"));
  EXPECT_EQ(infer("fsd-edge-infer", {}, "edge.log"), kExitUsage);
  EXPECT_NE(testing::ReadFile(out.File("edge.log")).find("has no XNNPACK runtime file"),
            std::string::npos)
      << testing::ReadFile(out.File("edge.log"));
  EXPECT_EQ(
      exporter({"--exit", "1", "--out", out.File("slim.pt"), "--keep-channels", "0.5"}, "slim.log"),
      kExitUsage);
  EXPECT_NE(testing::ReadFile(out.File("slim.log")).find("char-gru cannot be slimmed"),
            std::string::npos);
}

}  // namespace
}  // namespace fsd
