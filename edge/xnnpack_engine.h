// XnnpackEngine: runs an EdgeModel (edge/model_file.h) with XNNPACK's
// subgraph API — convolutions with fused ReLU, max pooling, global average
// pooling, fully connected, residual additions — on the calling thread, without LibTorch.
//
// Every stage and every head is its own XNNPACK runtime per batch size
// (built on first use and kept), chained through buffers the engine owns, so
// an exit computes only the stages it reads and anytime inference stops
// after the first confident exit.
// Thread-safety: one owner thread (runtimes and buffers are reused).
// Errors: InternalError when XNNPACK refuses the model or a call (the model
// was validated when parsed), or for an exit out of range.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "edge/model_file.h"

namespace fsd::edge {

class XnnpackEngine {
 public:
  explicit XnnpackEngine(EdgeModel model);
  ~XnnpackEngine();
  XnnpackEngine(const XnnpackEngine&) = delete;
  XnnpackEngine& operator=(const XnnpackEngine&) = delete;

  int num_exits() const { return model_.num_exits(); }
  const EdgeModel& model() const { return model_; }
  std::size_t input_elements() const;  // per image: height × width × in_channels

  // Logits of exit `exit` (0-based) for `batch` NHWC images; returns a view
  // of batch × num_classes floats, valid until the next call.
  const float* Run(const float* images, std::size_t batch, int exit);

  // Anytime inference of one image: exits shallow to deep, stopping at the
  // first whose max softmax probability is ≥ threshold (else the deepest).
  // Returns (exit, its logits, valid until the next call).
  std::pair<int, const float*> RunUntilConfident(const float* image, double threshold);

 private:
  struct Runtime;
  // The runtime of block `index` (stages first, then heads) at `batch`.
  Runtime& RuntimeFor(std::size_t index, std::size_t batch);
  // The images in input_ (XNNPACK may read a few bytes past a tensor's end).
  const float* CopyIn(const float* images, std::size_t batch);
  // Runs stage `k` at `batch` from its input buffer (the images or stage k−1's output).
  const float* RunStage(int k, const float* input, std::size_t batch);
  const float* RunHead(int k, const float* input, std::size_t batch);

  EdgeModel model_;
  std::vector<float> input_;  // the caller's images, copied with XNNPACK's read-ahead room
  std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<Runtime>> runtimes_;
};

}  // namespace fsd::edge
