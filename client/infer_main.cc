// fsd-infer: runs an exported model (fsd-export) on the test split of an IDX
// directory and reports accuracy and CPU latency — per batch at the chosen
// batch sizes, and in anytime mode (--early-exit-threshold p) per sample,
// stopping at the first exit whose max softmax probability reaches p — under
// LibTorch (the .pt archive) or XNNPACK (the runtime model file, edge/).
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/config/config.h"
#include "common/data/loader.h"
#include "common/errors.h"
#include "common/metrics/metrics_sink.h"
#include "common/model/multi_exit_net.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"
#include "common/storage/file_digest.h"
#include "edge/evaluate.h"
#include "edge/model_file.h"
#include "edge/xnnpack_engine.h"

namespace {

nlohmann::json ReadManifest(const std::string& model_path) {
  const std::string path = std::filesystem::path(model_path).replace_extension(".json").string();
  std::ifstream in(path);
  if (!in)
    throw fsd::IoError(path + ": cannot open the manifest fsd-export writes beside the model");
  const auto manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object())
    throw fsd::DataError(path + ": not a JSON manifest");
  return manifest;
}

std::string ManifestString(const nlohmann::json& manifest, const char* key,
                           const std::string& model_path) {
  const auto it = manifest.find(key);
  if (it == manifest.end() || !it->is_string())
    throw fsd::DataError(model_path + ": manifest has no " + key);
  return it->get<std::string>();
}

// The .pt archive under LibTorch, read only when its digest matches.
fsd::model::MultiExitNet LoadLibTorchModel(const std::string& model_path,
                                           const nlohmann::json& manifest) {
  using namespace fsd;
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
  const std::string expected = ManifestString(manifest, "sha256", model_path);
  const std::string actual = storage::FileSha256Hex(model_path);
  if (actual != expected) {
    throw DataError(model_path + ": SHA-256 " + actual + " does not match the manifest's " +
                    expected + " (file changed or replaced)");
  }
  if (spec.architecture == model::Architecture::kTorchScript) {
    // The exported module is the network itself (model/scripted_block.h).
    spec.script_path = model_path;
    spec.script_sha256 = expected;
    spec.exits = 0;
    model::MultiExitNet net(spec);
    net->eval();
    return net;
  }
  model::MultiExitNet net(spec);
  try {
    torch::load(net, model_path);
  } catch (const c10::Error& e) {
    throw DataError(model_path + ": does not hold the model its manifest describes");
  }
  net->eval();
  return net;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-infer: accuracy and latency of an exported model on an IDX test split (test.txt "
      "for a char-gru model).\n"
      "Exit codes: 0 ok, 1 internal error, 2 bad flags, 3 I/O error, 4 bad data or model."};
  std::string model_path, data_dir, json_out, runtime = "libtorch";
  std::vector<double> thresholds;
  std::vector<int> batch_sizes = {1, 64};
  int threads = 1, max_samples = 0, repeats = 3;
  app.add_option("--model", model_path, "model file written by fsd-export (manifest beside it)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--data", data_dir,
                 "the test split's directory: IDX t10k- files, or test.txt for a char-gru model")
      ->required();
  app.add_option("--runtime", runtime,
                 "libtorch (the .pt archive) or xnnpack (the manifest's runtime model file)")
      ->check(CLI::IsMember({"libtorch", "xnnpack"}));
  app.add_option("--early-exit-threshold", thresholds,
                 "anytime mode: stop at the first exit whose max softmax >= p (batch 1); "
                 "several values give one line each");
  app.add_option("--batch-sizes", batch_sizes, "batch sizes to time (default 1 64)");
  app.add_option("--threads", threads, "torch threads (default 1, as on a small device)");
  app.add_option("--max-samples", max_samples, "use only the first N test samples (0 = all)");
  app.add_option("--repeats", repeats,
                 "timed passes per batch size; the fastest counts (default 3)");
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
    config::DataConfig data;
    data.dir = data_dir;
    try {
      data.num_classes = manifest.at("num_classes").get<int>();
      if (manifest.value("data_source", "images") == "text") {
        // A text model reads test.txt as it was trained: the same windows.
        data.source = config::DataSource::kText;
        data.text_window = manifest.at("text_window").get<int>();
        data.text_stride = manifest.at("text_stride").get<int>();
      } else {
        data.normalization = edge::ManifestNormalization(manifest);
      }
    } catch (const nlohmann::json::exception& e) {
      throw DataError(model_path + ": manifest field missing or of the wrong type: " + e.what());
    }
    data.max_test_samples = max_samples;
    const auto test = data::LoadTestSplit(data);
    const auto n = test->size();
    if (n == 0) throw DataError(data_dir + ": the test split is empty");
    const int height = manifest.value("height", 0), width = manifest.value("width", 0);
    if (test->images.size(1) != manifest.value("in_channels", 0) ||
        test->images.size(2) != height || test->images.size(3) != width) {
      throw DataError(data_dir + ": images are " + std::to_string(test->images.size(2)) + "x" +
                      std::to_string(test->images.size(3)) + ", the model expects " +
                      std::to_string(height) + "x" + std::to_string(width));
    }
    // Both runtimes read the same NHWC floats.
    const torch::Tensor nhwc = test->images.permute({0, 2, 3, 1}).contiguous();
    const torch::Tensor labels = test->labels.to(torch::kUInt8).contiguous();
    const edge::TestSet set{{nhwc.data_ptr<float>(), static_cast<std::size_t>(nhwc.numel())},
                            {labels.data_ptr<std::uint8_t>(), static_cast<std::size_t>(n)}};
    c10::InferenceMode inference;  // no autograd bookkeeping at all

    nlohmann::json report = {{"model", model_path},
                             {"runtime", runtime},
                             {"exit", manifest.value("exit", 0)},
                             {"parameters", manifest.value("parameters", 0)},
                             {"samples", n},
                             {"threads", threads}};
    std::printf("%s (%s): exit %d, %lld parameters, %lld test samples, %d thread(s)\n",
                model_path.c_str(), runtime.c_str(), report["exit"].get<int>(),
                static_cast<long long>(report["parameters"].get<std::int64_t>()),
                static_cast<long long>(n), threads);
    if (runtime == "xnnpack") {
      if (manifest.value("runtime_model", nlohmann::json()).is_null()) {
        throw ConfigError("--runtime xnnpack: " + model_path + " is a " +
                          manifest.value("architecture", "") +
                          " network, which runs under LibTorch only (--runtime libtorch)");
      }
      const auto dir = std::filesystem::path(model_path).parent_path();
      const std::string file =
          (dir / ManifestString(manifest, "runtime_model", model_path)).string();
      edge::XnnpackEngine engine(
          edge::ReadModelFile(file, ManifestString(manifest, "runtime_sha256", model_path)));
      edge::Evaluate(edge::ClassifierOf(engine), set, batch_sizes, repeats, thresholds, report);
    } else {
      model::MultiExitNet net = LoadLibTorchModel(model_path, manifest);
      const auto shape = [&](std::size_t batch) {
        return std::vector<std::int64_t>{static_cast<std::int64_t>(batch), height, width,
                                         test->images.size(1)};
      };
      torch::Tensor held;  // the logits the last call returned
      const edge::Classifier classifier{
          static_cast<std::size_t>(nhwc.numel() / n), static_cast<std::size_t>(data.num_classes),
          net->num_exits(),
          [&](const float* images, std::size_t batch) {
            const auto x =
                torch::from_blob(const_cast<float*>(images), shape(batch)).permute({0, 3, 1, 2});
            held = net->forward_to(x, net->main_exit()).contiguous();
            return held.data_ptr<float>();
          },
          [&](const float* image, double threshold) {
            const auto x =
                torch::from_blob(const_cast<float*>(image), shape(1)).permute({0, 3, 1, 2});
            auto [exit, logits] = net->ForwardUntilConfident(x, threshold);
            held = logits.contiguous();
            return std::pair<int, const float*>{exit, held.data_ptr<float>()};
          }};
      edge::Evaluate(classifier, set, batch_sizes, repeats, thresholds, report);
    }
    if (!json_out.empty()) metrics::WriteJsonFile(json_out, report);
    return kExitOk;
  });
}
