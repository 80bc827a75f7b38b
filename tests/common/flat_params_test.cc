#include "common/model/flat_params.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/errors.h"
#include "common/model/multi_exit_net.h"

namespace fsd::model {
namespace {

MultiExitNet MakeNet(Architecture architecture, std::uint64_t seed) {
  torch::manual_seed(seed);
  ModelSpec spec;
  spec.architecture = architecture;
  return MultiExitNet(spec);
}

TEST(FlatParamsTest, SchemaCoversParametersAndRunningStatisticsOnly) {
  auto net = MakeNet(Architecture::kCnn3S, 0);
  const auto schema = FlatSchema::Of(*net);
  // 48,478 parameters + running mean/var of 5 BatchNorms (16+32+64+32+64 channels) * 2.
  EXPECT_EQ(schema.total_numel(), 48478 + 2 * (16 + 32 + 64 + 32 + 64));
  for (const auto& e : schema.entries()) {
    EXPECT_EQ(e.name.find("num_batches_tracked"), std::string::npos) << e.name;
  }
  // Offsets are contiguous in order.
  std::int64_t offset = 0;
  for (const auto& e : schema.entries()) {
    EXPECT_EQ(e.offset, offset);
    offset += e.numel;
  }
}

TEST(FlatParamsTest, RoundTripIsBitExact) {
  auto source = MakeNet(Architecture::kCnn3S, 1);
  // Make running statistics non-trivial.
  source->forward(torch::randn({8, 1, 28, 28}));
  auto target = MakeNet(Architecture::kCnn3S, 2);
  const auto schema = FlatSchema::Of(*source);
  const auto values = Flatten(*source, schema);
  Unflatten(values, schema, *target);
  const auto again = Flatten(*target, schema);
  ASSERT_EQ(values.size(), again.size());
  EXPECT_EQ(std::memcmp(values.data(), again.data(), values.size() * sizeof(float)), 0);
  for (const auto& item : source->named_buffers()) {
    if (item.value().is_floating_point()) {
      EXPECT_TRUE(torch::equal(item.value(), target->named_buffers()[item.key()])) << item.key();
    }
  }
}

TEST(FlatParamsTest, FingerprintIsStableAndDistinguishesArchitectures) {
  const auto a = FlatSchema::Of(*MakeNet(Architecture::kCnn3S, 1));
  const auto b = FlatSchema::Of(*MakeNet(Architecture::kCnn3S, 2));
  const auto c = FlatSchema::Of(*MakeNet(Architecture::kCnn3M, 1));
  const auto d = FlatSchema::Of(*MakeNet(Architecture::kMlp, 1));
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  EXPECT_NE(a.fingerprint(), c.fingerprint());
  EXPECT_NE(a.fingerprint(), d.fingerprint());
  EXPECT_EQ(a.FingerprintHex().size(), 16u);
}

TEST(FlatParamsTest, UnflattenRejectsWrongSizeAndForeignSchema) {
  auto small = MakeNet(Architecture::kCnn3S, 1);
  auto medium = MakeNet(Architecture::kCnn3M, 1);
  const auto schema = FlatSchema::Of(*small);
  std::vector<float> short_vector(static_cast<std::size_t>(schema.total_numel() - 1));
  EXPECT_THROW(Unflatten(short_vector, schema, *small), InternalError);
  const auto values = Flatten(*small, schema);
  EXPECT_THROW(Unflatten(values, schema, *medium), InternalError);
}

TEST(FlatParamsTest, LayoutNamesTheExitThatFirstNeedsEveryTensor) {
  auto net = MakeNet(Architecture::kCnn3S, 1);
  const auto schema = FlatSchema::Of(*net);
  const auto layout = LayoutOf(schema);
  ASSERT_EQ(layout.size(), schema.entries().size());
  EXPECT_EQ(NumExits(layout), 3);
  for (std::size_t i = 0; i < layout.size(); ++i) {
    const std::string& name = schema.entries()[i].name;
    const int stage = name.rfind("stage", 0) == 0 ? name[5] - '0' : 0;
    const int head = name.rfind("exit", 0) == 0 ? name[4] - '0' : 0;
    EXPECT_EQ(layout[i].exit, stage + head) << name;
    EXPECT_EQ(layout[i].head, head > 0) << name;
  }
  // The head-only sub-network of exit k is exactly the path a deployment of
  // exit k needs; with every head up to k it adds the shallower heads.
  const auto held_parameters = [&](const Subnetwork& subnet) {
    std::int64_t count = 0;
    const Subnetwork resolved = Resolve(subnet, layout);
    for (std::size_t i = 0; i < layout.size(); ++i) {
      if (!schema.entries()[i].is_buffer && Holds(resolved, layout[i]))
        count += schema.entries()[i].numel;
    }
    return count;
  };
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ(held_parameters({k, true}), net->PathParameterCount(k - 1)) << k;
  }
  std::int64_t exit1_head = 0, all = 0;
  for (const auto& p : net->named_parameters()) {
    all += p.value().numel();
    if (p.key().rfind("exit1.", 0) == 0) exit1_head += p.value().numel();
  }
  EXPECT_EQ(held_parameters({2, false}), net->PathParameterCount(1) + exit1_head);
  EXPECT_EQ(held_parameters({3, false}), all);
  EXPECT_TRUE(IsWhole({0, false}, layout));
  EXPECT_TRUE(IsWhole({3, false}, layout));
  EXPECT_FALSE(IsWhole({3, true}, layout));
  EXPECT_FALSE(IsWhole({2, false}, layout));
  EXPECT_THROW(Resolve({4, false}, layout), InternalError);
}

TEST(FlatParamsTest, ResidualLayoutPrunesConvolutionAndLinearWeightsOnly) {
  auto net = MakeNet(Architecture::kResNet8, 1);
  const auto schema = FlatSchema::Of(*net);
  const auto layout = LayoutOf(schema);
  EXPECT_EQ(NumExits(layout), 3);
  int shortcut_weights = 0;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    const auto& entry = schema.entries()[i];
    const bool conv_or_linear_weight = !entry.is_buffer && entry.shape.size() >= 2;
    EXPECT_EQ(layout[i].prunable, conv_or_linear_weight) << entry.name;
    EXPECT_EQ(layout[i].statistics, entry.is_buffer) << entry.name;
    // A block's tensors, shortcut included, belong to the stage's exit.
    if (entry.name.starts_with("stage2.0.shortcut.0.weight")) {
      ++shortcut_weights;
      EXPECT_EQ(layout[i].exit, 2);
      EXPECT_FALSE(layout[i].head);
    }
    if (entry.name.starts_with("stage3.")) {
      EXPECT_EQ(layout[i].exit, 3) << entry.name;
    }
    if (entry.name.starts_with("exit1.")) {
      EXPECT_TRUE(layout[i].head && layout[i].exit == 1) << entry.name;
    }
  }
  EXPECT_EQ(shortcut_weights, 1);
  EXPECT_NE(schema.fingerprint(),
            FlatSchema::Of(*MakeNet(Architecture::kResNet20, 1)).fingerprint());
  // Round trip through the flat vector.
  auto other = MakeNet(Architecture::kResNet8, 2);
  const auto values = Flatten(*net, schema);
  Unflatten(values, schema, *other);
  EXPECT_EQ(Flatten(*other, schema), values);
}

}  // namespace
}  // namespace fsd::model
