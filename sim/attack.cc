#include "sim/attack.h"

#include <cmath>

#include "common/errors.h"

namespace fsd::sim {

std::int64_t Attack::DeclaredSamples(std::size_t client, std::int64_t true_samples) const {
  if (!IsAttacker(client) || config_.declared_samples <= 0.0) return true_samples;
  return static_cast<std::int64_t>(std::llround(config_.declared_samples));
}

void Attack::Apply(std::size_t client, const client::LocalRound& round,
                   client::TrainedRound& trained) const {
  if (!IsAttacker(client)) return;
  switch (config_.kind) {
    case config::AttackKind::kSignFlip: {
      FSD_CHECK(trained.values.size() == round.global_values.size())
          << "sign_flip needs the round's global values";
      const auto factor = static_cast<float>(config_.factor);
      for (std::size_t i = 0; i < trained.values.size(); ++i) {
        const float global = round.global_values[i];
        trained.values[i] = global - factor * (trained.values[i] - global);
      }
      // Pruned coordinates: global and trained are both 0, so they stay 0.
      break;
    }
  }
  const std::int64_t declared = DeclaredSamples(client, trained.sample_count);
  if (declared != trained.sample_count && trained.sample_count > 0) {
    // Claim the declared samples, with the summary's counts scaled to match
    // (their sum must not exceed the update's sample count).
    const double scale = static_cast<double>(declared) / static_cast<double>(trained.sample_count);
    for (auto& count : trained.summary.counts) {
      count = static_cast<std::int64_t>(std::floor(static_cast<double>(count) * scale));
    }
    trained.sample_count = declared;
  }
}

}  // namespace fsd::sim
