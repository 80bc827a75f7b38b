// Random streams: one derivation for every seed, no collisions where the
// old arithmetic collided, and draws every machine reproduces.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <vector>

#include "common/random/streams.h"

namespace fsd::random {
namespace {

TEST(RandomStreamsTest, EveryCoordinateAndTheNameAndTheSeedChangeTheStream) {
  const StreamId base{.name = "s", .round = 1, .client = 1000, .epoch = 1, .attempt = 1};
  std::vector<std::uint64_t> seeds = {
      DeriveSeed(7, base),
      DeriveSeed(8, base),
      DeriveSeed(7, {.name = "t", .round = 1, .client = 1000, .epoch = 1, .attempt = 1}),
      // What seed·1000003 + round·1000 + client confused: client + 1000 in round r.
      DeriveSeed(7, {.name = "s", .round = 2, .client = 0, .epoch = 1, .attempt = 1}),
      DeriveSeed(7, {.name = "s", .round = 1, .client = 1001, .epoch = 1, .attempt = 1}),
      DeriveSeed(7, {.name = "s", .round = 1, .client = 1000, .epoch = 2, .attempt = 1}),
      DeriveSeed(7, {.name = "s", .round = 1, .client = 1000, .epoch = 1, .attempt = 2}),
      // Fields are not interchangeable.
      DeriveSeed(7, {.name = "s", .round = 1000, .client = 1, .epoch = 1, .attempt = 1}),
  };
  std::sort(seeds.begin(), seeds.end());
  EXPECT_EQ(std::adjacent_find(seeds.begin(), seeds.end()), seeds.end());
  EXPECT_EQ(DeriveSeed(7, base), DeriveSeed(7, base));
  EXPECT_NE(ClientNumber("client-0001"), ClientNumber("client-0002"));
  EXPECT_EQ(ClientNumber("client-0001"), ClientNumber("client-0001"));
}

// Pinned values: a change here changes every seeded run, and another
// machine or standard library that disagreed would build other partitions,
// cohorts and secure-aggregation graphs. The first is
// SHA-256("fsd random stream v1" ‖ u64le 42 ‖ u8 13 ‖ "local-shuffle" ‖
// u64le 1, 2, 3, 0) read as a little-endian u64 (checked with Python's hashlib).
TEST(RandomStreamsTest, DrawsArePinnedAcrossMachines) {
  EXPECT_EQ(DeriveSeed(42, {.name = "local-shuffle", .round = 1, .client = 2, .epoch = 3}),
            0x2e818ec95fbcc4dcULL);
  EXPECT_EQ(ClientNumber("client-0001"), 0x1b2d250e2c0ee13fULL);
  Engine engine = StreamEngine(42, {.name = "cohort-sampling", .round = 1});
  EXPECT_EQ(engine(), 0xc7ff04d7e0f58af4ULL);
  std::vector<int> order(10);
  std::iota(order.begin(), order.end(), 0);
  Engine seven(7);
  Shuffle(std::span(order), seven);
  EXPECT_EQ(order, (std::vector<int>{0, 7, 4, 9, 3, 1, 2, 8, 6, 5}));
}

TEST(RandomStreamsTest, UniformBelowIsUnbiasedAndShuffleIsAPermutation) {
  Engine engine(1);
  // n = 3·2^62: plain modulo would give 0 and 1 half again the weight of 2.
  constexpr std::uint64_t n = 3ULL << 62;
  std::array<int, 3> thirds{};
  for (int i = 0; i < 30'000; ++i) ++thirds[UniformBelow(engine, n) / (1ULL << 62)];
  for (const int count : thirds) EXPECT_NEAR(count, 10'000, 400);  // ±4σ
  std::vector<int> items(100);
  std::iota(items.begin(), items.end(), 0);
  Shuffle(std::span(items), engine);
  std::vector<int> sorted = items;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_NE(items, sorted);
  // Each position takes each value with probability 1/4.
  std::array<std::array<int, 4>, 4> seen{};
  for (int trial = 0; trial < 40'000; ++trial) {
    std::array<int, 4> four = {0, 1, 2, 3};
    Shuffle(std::span<int>(four), engine);
    for (int p = 0; p < 4; ++p) ++seen[p][four[p]];
  }
  for (const auto& position : seen) {
    for (const int count : position) EXPECT_NEAR(count, 10'000, 400);
  }
  for (int i = 0; i < 1000; ++i) {
    const double u = Uniform01(engine);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace fsd::random
