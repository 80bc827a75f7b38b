// Drawing a round's cohort from the clients that may take part. Both draws
// read the stream (seed, "cohort-sampling", round, attempt) of
// common/random/streams.h, over candidates in a fixed order (the caller's:
// name order), so a resumed or retried seeded run draws the same cohorts and
// no two attempts or rounds share a draw.
// Thread-safety: free functions. Errors: none.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fsd::coordinator {

// Poisson sampling, as the DP accountant assumes: each candidate on its own
// with probability q (the result may be empty), in the candidates' order.
std::vector<std::string> PoissonCohort(std::span<const std::string> candidates, double q,
                                       std::uint64_t seed, std::uint64_t round,
                                       std::uint64_t attempt);

// `count` candidates (at most all), uniformly without replacement.
std::vector<std::string> UniformCohort(std::span<const std::string> candidates, std::size_t count,
                                       std::uint64_t seed, std::uint64_t round,
                                       std::uint64_t attempt);

}  // namespace fsd::coordinator
