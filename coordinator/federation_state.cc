#include "coordinator/federation_state.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "common/errors.h"
#include "common/log.h"

namespace fsd::coordinator {
namespace {

privacy::BudgetTerms TermsOf(const PrivacyOptions& dp) {
  return {dp.sampling_rate, dp.StepNoiseMultiplier(), dp.delta, dp.target_epsilon};
}

}  // namespace

FederationState::FederationState(const CoordinatorOptions& options,
                                 std::vector<float> initial_global)
    : global(std::move(initial_global)),
      model_size(global.size()),
      server_optimizer(options.server_optimizer, global.size()),
      options_(options) {
  if (options_.federation.mode == config::FederationMode::kDistillation) global.clear();
  if (options_.privacy.enabled) ledger.emplace(TermsOf(options_.privacy));
}

void FederationState::Restore(storage::Checkpoint checkpoint, const std::string& path) {
  if (checkpoint.schema_fingerprint != options_.schema_fingerprint ||
      checkpoint.global.size() != global.size()) {
    throw DataError(path + ": checkpoint is for a different model or mode");
  }
  if (!checkpoint.class_counts.empty() && checkpoint.class_counts.size() != options_.num_classes) {
    throw DataError(path + ": checkpoint is for a different number of classes");
  }
  global = std::move(checkpoint.global);
  soft_state = {std::move(checkpoint.class_counts), std::move(checkpoint.mean_logits)};
  mask = std::move(checkpoint.mask);
  mask_round = checkpoint.mask_round;
  if (!mask.empty()) {
    encoded_mask = codec::EncodeBitmask(mask, options_.downlink.zstd, options_.downlink.zstd_level);
  }
  committed_round = checkpoint.round;
  try {
    server_optimizer.Restore(
        {static_cast<aggregation::ServerOptimizerKind>(checkpoint.server_optimizer),
         std::move(checkpoint.server_m), std::move(checkpoint.server_v)});
  } catch (const DataError& e) {
    throw DataError(path + ": " + e.what() + " (aggregation.server_optimizer)");
  }
  const bool has_account = !checkpoint.privacy_orders.empty();
  if (has_account != options_.privacy.enabled && committed_round > 0) {
    throw ConfigError(path + ": privacy.dp: the checkpoint's rounds were released " +
                      (has_account ? "with" : "without") +
                      " differential privacy; resuming them with privacy.dp " +
                      (has_account ? "off" : "on") + " would misstate ε: start a new run");
  }
  if (has_account && options_.privacy.enabled) {
    ledger.emplace(
        TermsOf(options_.privacy),
        privacy::RdpAccountant(std::move(checkpoint.privacy_orders),
                               std::move(checkpoint.privacy_rdp), checkpoint.privacy_steps));
  }
  // Secure-aggregation culprits and disputants stay out across a restart.
  for (auto& [key, through] : checkpoint.excluded) excluded_until_[key] = through;
}

storage::Checkpoint FederationState::ToCheckpoint() const {
  storage::Checkpoint checkpoint;
  checkpoint.round = committed_round;
  checkpoint.schema_fingerprint = options_.schema_fingerprint;
  checkpoint.global = global;
  checkpoint.class_counts = soft_state.counts;
  checkpoint.mean_logits = soft_state.mean_logits;
  checkpoint.mask_round = mask_round;
  checkpoint.mask = mask;
  const aggregation::ServerOptimizerState& optimizer = server_optimizer.state();
  checkpoint.server_optimizer = static_cast<std::uint8_t>(optimizer.kind);
  checkpoint.server_m = optimizer.m;
  checkpoint.server_v = optimizer.v;
  if (ledger) {
    checkpoint.privacy_steps = ledger->account().steps();
    checkpoint.privacy_orders = ledger->account().orders();
    checkpoint.privacy_rdp = ledger->account().rdp();
  }
  for (const auto& [key, through] : excluded_until_) {
    if (through > committed_round) checkpoint.excluded.emplace_back(key, through);
  }
  return checkpoint;
}

void FederationState::UpdateMask(std::uint64_t round) {
  const double target = options_.sparsity.At(round);
  const double current = mask_round > 0 ? options_.sparsity.At(mask_round) : 0.0;
  if (options_.federation.mode == config::FederationMode::kDistillation || target <= current) {
    return;
  }
  // Magnitudes of the aggregated global weights choose; pruned values become
  // exact zeros in the global model and stay pruned (they have the smallest
  // magnitude at every later step).
  mask = aggregation::SelectMask(global, options_.layout, target, options_.mask_scope,
                                 options_.min_keep);
  aggregation::ApplyMask(mask, global);
  mask_round = round;
  encoded_mask = codec::EncodeBitmask(mask, options_.downlink.zstd, options_.downlink.zstd_level);
  FSD_LOG(INFO) << "round " << round << ": mask at sparsity "
                << aggregation::SparsityOf(mask, options_.layout) << " (target " << target << ")";
}

void FederationState::StepServerOptimizer(std::span<const float> before) {
  std::vector<std::uint8_t> stepped(global.size(), 0);
  for (const auto& range : options_.layout) {
    if (range.statistics) continue;
    for (std::uint64_t i = range.offset; i < range.offset + range.size; ++i) {
      stepped[i] = mask.empty() ? 1 : mask[i];
    }
  }
  server_optimizer.Step(before, global, stepped);
}

std::optional<std::string> FederationState::DivergenceOf() const {
  const double limit = options_.limits.max_abs_value;
  for (std::size_t i = 0; i < global.size(); ++i) {
    if (!mask.empty() && !mask[i]) continue;
    const float value = global[i];
    if (std::isfinite(value) && std::abs(value) <= limit) continue;
    std::ostringstream problem;
    problem << "value " << value << " at position " << i << " of the model"
            << (std::isfinite(value) ? ", beyond limits.max_abs_value " : ", not finite; limit ")
            << limit;
    return problem.str();
  }
  return std::nullopt;
}

void FederationState::Rollback(const Snapshot& snapshot) {
  global = snapshot.global;
  soft_state = snapshot.soft_state;
  server_optimizer.Restore(snapshot.optimizer);
}

std::string FederationState::Exclude(const std::string& key, std::uint64_t round) {
  const int rounds = options_.secure_aggregation.exclude_rounds;
  excluded_until_[key] = rounds == 0 ? std::numeric_limits<std::uint64_t>::max()
                                     : round + static_cast<std::uint64_t>(rounds);
  return rounds == 0 ? std::string("the rest of the run")
                     : "the next " + std::to_string(rounds) + " rounds";
}

bool FederationState::Excluded(const std::string& key, std::uint64_t round) const {
  const auto excluded = excluded_until_.find(key);
  return excluded != excluded_until_.end() && excluded->second >= round;
}

}  // namespace fsd::coordinator
