#include "edge/model_file.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/errors.h"
#include "common/wire/sha256.h"
#include "edge/shapes.h"

namespace fsd::edge {
namespace {

constexpr char kMagic[4] = {'F', 'S', 'D', 'M'};
constexpr std::uint32_t kVersionPlain = 1;     // no residual additions
constexpr std::uint32_t kVersionResidual = 2;  // residual additions (kind 5, with `source`)

class Writer {
 public:
  void U32(std::uint32_t v) { Raw(&v, 4); }
  void Floats(const std::vector<float>& values) {
    const std::uint64_t n = values.size();
    Raw(&n, 8);
    Raw(values.data(), values.size() * 4);
  }
  void Raw(const void* data, std::size_t size) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  std::vector<std::uint8_t> Take() { return std::move(bytes_); }

 private:
  std::vector<std::uint8_t> bytes_;  // little-endian hosts only (x86-64, arm64)
};

class Reader {
 public:
  Reader(std::span<const std::uint8_t> bytes, const std::string& origin)
      : bytes_(bytes), origin_(origin) {}
  std::uint32_t U32(const char* what) {
    std::uint32_t v = 0;
    Raw(&v, 4, what);
    return v;
  }
  // A float vector of exactly `expected` values (checked before allocating).
  std::vector<float> Floats(std::uint64_t expected, const char* what) {
    std::uint64_t n = 0;
    Raw(&n, 8, what);
    if (n != expected) {
      Fail(std::string(what) + " holds " + std::to_string(n) + " values, the layer's shape needs " +
           std::to_string(expected));
    }
    if (n > (bytes_.size() - at_) / 4) Fail(std::string(what) + ": truncated");
    std::vector<float> values(n);
    Raw(values.data(), n * 4, what);
    for (const float v : values) {
      if (!std::isfinite(v)) Fail(std::string(what) + ": a value is NaN or infinite");
    }
    return values;
  }
  void Raw(void* out, std::size_t size, const char* what) {
    if (size > bytes_.size() - at_) Fail(std::string("truncated in ") + what);
    std::memcpy(out, bytes_.data() + at_, size);
    at_ += size;
  }
  bool done() const { return at_ == bytes_.size(); }
  [[noreturn]] void Fail(const std::string& problem) const {
    throw DataError(origin_ + ": " + problem);
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t at_ = 0;
  const std::string& origin_;
};

bool HasResidualAdd(const Block& block) {
  return std::any_of(block.layers.begin(), block.layers.end(),
                     [](const Layer& layer) { return layer.kind == LayerKind::kResidualAdd; });
}

void WriteBlock(Writer& w, const Block& block) {
  w.U32(static_cast<std::uint32_t>(block.layers.size()));
  for (const Layer& layer : block.layers) {
    w.U32(static_cast<std::uint32_t>(layer.kind));
    w.U32(layer.in_channels);
    w.U32(layer.out_channels);
    w.U32(layer.kernel);
    w.U32(layer.stride);
    w.U32(layer.padding);
    w.U32(layer.relu ? 1 : 0);
    if (layer.kind == LayerKind::kResidualAdd) w.U32(layer.source);
    w.Floats(layer.weights);
    w.Floats(layer.bias);
  }
}

// Reads one block whose input has `shape`; returns the block with `shape`
// advanced to its output.
Block ReadBlock(Reader& r, std::uint32_t version, Shape& shape, const std::string& name) {
  Block block;
  std::vector<Shape> inputs;  // of every layer read so far
  const std::uint32_t count = r.U32("layer count");
  if (count < 1 || count > kMaxLayersPerBlock) {
    r.Fail(name + " has " + std::to_string(count) + " layers, allowed 1.." +
           std::to_string(kMaxLayersPerBlock));
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    Layer layer;
    const std::uint32_t kind = r.U32("layer kind");
    const std::uint32_t last_kind = version == kVersionPlain ? 4 : 5;
    if (kind < 1 || kind > last_kind)
      r.Fail(name + " layer " + std::to_string(i) + ": unknown kind " + std::to_string(kind) +
             " for format version " + std::to_string(version));
    layer.kind = static_cast<LayerKind>(kind);
    layer.in_channels = r.U32("in_channels");
    layer.out_channels = r.U32("out_channels");
    layer.kernel = r.U32("kernel");
    layer.stride = r.U32("stride");
    layer.padding = r.U32("padding");
    const std::uint32_t relu = r.U32("relu");
    if (relu > 1) r.Fail(name + " layer " + std::to_string(i) + ": relu must be 0 or 1");
    layer.relu = relu == 1;
    const std::string where = name + " layer " + std::to_string(i);
    Shape skip;
    if (layer.kind == LayerKind::kResidualAdd) {
      layer.source = r.U32("source");
      if (layer.source >= i)
        r.Fail(where + ": residual addition from layer " + std::to_string(layer.source) +
               ", allowed an earlier layer of the block (0.." + std::to_string(i) + ")");
      skip = inputs[layer.source];
    }
    if (auto problem = CheckLayer(layer, shape, skip)) r.Fail(where + ": " + *problem);
    layer.weights = r.Floats(WeightCount(layer), "weights");
    layer.bias = r.Floats(BiasCount(layer), "bias");
    inputs.push_back(shape);
    shape = OutputShape(layer, shape);
    block.layers.push_back(std::move(layer));
  }
  return block;
}

// Model files are a few MB; anything far larger is refused before it is read.
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{1} << 30;

std::vector<std::uint8_t> ReadAll(const std::string& path) {
  std::error_code error;
  const std::uintmax_t size = std::filesystem::file_size(path, error);
  if (error) throw IoError(path + ": cannot open (" + error.message() + ")");
  if (size > kMaxFileBytes) {
    throw DataError(path + ": " + std::to_string(size) + " bytes, a model file holds at most " +
                    std::to_string(kMaxFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

std::uint32_t FormatVersion(const EdgeModel& model) {
  const bool residual = std::any_of(model.stages.begin(), model.stages.end(), HasResidualAdd) ||
                        std::any_of(model.heads.begin(), model.heads.end(), HasResidualAdd);
  return residual ? kVersionResidual : kVersionPlain;
}

std::vector<std::uint8_t> SerializeModel(const EdgeModel& model) {
  Writer w;
  w.Raw(kMagic, 4);
  w.U32(FormatVersion(model));
  w.U32(model.in_channels);
  w.U32(model.height);
  w.U32(model.width);
  w.U32(model.num_classes);
  w.U32(static_cast<std::uint32_t>(model.heads.size()));
  FSD_CHECK(model.stages.size() == model.heads.size()) << "one head per stage";
  for (const Block& stage : model.stages) WriteBlock(w, stage);
  for (const Block& head : model.heads) WriteBlock(w, head);
  return w.Take();
}

EdgeModel ParseModel(std::span<const std::uint8_t> bytes, const std::string& origin) {
  Reader r(bytes, origin);
  char magic[4];
  r.Raw(magic, 4, "magic");
  if (std::memcmp(magic, kMagic, 4) != 0) r.Fail("not an fsd edge model (bad magic)");
  const std::uint32_t version = r.U32("version");
  if (version != kVersionPlain && version != kVersionResidual) {
    r.Fail("format version " + std::to_string(version) + ", this runtime reads " +
           std::to_string(kVersionPlain) + " and " + std::to_string(kVersionResidual));
  }
  EdgeModel model;
  model.in_channels = r.U32("in_channels");
  model.height = r.U32("height");
  model.width = r.U32("width");
  model.num_classes = r.U32("num_classes");
  const std::uint32_t exits = r.U32("exits");
  if (model.in_channels < 1 || model.in_channels > kMaxChannels || model.height < 1 ||
      model.height > kMaxSide || model.width < 1 || model.width > kMaxSide ||
      model.num_classes < 2 || model.num_classes > kMaxChannels) {
    r.Fail("input " + std::to_string(model.height) + "x" + std::to_string(model.width) + "x" +
           std::to_string(model.in_channels) + " or " + std::to_string(model.num_classes) +
           " classes out of bounds");
  }
  if (exits < 1 || exits > kMaxExits) {
    r.Fail(std::to_string(exits) + " exits, allowed 1.." + std::to_string(kMaxExits));
  }
  Shape shape{model.height, model.width, model.in_channels};
  std::vector<Shape> stage_outputs;
  for (std::uint32_t k = 0; k < exits; ++k) {
    model.stages.push_back(ReadBlock(r, version, shape, "stage " + std::to_string(k + 1)));
    stage_outputs.push_back(shape);
  }
  for (std::uint32_t k = 0; k < exits; ++k) {
    Shape head = stage_outputs[k];
    model.heads.push_back(ReadBlock(r, version, head, "head " + std::to_string(k + 1)));
    if (!(head.height == 1 && head.width == 1 && head.channels == model.num_classes) ||
        model.heads.back().layers.back().kind != LayerKind::kLinear) {
      r.Fail("head " + std::to_string(k + 1) + " does not end in " +
             std::to_string(model.num_classes) + " logits of a fully connected layer");
    }
  }
  if (!r.done()) r.Fail("trailing bytes after the last head");
  return model;
}

void WriteModelFile(const std::string& path, const EdgeModel& model) {
  const auto bytes = SerializeModel(model);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw IoError(path + ": cannot write");
}

EdgeModel ReadModelFile(const std::string& path, const std::string& expected_sha256) {
  const auto bytes = ReadAll(path);
  const std::string actual = wire::ToHex(wire::Sha256({bytes}));
  if (actual.size() != expected_sha256.size() ||
      CRYPTO_memcmp(actual.data(), expected_sha256.data(), actual.size()) != 0) {
    throw DataError(path + ": SHA-256 " + actual + " does not match the manifest's " +
                    expected_sha256 + " (file changed or replaced)");
  }
  return ParseModel(bytes, path);
}

}  // namespace fsd::edge
