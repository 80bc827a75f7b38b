#include "edge/xnnpack_engine.h"

#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include "common/errors.h"
#include "edge/shapes.h"

namespace fsd::edge {
namespace {

void Check(xnn_status status, const char* what) {
  FSD_CHECK(status == xnn_status_success)
      << "XNNPACK " << what << " failed (status " << status << ")";
}

void InitializeOnce() {
  static std::once_flag once;
  std::call_once(once, [] { Check(xnn_initialize(nullptr), "initialize"); });
}

Shape BlockInput(const EdgeModel& model, std::size_t index) {
  Shape shape{model.height, model.width, model.in_channels};
  const std::size_t stages = model.stages.size();
  const std::size_t through = index < stages ? index : index - stages + 1;
  for (std::size_t s = 0; s < through; ++s)
    for (const Layer& layer : model.stages[s].layers) shape = OutputShape(layer, shape);
  return shape;
}

}  // namespace

// One block compiled for one batch size, with its output buffer.
struct XnnpackEngine::Runtime {
  xnn_runtime_t runtime = nullptr;
  std::vector<float> output;  // batch × output elements, + XNNPACK's read-ahead
  std::size_t output_elements = 0;
  ~Runtime() {
    if (runtime != nullptr) xnn_delete_runtime(runtime);
  }
};

XnnpackEngine::XnnpackEngine(EdgeModel model) : model_(std::move(model)) { InitializeOnce(); }

XnnpackEngine::~XnnpackEngine() = default;

std::size_t XnnpackEngine::input_elements() const {
  return std::size_t{model_.height} * model_.width * model_.in_channels;
}

XnnpackEngine::Runtime& XnnpackEngine::RuntimeFor(std::size_t index, std::size_t batch) {
  auto& slot = runtimes_[{index, batch}];
  if (slot) return *slot;
  const std::size_t stages = model_.stages.size();
  const Block& block = index < stages ? model_.stages[index] : model_.heads[index - stages];
  Shape shape = BlockInput(model_, index);
  xnn_subgraph_t subgraph = nullptr;
  Check(xnn_create_subgraph(/*external_value_ids=*/2, 0, &subgraph), "create_subgraph");
  struct Deleter {
    xnn_subgraph_t s;
    ~Deleter() { xnn_delete_subgraph(s); }
  } deleter{subgraph};
  const auto dims4 = [&](const Shape& s) {
    return std::vector<std::size_t>{batch, s.height, s.width, s.channels};
  };
  const auto tensor = [&](const std::vector<std::size_t>& dims, const float* data,
                          std::uint32_t external, std::uint32_t flags) {
    std::uint32_t id = 0;
    Check(xnn_define_tensor_value(subgraph, xnn_datatype_fp32, dims.size(), dims.data(), data,
                                  external, flags, &id),
          "define_tensor_value");
    return id;
  };
  std::uint32_t current = tensor(dims4(shape), nullptr, 0, XNN_VALUE_FLAG_EXTERNAL_INPUT);
  std::vector<std::uint32_t> layer_inputs;  // value id and shape of every layer's input
  std::vector<Shape> layer_input_shapes;
  const float inf = std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < block.layers.size(); ++i) {
    const Layer& layer = block.layers[i];
    layer_inputs.push_back(current);
    layer_input_shapes.push_back(shape);
    const Shape out = OutputShape(layer, shape);
    const bool last = i + 1 == block.layers.size();
    const std::uint32_t out_id =
        tensor(layer.kind == LayerKind::kLinear ? std::vector<std::size_t>{batch, out.channels}
                                                : dims4(out),
               nullptr, last ? 1 : XNN_INVALID_VALUE_ID, last ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT : 0);
    const float low = layer.relu ? 0.0f : -inf;
    switch (layer.kind) {
      case LayerKind::kConv2d: {
        const std::uint32_t filter =
            tensor({layer.out_channels, layer.kernel, layer.kernel, layer.in_channels},
                   layer.weights.data(), XNN_INVALID_VALUE_ID, 0);
        const std::uint32_t bias =
            tensor({layer.out_channels}, layer.bias.data(), XNN_INVALID_VALUE_ID, 0);
        Check(
            xnn_define_convolution_2d(subgraph, layer.padding, layer.padding, layer.padding,
                                      layer.padding, layer.kernel, layer.kernel, layer.stride,
                                      layer.stride, 1, 1, 1, layer.in_channels, layer.out_channels,
                                      low, inf, current, filter, bias, out_id, 0),
            "define_convolution_2d");
        break;
      }
      case LayerKind::kMaxPool2d:
        Check(xnn_define_max_pooling_2d(subgraph, layer.padding, layer.padding, layer.padding,
                                        layer.padding, layer.kernel, layer.kernel, layer.stride,
                                        layer.stride, 1, 1, low, inf, current, out_id, 0),
              "define_max_pooling_2d");
        break;
      case LayerKind::kGlobalAveragePool:
        Check(xnn_define_global_average_pooling_2d(subgraph, low, inf, current, out_id, 0),
              "define_global_average_pooling_2d");
        break;
      case LayerKind::kLinear: {
        const std::uint32_t filter = tensor({layer.out_channels, layer.in_channels},
                                            layer.weights.data(), XNN_INVALID_VALUE_ID, 0);
        const std::uint32_t bias =
            tensor({layer.out_channels}, layer.bias.data(), XNN_INVALID_VALUE_ID, 0);
        // The input, whatever its rank, is read as [batch, in_channels].
        Check(xnn_define_fully_connected(subgraph, low, inf, current, filter, bias, out_id,
                                         XNN_FLAG_TENSORFLOW_RESHAPE_2D),
              "define_fully_connected");
        break;
      }
      case LayerKind::kResidualAdd: {
        std::uint32_t shortcut = layer_inputs[layer.source];
        if (layer.kernel == 1) {  // the projection: a 1x1 convolution of the source's input
          const Shape& skip = layer_input_shapes[layer.source];
          const std::uint32_t filter = tensor({layer.out_channels, 1, 1, layer.in_channels},
                                              layer.weights.data(), XNN_INVALID_VALUE_ID, 0);
          const std::uint32_t bias =
              tensor({layer.out_channels}, layer.bias.data(), XNN_INVALID_VALUE_ID, 0);
          const std::uint32_t projected = tensor(dims4(out), nullptr, XNN_INVALID_VALUE_ID, 0);
          FSD_CHECK(skip.channels == layer.in_channels) << "projection of a mismatched input";
          Check(xnn_define_convolution_2d(subgraph, 0, 0, 0, 0, 1, 1, layer.stride, layer.stride, 1,
                                          1, 1, layer.in_channels, layer.out_channels, -inf, inf,
                                          shortcut, filter, bias, projected, 0),
                "define_convolution_2d (projection)");
          shortcut = projected;
        }
        Check(xnn_define_add2(subgraph, low, inf, current, shortcut, out_id, 0), "define_add2");
        break;
      }
    }
    current = out_id;
    shape = out;
  }
  auto runtime = std::make_unique<Runtime>();
  Check(xnn_create_runtime_v2(subgraph, /*threadpool=*/nullptr, 0, &runtime->runtime),
        "create_runtime");
  runtime->output_elements = shape.elements();
  runtime->output.resize(batch * shape.elements() + XNN_EXTRA_BYTES / sizeof(float) + 1);
  slot = std::move(runtime);
  return *slot;
}

const float* XnnpackEngine::CopyIn(const float* images, std::size_t batch) {
  const std::size_t n = batch * input_elements();
  if (input_.size() < n + XNN_EXTRA_BYTES / sizeof(float) + 1)
    input_.resize(n + XNN_EXTRA_BYTES / sizeof(float) + 1);
  std::memcpy(input_.data(), images, n * sizeof(float));
  return input_.data();
}

const float* XnnpackEngine::RunStage(int k, const float* input, std::size_t batch) {
  Runtime& r = RuntimeFor(static_cast<std::size_t>(k), batch);
  const xnn_external_value values[2] = {{0, const_cast<float*>(input)}, {1, r.output.data()}};
  Check(xnn_setup_runtime(r.runtime, 2, values), "setup_runtime");
  Check(xnn_invoke_runtime(r.runtime), "invoke_runtime");
  return r.output.data();
}

const float* XnnpackEngine::RunHead(int k, const float* input, std::size_t batch) {
  return RunStage(static_cast<int>(model_.stages.size()) + k, input, batch);
}

const float* XnnpackEngine::Run(const float* images, std::size_t batch, int exit) {
  FSD_CHECK(exit >= 0 && exit < num_exits()) << "exit " << exit << " of " << num_exits();
  FSD_CHECK(batch >= 1) << "empty batch";
  const float* h = CopyIn(images, batch);
  for (int s = 0; s <= exit; ++s) h = RunStage(s, h, batch);
  return RunHead(exit, h, batch);
}

std::pair<int, const float*> XnnpackEngine::RunUntilConfident(const float* image,
                                                              double threshold) {
  const float* h = CopyIn(image, 1);
  const std::size_t classes = model_.num_classes;
  for (int k = 0; k < num_exits(); ++k) {
    h = RunStage(k, h, 1);
    const float* logits = RunHead(k, h, 1);
    if (k + 1 == num_exits()) return {k, logits};
    // max softmax = 1 / Σ exp(z_j − z_max)
    const float top = *std::max_element(logits, logits + classes);
    double sum = 0.0;
    for (std::size_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(logits[j] - top));
    if (1.0 / sum >= threshold) return {k, logits};
  }
  throw InternalError("a model without exits");
}

}  // namespace fsd::edge
