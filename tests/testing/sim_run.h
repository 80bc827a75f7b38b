// Test helpers for runs of fsd-sim: the command line of a small federation on
// synthetic data, and the records of a run's metrics.jsonl.
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

// One JSON object per line of DIR/metrics.jsonl.
std::vector<nlohmann::json> ReadMetrics(const std::string& dir);

}  // namespace fsd::testing
