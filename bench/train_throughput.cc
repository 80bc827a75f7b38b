// fsd-bench-throughput: training throughput of a network (cnn3-s by default;
// any architecture, a TorchScript file with --model-path) through fsd's own
// training path (LocalTrainer), measured like the Python reference's
// bench_throughput.py: real Fashion-MNIST batches in shuffled order, batch 32,
// SGD lr 0.05 momentum 0.9 weight decay 5e-4, zero_grad/backward/step included,
// `warmup` untimed steps first. Prints one JSON line.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>

#include "client/trainer.h"
#include "common/data/image_dataset.h"
#include "common/errors.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"

int main(int argc, char** argv) {
  CLI::App app{"fsd-bench-throughput: training samples/s of a network (one JSON line on stdout)."};
  std::string variant = "fedsd";
  int threads = 1;
  int steps = 2000;
  int warmup = 100;
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string architecture = "cnn3-s";
  app.add_option("variant", variant,
                 "fedsd (all exits, self-distillation) or fedavg (main exit, CE)")
      ->check(CLI::IsMember({"fedsd", "fedavg"}));
  app.add_option("threads", threads, "torch intra-op threads")->check(CLI::PositiveNumber);
  app.add_option("steps", steps, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("warmup", warmup, "untimed warm-up steps")->check(CLI::NonNegativeNumber);
  app.add_option("--data", data_dir, "Fashion-MNIST directory");
  std::string model_path;
  app.add_option("--architecture", architecture,
                 "a model.architecture value (cnn3-s, resnet8, torchscript, ...)");
  app.add_option("--model-path", model_path, "the TorchScript file (--architecture torchscript)");
  CLI11_PARSE(app, argc, argv);

  return fsd::RunGuarded("fsd-bench-throughput", [&] {
    using namespace fsd;
    runtime::ConfigureProcess(threads);
    const data::Dataset train = data::LoadIdxDataset(data_dir, "train", 10, data::Normalization{});
    model::ModelSpec spec;
    spec.architecture = model::ParseArchitecture(architecture);
    spec.script_path = model_path;
    torch::manual_seed(0);
    model::MultiExitNet net(spec);

    config::TrainingConfig
        training;             // benchmark defaults: batch 32, lr 0.05, momentum 0.9, wd 5e-4
    config::LossConfig loss;  // alpha 0.5, T 3
    if (variant == "fedavg") loss.exits = config::TrainedExits::kMain;
    client::LocalTrainer trainer(net, training, loss);

    // A shuffled order over the training set, cycled, as the reference does.
    auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
    const auto permutation = torch::randperm(train.size(), generator, torch::kInt64);
    const auto* perm = permutation.data_ptr<std::int64_t>();
    const auto take = [&](std::int64_t first, std::int64_t count) {
      std::vector<std::int64_t> indices(static_cast<std::size_t>(count));
      for (std::int64_t i = 0; i < count; ++i) indices[i] = perm[(first + i) % train.size()];
      return indices;
    };
    const std::int64_t batch = training.batch_size;
    const auto warm_indices = take(0, std::max(1, warmup) * batch);
    const auto timed_indices = take(warm_indices.size(), std::int64_t{steps} * batch);
    trainer.BeginRun(static_cast<std::int64_t>(timed_indices.size()));
    if (warmup > 0) trainer.TrainEpoch(train, warm_indices, 1);
    const auto stats = trainer.TrainEpoch(train, timed_indices, 2);

    const nlohmann::json result = {{"variant", variant},
                                   {"architecture", architecture},
                                   {"threads", threads},
                                   {"batch", batch},
                                   {"steps", steps},
                                   {"warmup", warmup},
                                   {"seconds", stats.seconds},
                                   {"steps_per_s", stats.steps / stats.seconds},
                                   {"samples_per_s", stats.samples_per_s},
                                   {"ms_per_step", 1000.0 * stats.seconds / stats.steps}};
    std::printf("%s\n", result.dump().c_str());
    return kExitOk;
  });
}
