// RoundAttempt: one attempt of a round — the cohort drawn for it, what was
// announced to that cohort in ROUND_START (T, α, β, the learning-rate
// factor, the soft targets, each sub-network's view of the global model)
// and the bytes it moved. Opened by the waiting phase, then carried by the
// phases that collect the attempt's reports (round_phase.h).
// Thread-safety: one owner thread. Errors: none.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "aggregation/sparsity.h"
#include "common/codec/values.h"
#include "common/model/layout.h"
#include "common/wire/messages.h"
#include "coordinator/clock.h"
#include "coordinator/round_context.h"

namespace fsd::coordinator {

// What a round exchanges with the clients of one sub-network.
struct SubnetView {
  aggregation::Mask mask;               // the mask in force within the sub-network (empty: dense)
  std::vector<std::uint64_t> segments;  // its kept values per tensor
  std::uint64_t kept = 0;               // their sum
  codec::Encoded values;                // the global kept values, encoded once per round
};

// The attempt's traffic, for its metrics line.
struct RoundBytes {
  std::int64_t up = 0, up_weights = 0, up_summary = 0;
  std::int64_t down = 0, down_weights = 0, down_mask = 0, down_soft_targets = 0;
};

struct RoundAttempt {
  // Opens attempt context.retries.attempt of context.round() for `cohort`
  // (drawn by the sampler), waiting for `target` updates: fixes the
  // cohort's declarations and sub-networks for the round, tightens the mask,
  // builds the views and schedules T, α, β and the learning rate.
  RoundAttempt(RoundContext& context, std::vector<std::string> cohort, std::size_t target);

  // The federation's own sub-network's view: secure and DP rounds train only it.
  const SubnetView& SharedView() const { return views.at(shared_subnet); }
  // ROUND_START to `key` (with its secure-aggregation block, if any).
  void SendRoundStart(RoundContext& context, const std::string& key,
                      const wire::SecAggStart* secure = nullptr);
  // A sampled client that will not report: out of this attempt, and left
  // out of the round's retries. False when it was not in the attempt.
  bool Drop(RoundContext& context, const std::string& key);

  Clock::TimePoint started{};  // when the attempt was ready to announce
  std::uint64_t round = 0;
  std::size_t target = 0;          // updates the round wants (before over-selection)
  std::set<std::string> selected;  // sampled in this attempt, still present
  std::size_t sampled = 0;         // sampled in this attempt
  double temperature = 0.0, alpha = 0.0, beta = 0.0, lr_factor = 1.0;
  std::vector<float> soft_targets;  // C×C, empty while β = 0 or nothing is aggregated
  double soft_target_entropy = 0.0;
  model::Subnetwork shared_subnet;
  std::map<model::Subnetwork, SubnetView> views;  // by sub-network
  RoundBytes bytes;
  // Sampled clients still expected when the attempt closed (spares cut off
  // by over-selection, stragglers past the deadline, silent dropouts).
  std::size_t unreported = 0;
};

}  // namespace fsd::coordinator
