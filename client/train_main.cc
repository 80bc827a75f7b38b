// fsd-train: centralized self-distillation training on one machine — the
// upper-bound baseline for federated runs, and how an edge device trains alone.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "client/trainer.h"
#include "common/config/toml_loader.h"
#include "common/data/loader.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/metrics/metrics_sink.h"
#include "common/model/evaluate.h"
#include "common/progress.h"
#include "common/random/streams.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"

namespace {

std::string FormatAccuracies(const std::vector<double>& accuracy) {
  std::ostringstream out;
  out.precision(4);
  out << std::fixed;
  for (std::size_t k = 0; k < accuracy.size(); ++k) out << (k ? " " : "") << accuracy[k];
  return out.str();
}

int Train(const std::string& config_path, const std::string& out_dir, int epochs_override,
          const std::vector<std::string>& overrides) {
  using namespace fsd;
  std::vector<std::string> all_overrides = overrides;
  if (epochs_override > 0)
    all_overrides.push_back("training.epochs=" + std::to_string(epochs_override));
  config::RunConfig cfg = config::LoadConfig(config_path, all_overrides);
  runtime::ConfigureProcess(cfg.training.threads);

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw IoError(out_dir + ": cannot create output directory: " + ec.message());

  const auto wall_start = std::chrono::steady_clock::now();
  const data::Splits splits = data::LoadRunData(cfg);
  FSD_LOG(INFO) << "data: " << splits.train->size() << " train, " << splits.test->size()
                << " test samples";

  const model::ModelSpec spec = data::ModelSpecFor(cfg.model, *splits.train);
  torch::manual_seed(cfg.model.init_seed);
  model::MultiExitNet net(spec);

  client::LocalTrainer trainer(net, cfg.training, cfg.loss,
                               cfg.data.augment.value_or(data::Augmentation::kNone));
  std::vector<std::int64_t> indices(static_cast<std::size_t>(splits.train->size()));
  for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<std::int64_t>(i);
  trainer.BeginRun(static_cast<std::int64_t>(indices.size()));

  metrics::MetricsSink sink(out_dir + "/metrics.jsonl");
  ProgressLine progress;
  std::vector<double> accuracy;
  double samples_per_s_sum = 0.0;
  for (int epoch = 1; epoch <= cfg.training.epochs; ++epoch) {
    char prefix[64];
    std::snprintf(prefix, sizeof(prefix), "epoch %d/%d", epoch, cfg.training.epochs);
    const auto stats = trainer.TrainEpoch(
        *splits.train, indices,
        random::DeriveSeed(cfg.training.seed, {.name = "centralized-shuffle",
                                               .epoch = static_cast<std::uint64_t>(epoch)}),
        [&](std::int64_t step, std::int64_t steps, double loss) {
          char line[160];
          std::snprintf(line, sizeof(line), "%s  step %lld/%lld  loss %.4f", prefix,
                        static_cast<long long>(step), static_cast<long long>(steps), loss);
          progress.Update(line);
        });
    const auto eval_start = std::chrono::steady_clock::now();
    accuracy = model::EvaluateAccuracy(net, *splits.test, cfg.training.eval_batch_size);
    const double eval_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count();
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    samples_per_s_sum += stats.samples_per_s;
    sink.Record({{"epoch", epoch},
                 {"acc", accuracy},
                 {"loss", stats.mean_loss},
                 {"samples_per_s", stats.samples_per_s},
                 {"train_s", stats.seconds},
                 {"eval_s", eval_s},
                 {"wall_s", wall_s}});
    char line[256];
    std::snprintf(line, sizeof(line), "%s  loss %.4f  acc [%s]  %.0f samples/s  %.1fs", prefix,
                  stats.mean_loss, FormatAccuracies(accuracy).c_str(), stats.samples_per_s, wall_s);
    progress.Finish(line);
  }

  nlohmann::json exits = nlohmann::json::array();
  std::printf("\n%-6s %-10s %10s %9s\n", "exit", "role", "params", "accuracy");
  for (int k = 0; k < net->num_exits(); ++k) {
    const bool is_main = k == net->main_exit();
    // Exits count from 1, shallow to deep (as --max-exit and fsd-export --exit).
    std::printf("%-6d %-10s %10lld %8.2f%%\n", k + 1, is_main ? "main" : "auxiliary",
                static_cast<long long>(net->PathParameterCount(k)), 100.0 * accuracy[k]);
    exits.push_back({{"exit", k + 1},
                     {"main", is_main},
                     {"path_parameters", net->PathParameterCount(k)},
                     {"accuracy", accuracy[k]}});
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  metrics::WriteJsonFile(out_dir + "/summary.json",
                         {{"architecture", model::ArchitectureName(spec.architecture)},
                          {"epochs", cfg.training.epochs},
                          {"final_acc", accuracy},
                          {"exits", exits},
                          {"mean_samples_per_s", samples_per_s_sum / cfg.training.epochs},
                          {"wall_s", wall_s}});
  torch::save(net, out_dir + "/model.pt");
  std::printf("\nwrote %s/metrics.jsonl, summary.json, model.pt (%.1f s)\n", out_dir.c_str(),
              wall_s);
  return fsd::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-train: centralized self-distillation training of a multi-exit network.\n"
      "Exit codes: 0 ok, 1 internal error, 2 bad flags or config, 3 I/O error, 4 bad data."};
  std::string config_path;
  std::string out_dir;
  int epochs = 0;
  std::vector<std::string> overrides;
  app.add_option("--config", config_path, "TOML config (see configs/README.md)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--out", out_dir, "output directory for metrics.jsonl, summary.json, model.pt")
      ->required();
  app.add_option("--epochs", epochs, "override training.epochs")->check(CLI::PositiveNumber);
  app.add_option("--set", overrides, "override a config key: section.key=value (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? fsd::kExitOk : fsd::kExitUsage;
  }
  return fsd::RunGuarded("fsd-train",
                         [&] { return Train(config_path, out_dir, epochs, overrides); });
}
