// Attack: hostile enrolled clients of fsd-sim ([attack] in the config), for
// robustness experiments. An attacker is an ordinary simulated client — same
// key handling, same wire, same training — whose JOIN declares
// attack.declared_samples and whose update is replaced after honest local
// training. Kinds:
//   sign_flip  upload global − factor × (trained − global): its own progress
//              reversed and scaled; sample count and summary counts inflated
//              to the declared samples.
// Clients 0 .. attack.clients−1 attack. Thread-safety: const methods, safe
// from worker threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "client/client_session.h"
#include "common/config/config.h"

namespace fsd::sim {

class Attack {
 public:
  explicit Attack(config::AttackConfig config) : config_(config) {}

  bool IsAttacker(std::size_t client) const {
    return client < static_cast<std::size_t>(config_.clients);
  }
  // What client `client` with `true_samples` declares at JOIN.
  std::int64_t DeclaredSamples(std::size_t client, std::int64_t true_samples) const;
  // Replaces an attacker's honestly trained round (weights mode) by its attack.
  void Apply(std::size_t client, const client::LocalRound& round,
             client::TrainedRound& trained) const;

 private:
  config::AttackConfig config_;
};

}  // namespace fsd::sim
