// Drawing a round's cohort from the clients that may take part. Both draws
// read the stream (seed, "cohort-sampling", round, attempt) of
// common/random/streams.h, over candidates in a fixed order (the caller's:
// name order), so a resumed or retried seeded run draws the same cohorts and
// no two attempts or rounds share a draw.
//
// CohortSampler: how a round draws its cohort, chosen once from the options
// (MakeCohortSampler) — a uniform share of the enrolled clients with
// over-selection (common/config/cohort_size.h), or under privacy.dp a
// Poisson draw charged to the budget's ledger as it is drawn.
// Thread-safety: free functions; a sampler belongs to one thread. Errors: none.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "coordinator/federation_state.h"
#include "coordinator/options.h"

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

// A draw's cohort, in sampling order, and how many updates the round waits for.
struct CohortDraw {
  std::vector<std::string> cohort;
  std::size_t target = 0;
};

class CohortSampler {
 public:
  virtual ~CohortSampler() = default;
  // Why no cohort may be drawn for `round` any more (the privacy budget is
  // spent); nullopt when one may.
  virtual std::optional<std::string> RefusalOfNextDraw(std::uint64_t round) const = 0;
  // The cohort of attempt `attempt` of `round` from `candidates` (in name
  // order) out of `enrolled` clients; the round needs at least `minimum`
  // updates. nullopt when this draw cannot make the round (too few drawn):
  // the caller draws again with the next attempt.
  virtual std::optional<CohortDraw> Draw(std::span<const std::string> candidates,
                                         std::size_t enrolled, std::size_t minimum,
                                         std::uint64_t round, std::uint64_t attempt) = 0;
};

// The sampler the options ask for, drawing from `seed`; under privacy.dp it
// charges state.ledger. `options` and `state` must outlive it.
std::unique_ptr<CohortSampler> MakeCohortSampler(const CoordinatorOptions& options,
                                                 std::uint64_t seed, FederationState& state);

}  // namespace fsd::coordinator
