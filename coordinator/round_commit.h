// RoundCommitter: how a round ends, whatever collected it. Built before
// the phase releases the round into the model (RoundRelease), it keeps the
// state the round started from; Commit() then steps the server optimizer,
// rolls a diverged model back (federation.on_divergence), evaluates, and
// writes the round's metrics line, then its checkpoint (round_store.h).
//
// RoundRecord builds that metrics line (docs/METRICS.md) from the context,
// the attempt and what the release produced.
// Thread-safety: one owner thread. Errors: IoError from the store.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aggregation/aggregate.h"
#include "coordinator/round_attempt.h"
#include "coordinator/round_context.h"

namespace fsd::coordinator {

// What a round's release produced, for its metrics line.
struct RoundResult {
  double loss_sum = 0.0, weight_sum = 0.0, max_weight = 0.0;
  std::string heaviest;
  std::int64_t sample_sum = 0;
  // Distributed DP: the clients withheld their sample counts and losses
  // (the metrics line then says null for both).
  bool withheld = false;
  std::size_t reported = 0;
  std::vector<std::string> names;  // aggregated clients, in summation order
  aggregation::AggregateReport report;
  nlohmann::json extra = nlohmann::json::object();  // the release's and the phase's fields
};

// The committed model's accuracy and the round's timing, for its metrics line.
struct RoundFigures {
  std::vector<double> accuracy;  // per exit (empty without an evaluator)
  double collect_s = 0.0, eval_s = 0.0, cpu_s = 0.0, wall_s = 0.0;
  double global_change_rms = 0.0;  // how far the kept coordinates moved
};

class RoundCommitter {
 public:
  // Keeps the state the round starts from; build it before the release.
  explicit RoundCommitter(RoundContext& context);

  // Commits the round the release produced `result` for, after
  // `collect_s` seconds of collecting. `failed`: a secure round that could
  // not be unmasked after its reveals — the model is untouched, but the
  // round counts (it is never attempted again). Clears context.retries.
  void Commit(const RoundAttempt& attempt, RoundResult result, double collect_s, bool failed);

 private:
  RoundContext& context_;
  std::vector<float> kept_before_;   // the kept values (empty in distillation-only mode)
  std::vector<float> dense_before_;  // the whole model, when a server optimizer steps from it
  FederationState::Snapshot last_good_;
};

nlohmann::json RoundRecord(const RoundContext& context, const RoundAttempt& attempt,
                           const RoundResult& result, const RoundFigures& figures);

}  // namespace fsd::coordinator
