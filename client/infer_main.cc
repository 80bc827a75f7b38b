// fsd-infer: runs an exported model (fsd-export) on the test split of an IDX
// directory and reports accuracy and CPU latency — per batch at the chosen
// batch sizes, and in anytime mode (--early-exit-threshold p) per sample,
// stopping at the first exit whose max softmax probability reaches p.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/config/config.h"
#include "common/data/loader.h"
#include "common/errors.h"
#include "common/metrics/metrics_sink.h"
#include "common/model/multi_exit_net.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"
#include "common/storage/file_digest.h"

namespace {

using Clock = std::chrono::steady_clock;

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

nlohmann::json ReadManifest(const std::string& model_path) {
  const std::string path = std::filesystem::path(model_path).replace_extension(".json").string();
  std::ifstream in(path);
  if (!in) throw fsd::IoError(path + ": cannot open the manifest fsd-export writes beside the model");
  const auto manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object())
    throw fsd::DataError(path + ": not a JSON manifest");
  return manifest;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-infer: accuracy and latency of an exported model on an IDX test split.\n"
      "Exit codes: 0 ok, 1 internal error, 2 bad flags, 3 I/O error, 4 bad data or model."};
  std::string model_path, data_dir, json_out;
  std::vector<double> thresholds;
  std::vector<int> batch_sizes = {1, 64};
  int threads = 1, max_samples = 0, repeats = 3;
  app.add_option("--model", model_path, "model file written by fsd-export (manifest beside it)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--data", data_dir,
                 "IDX directory (train- and t10k- files; the t10k split is evaluated)")
      ->required();
  app.add_option("--early-exit-threshold", thresholds,
                 "anytime mode: stop at the first exit whose max softmax >= p (batch 1); "
                 "several values give one line each");
  app.add_option("--batch-sizes", batch_sizes, "batch sizes to time (default 1 64)");
  app.add_option("--threads", threads, "torch threads (default 1, as on a small device)");
  app.add_option("--max-samples", max_samples, "use only the first N test samples (0 = all)");
  app.add_option("--repeats", repeats, "timed passes per batch size; the fastest counts (default 3)");
  app.add_option("--json", json_out, "also write the report as JSON to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? fsd::kExitOk : fsd::kExitUsage;
  }
  return fsd::RunGuarded("fsd-infer", [&] {
    using namespace fsd;
    runtime::ConfigureProcess(threads);
    const nlohmann::json manifest = ReadManifest(model_path);
    model::ModelSpec spec;
    try {
      spec.architecture = model::ParseArchitecture(manifest.at("architecture").get<std::string>());
      spec.in_channels = manifest.at("in_channels").get<int>();
      spec.height = manifest.at("height").get<int>();
      spec.width = manifest.at("width").get<int>();
      spec.num_classes = manifest.at("num_classes").get<int>();
      spec.exits = manifest.at("exits").get<int>();
      spec.channels = manifest.at("channels").get<std::vector<int>>();
    } catch (const nlohmann::json::exception& e) {
      throw DataError(model_path + ": manifest field missing or of the wrong type: " + e.what());
    }
    // torch::load runs whatever the archive holds: only a file whose digest
    // matches its manifest is read.
    const auto expected = manifest.find("sha256");
    if (expected == manifest.end() || !expected->is_string()) {
      throw DataError(model_path + ": manifest has no sha256 of the model file");
    }
    const std::string actual = storage::FileSha256Hex(model_path);
    if (actual != expected->get<std::string>()) {
      throw DataError(model_path + ": SHA-256 " + actual + " does not match the manifest's " +
                      expected->get<std::string>() + " (file changed or replaced)");
    }
    model::MultiExitNet net(spec);
    try {
      torch::load(net, model_path);
    } catch (const c10::Error& e) {
      throw DataError(model_path + ": does not hold the model its manifest describes");
    }
    net->eval();
    config::DataConfig data;
    data.dir = data_dir;
    data.normalization.mean = manifest.at("normalization").at("mean").get<double>();
    data.normalization.std = manifest.at("normalization").at("std").get<double>();
    data.num_classes = spec.num_classes;
    data.max_test_samples = max_samples;
    data.max_train_samples = 1;  // only the test split is used (the loader opens both)
    const auto test = data::LoadSplits(data).test;
    const auto n = test->size();
    if (n == 0) throw DataError(data_dir + ": the test split is empty");
    if (test->images.size(1) != spec.in_channels || test->images.size(2) != spec.height ||
        test->images.size(3) != spec.width) {
      throw DataError(data_dir + ": images are " + std::to_string(test->images.size(2)) + "x" +
                      std::to_string(test->images.size(3)) + ", the model expects " +
                      std::to_string(spec.height) + "x" + std::to_string(spec.width));
    }
    c10::InferenceMode inference;  // no autograd bookkeeping at all
    const int deepest = net->main_exit();

    nlohmann::json report = {{"model", model_path},
                             {"exit", manifest.value("exit", deepest + 1)},
                             {"parameters", manifest.value("parameters", 0)},
                             {"samples", n},
                             {"threads", threads}};
    nlohmann::json timings = nlohmann::json::array();
    std::printf("%s: exit %d, %lld parameters, %lld test samples, %d thread(s)\n",
                model_path.c_str(), report["exit"].get<int>(),
                static_cast<long long>(report["parameters"].get<std::int64_t>()),
                static_cast<long long>(n), threads);
    for (const int batch : batch_sizes) {
      if (batch < 1) throw ConfigError("--batch-sizes: every size must be >= 1");
      double best_ms = 1e300;
      std::int64_t correct = 0;
      for (int r = 0; r < std::max(1, repeats); ++r) {
        correct = 0;
        const auto start = Clock::now();
        for (std::int64_t at = 0; at < n; at += batch) {
          const auto size = std::min<std::int64_t>(batch, n - at);
          const auto logits = net->forward_to(test->images.narrow(0, at, size), deepest);
          correct += logits.argmax(1).eq(test->labels.narrow(0, at, size)).sum().item<std::int64_t>();
        }
        best_ms = std::min(best_ms, MillisecondsSince(start));
      }
      const double batches = std::ceil(static_cast<double>(n) / batch);
      const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
      std::printf("batch %4d: accuracy %.4f  %.4f ms per batch  %.4f ms per sample\n", batch,
                  accuracy, best_ms / batches, best_ms / static_cast<double>(n));
      timings.push_back({{"batch", batch},
                         {"accuracy", accuracy},
                         {"ms_per_batch", best_ms / batches},
                         {"ms_per_sample", best_ms / static_cast<double>(n)}});
    }
    report["timings"] = timings;
    nlohmann::json anytime = nlohmann::json::array();
    for (const double threshold : thresholds) {
      if (!(threshold >= 0.0 && threshold <= 1.0))
        throw ConfigError("--early-exit-threshold: " + std::to_string(threshold) + " outside [0, 1]");
      std::vector<std::int64_t> exits_taken(static_cast<std::size_t>(net->num_exits()), 0);
      std::int64_t correct = 0;
      const auto start = Clock::now();
      for (std::int64_t i = 0; i < n; ++i) {
        const auto [exit, logits] = net->ForwardUntilConfident(test->images.narrow(0, i, 1), threshold);
        ++exits_taken[static_cast<std::size_t>(exit)];
        correct += logits.argmax(1).item<std::int64_t>() == test->labels[i].item<std::int64_t>();
      }
      const double ms = MillisecondsSince(start) / static_cast<double>(n);
      const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
      std::printf("anytime p=%.2f: accuracy %.4f  %.4f ms per sample  exits taken", threshold,
                  accuracy, ms);
      for (std::size_t k = 0; k < exits_taken.size(); ++k)
        std::printf(" %zu:%lld", k + 1, static_cast<long long>(exits_taken[k]));
      std::printf("\n");
      anytime.push_back({{"threshold", threshold},
                         {"accuracy", accuracy},
                         {"ms_per_sample", ms},
                         {"exits_taken", exits_taken}});
    }
    report["anytime"] = anytime;
    if (!json_out.empty()) metrics::WriteJsonFile(json_out, report);
    return kExitOk;
  });
}
