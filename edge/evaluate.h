// Accuracy and latency of an XnnpackEngine on a labelled test set — the
// report fsd-infer --runtime xnnpack and fsd-edge-infer print and write
// (the same fields as fsd-infer's LibTorch report): per batch size the
// fastest of `repeats` timed passes over all samples, and per anytime
// threshold the accuracy, latency and exits taken, one sample at a time.
// Thread-safety: calls the classifier from the calling thread only. Errors: ConfigError for
// a batch size < 1 or a threshold outside [0, 1].
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <utility>
#include <vector>

#include "common/data/image_arrays.h"
#include "edge/xnnpack_engine.h"

namespace fsd::edge {

// A model under test, whatever runs it: logits of the chosen exit for a batch
// of NHWC images, and anytime inference of one image (exit taken, logits).
// The returned logits stay valid until the next call.
struct Classifier {
  std::size_t input_elements = 0;  // per image
  std::size_t num_classes = 0;
  int num_exits = 0;
  std::function<const float*(const float* images, std::size_t batch)> run;
  std::function<std::pair<int, const float*>(const float* image, double threshold)>
      run_until_confident;
};

// The engine's exit `exit` (0-based; -1: the deepest) as a Classifier.
Classifier ClassifierOf(XnnpackEngine& engine, int exit = -1);

struct TestSet {
  std::span<const float> images;         // n × height × width × channels, NHWC, normalized
  std::span<const std::uint8_t> labels;  // n
};

// Fills `report` with "timings" and "anytime" arrays; prints one line per
// entry to stdout.
void Evaluate(const Classifier& model, const TestSet& test, const std::vector<int>& batch_sizes,
              int repeats, const std::vector<double>& thresholds, nlohmann::json& report);

// The normalization an export manifest records ("normalization": {"mean",
// "std"}): per-channel lists, or one number each (manifests written before
// per-channel normalization). Throws nlohmann::json::exception when missing
// or of another type; the callers name the manifest.
data::Normalization ManifestNormalization(const nlohmann::json& manifest);

}  // namespace fsd::edge
