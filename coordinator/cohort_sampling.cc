#include "coordinator/cohort_sampling.h"

#include <algorithm>

#include "common/config/cohort_size.h"
#include "common/log.h"
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

namespace {

// The cohort is a share of the enrolled population, drawn from those joined
// (checked in), never smaller than the rule needs (Krum: 2f + 3), with
// over-selection's spares.
class UniformSampler final : public CohortSampler {
 public:
  UniformSampler(const config::FederationConfig& federation, std::uint64_t seed)
      : federation_(federation), seed_(seed) {}

  std::optional<std::string> RefusalOfNextDraw(std::uint64_t) const override {
    return std::nullopt;
  }

  std::optional<CohortDraw> Draw(std::span<const std::string> candidates, std::size_t enrolled,
                                 std::size_t minimum, std::uint64_t round,
                                 std::uint64_t attempt) override {
    const config::CohortSize size = config::PlannedCohort(
        federation_.fraction, federation_.over_select, enrolled, minimum, candidates.size());
    return CohortDraw{UniformCohort(candidates, size.sampled, seed_, round, attempt), size.target};
  }

 private:
  const config::FederationConfig& federation_;
  std::uint64_t seed_;
};

// Poisson sampling, as the accountant assumes: each client on its own with
// probability q; the cohort's size is random, and the round waits for all.
// Every draw is a step of the subsampled Gaussian mechanism the ledger
// charges, whatever follows it (released, retried, released as nothing): a
// client's real inclusion rate per charged step is q.
class PoissonSampler final : public CohortSampler {
 public:
  PoissonSampler(double q, std::uint64_t seed, FederationState& state)
      : q_(q), seed_(seed), state_(state) {}

  std::optional<std::string> RefusalOfNextDraw(std::uint64_t round) const override {
    return state_.ledger->RefusalOfNextDraw(round);
  }

  std::optional<CohortDraw> Draw(std::span<const std::string> candidates, std::size_t,
                                 std::size_t minimum, std::uint64_t round,
                                 std::uint64_t attempt) override {
    std::vector<std::string> cohort = PoissonCohort(candidates, q_, seed_, round, attempt);
    state_.ledger->ChargeDraw();
    if (cohort.size() < minimum) {
      // A cohort that cannot reach privacy.min_survivors is not asked to
      // train; the draw stays charged and the next tick samples again
      // (logged now and then: with few clients joined this can take many
      // draws, each spending budget).
      if (attempt % 100 == 0) {
        FSD_LOG(INFO) << "round " << round << " attempt " << attempt + 1 << ": sampled "
                      << cohort.size() << " clients, privacy.min_survivors is " << minimum
                      << "; this draw is charged (" << state_.ledger->draws()
                      << " privacy steps), sampling again";
      }
      return std::nullopt;
    }
    const std::size_t target = cohort.size();
    return CohortDraw{std::move(cohort), target};
  }

 private:
  double q_;
  std::uint64_t seed_;
  FederationState& state_;
};

}  // namespace

std::unique_ptr<CohortSampler> MakeCohortSampler(const CoordinatorOptions& options,
                                                 std::uint64_t seed, FederationState& state) {
  if (options.privacy.enabled) {
    return std::make_unique<PoissonSampler>(options.privacy.sampling_rate, seed, state);
  }
  return std::make_unique<UniformSampler>(options.federation, seed);
}

}  // namespace fsd::coordinator
