// Turns a run's metrics.jsonl into a summary (returned as JSON), a
// tab-separated table (rounds.tsv) and PNG plots drawn with gnuplot
// (accuracy.png: accuracy per exit; bytes.png: bytes up and down per round).
// Plots are skipped with a warning when gnuplot is not installed. Exits are
// numbered from 1, shallow to deep, wherever a person reads them.
// Errors: IoError if the metrics file cannot be read.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace fsd::sim {

nlohmann::json WriteReport(const std::string& out_dir);

// Accuracies (fractions, one per exit) as a person reads them:
// "65.71 / 70.84 / 71.53 %" (summary.json and metrics.jsonl keep fractions);
// "none (no global model)" when there are none (distillation-only mode).
std::string Percentages(const nlohmann::json& fractions);

// "exit 1 / exit 2 / exit 3 (main)" for a network of `exits` exits.
std::string ExitNames(std::size_t exits);

}  // namespace fsd::sim
