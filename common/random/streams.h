// Random streams: the one place a seed is derived. Every random choice fsd
// makes (sampling a cohort, shuffling a client's data in an epoch, a
// partition, simulated faults and attacks, seeded noise in simulations)
// draws from a stream named by what it is for and the coordinates it
// varies over, so no two choices share a stream by accident: the seed of
// (run seed, stream name, round, client, epoch, attempt) is a keyed hash
// (SHA-256 over the run seed and an unambiguous encoding of the rest,
// OpenSSL EVP), not arithmetic on the coordinates, which collides (client
// c + 1000 in round r was client c in round r + 1).
//
// Draws are portable: Engine is std::mt19937_64, whose output the C++
// standard fixes, and UniformBelow / Uniform01 / Shuffle are written here
// (std::uniform_*_distribution and std::shuffle differ between standard
// libraries), so machines that must agree — a coordinator and its clients
// building a secure-aggregation graph, processes of one simulation — do.
// Not for secrets: keys and deployment noise come from OpenSSL's CSPRNG.
// Thread-safety: free functions; DeriveSeed keeps one digest context per
// thread. Errors: InternalError for a stream name longer than 64 bytes.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <utility>

namespace fsd::random {

// A stream's coordinates besides the run seed; unused ones stay 0.
struct StreamId {
  std::string_view name;  // what the draws are for, e.g. "local-shuffle"
  std::uint64_t round = 0;
  std::uint64_t client = 0;  // a client's index, or ClientNumber(name)
  std::uint64_t epoch = 0;
  std::uint64_t attempt = 0;
};

// The 64-bit seed of stream `id` under run seed `seed`.
std::uint64_t DeriveSeed(std::uint64_t seed, const StreamId& id);

// A stable number for a client known by name (the same on every machine,
// unlike std::hash).
std::uint64_t ClientNumber(std::string_view name);

using Engine = std::mt19937_64;

// The engine of stream `id`.
inline Engine StreamEngine(std::uint64_t seed, const StreamId& id) {
  return Engine(DeriveSeed(seed, id));
}

// Uniform in [0, n), without modulo bias. REQUIRES: n > 0.
std::uint64_t UniformBelow(Engine& engine, std::uint64_t n);

// Uniform in [0, 1) with 53 random bits.
double Uniform01(Engine& engine);

// Fisher–Yates: every order equally likely, the same on every machine.
template <typename T>
void Shuffle(std::span<T> items, Engine& engine) {
  for (std::size_t i = items.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(UniformBelow(engine, i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace fsd::random
