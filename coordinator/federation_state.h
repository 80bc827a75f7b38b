// FederationState: what a coordinator carries from one committed round to
// the next and writes in its checkpoint — the global model, the server
// optimizer's moments, the aggregated soft-target summary, the sparsity
// mask in force, the committed round, the clients excluded from secure
// rounds and, under privacy.dp, the privacy budget's ledger. A round reads
// it while it runs and changes it only when it commits (RoundCommitter);
// a round whose model diverges is rolled back to a Snapshot.
// Thread-safety: one owner thread. Errors: DataError / ConfigError when a
// checkpoint does not belong to this run (Restore).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "aggregation/server_optimizer.h"
#include "aggregation/soft_targets.h"
#include "aggregation/sparsity.h"
#include "common/codec/values.h"
#include "common/storage/checkpoint.h"
#include "coordinator/options.h"
#include "privacy/dp/budget_ledger.h"

namespace fsd::coordinator {

class FederationState {
 public:
  // A fresh run from `initial_global` (cleared in distillation-only mode).
  FederationState(const CoordinatorOptions& options, std::vector<float> initial_global);

  // Continues from `checkpoint` (read from `path`); refuses one for another
  // model, mode or class count, or one whose rounds were released with(out)
  // differential privacy when this run is not.
  void Restore(storage::Checkpoint checkpoint, const std::string& path);
  // The checkpoint that commits the state as it is.
  storage::Checkpoint ToCheckpoint() const;

  // Tightens the mask when options.sparsity asks for more at `round`:
  // the smallest aggregated magnitudes are pruned to exact zeros.
  void UpdateMask(std::uint64_t round);
  // The server optimizer's step from `before` (the dense global model the
  // round started from) over the trained, kept coordinates.
  void StepServerOptimizer(std::span<const float> before);
  // Why the global model cannot be sent to clients (a kept value that is
  // not finite or beyond limits.max_abs_value, which the validator would
  // refuse in every update trained from it); nullopt when it can.
  std::optional<std::string> DivergenceOf() const;

  // What a diverged round rolls back to.
  struct Snapshot {
    std::vector<float> global;
    aggregation::SoftTargetSummary soft_state;
    aggregation::ServerOptimizerState optimizer;
  };
  Snapshot Save() const { return {global, soft_state, server_optimizer.state()}; }
  void Rollback(const Snapshot& snapshot);

  // Leaves `key` out of the secure rounds after `round` for
  // secure_aggregation.exclude_rounds (0: the rest of the run); returns how
  // long, for the log ("the next 3 rounds").
  std::string Exclude(const std::string& key, std::uint64_t round);
  bool Excluded(const std::string& key, std::uint64_t round) const;

  // The model's kept values under the mask in force (empty in distillation-only mode).
  std::vector<float> KeptGlobal() const { return aggregation::Gather(global, mask); }

  std::vector<float> global;   // empty in distillation-only mode
  std::size_t model_size = 0;  // the model's values (global's size but in distillation-only mode)
  aggregation::ServerOptimizer server_optimizer;
  aggregation::SoftTargetSummary soft_state;  // aggregated logits so far
  aggregation::Mask mask;                     // in force; empty: dense
  std::uint64_t mask_round = 0;               // the round that chose it (0: none)
  codec::Encoded encoded_mask;                // `mask` as the downlink's bitmask
  std::uint64_t committed_round = 0;
  // Under privacy.dp: the budget spent so far, one step per sampling draw.
  std::optional<privacy::BudgetLedger> ledger;

 private:
  const CoordinatorOptions& options_;
  // Secure-aggregation culprits and disputants → the last round they sit out.
  std::map<std::string, std::uint64_t> excluded_until_;
};

}  // namespace fsd::coordinator
