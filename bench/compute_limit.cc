// fsd-bench-limit: how far training and evaluation are from what one core
// can do. Reports, for a network (cnn3-s by default):
//   - its FLOPs per sample, counted from the layer shapes: every
//     convolution and linear layer of every stage and exit, run on one
//     probe sample, contributes 2 · (its output elements) · (inputs per
//     output) multiply-add FLOPs; a training sample costs 3× its forward
//     (the forward, the gradient of the inputs, the gradient of the
//     weights). BatchNorm, ReLU, pooling and the optimizer are elementwise
//     and not counted: their time is what "not arithmetic" means below.
//   - the core's peak: its clock, measured by a chain of dependent integer
//     additions (one cycle each on x86-64), × its vector width (8 floats
//     with AVX2, 16 with AVX-512F) × its FMA units (measured: the FMA rate
//     of independent accumulators over clock × width, rounded) × 2 FLOPs
//     per FMA.
//   - the training step (fsd's LocalTrainer, batch 32, one thread, real
//     Fashion-MNIST) and the evaluation (model::EvaluateAccuracy at
//     training.eval_batch_size, the median of five passes over the test
//     set) in samples/s, GFLOP/s and share of the peak;
//   - with --profile, where a training step's time goes: LibTorch's
//     profiler's self time per operator, largest first.
// Prints a table and one JSON line (stdout). x86-64 only for the clock.
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/trainer.h"
#include "common/config/config.h"
#include "common/data/image_dataset.h"
#include "common/model/evaluate.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Multiply-adds of one sample through `block`'s layers from `x` (one
// sample); `x` becomes the block's output.
double CountMultiplyAdds(torch::nn::Sequential& block, torch::Tensor& x) {
  double macs = 0.0;
  for (auto& layer : *block) {
    torch::Tensor y = layer.forward(x);
    if (auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(layer.ptr())) {
      const auto& o = conv->options;
      const double per_output = static_cast<double>(o.in_channels()) / o.groups() *
                                (*o.kernel_size())[0] * (*o.kernel_size())[1];
      macs += static_cast<double>(y.numel()) * per_output;
    } else if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(layer.ptr())) {
      macs += static_cast<double>(y.numel()) * linear->options.in_features();
    }
    x = y;
  }
  return macs;
}

// Forward FLOPs of one sample through every stage and exit of `net`
// (stage k feeds exit k; the cnn3 and residual layouts), or with
// `main_only` through the stages and the deepest exit. 0 when a block is
// not a plain sequence of layers (its convolutions cannot be shaped here).
double ForwardFlopsPerSample(fsd::model::MultiExitNet& net, bool main_only) {
  torch::NoGradGuard no_grad;
  net->eval();
  const auto& spec = net->spec();
  torch::Tensor x = torch::zeros({1, spec.in_channels, spec.height, spec.width});
  std::map<std::string, torch::nn::Sequential> blocks;
  for (const auto& child : net->named_children()) {
    auto block = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(child.value());
    if (!block) return 0.0;
    blocks.emplace(child.key(), torch::nn::Sequential(block));
  }
  double macs = 0.0;
  for (int k = 1; blocks.contains("stage" + std::to_string(k)); ++k) {
    macs += CountMultiplyAdds(blocks.at("stage" + std::to_string(k)), x);
    const auto exit = blocks.find("exit" + std::to_string(k));
    if (exit == blocks.end()) continue;
    if (main_only && k < net->num_exits()) continue;
    torch::Tensor head_input = x;
    macs += CountMultiplyAdds(exit->second, head_input);
  }
  net->train();
  return 2.0 * macs;
}

#if defined(__x86_64__)
// Cycles per second: 40 dependent one-cycle additions per loop turn.
double MeasureClockHz() {
  const std::uint64_t turns = 50'000'000;
  const auto start = Clock::now();
  std::uint64_t value = 0, left = turns;
  asm volatile(
      "1:\n\t"
      ".rept 40\n\t"
      "add $1, %0\n\t"
      ".endr\n\t"
      "dec %1\n\t"
      "jnz 1b\n\t"
      : "+r"(value), "+r"(left)
      :
      : "cc");
  return static_cast<double>(turns) * 40.0 / SecondsSince(start);
}

// FLOP/s of FMAs on vectors of kWidth floats over 12 independent
// accumulators (enough to hide the latency of two pipes); inlined into a
// function compiled for the vector extension.
typedef float Floats8 __attribute__((vector_size(32)));
typedef float Floats16 __attribute__((vector_size(64)));
template <typename Vec, int kWidth>
__attribute__((always_inline)) inline double FmaRate() {
  Vec acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = Vec{} + static_cast<float>(i);
  Vec a = Vec{} + 0.999999f;
  const Vec b = Vec{} + 1e-7f;
  const std::int64_t turns = 20'000'000;
  const auto start = Clock::now();
  for (std::int64_t t = 0; t < turns; ++t) {
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * a + b;
    asm volatile("" : "+x"(a));  // keeps the loop from being folded
  }
  const double seconds = SecondsSince(start);
  float sink = 0.0f;
  for (int i = 0; i < 12; ++i) sink += acc[i][0];
  asm volatile("" : : "x"(sink));
  return static_cast<double>(turns) * 12 * kWidth * 2 / seconds;
}
__attribute__((target("avx2,fma"))) double FmaRateAvx2() { return FmaRate<Floats8, 8>(); }
__attribute__((target("avx512f"))) double FmaRateAvx512() { return FmaRate<Floats16, 16>(); }
#endif

struct CorePeak {
  double clock_hz = 0.0;
  int width = 0;      // floats per vector
  int fma_units = 0;  // FMAs issued per cycle
  double fma_rate = 0.0;
  double flops() const { return clock_hz * width * fma_units * 2.0; }
};

CorePeak MeasurePeak() {
  CorePeak peak;
#if defined(__x86_64__)
  peak.clock_hz = MeasureClockHz();
  if (__builtin_cpu_supports("avx512f")) {
    peak.width = 16;
    peak.fma_rate = FmaRateAvx512();
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    peak.width = 8;
    peak.fma_rate = FmaRateAvx2();
  }
  if (peak.width > 0) {
    peak.fma_units = std::max(
        1, static_cast<int>(std::lround(peak.fma_rate / (peak.clock_hz * peak.width * 2.0))));
  }
#endif
  return peak;
}

// Self time per operator over `events` (one thread's pushes and pops).
void AddSelfTimes(const std::vector<torch::autograd::profiler::LegacyEvent>& events,
                  std::map<std::string, double>& self_us) {
  using torch::autograd::profiler::EventKind;
  struct Open {
    const torch::autograd::profiler::LegacyEvent* push;
    double children_us = 0.0;
  };
  std::vector<Open> stack;
  for (const auto& event : events) {
    if (event.kind() == EventKind::PushRange) {
      stack.push_back({&event});
    } else if (event.kind() == EventKind::PopRange && !stack.empty()) {
      const Open open = stack.back();
      stack.pop_back();
      const double inclusive = open.push->cpuElapsedUs(event);
      self_us[open.push->name()] += inclusive - open.children_us;
      if (!stack.empty()) stack.back().children_us += inclusive;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-bench-limit: FLOPs per sample, the core's peak, and training and evaluation as a "
      "share of it (a table, then one JSON line)."};
  std::string variant = "fedsd";
  std::string architecture = "cnn3-s";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int steps = 600, warmup = 50, profile_steps = 0;
  app.add_option("--variant", variant, "fedsd (all exits) or fedavg (main exit)")
      ->check(CLI::IsMember({"fedsd", "fedavg"}));
  app.add_option("--architecture", architecture, "a model.architecture value");
  app.add_option("--data", data_dir, "Fashion-MNIST directory");
  app.add_option("--steps", steps, "timed training steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first")->check(CLI::NonNegativeNumber);
  app.add_option("--profile", profile_steps, "profile this many more steps: self time per operator")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  return fsd::RunGuarded("fsd-bench-limit", [&] {
    using namespace fsd;
    runtime::ConfigureProcess(1);
    const CorePeak peak = MeasurePeak();
    const data::Dataset train = data::LoadIdxDataset(data_dir, "train", 10, data::Normalization{});
    const data::Dataset test = data::LoadIdxDataset(data_dir, "t10k", 10, data::Normalization{});
    model::ModelSpec spec;
    spec.architecture = model::ParseArchitecture(architecture);
    torch::manual_seed(0);
    model::MultiExitNet net(spec);
    // Evaluation computes every exit; fedavg trains the main exit's path only.
    const double forward_flops = ForwardFlopsPerSample(net, /*main_only=*/false);
    const double train_flops = 3.0 * ForwardFlopsPerSample(net, variant == "fedavg");

    config::TrainingConfig training;  // the benchmark's: batch 32, SGD lr 0.05, momentum 0.9
    config::LossConfig loss;
    if (variant == "fedavg") loss.exits = config::TrainedExits::kMain;
    client::LocalTrainer trainer(net, training, loss);
    const std::int64_t batch = training.batch_size;
    std::vector<std::int64_t> order(static_cast<std::size_t>(train.size()));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
    const auto take = [&](std::int64_t first, std::int64_t count) {
      std::vector<std::int64_t> indices(static_cast<std::size_t>(count));
      for (std::int64_t i = 0; i < count; ++i)
        indices[static_cast<std::size_t>(i)] = order[static_cast<std::size_t>(
            (first + i * 7919) % train.size())];  // a fixed stride through the set
      return indices;
    };
    trainer.BeginRun(std::int64_t{steps + warmup + profile_steps} * batch);
    if (warmup > 0) trainer.TrainEpoch(train, take(0, std::int64_t{warmup} * batch), 1);
    const auto stats = trainer.TrainEpoch(train, take(1, std::int64_t{steps} * batch), 2);
    const double train_rate = static_cast<double>(steps * batch) / stats.seconds;

    const int eval_batch = training.eval_batch_size;
    model::EvaluateAccuracy(net, test, eval_batch);  // warm-up
    std::vector<double> eval_rates;                  // the median of five passes
    for (int pass = 0; pass < 5; ++pass) {
      const auto eval_start = Clock::now();
      model::EvaluateAccuracy(net, test, eval_batch);
      eval_rates.push_back(static_cast<double>(test.size()) / SecondsSince(eval_start));
    }
    std::sort(eval_rates.begin(), eval_rates.end());
    const double eval_rate = eval_rates[2];

    std::map<std::string, double> self_us;
    if (profile_steps > 0) {
      namespace profiler = torch::autograd::profiler;
      profiler::enableProfilerLegacy(
          torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
      trainer.TrainEpoch(train, take(2, std::int64_t{profile_steps} * batch), 3);
      for (const auto& events : profiler::disableProfilerLegacy()) AddSelfTimes(events, self_us);
    }

    const double peak_flops = peak.flops();
    const auto share = [&](double flops) {
      return peak_flops > 0.0 ? nlohmann::json(flops / peak_flops) : nlohmann::json();
    };
    std::printf("network %s (%s): forward %.2f MFLOP/sample, training %.2f MFLOP/sample\n",
                architecture.c_str(), variant.c_str(), forward_flops / 1e6, train_flops / 1e6);
    std::printf(
        "core: clock %.2f GHz, %d floats per vector, %d FMA unit(s): peak %.1f GFLOP/s "
        "(FMA loop reached %.1f)\n",
        peak.clock_hz / 1e9, peak.width, peak.fma_units, peak_flops / 1e9, peak.fma_rate / 1e9);
    std::printf("training:   %8.0f samples/s  %6.1f GFLOP/s  %5.1f%% of peak\n", train_rate,
                train_rate * train_flops / 1e9, 100.0 * train_rate * train_flops / peak_flops);
    std::printf("evaluation: %8.0f samples/s  %6.1f GFLOP/s  %5.1f%% of peak (batch %d)\n",
                eval_rate, eval_rate * forward_flops / 1e9,
                100.0 * eval_rate * forward_flops / peak_flops, eval_batch);
    nlohmann::json profile = nlohmann::json::array();
    if (!self_us.empty()) {
      std::vector<std::pair<double, std::string>> ranked;
      double total = 0.0;
      for (const auto& [name, us] : self_us) {
        ranked.emplace_back(us, name);
        total += us;
      }
      std::sort(ranked.rbegin(), ranked.rend());
      std::printf("a training step's self time per operator (%d profiled steps):\n", profile_steps);
      for (std::size_t i = 0; i < ranked.size() && i < 20; ++i) {
        const double per_step_ms = ranked[i].first / 1e3 / profile_steps;
        std::printf("  %5.1f%%  %7.3f ms  %s\n", 100.0 * ranked[i].first / total, per_step_ms,
                    ranked[i].second.c_str());
        profile.push_back(
            {{"op", ranked[i].second}, {"share", ranked[i].first / total}, {"ms", per_step_ms}});
      }
    }
    const nlohmann::json result = {{"architecture", architecture},
                                   {"variant", variant},
                                   {"forward_flops_per_sample", forward_flops},
                                   {"train_flops_per_sample", train_flops},
                                   {"clock_ghz", peak.clock_hz / 1e9},
                                   {"vector_floats", peak.width},
                                   {"fma_units", peak.fma_units},
                                   {"peak_gflops", peak_flops / 1e9},
                                   {"train_samples_per_s", train_rate},
                                   {"train_gflops", train_rate * train_flops / 1e9},
                                   {"train_share_of_peak", share(train_rate * train_flops)},
                                   {"eval_batch", eval_batch},
                                   {"eval_samples_per_s", eval_rate},
                                   {"eval_gflops", eval_rate * forward_flops / 1e9},
                                   {"eval_share_of_peak", share(eval_rate * forward_flops)},
                                   {"profile", profile}};
    std::printf("%s\n", result.dump().c_str());
    return 0;
  });
}
