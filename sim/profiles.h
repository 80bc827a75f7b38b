// Heterogeneous clients in fsd-sim: which sub-network ([heterogeneity],
// common/config/config.h) each simulated client trains. Assignment is exact
// (largest remainders: 30% of 20 clients is 6, not "about 6") and a pure
// function of (profiles, clients, seed), so every process of a run across
// hosts assigns the same way. Thread-safety: free functions.
// Errors: ConfigError naming the key for a profile the model cannot train.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/config/config.h"

namespace fsd::sim {

// max_exit of every client (0: the whole network); all 0 without profiles.
std::vector<int> AssignMaxExits(const std::vector<config::ExitProfile>& profiles,
                                std::size_t clients, std::uint64_t seed);

// Throws ConfigError when a profile names an exit beyond `num_exits`, or
// heterogeneity.min_exit does.
void CheckProfilesFit(const config::HeterogeneityConfig& heterogeneity, int num_exits);

}  // namespace fsd::sim
