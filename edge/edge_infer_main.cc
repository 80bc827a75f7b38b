// fsd-edge-infer: the inference-only binary for devices — an exported exit's
// runtime model file (fsd-export's .fsdm, digest checked against the
// manifest) under XNNPACK, on the test split of an IDX directory, with
// fsd-infer's flags and report. It links neither LibTorch nor the federation.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/data/idx_file.h"
#include "common/errors.h"
#include "common/run_guarded.h"
#include "edge/evaluate.h"
#include "edge/model_file.h"
#include "edge/xnnpack_engine.h"

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-edge-infer: accuracy and latency of an exported exit under XNNPACK, without LibTorch.\n"
      "Exit codes: 0 ok, 1 internal error, 2 bad flags, 3 I/O error, 4 bad data or model."};
  std::string manifest_path, data_dir, json_out;
  std::vector<double> thresholds;
  std::vector<int> batch_sizes = {1, 64};
  int max_samples = 0, repeats = 3;
  app.add_option("--model", manifest_path,
                 "the manifest fsd-export wrote (model.json) or the model file beside it")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--data", data_dir, "IDX directory (its t10k split is evaluated)")->required();
  app.add_option("--early-exit-threshold", thresholds,
                 "anytime mode: stop at the first exit whose max softmax >= p (batch 1)");
  app.add_option("--batch-sizes", batch_sizes, "batch sizes to time (default 1 64)");
  app.add_option("--max-samples", max_samples, "use only the first N test samples (0 = all)");
  app.add_option("--repeats", repeats,
                 "timed passes per batch size; the fastest counts (default 3)");
  app.add_option("--json", json_out, "also write the report as JSON to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? fsd::kExitOk : fsd::kExitUsage;
  }
  return fsd::RunGuarded("fsd-edge-infer", [&] {
    using namespace fsd;
    const auto json_path = std::filesystem::path(manifest_path).replace_extension(".json");
    std::ifstream in(json_path);
    if (!in) throw IoError(json_path.string() + ": cannot open the manifest fsd-export writes");
    const auto manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    std::string model_file, digest;
    data::Normalization normalization;
    if (manifest.is_object() && manifest.contains("runtime_model") &&
        manifest["runtime_model"].is_null()) {
      throw ConfigError(json_path.string() + ": a " + manifest.value("architecture", "") +
                        " network has no XNNPACK runtime file; it runs under LibTorch "
                        "(fsd-infer --runtime libtorch)");
    }
    try {
      model_file =
          (json_path.parent_path() / manifest.at("runtime_model").get<std::string>()).string();
      digest = manifest.at("runtime_sha256").get<std::string>();
      normalization = edge::ManifestNormalization(manifest);
    } catch (const nlohmann::json::exception& e) {
      throw DataError(json_path.string() +
                      ": manifest field missing or of the wrong type: " + e.what());
    }
    edge::XnnpackEngine engine(edge::ReadModelFile(model_file, digest));
    const edge::EdgeModel& model = engine.model();
    const data::IdxSplit split =
        data::ReadIdxSplit(data_dir, "t10k", static_cast<int>(model.num_classes));
    if (model.in_channels != 1 || split.images.dims[1] != model.height ||
        split.images.dims[2] != model.width) {
      throw DataError(split.images_path + ": images are " + std::to_string(split.images.dims[1]) +
                      "x" + std::to_string(split.images.dims[2]) +
                      " with one channel, the model expects " + std::to_string(model.height) + "x" +
                      std::to_string(model.width) + "x" + std::to_string(model.in_channels));
    }
    std::size_t n = static_cast<std::size_t>(split.images.dims[0]);
    if (max_samples > 0) n = std::min(n, static_cast<std::size_t>(max_samples));
    const std::size_t per_image = engine.input_elements();
    std::vector<float> images(n * per_image);
    // IDX images have one channel: one mean and one std.
    if (normalization.mean.size() != 1 || normalization.std.size() != 1) {
      throw DataError(json_path.string() + ": normalization for " +
                      std::to_string(normalization.mean.size()) +
                      " channels; the IDX test images have one");
    }
    const double mean = normalization.mean[0], std = normalization.std[0];
    for (std::size_t i = 0; i < images.size(); ++i)
      images[i] = static_cast<float>((split.images.bytes[i] / 255.0 - mean) / std);
    nlohmann::json report = {{"model", model_file},
                             {"runtime", "xnnpack"},
                             {"exit", manifest.value("exit", 0)},
                             {"parameters", manifest.value("parameters", 0)},
                             {"samples", n},
                             {"threads", 1}};
    std::printf("%s (xnnpack): exit %d, %lld parameters, %zu test samples, 1 thread\n",
                model_file.c_str(), report["exit"].get<int>(),
                static_cast<long long>(report["parameters"].get<std::int64_t>()), n);
    edge::Evaluate(edge::ClassifierOf(engine), {images, {split.labels.bytes.data(), n}},
                   batch_sizes, repeats, thresholds, report);
    if (!json_out.empty()) {
      std::ofstream out(json_out);
      out << report.dump(2) << "\n";
      if (!out) throw IoError(json_out + ": cannot write");
    }
    return kExitOk;
  });
}
