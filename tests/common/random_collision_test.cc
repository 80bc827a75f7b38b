// Random streams at scale: no two of 10,000 clients × 1,000 rounds × 5
// epochs share a stream (50 M derivations). Native builds only: under qemu
// it would take minutes and tell nothing random_streams_test does not.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "common/random/streams.h"

namespace fsd::random {
namespace {

TEST(RandomStreamsTest, NoTwoOf10000Clients1000Rounds5EpochsShareAStream) {
  constexpr std::uint64_t kClients = 10'000, kRounds = 1'000, kEpochs = 5;
  std::vector<std::uint64_t> seeds(kClients * kRounds * kEpochs);
  // Two threads, one half of the clients each.
  const auto fill = [&](std::uint64_t first, std::uint64_t last) {
    for (std::uint64_t client = first; client < last; ++client) {
      for (std::uint64_t round = 1; round <= kRounds; ++round) {
        for (std::uint64_t epoch = 0; epoch < kEpochs; ++epoch) {
          seeds[(client * kRounds + round - 1) * kEpochs + epoch] = DeriveSeed(
              42, {.name = "local-shuffle", .round = round, .client = client, .epoch = epoch});
        }
      }
    }
  };
  std::thread other(fill, 0, kClients / 2);
  fill(kClients / 2, kClients);
  other.join();
  std::sort(seeds.begin(), seeds.end());
  EXPECT_EQ(std::adjacent_find(seeds.begin(), seeds.end()), seeds.end());
}

}  // namespace
}  // namespace fsd::random
