// TorchScript multi-exit networks (common/model/scripted_block.h): the
// example files of examples/torchscript/ built as MultiExitNets, and every
// file that breaks the contract refused by name. The broken files are written
// here with LibTorch's C++ compiler, so the test needs no Python.
#include "common/model/scripted_block.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/errors.h"
#include "common/model/flat_params.h"
#include "common/model/multi_exit_net.h"
#include "common/storage/file_digest.h"
#include "tests/testing/temp_dir.h"

namespace fsd::model {
namespace {

std::string Example(const std::string& name) {
  return testing::SourceDir() + "/examples/torchscript/" + name;
}

ModelSpec ScriptedSpec(const std::string& path) {
  ModelSpec spec;
  spec.architecture = Architecture::kTorchScript;
  spec.script_path = path;
  return spec;
}

std::int64_t ParameterCount(torch::nn::Module& module) {
  std::int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

TEST(ScriptedNetworkTest, Cnn3sFromPyTorchHasTheBuiltInShapeAndExits) {
  MultiExitNet scripted(ScriptedSpec(Example("cnn3s.pt")));
  MultiExitNet builtin(ModelSpec{});
  EXPECT_EQ(scripted->num_exits(), 3);
  EXPECT_EQ(ParameterCount(*scripted), ParameterCount(*builtin));
  for (int exit = 0; exit < 3; ++exit)
    EXPECT_EQ(scripted->PathParameterCount(exit), builtin->PathParameterCount(exit)) << exit;
  // The same tensors in the same order (names differ: the script's own).
  const auto a = FlatSchema::Of(*scripted), b = FlatSchema::Of(*builtin);
  ASSERT_EQ(a.entries().size(), b.entries().size());
  for (std::size_t i = 0; i < a.entries().size(); ++i) {
    EXPECT_EQ(a.entries()[i].shape, b.entries()[i].shape) << a.entries()[i].name;
    EXPECT_EQ(a.entries()[i].is_buffer, b.entries()[i].is_buffer) << a.entries()[i].name;
  }
  EXPECT_EQ(a.entries()[0].name, "stage1.0.0.weight");
  // Layout: the exits of the tensors follow the stageK / exitK names.
  const auto layout = LayoutOf(a);
  EXPECT_EQ(NumExits(layout), 3);
  EXPECT_EQ(scripted->spec().script_sha256, storage::FileSha256Hex(Example("cnn3s.pt")));
}

TEST(ScriptedNetworkTest, ExitsComposeAndTruncateLikeBuiltInNetworks) {
  MultiExitNet net(ScriptedSpec(Example("vgg_small.pt")));
  ASSERT_EQ(net->num_exits(), 2);
  net->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({3, 1, 28, 28});
  const auto all = net->forward(x);
  ASSERT_EQ(all.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(all[k].sizes(), (std::vector<std::int64_t>{3, 10}));
    EXPECT_TRUE(torch::equal(net->forward_to(x, k), all[k])) << k;
  }
  EXPECT_EQ(net->ForwardUntilConfident(x.slice(0, 0, 1), 0.0).first, 0);
  auto spec = ScriptedSpec(Example("vgg_small.pt"));
  spec.exits = 1;
  MultiExitNet first(spec);
  EXPECT_EQ(first->num_exits(), 1);
  EXPECT_LT(ParameterCount(*first), ParameterCount(*net));
}

TEST(ScriptedNetworkTest, TheScriptSeesTheModulesTensorsTrainingModeAndGradients) {
  MultiExitNet net(ScriptedSpec(Example("cnn3s.pt")));
  const auto schema = FlatSchema::Of(*net);
  const auto x = torch::randn({4, 1, 28, 28});
  net->eval();
  torch::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = net->forward_to(x, 2);
    // New values written through the flat vector reach the script's forward.
    auto values = Flatten(*net, schema);
    for (auto& v : values) v *= 0.5f;
    Unflatten(values, schema, *net);
    EXPECT_FALSE(torch::allclose(net->forward_to(x, 2), before));
  }
  // Training mode reaches the script: BatchNorm then uses the batch's statistics.
  net->train();
  const auto logits = net->forward(x);
  torch::Tensor loss = logits[0].pow(2).mean() + logits[1].pow(2).mean() + logits[2].pow(2).mean();
  loss.backward();
  for (const auto& p : net->parameters()) {
    ASSERT_TRUE(p.grad().defined());
  }
  EXPECT_GT(net->parameters()[0].grad().abs().sum().item<double>(), 0.0);
  // A different file with the same layout has another fingerprint.
  MultiExitNet builtin(ModelSpec{});
  EXPECT_NE(FlatSchema::Of(*net).fingerprint(), FlatSchema::Of(*builtin).fingerprint());
}

// A module `name` with `forward` defined by `body` (TorchScript source).
torch::jit::Module Scripted(const std::string& name, const std::string& forward) {
  torch::jit::Module module("__torch__." + name);
  module.define(forward);
  return module;
}

// A linear head reading [batch, C, H, W] as its global average: [batch, classes].
torch::jit::Module Head(int channels, int classes) {
  torch::jit::Module head("__torch__.Head");
  head.register_parameter("weight", torch::randn({classes, channels}), false);
  head.define("def forward(self, x):\n    return x.mean([2, 3]).matmul(self.weight.t())\n");
  return head;
}

torch::jit::Module Identity() {
  return Scripted("Identity", "def forward(self, x):\n    return x\n");
}

// A file with `stages` and `heads` of the given modules (nullopt: left out).
std::string Write(const testing::TempDir& dir, const std::string& name,
                  const std::vector<torch::jit::Module>& stages,
                  const std::vector<torch::jit::Module>& heads, bool with_heads = true) {
  torch::jit::Module root("__torch__.Net");
  torch::jit::Module stage_list("__torch__.Stages"), head_list("__torch__.Heads");
  for (std::size_t k = 0; k < stages.size(); ++k)
    stage_list.register_module(std::to_string(k), stages[k]);
  for (std::size_t k = 0; k < heads.size(); ++k)
    head_list.register_module(std::to_string(k), heads[k]);
  root.register_module("stages", stage_list);
  if (with_heads) root.register_module("heads", head_list);
  const std::string path = dir.File(name);
  root.save(path);
  return path;
}

std::string ErrorOf(const std::string& path) {
  try {
    MultiExitNet net(ScriptedSpec(path));
  } catch (const DataError& e) {
    return e.what();
  } catch (const IoError& e) {
    return std::string("IoError: ") + e.what();
  }
  return "no error";
}

TEST(ScriptedNetworkTest, FilesThatBreakTheContractAreRefusedNamingFileAndProblem) {
  testing::TempDir dir;
  // A well-formed file loads.
  const auto good = Write(dir, "good.pt", {Identity()}, {Head(1, 10)});
  EXPECT_EQ(MultiExitNet(ScriptedSpec(good))->num_exits(), 1);

  const auto no_heads = Write(dir, "no_heads.pt", {Identity()}, {}, /*with_heads=*/false);
  EXPECT_NE(ErrorOf(no_heads).find(no_heads + ": has no module list `heads`"), std::string::npos)
      << ErrorOf(no_heads);
  const auto lengths = Write(dir, "lengths.pt", {Identity(), Identity()}, {Head(1, 10)});
  EXPECT_NE(ErrorOf(lengths).find("2 stages and 1 heads"), std::string::npos) << ErrorOf(lengths);
  const auto classes = Write(dir, "classes.pt", {Identity()}, {Head(1, 5)});
  EXPECT_NE(
      ErrorOf(classes).find("exit 1 returns [2, 5] on a [2, 1, 28, 28] probe; expected [2, 10]"),
      std::string::npos)
      << ErrorOf(classes);
  const auto channels = Write(dir, "channels.pt", {Identity()}, {Head(3, 10)});
  EXPECT_NE(ErrorOf(channels).find("exit 1 fails on a [2, 1, 28, 28] probe"), std::string::npos)
      << ErrorOf(channels);
  auto poisoned = Head(1, 10);
  poisoned.attr("weight").toTensor().index_put_({0, 0}, std::nanf(""));
  const auto nan = Write(dir, "nan.pt", {Identity()}, {poisoned});
  EXPECT_NE(ErrorOf(nan).find("parameter heads.0.weight holds NaN or infinite values"),
            std::string::npos)
      << ErrorOf(nan);
  testing::WriteFile(dir.File("garbage.pt"), "not a zip archive at all");
  EXPECT_NE(ErrorOf(dir.File("garbage.pt")).find("garbage.pt: not a TorchScript module"),
            std::string::npos)
      << ErrorOf(dir.File("garbage.pt"));
  EXPECT_NE(ErrorOf(dir.File("missing.pt")).find("IoError"), std::string::npos);
  // A digest that does not match the file: refused before the file is loaded.
  auto spec = ScriptedSpec(good);
  spec.script_sha256 = std::string(64, '0');
  EXPECT_THROW(MultiExitNet{spec}, DataError);
}

TEST(ScriptedNetworkTest, SavedNetworkIsAContractFileWithTheCurrentTensors) {
  testing::TempDir dir;
  MultiExitNet net(ScriptedSpec(Example("cnn3s.pt")));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.add_(0.01);
  }
  SaveScriptedNetwork(*net, dir.File("copy.pt"));
  MultiExitNet copy(ScriptedSpec(dir.File("copy.pt")));
  const auto a = FlatSchema::Of(*net), b = FlatSchema::Of(*copy);
  EXPECT_EQ(Flatten(*net, a), Flatten(*copy, b));
  EXPECT_EQ(copy->num_exits(), 3);
  // The same layout from another file: another fingerprint, so a client
  // holding a different script is refused at JOIN.
  ASSERT_EQ(a.entries().size(), b.entries().size());
  EXPECT_NE(a.fingerprint(), b.fingerprint());
}

// The committed example files are what examples/torchscript/make_examples.py
// writes (checked where Debian's python3-torch is installed).
TEST(ScriptedExamplesTest, CommittedFilesAreWhatTheScriptWrites) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-torch is not installed";
  }
  testing::TempDir dir;
  const std::string command = "/usr/bin/python3 " + Example("make_examples.py") + " " + dir.path() +
                              " > " + dir.File("log.txt") + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << testing::ReadFile(dir.File("log.txt"));
  for (const char* name : {"cnn3s.pt", "vgg_small.pt"}) {
    EXPECT_EQ(storage::FileSha256Hex(dir.File(name)), storage::FileSha256Hex(Example(name)))
        << name << " differs from what make_examples.py writes";
  }
}

}  // namespace
}  // namespace fsd::model
