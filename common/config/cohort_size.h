// How many clients a round wants and samples: the one formula the
// coordinator samples by (coordinator/cohort_sampling.h) and the config
// checks reason with (toml_loader.cc), so they cannot disagree.
//   target  k = ⌈fraction × enrolled⌉, at least `minimum` (what the
//           aggregation rule needs: Krum 2f + 3, secure aggregation 2) and
//           at least 1, at most `eligible` (the clients that may take part);
//   sampled ⌈k × (1 + over_select)⌉ (spares that close the round early),
//           at most `eligible`.
// Under privacy.dp the cohort is a Poisson draw instead, whose expected
// size is fraction × enrolled.
// Thread-safety: a pure function. Errors: none.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace fsd::config {

struct CohortSize {
  std::size_t target = 0;   // updates the round waits for
  std::size_t sampled = 0;  // clients asked to train
};

inline CohortSize PlannedCohort(double fraction, double over_select, std::size_t enrolled,
                                std::size_t minimum, std::size_t eligible) {
  // (1e-9: 0.3 × 10 is 3.0000000000000004 in binary, and asks for 3.)
  const auto share = static_cast<std::size_t>(
      std::max(1.0, std::ceil(fraction * static_cast<double>(enrolled) - 1e-9)));
  CohortSize cohort;
  cohort.target = std::min(std::max(minimum, share), eligible);
  const auto with_spares = static_cast<std::size_t>(
      std::ceil(static_cast<double>(cohort.target) * (1.0 + over_select) - 1e-9));
  cohort.sampled = std::min(with_spares, eligible);
  return cohort;
}

}  // namespace fsd::config
