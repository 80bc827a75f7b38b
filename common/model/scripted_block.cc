#include "common/model/scripted_block.h"

#include <openssl/crypto.h>

#include <filesystem>
#include <sstream>

#include "common/errors.h"
#include "common/model/multi_exit_net.h"
#include "common/storage/file_digest.h"

namespace fsd::model {
namespace {

// The most exits a file may declare (as the runtime model file's bound).
constexpr std::size_t kMaxScriptedExits = 16;

// Registers `from`'s parameters, buffers and sub-modules on `to` under the
// same names and in the same order, sharing the tensors.
void Mirror(const torch::jit::Module& from, torch::nn::Module& to) {
  for (const auto& item : from.named_parameters(/*recurse=*/false)) {
    to.register_parameter(item.name, item.value, /*requires_grad=*/true);
  }
  for (const auto& item : from.named_buffers(/*recurse=*/false)) {
    to.register_buffer(item.name, item.value);
  }
  for (const auto& child : from.named_children()) {
    auto mirror = std::make_shared<torch::nn::Module>(child.name);
    Mirror(child.value, *mirror);
    to.register_module(child.name, mirror);
  }
}

// The first line of a LibTorch error (the rest is a C++ backtrace).
std::string FirstLine(const std::string& message) { return message.substr(0, message.find('\n')); }

// The children of `list` ("0", "1", …) in order.
std::vector<torch::jit::Module> Items(const torch::jit::Module& list) {
  std::vector<torch::jit::Module> items;
  for (const auto& child : list.named_children()) items.push_back(child.value);
  return items;
}

}  // namespace

ScriptedBlockImpl::ScriptedBlockImpl(torch::jit::Module script) : script_(std::move(script)) {
  Mirror(script_, *this);
}

torch::Tensor ScriptedBlockImpl::forward(const torch::Tensor& x) {
  return script_.forward({x}).toTensor();
}

void ScriptedBlockImpl::train(bool on) {
  script_.train(on);
  torch::nn::Module::train(on);
}

ScriptedNetwork LoadScriptedNetwork(const std::string& path, int in_channels, int height, int width,
                                    int num_classes, const std::string& expected_sha256) {
  if (path.empty())
    throw ConfigError("model.path: required with model.architecture = \"torchscript\"");
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw IoError(path + ": cannot open the TorchScript model (model.path)");
  }
  ScriptedNetwork network;
  network.sha256 = storage::FileSha256Hex(path);
  if (!expected_sha256.empty() &&
      (expected_sha256.size() != network.sha256.size() ||
       CRYPTO_memcmp(expected_sha256.data(), network.sha256.data(), network.sha256.size()) != 0)) {
    throw DataError(path + ": SHA-256 " + network.sha256 + " does not match the expected " +
                    expected_sha256 + " (file changed or replaced)");
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    throw DataError(path + ": not a TorchScript module (" + FirstLine(e.what()) + ")");
  }
  const auto child = [&](const char* name) {
    for (const auto& item : module.named_children()) {
      if (item.name == name) return item.value;
    }
    throw DataError(path + ": has no module list `" + name +
                    "` (a multi-exit TorchScript model has `stages` and `heads`, docs/MODELS.md)");
  };
  network.stages = Items(child("stages"));
  network.heads = Items(child("heads"));
  if (network.stages.empty() || network.stages.size() != network.heads.size() ||
      network.stages.size() > kMaxScriptedExits) {
    throw DataError(path + ": " + std::to_string(network.stages.size()) + " stages and " +
                    std::to_string(network.heads.size()) +
                    " heads; a multi-exit model has one head per stage, 1.." +
                    std::to_string(kMaxScriptedExits));
  }
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!torch::isfinite(item.value).all().item<bool>())
      throw DataError(path + ": parameter " + item.name + " holds NaN or infinite values");
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    if (item.value.is_floating_point() && !torch::isfinite(item.value).all().item<bool>())
      throw DataError(path + ": buffer " + item.name + " holds NaN or infinite values");
  }
  // The probe: every exit's output on two images of the data's shape.
  module.eval();
  torch::NoGradGuard no_grad;
  torch::Tensor h = torch::zeros({2, in_channels, height, width});
  for (std::size_t k = 0; k < network.stages.size(); ++k) {
    const std::string exit = "exit " + std::to_string(k + 1);
    try {
      h = network.stages[k].forward({h}).toTensor();
      const auto logits = network.heads[k].forward({h}).toTensor();
      if (logits.sizes() != torch::IntArrayRef{2, num_classes}) {
        std::ostringstream shape;
        shape << logits.sizes();
        throw DataError(path + ": " + exit + " returns " + shape.str() + " on a [2, " +
                        std::to_string(in_channels) + ", " + std::to_string(height) + ", " +
                        std::to_string(width) + "] probe; expected [2, " +
                        std::to_string(num_classes) + "] (batch, classes)");
      }
      if (!torch::isfinite(logits).all().item<bool>())
        throw DataError(path + ": " + exit + " returns NaN or infinite logits on a zero probe");
    } catch (const DataError&) {
      throw;
    } catch (const std::exception& e) {  // c10::Error, or the interpreter's runtime_error
      throw DataError(path + ": " + exit + " fails on a [2, " + std::to_string(in_channels) + ", " +
                      std::to_string(height) + ", " + std::to_string(width) + "] probe (" +
                      FirstLine(e.what()) + ")");
    }
  }
  module.train();
  return network;
}

void SaveScriptedNetwork(const MultiExitNetImpl& net, const std::string& path) {
  // Stage k and head k are Sequentials "stageK" / "exitK" around one ScriptedBlock.
  const auto script = [&](const std::string& name) {
    const auto block = net.named_children()[name];
    const auto* scripted = block->children().at(0)->as<ScriptedBlockImpl>();
    FSD_CHECK(scripted != nullptr) << name << " is not a TorchScript block";
    return scripted->script();
  };
  std::vector<torch::jit::Module> stages, heads;
  for (int k = 1; k <= net.num_exits(); ++k) {
    stages.push_back(script("stage" + std::to_string(k)));
    heads.push_back(script("exit" + std::to_string(k)));
  }
  torch::jit::Module root("__torch__.fsd.MultiExit");
  torch::jit::Module stage_list("__torch__.fsd.Stages");
  torch::jit::Module head_list("__torch__.fsd.Heads");
  for (std::size_t k = 0; k < stages.size(); ++k) {
    stage_list.register_module(std::to_string(k), stages[k]);
    head_list.register_module(std::to_string(k), heads[k]);
  }
  root.register_module("stages", stage_list);
  root.register_module("heads", head_list);
  root.eval();
  try {
    root.save(path);
  } catch (const c10::Error& e) {
    throw IoError(path + ": cannot write (" + FirstLine(e.what()) + ")");
  }
}

}  // namespace fsd::model
