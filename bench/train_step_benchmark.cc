// Google Benchmark of one cnn3-s training step (forward, self-distillation or
// plain loss, backward, SGD) at batch 32 on synthetic 28x28 inputs, one thread.
#include <benchmark/benchmark.h>

#include <numeric>

#include "client/trainer.h"
#include "common/data/synthetic.h"
#include "common/runtime/process_setup.h"

namespace {

void TrainStep(benchmark::State& state, fsd::config::TrainedExits exits) {
  using namespace fsd;
  runtime::ConfigureProcess(1);
  const std::int64_t batch = 32;
  data::SyntheticSpec spec;
  const data::Dataset dataset = data::MakeSyntheticDataset(spec, 4096, 1);
  torch::manual_seed(0);
  model::MultiExitNet net{model::ModelSpec{}};
  config::LossConfig loss;
  loss.exits = exits;
  client::LocalTrainer trainer(net, config::TrainingConfig{}, loss);
  std::vector<std::int64_t> indices(batch);
  std::int64_t next = 0;
  trainer.BeginRun(batch * 1'000'000);
  for (auto _ : state) {
    for (auto& i : indices) i = next++ % dataset.size();
    trainer.TrainEpoch(dataset, indices, static_cast<std::uint64_t>(next));
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_TrainStepSelfDistillation(benchmark::State& state) {
  TrainStep(state, fsd::config::TrainedExits::kAll);
}
void BM_TrainStepMainExitOnly(benchmark::State& state) {
  TrainStep(state, fsd::config::TrainedExits::kMain);
}

BENCHMARK(BM_TrainStepSelfDistillation)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK(BM_TrainStepMainExitOnly)->Unit(benchmark::kMillisecond)->MinTime(3.0);

}  // namespace

BENCHMARK_MAIN();
