// EdgeModel: an exported exit as plain layers for inference runtimes without
// LibTorch (edge/xnnpack_engine.h), and its file format (`.fsdm`).
//
// A multi-exit network is a chain of stages, stage k feeding exit k's head
// and stage k + 1 (common/model/multi_exit_net.h). Every block is a list of
// layers over NHWC activations: 2D convolutions with BatchNorm already folded
// into their weights and bias (weights [out][kh][kw][in]) and an optional
// fused ReLU, 2D max pooling, global average pooling, and fully connected
// layers (weights [out][in]; the first one of an MLP reads the NHWC-flattened
// image), and residual additions: the output of the previous layer plus the
// input of an earlier layer of the same block, through a folded 1x1
// projection convolution when one is given. Input: [N, height, width,
// in_channels] floats, normalized.
//
// File layout (little-endian): "FSDM", u32 version, u32 in_channels,
// height, width, num_classes, u32 exits; then exits stages and exits heads,
// each u32 layer count and per layer u32 kind, in, out, kernel, stride,
// padding, relu, [source: residual additions only], u64 weight count +
// floats, u64 bias count + floats. Version 1 has no residual additions;
// version 2 adds them (and is written only when a model has one, so that
// earlier runtimes keep reading every other model).
// Every count is checked against the layer's shape before anything is
// allocated; a file is read only after its SHA-256 matches the manifest's.
// Thread-safety: plain values and free functions. Errors: DataError naming
// the file and the problem; IoError when it cannot be read or written.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fsd::edge {

enum class LayerKind : std::uint32_t {
  kConv2d = 1,             // kernel × kernel, stride, zero padding on every side
  kMaxPool2d = 2,          // kernel × kernel window, stride
  kGlobalAveragePool = 3,  // [N, H, W, C] → [N, 1, 1, C]
  kLinear = 4,             // [N, in] → [N, out]
  // Output of the previous layer + the input of layer `source` of the block;
  // kernel 0: that input as it is (identity shortcut); kernel 1: through a 1x1
  // convolution with `stride` (projection shortcut, weights [out][1][1][in]).
  kResidualAdd = 5,
};

struct Layer {
  LayerKind kind = LayerKind::kConv2d;
  std::uint32_t in_channels = 0;   // conv: input channels; linear: input features
  std::uint32_t out_channels = 0;  // conv: filters; linear: outputs; pools: 0
  std::uint32_t kernel = 0, stride = 1, padding = 0;
  bool relu = false;           // ReLU fused into the output
  std::uint32_t source = 0;    // residual addition: the layer whose input it adds
  std::vector<float> weights;  // conv: [out][k][k][in]; linear: [out][in]
  std::vector<float> bias;     // [out]
};

struct Block {
  std::vector<Layer> layers;
};

struct EdgeModel {
  std::uint32_t in_channels = 1, height = 28, width = 28, num_classes = 10;
  std::vector<Block> stages;  // stage k feeds heads[k] and stages[k + 1]
  std::vector<Block> heads;   // one per exit, shallow to deep
  int num_exits() const { return static_cast<int>(heads.size()); }
};

// Bounds a file may announce.
inline constexpr std::uint32_t kMaxExits = 16;
inline constexpr std::uint32_t kMaxLayersPerBlock = 64;
inline constexpr std::uint32_t kMaxChannels = 1 << 16;
inline constexpr std::uint32_t kMaxKernel = 15;
inline constexpr std::uint32_t kMaxSide = 4096;

// The format version SerializeModel writes for `model`: 2 when it has a
// residual addition, else 1.
std::uint32_t FormatVersion(const EdgeModel& model);
std::vector<std::uint8_t> SerializeModel(const EdgeModel& model);
// `origin` names the bytes in errors.
EdgeModel ParseModel(std::span<const std::uint8_t> bytes, const std::string& origin);

void WriteModelFile(const std::string& path, const EdgeModel& model);
// Reads `path`, checks its SHA-256 (hex) against `expected_sha256` before
// parsing a byte of it.
EdgeModel ReadModelFile(const std::string& path, const std::string& expected_sha256);

}  // namespace fsd::edge
