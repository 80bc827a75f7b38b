// FaultPlan: which injected faults ([faults], common/config/config.h) a
// simulated client meets. Every draw is a pure function of (seed, client,
// round, delivery) — delivery counts how often the client received that
// round's ROUND_START, so a restarted client draws anew — and a run injects
// the same faults every time, whatever the threads' timing.
// FaultCounts tallies what was injected per round for metrics.jsonl.
// Thread-safety: FaultPlan is immutable; FaultCounts is not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "common/config/config.h"

namespace fsd::sim {

enum class DropoutPoint { kBeforeTrain, kDuringTrain, kAfterUpload };

class FaultPlan {
 public:
  FaultPlan(const config::FaultsConfig& faults, std::uint64_t seed, std::size_t clients);

  bool any() const { return any_; }
  bool DropsOut(DropoutPoint point, std::size_t client, std::uint64_t round,
                std::uint64_t delivery) const;
  bool Crashes(std::size_t client, std::uint64_t round, std::uint64_t delivery) const;
  bool SendsGarbage(std::size_t client, std::uint64_t round, std::uint64_t delivery) const;
  // The garbage frame itself: 1..1024 random bytes (seeded like the draws).
  std::vector<std::uint8_t> GarbageFrame(std::size_t client, std::uint64_t round,
                                         std::uint64_t delivery) const;
  // Stragglers are fixed for the run: exactly round(straggler_fraction × clients).
  bool IsStraggler(std::size_t client) const { return stragglers_[client]; }
  std::size_t num_stragglers() const;
  double straggler_factor() const { return faults_.straggler_factor; }
  double restart_after_s() const { return faults_.restart_after_s; }
  double offline_s() const { return faults_.offline_s; }

 private:
  // Uniform in [0, 1) from the stream of `fault` for (client, round, delivery).
  double Draw(std::string_view fault, std::size_t client, std::uint64_t round,
              std::uint64_t delivery) const;

  config::FaultsConfig faults_;
  std::uint64_t seed_;
  bool any_;
  std::vector<bool> stragglers_;
};

// What was injected in one round; every key is written to that round's
// metrics line (zeros included, so the columns are always there).
struct FaultCounts {
  int dropped_before_train = 0;
  int dropped_during_train = 0;
  int dropped_after_upload = 0;
  int crashed = 0;
  int garbage_frames = 0;
  int straggling = 0;  // uploads a straggler held back

  int dropped() const { return dropped_before_train + dropped_during_train + dropped_after_upload; }
  nlohmann::json ToJson() const;
};

}  // namespace fsd::sim
