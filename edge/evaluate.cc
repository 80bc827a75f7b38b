#include "edge/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/errors.h"

namespace fsd::edge {
namespace {

using Clock = std::chrono::steady_clock;

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::size_t ArgMax(const float* logits, std::size_t classes) {
  return static_cast<std::size_t>(std::max_element(logits, logits + classes) - logits);
}

}  // namespace

Classifier ClassifierOf(XnnpackEngine& engine, int exit) {
  const int chosen = exit < 0 ? engine.num_exits() - 1 : exit;
  return {engine.input_elements(), engine.model().num_classes, engine.num_exits(),
          [&engine, chosen](const float* images, std::size_t batch) {
            return engine.Run(images, batch, chosen);
          },
          [&engine](const float* image, double threshold) {
            return engine.RunUntilConfident(image, threshold);
          }};
}

void Evaluate(const Classifier& model, const TestSet& test, const std::vector<int>& batch_sizes,
              int repeats, const std::vector<double>& thresholds, nlohmann::json& report) {
  const std::size_t n = test.labels.size();
  const std::size_t per_image = model.input_elements;
  const std::size_t classes = model.num_classes;
  FSD_CHECK(n > 0 && test.images.size() == n * per_image) << "images do not match the labels";
  nlohmann::json timings = nlohmann::json::array();
  for (const int batch : batch_sizes) {
    if (batch < 1) throw ConfigError("--batch-sizes: every size must be >= 1");
    double best_ms = 1e300;
    std::size_t correct = 0;
    for (int r = 0; r < std::max(1, repeats); ++r) {
      correct = 0;
      const auto start = Clock::now();
      for (std::size_t at = 0; at < n; at += static_cast<std::size_t>(batch)) {
        const std::size_t size = std::min<std::size_t>(static_cast<std::size_t>(batch), n - at);
        const float* logits = model.run(test.images.data() + at * per_image, size);
        for (std::size_t i = 0; i < size; ++i)
          correct += ArgMax(logits + i * classes, classes) == test.labels[at + i];
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
    std::vector<std::int64_t> exits_taken(static_cast<std::size_t>(model.num_exits), 0);
    std::size_t correct = 0;
    const auto start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const auto [taken, logits] =
          model.run_until_confident(test.images.data() + i * per_image, threshold);
      ++exits_taken[static_cast<std::size_t>(taken)];
      correct += ArgMax(logits, classes) == test.labels[i];
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
}

data::Normalization ManifestNormalization(const nlohmann::json& manifest) {
  const nlohmann::json& entry = manifest.at("normalization");
  const auto values = [&](const char* key) {
    const nlohmann::json& value = entry.at(key);
    return value.is_array() ? value.get<std::vector<double>>()
                            : std::vector<double>{value.get<double>()};
  };
  return {values("mean"), values("std")};
}

}  // namespace fsd::edge
