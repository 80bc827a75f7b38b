#include "sim/profiles.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "common/errors.h"
#include "common/random/streams.h"

namespace fsd::sim {

std::vector<int> AssignMaxExits(const std::vector<config::ExitProfile>& profiles,
                                std::size_t clients, std::uint64_t seed) {
  std::vector<int> max_exits(clients, 0);
  if (profiles.empty() || clients == 0) return max_exits;
  // Clients per profile: the floors of share × clients, then one more to the
  // largest remainders (earlier profiles first on ties).
  std::vector<std::size_t> counts(profiles.size());
  std::vector<std::pair<double, std::size_t>> remainders;
  std::size_t assigned = 0;
  for (std::size_t p = 0; p < profiles.size(); ++p) {
    const double exact = profiles[p].share * static_cast<double>(clients);
    counts[p] = static_cast<std::size_t>(std::floor(exact + 1e-9));
    assigned += counts[p];
    remainders.emplace_back(-(exact - static_cast<double>(counts[p])), p);
  }
  std::stable_sort(remainders.begin(), remainders.end());
  for (std::size_t r = 0; assigned < clients && r < remainders.size(); ++r, ++assigned)
    ++counts[remainders[r].second];
  // Which clients: a seeded permutation, so profiles do not follow client ids
  // (nor the partition's order).
  std::vector<std::size_t> order(clients);
  std::iota(order.begin(), order.end(), std::size_t{0});
  random::Engine rng = random::StreamEngine(seed, {.name = "heterogeneity-profiles"});
  random::Shuffle(std::span(order), rng);
  std::size_t next = 0;
  for (std::size_t p = 0; p < profiles.size(); ++p) {
    for (std::size_t c = 0; c < counts[p] && next < clients; ++c)
      max_exits[order[next++]] = profiles[p].max_exit;
  }
  return max_exits;
}

void CheckProfilesFit(const config::HeterogeneityConfig& heterogeneity, int num_exits) {
  for (std::size_t p = 0; p < heterogeneity.profiles.size(); ++p) {
    if (heterogeneity.profiles[p].max_exit > num_exits) {
      throw ConfigError("heterogeneity.profile[" + std::to_string(p) +
                        "].max_exit: " + std::to_string(heterogeneity.profiles[p].max_exit) +
                        ", the model has exits 1.." + std::to_string(num_exits) +
                        " (0: the whole network)");
    }
  }
  if (heterogeneity.min_exit > num_exits) {
    throw ConfigError("heterogeneity.min_exit: " + std::to_string(heterogeneity.min_exit) +
                      ", the model has exits 1.." + std::to_string(num_exits));
  }
  if (heterogeneity.max_exit > num_exits) {
    throw ConfigError("heterogeneity.max_exit: " + std::to_string(heterogeneity.max_exit) +
                      ", the model has exits 1.." + std::to_string(num_exits));
  }
}

}  // namespace fsd::sim
