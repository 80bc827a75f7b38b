#include "tests/testing/sim_run.h"

#include <sstream>

#include "tests/testing/temp_dir.h"

namespace fsd::testing {

std::vector<std::string> SyntheticSimArguments(const std::string& out, int rounds,
                                               const std::string& config, int clients) {
  return {BinDir() + "/fsd-sim",
          "--config",
          SourceDir() + "/configs/" + config,
          "--out",
          out,
          "--rounds",
          std::to_string(rounds),
          "--clients",
          std::to_string(clients),
          "--workers",
          "2",
          "--set",
          "data.source=synthetic",
          "--set",
          "data.synthetic_noise=1.0",
          "--set",
          "data.synthetic_side=16",
          "--set",
          "data.synthetic_train_samples=3000",
          "--set",
          "data.synthetic_test_samples=600",
          "--set",
          "federation.partition=dirichlet",
          "--set",
          "federation.dirichlet_alpha=1.0"};
}

std::vector<std::string> Concat(std::vector<std::string> arguments,
                                const std::vector<std::string>& more) {
  arguments.insert(arguments.end(), more.begin(), more.end());
  return arguments;
}

namespace {

std::string ExportConfig() { return SourceDir() + "/configs/fmnist-sd.toml"; }

const std::vector<std::string> kFashionMnistSlice = {"--set", "data.max_train_samples=3000",
                                                     "--set", "data.max_test_samples=500"};

}  // namespace

std::vector<std::string> OneRoundFashionMnistArguments(const std::string& out,
                                                       const std::vector<std::string>& settings) {
  return Concat(Concat({BinDir() + "/fsd-sim", "--config", ExportConfig(), "--out", out, "--rounds",
                        "1", "--set", "federation.partition=iid"},
                       kFashionMnistSlice),
                settings);
}

std::vector<std::string> ExportArguments(const std::string& out, int exit, const std::string& model,
                                         const std::vector<std::string>& settings,
                                         const std::vector<std::string>& flags) {
  return Concat(
      Concat(Concat({BinDir() + "/fsd-export", "--config", ExportConfig(), "--checkpoint",
                     out + "/checkpoint.bin", "--exit", std::to_string(exit), "--out", model},
                    kFashionMnistSlice),
             settings),
      flags);
}

int RunToEnd(const std::vector<std::string>& arguments, const std::string& log) {
  return WaitProcess(SpawnProcess(arguments, log));
}

std::vector<nlohmann::json> ReadMetrics(const std::string& dir) {
  std::vector<nlohmann::json> records;
  std::istringstream lines(ReadFile(dir + "/metrics.jsonl"));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  }
  return records;
}

}  // namespace fsd::testing
