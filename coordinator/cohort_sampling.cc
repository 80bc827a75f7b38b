#include "coordinator/cohort_sampling.h"

#include <algorithm>

#include "common/random/streams.h"

namespace fsd::coordinator {
namespace {

random::Engine CohortStream(std::uint64_t seed, std::uint64_t round, std::uint64_t attempt) {
  return random::StreamEngine(seed,
                              {.name = "cohort-sampling", .round = round, .attempt = attempt});
}

}  // namespace

std::vector<std::string> PoissonCohort(std::span<const std::string> candidates, double q,
                                       std::uint64_t seed, std::uint64_t round,
                                       std::uint64_t attempt) {
  random::Engine engine = CohortStream(seed, round, attempt);
  std::vector<std::string> cohort;
  for (const auto& candidate : candidates) {
    if (random::Uniform01(engine) < q) cohort.push_back(candidate);
  }
  return cohort;
}

std::vector<std::string> UniformCohort(std::span<const std::string> candidates, std::size_t count,
                                       std::uint64_t seed, std::uint64_t round,
                                       std::uint64_t attempt) {
  random::Engine engine = CohortStream(seed, round, attempt);
  std::vector<std::string> cohort(candidates.begin(), candidates.end());
  random::Shuffle(std::span(cohort), engine);
  cohort.resize(std::min(count, cohort.size()));
  return cohort;
}

}  // namespace fsd::coordinator
