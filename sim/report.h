// Turns a run's metrics.jsonl into a summary (returned as JSON), a
// tab-separated table (rounds.tsv) and PNG plots drawn with gnuplot
// (accuracy.png: accuracy per exit; bytes.png: bytes up and down per round).
// Plots are skipped with a warning when gnuplot is not installed.
// Errors: IoError if the metrics file cannot be read.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace fsd::sim {

nlohmann::json WriteReport(const std::string& out_dir);

}  // namespace fsd::sim
