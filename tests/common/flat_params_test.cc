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

}  // namespace
}  // namespace fsd::model
