#include "common/model/flat_params.h"

#include <cstdio>
#include <cstring>

#include "common/errors.h"
#include "common/model/multi_exit_net.h"
#include "common/wire/messages.h"

namespace fsd::model {
namespace {

constexpr std::uint64_t kFnvOffset = 1469598103934665603ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;

void Mix(std::uint64_t& hash, std::string_view text) {
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
}

// Tensors in schema order; the same traversal for Of, Flatten and Unflatten.
std::vector<torch::Tensor> SchemaTensors(const torch::nn::Module& module,
                                         std::vector<FlatEntry>* entries) {
  std::vector<torch::Tensor> tensors;
  const auto add = [&](const std::string& name, const torch::Tensor& t, bool is_buffer) {
    tensors.push_back(t);
    if (entries != nullptr) {
      FlatEntry entry;
      entry.name = name;
      entry.shape = t.sizes().vec();
      entry.numel = t.numel();
      entry.is_buffer = is_buffer;
      entries->push_back(std::move(entry));
    }
  };
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    add(item.key(), item.value(), false);
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    if (item.value().is_floating_point()) add(item.key(), item.value(), true);
  }
  return tensors;
}

void CheckLayout(const std::vector<torch::Tensor>& tensors, const FlatSchema& schema) {
  FSD_CHECK(tensors.size() == schema.entries().size())
      << "module has " << tensors.size() << " tensors, schema " << schema.entries().size();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    FSD_CHECK(t.numel() == schema.entries()[i].numel && t.scalar_type() == torch::kFloat32 &&
              t.is_contiguous())
        << "tensor " << schema.entries()[i].name << " does not match the schema";
  }
}

}  // namespace

FlatSchema FlatSchema::Of(const torch::nn::Module& module) {
  FlatSchema schema;
  SchemaTensors(module, &schema.entries_);
  std::uint64_t hash = kFnvOffset;
  for (auto& entry : schema.entries_) {
    entry.offset = schema.total_numel_;
    schema.total_numel_ += entry.numel;
    Mix(hash, entry.name);
    Mix(hash, entry.is_buffer ? "|b|" : "|p|");
    for (const auto d : entry.shape) Mix(hash, std::to_string(d) + ",");
    Mix(hash, ";");
  }
  // A TorchScript network is code as well as tensors: its file is part of
  // what two models must share (empty for fsd's own architectures, whose
  // fingerprints are unchanged).
  if (const auto* net = dynamic_cast<const MultiExitNetImpl*>(&module)) {
    if (!net->spec().script_sha256.empty()) Mix(hash, "|script|" + net->spec().script_sha256);
  }
  schema.fingerprint_ = hash;
  return schema;
}

std::string FlatSchema::FingerprintHex() const { return wire::FingerprintHex(fingerprint_); }

void Flatten(const torch::nn::Module& module, const FlatSchema& schema, std::span<float> out) {
  FSD_CHECK(static_cast<std::int64_t>(out.size()) == schema.total_numel())
      << "output has " << out.size() << " floats, schema " << schema.total_numel();
  const auto tensors = SchemaTensors(module, nullptr);
  CheckLayout(tensors, schema);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& entry = schema.entries()[i];
    std::memcpy(out.data() + entry.offset, tensors[i].data_ptr<float>(),
                static_cast<std::size_t>(entry.numel) * sizeof(float));
  }
}

std::vector<float> Flatten(const torch::nn::Module& module, const FlatSchema& schema) {
  std::vector<float> out(static_cast<std::size_t>(schema.total_numel()));
  Flatten(module, schema, out);
  return out;
}

void Unflatten(std::span<const float> values, const FlatSchema& schema, torch::nn::Module& module) {
  FSD_CHECK(static_cast<std::int64_t>(values.size()) == schema.total_numel())
      << "vector has " << values.size() << " floats, schema " << schema.total_numel();
  FSD_CHECK(FlatSchema::Of(module).fingerprint() == schema.fingerprint())
      << "module layout differs from schema " << schema.FingerprintHex();
  const auto tensors = SchemaTensors(module, nullptr);
  CheckLayout(tensors, schema);
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& entry = schema.entries()[i];
    std::memcpy(tensors[i].data_ptr<float>(), values.data() + entry.offset,
                static_cast<std::size_t>(entry.numel) * sizeof(float));
  }
}

ModelLayout LayoutOf(const FlatSchema& schema) {
  ModelLayout layout;
  for (const auto& entry : schema.entries()) {
    TensorRange range{static_cast<std::uint64_t>(entry.offset),
                      static_cast<std::uint64_t>(entry.numel),
                      !entry.is_buffer && entry.shape.size() >= 2};
    // MultiExitNet's names: "stageK.…" is read first by exit K, "exitK.…" is exit K's head.
    int number = 0;
    char dot = 0;
    if (std::sscanf(entry.name.c_str(), "stage%d%c", &number, &dot) == 2 && dot == '.') {
      range.exit = number;
    } else if (std::sscanf(entry.name.c_str(), "exit%d%c", &number, &dot) == 2 && dot == '.') {
      range.exit = number;
      range.head = true;
    }
    range.statistics = entry.is_buffer;
    layout.push_back(range);
  }
  return layout;
}

}  // namespace fsd::model
