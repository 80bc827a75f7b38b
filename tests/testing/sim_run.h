// Test helpers for runs of fsd's executables: the command lines of a small
// federation on synthetic data and of the real-data export pipeline, a run to
// its end, and the records of a run's metrics.jsonl.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fsd::testing {

// fsd-sim with configs/`config`, `rounds` rounds and `clients` clients over
// two workers, on 3000 synthetic 16x16 training samples (600 test) split by
// Dirichlet(1.0): seconds per run for cnn3-s.
std::vector<std::string> SyntheticSimArguments(const std::string& out, int rounds,
                                               const std::string& config = "fmnist-sd.toml",
                                               int clients = 3);

// The export pipeline on a slice of real Fashion-MNIST (3000 training and 500
// test samples): fsd-sim for one round of configs/fmnist-sd.toml on an IID
// split into `out`, then fsd-export of exit `exit` from its checkpoint into
// `model`. `settings` (--set pairs, e.g. another architecture) go to both, so
// both build the same network; `flags` to fsd-export alone.
inline constexpr const char* kFashionMnist = "/usr/share/datasets/fashion-mnist";
std::vector<std::string> OneRoundFashionMnistArguments(
    const std::string& out, const std::vector<std::string>& settings = {});
std::vector<std::string> ExportArguments(const std::string& out, int exit, const std::string& model,
                                         const std::vector<std::string>& settings = {},
                                         const std::vector<std::string>& flags = {});

// `arguments` followed by `more`.
std::vector<std::string> Concat(std::vector<std::string> arguments,
                                const std::vector<std::string>& more);

// Runs `arguments` (argv[0] the executable) to its end, stdout and stderr in
// `log`; its exit code.
int RunToEnd(const std::vector<std::string>& arguments, const std::string& log);

// One JSON object per line of DIR/metrics.jsonl.
std::vector<nlohmann::json> ReadMetrics(const std::string& dir);

}  // namespace fsd::testing
