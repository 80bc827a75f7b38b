// fsd-bench-aggregation: the time one round's aggregation takes under each
// rule (aggregation/aggregate.h), at a given number of clients × kept values
// (default 100 × 48,894, the benchmark model), on random vectors, and of the
// central DP release (privacy/dp/dp_release.h: clip every delta, add Gaussian
// noise from the seeded or the CSPRNG source). Prints a markdown table
// (median of --repeats runs, one thread) and one JSON line.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "aggregation/aggregate.h"
#include "privacy/dp/dp_release.h"

int main(int argc, char** argv) {
  CLI::App app{"fsd-bench-aggregation: seconds per round of every aggregation rule."};
  std::size_t clients = 100;
  std::size_t values = 48894;
  std::size_t byzantine = 10;
  int repeats = 5;
  app.add_option("--clients", clients, "updates per round")->check(CLI::PositiveNumber);
  app.add_option("--values", values, "kept values per update")->check(CLI::PositiveNumber);
  app.add_option("--byzantine", byzantine, "f for krum and multi_krum");
  app.add_option("--repeats", repeats, "runs per rule (the median is reported)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (2 * byzantine + 3 > clients) {
    std::fprintf(stderr, "fsd-bench-aggregation: --byzantine %zu needs at least %zu --clients\n",
                 byzantine, 2 * byzantine + 3);
    return 2;
  }

  {
    using namespace fsd::aggregation;
    std::mt19937_64 rng(0);
    std::normal_distribution<float> normal(0.0f, 0.01f);
    std::vector<float> reference(values);
    for (auto& v : reference) v = normal(rng) * 10.0f;
    std::vector<std::vector<float>> updates(clients, reference);
    std::vector<WeightedInput> inputs;
    for (auto& update : updates) {
      for (auto& v : update) v += normal(rng);
      inputs.push_back({update, 1.0 + static_cast<double>(rng() % 1000)});
    }
    struct Case {
      const char* name;
      Rule rule;
      ClipMode clip;
    };
    const Case cases[] = {{"fedavg", Rule::kFedAvg, ClipMode::kOff},
                          {"fedavg+clip(median)", Rule::kFedAvg, ClipMode::kMedian},
                          {"median", Rule::kMedian, ClipMode::kOff},
                          {"trimmed_mean", Rule::kTrimmedMean, ClipMode::kOff},
                          {"krum", Rule::kKrum, ClipMode::kOff},
                          {"multi_krum", Rule::kMultiKrum, ClipMode::kOff}};
    nlohmann::json line = {{"clients", clients}, {"values", values}, {"byzantine", byzantine}};
    std::printf("| rule | s per round (%zu × %zu) |\n|---|---|\n", clients, values);
    for (const Case& c : cases) {
      AggregationOptions options;
      options.rule = c.rule;
      options.clip = c.clip;
      options.byzantine = byzantine;
      options.trim_fraction = 0.1;
      std::vector<double> seconds;
      for (int r = 0; r < repeats; ++r) {
        const auto start = std::chrono::steady_clock::now();
        const auto result = Aggregate(options, reference, inputs);
        seconds.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        if (result.size() != values) return 1;
      }
      std::sort(seconds.begin(), seconds.end());
      const double median = seconds[seconds.size() / 2];
      line[c.name] = median;
      std::printf("| %s | %.4f |\n", c.name, median);
    }
    // DP-FedAvg's release: clip each delta into a sum, add noise, divide.
    for (const bool secure : {false, true}) {
      const char* name = secure ? "dp_central (clip + noise, CSPRNG)" : "dp_central (clip + noise, seeded)";
      std::vector<double> seconds;
      for (int r = 0; r < repeats; ++r) {
        auto noise = secure ? fsd::privacy::GaussianNoise::Secure()
                            : fsd::privacy::GaussianNoise::Seeded(static_cast<std::uint64_t>(r));
        const auto start = std::chrono::steady_clock::now();
        std::vector<double> sum(values, 0.0);
        for (const auto& input : inputs) fsd::privacy::ClipInto(input.values, reference, 1.0, sum);
        const auto result = fsd::privacy::ReleaseMean(reference, sum, 1.0, 10.0, noise);
        seconds.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        if (result.size() != values) return 1;
      }
      std::sort(seconds.begin(), seconds.end());
      const double median = seconds[seconds.size() / 2];
      line[name] = median;
      std::printf("| %s | %.4f |\n", name, median);
    }
    std::printf("%s\n", line.dump().c_str());
    return 0;
  }
}
