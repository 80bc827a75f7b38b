// fsd-export: turns one exit of a federation's global model into a model for
// an edge device — the network truncated after that exit, optionally with
// half (or any share) of its channels removed by BatchNorm |γ| and fine-tuned
// on local data — as a LibTorch archive (model.pt) and a runtime model file
// for inference without LibTorch (model.fsdm, BatchNorm folded: edge/), plus a
// JSON manifest (exit, widths, parameters, test accuracy, SHA-256 of both
// files) that fsd-infer and fsd-edge-infer read.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>

#include "client/export.h"
#include "client/trainer.h"
#include "common/config/toml_loader.h"
#include "common/data/loader.h"
#include "common/errors.h"
#include "common/metrics/metrics_sink.h"
#include "common/model/evaluate.h"
#include "common/model/flat_params.h"
#include "common/model/scripted_block.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"
#include "common/storage/checkpoint.h"
#include "common/storage/file_digest.h"

namespace {

std::int64_t ParameterCount(fsd::model::MultiExitNet& net) {
  std::int64_t count = 0;
  for (const auto& p : net->parameters()) count += p.numel();
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-export: write one exit of a global model as a smaller model for an edge device.\n"
      "Exit codes: 0 ok, 1 internal error, 2 bad flags or config, 3 I/O error, 4 bad data."};
  std::string config_path, checkpoint_path, out_path, finetune_dir;
  int exit = 0, finetune_epochs = 1;
  double keep_channels = 1.0;
  std::vector<std::string> overrides;
  app.add_option("--config", config_path, "the run's TOML config (model, data, training)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--checkpoint", checkpoint_path, "the coordinator's checkpoint.bin")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--exit", exit, "exit to export, 1 = shallowest")->required();
  app.add_option("--out", out_path, "model file to write, e.g. model.pt (manifest: model.json)")
      ->required();
  app.add_option("--keep-channels", keep_channels,
                 "share of each convolution block's channels to keep, by BatchNorm |gamma| "
                 "(default 1 = all)");
  app.add_option("--finetune-data", finetune_dir,
                 "fine-tune on the training split of this IDX directory after slimming");
  app.add_option("--finetune-epochs", finetune_epochs, "fine-tuning epochs (default 1)");
  app.add_option("--set", overrides, "override a config key: section.key=value (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? fsd::kExitOk : fsd::kExitUsage;
  }
  return fsd::RunGuarded("fsd-export", [&] {
    using namespace fsd;
    config::RunConfig cfg = config::LoadConfig(config_path, overrides);
    runtime::ConfigureProcess(cfg.training.threads);
    const data::Splits splits = data::LoadRunData(cfg);
    const model::ModelSpec spec = data::ModelSpecFor(cfg.model, *splits.test);
    model::MultiExitNet full(spec);
    const auto schema = model::FlatSchema::Of(*full);
    const auto checkpoint = storage::ReadCheckpoint(
        checkpoint_path, static_cast<std::uint64_t>(schema.total_numel()), 4096);
    if (checkpoint.schema_fingerprint != schema.fingerprint() ||
        checkpoint.global.size() != static_cast<std::size_t>(schema.total_numel())) {
      throw ConfigError(checkpoint_path +
                        ": not a global model of the config's model.architecture"
                        " (a distillation-only run has no global model)");
    }
    model::Unflatten(checkpoint.global, schema, *full);
    full->eval();
    const auto full_accuracy =
        model::EvaluateAccuracy(full, *splits.test, cfg.training.eval_batch_size);

    model::MultiExitNet small = client::ExportExit(full, exit - 1, keep_channels);
    auto accuracy = model::EvaluateAccuracy(small, *splits.test, cfg.training.eval_batch_size);
    std::fprintf(stderr, "exit %d: %lld parameters (full model %lld), test accuracy %.4f\n", exit,
                 static_cast<long long>(ParameterCount(small)),
                 static_cast<long long>(ParameterCount(full)), accuracy.back());
    nlohmann::json finetune = nullptr;
    if (!finetune_dir.empty()) {
      config::DataConfig local = cfg.data;
      local.dir = finetune_dir;
      // Not normalized by its own statistics: by the run's, as the model was trained.
      const data::SharedDataset local_train = data::LoadTrainingSplit(local);
      std::vector<std::int64_t> indices(static_cast<std::size_t>(local_train->size()));
      std::iota(indices.begin(), indices.end(), 0);
      client::LocalTrainer trainer(small, cfg.training, cfg.loss,
                                   cfg.data.augment.value_or(data::Augmentation::kNone));
      trainer.BeginRun(static_cast<std::int64_t>(indices.size()), finetune_epochs);
      for (int epoch = 0; epoch < finetune_epochs; ++epoch) {
        const auto stats = trainer.TrainEpoch(
            *local_train, indices, cfg.training.seed + static_cast<std::uint64_t>(epoch));
        std::fprintf(stderr, "fine-tune epoch %d/%d: loss %.4f\n", epoch + 1, finetune_epochs,
                     stats.mean_loss);
      }
      const auto before = accuracy.back();
      accuracy = model::EvaluateAccuracy(small, *splits.test, cfg.training.eval_batch_size);
      finetune = {{"data", finetune_dir},
                  {"epochs", finetune_epochs},
                  {"samples", indices.size()},
                  {"accuracy_before", before}};
      std::fprintf(stderr, "after fine-tuning: test accuracy %.4f\n", accuracy.back());
    }
    small->eval();
    const auto parent = std::filesystem::path(out_path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    const bool scripted = spec.architecture == model::Architecture::kTorchScript;
    // The XNNPACK runtime has neither TorchScript nor recurrent layers.
    const bool libtorch_only = scripted || spec.architecture == model::Architecture::kCharGru;
    nlohmann::json runtime = {{"runtime_model", nullptr}, {"runtime_sha256", nullptr}};
    if (scripted) {
      // A TorchScript module honouring the same contract, truncated after the exit.
      model::SaveScriptedNetwork(*small, out_path);
    } else {
      torch::save(small, out_path);
    }
    if (!libtorch_only) {
      // The same exit for runtimes without LibTorch (edge/): BatchNorm folded, NHWC.
      const std::string runtime_path =
          std::filesystem::path(out_path).replace_extension(".fsdm").string();
      const edge::EdgeModel edge_model = client::ToEdgeModel(small);
      edge::WriteModelFile(runtime_path, edge_model);
      runtime = {{"runtime_model", std::filesystem::path(runtime_path).filename().string()},
                 {"runtime_sha256", storage::FileSha256Hex(runtime_path)},
                 {"runtime_format", "fsdm-" + std::to_string(edge::FormatVersion(edge_model))}};
    } else if (!scripted) {
      std::fprintf(stderr, "%s: no XNNPACK runtime file (it has no recurrent layers)\n",
                   model::ArchitectureName(spec.architecture).c_str());
    }
    const std::string manifest_path =
        std::filesystem::path(out_path).replace_extension(".json").string();
    nlohmann::json manifest = {
        {"model", std::filesystem::path(out_path).filename().string()},
        {"sha256", storage::FileSha256Hex(out_path)},
        {"architecture", model::ArchitectureName(spec.architecture)},
        {"exit", exit},
        {"exits", small->num_exits()},
        {"channels", model::ConvChannels(small->spec())},
        {"keep_channels", keep_channels},
        {"in_channels", spec.in_channels},
        {"height", spec.height},
        {"width", spec.width},
        {"num_classes", spec.num_classes},
        {"data_source", cfg.data.source == config::DataSource::kText ? "text" : "images"},
        {"text_window", cfg.data.text_window},
        {"text_stride", cfg.data.text_stride},
        {"normalization",
         {{"mean", cfg.data.normalization.mean}, {"std", cfg.data.normalization.std}}},
        {"parameters", ParameterCount(small)},
        {"full_model_parameters", ParameterCount(full)},
        {"test_accuracy", accuracy.back()},
        {"test_accuracy_per_exit", accuracy},
        {"full_model_test_accuracy_per_exit", full_accuracy},
        {"checkpoint", checkpoint_path},
        {"checkpoint_round", checkpoint.round},
        {"finetune", finetune}};
    manifest.update(runtime);
    metrics::WriteJsonFile(manifest_path, manifest);
    std::printf("wrote %s (%lld parameters, test accuracy %.4f) and %s\n", out_path.c_str(),
                static_cast<long long>(ParameterCount(small)), accuracy.back(),
                manifest_path.c_str());
    return kExitOk;
  });
}
