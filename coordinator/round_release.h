// RoundRelease: how what a round collected enters the global model and the
// soft-target state — the one part of committing a round that depends on
// privacy.dp. Chosen once from the options (MakeRoundRelease):
//   plain        no DP: the aggregation rule per sub-network over the
//                updates and the summary rule over their summaries; for a
//                secure round, the unmasked sum's weighted mean and class
//                rows.
//   central DP   the clients' deltas clipped, summed, noised and divided by
//                the expected cohort, and the summaries released the same
//                way (coordinator/private_release.h); plain rounds only
//                (the config refuses it with secure aggregation).
//   distributed  the sum of what the clients clipped and noised, over the
//                expected cohort — their updates, or the secure sum.
// Each returns the fields it adds to the round's metrics line; the DP ones
// include the budget spent (the ledger in FederationState).
// Thread-safety: one owner thread. Errors: InternalError on inputs the
// validator should have refused.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "aggregation/aggregate.h"
#include "aggregation/soft_targets.h"
#include "coordinator/federation_state.h"
#include "coordinator/options.h"
#include "coordinator/update_validator.h"
#include "privacy/secagg/secure_input.h"

namespace fsd::coordinator {

// A plain round's validated updates, in summation order (client name, then key).
struct RoundUpdates {
  std::uint64_t round = 0;
  std::vector<aggregation::WeightedInput> inputs;  // kept values within the shared sub-network
  std::vector<aggregation::PartialInput> partial;  // each within its own sub-network
  const aggregation::Mask* shared_mask = nullptr;  // the federation's sub-network's mask
  // The clients that trained the deepest exit (their summaries describe it):
  std::vector<const aggregation::SoftTargetSummary*> summaries;
  std::vector<const StagedUpdate*> private_records;  // their distributed-DP records
  std::vector<std::vector<std::int64_t>> class_counts;
  std::vector<double> summary_weights;
  std::vector<std::int64_t> summary_samples;
};

// What a release did, for the metrics line.
struct Released {
  aggregation::AggregateReport report;  // the rule's clipping, trimming and selection
  nlohmann::json fields = nlohmann::json::object();
};

class RoundRelease {
 public:
  virtual ~RoundRelease() = default;
  // A plain round: `updates` into state.global and state.soft_state.
  virtual Released FromUpdates(const RoundUpdates& updates, FederationState& state) = 0;
  // A secure round: the survivors' unmasked sum, over the kept values of
  // `shared_mask` (the secure vector's deltas, then any private records).
  virtual Released FromSecureSum(const privacy::SecureSum& sum, std::size_t survivors,
                                 const aggregation::Mask& shared_mask, FederationState& state) = 0;
  // The fields every committed round's line carries (the DP parameters and
  // the budget spent so far), also for a round committed as failed.
  virtual nlohmann::json Record(const FederationState& state) const = 0;
};

// The release privacy.dp asks for. `options` must outlive it.
std::unique_ptr<RoundRelease> MakeRoundRelease(const CoordinatorOptions& options);

// Elements the clients' private summary records add to a secure round's
// vector under distributed DP with summaries released (C² + C), else 0.
std::size_t PrivateRecordLength(const PrivacyOptions& privacy, std::size_t num_classes);

}  // namespace fsd::coordinator
