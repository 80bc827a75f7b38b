// UpdateValidator: the semantic checks on a decoded UPDATE from a sampled
// client, after the wire decoder's structural ones — sample count within the
// client's declaration for the round, the mask in force, the values' count,
// codec and magnitude, the soft-target summary's shape, counts, finiteness
// and magnitude, and the reported loss — or, under distributed DP, that
// the client withheld its sample count and loss and sent its summary only
// as a private record of the right shape. A valid update becomes a
// StagedUpdate (decoded, ready to aggregate); anything else a typed Reject
// naming the field and the limit. Nothing here touches the global model.
// Thread-safety: const methods on plain values; safe to share.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "aggregation/soft_targets.h"
#include "aggregation/sparsity.h"
#include "common/wire/messages.h"

namespace fsd::coordinator {

// A validated update, decoded.
struct StagedUpdate {
  std::int64_t sample_count = 0;  // 0 when withheld
  double train_loss = 0.0;        // 0 when withheld
  bool withheld = false;          // sample count and loss were not sent
  std::vector<float> kept;        // kept values in flat order; empty in distillation-only mode
  aggregation::SoftTargetSummary summary;  // exact (empty under distributed DP)
  // Distributed DP: the private summary record (C×C rows, C presences),
  // noised by the client; empty when the run releases no summaries.
  std::vector<float> private_rows, private_presence;
  std::int64_t bytes = 0, weight_bytes = 0, summary_bytes = 0;  // on the wire
};

struct ValidationLimits {
  std::size_t num_classes = 10;
  double max_abs_value = 1e5;
  double max_abs_logit = 1e4;
  double max_train_loss = 1e4;
};

// What the round expects of every update.
struct RoundExpectation {
  bool distillation_only = false;
  std::uint64_t mask_round = 0;         // the mask in force (0: none)
  std::vector<std::uint64_t> segments;  // kept values per tensor under that mask
  std::uint64_t kept_count = 0;         // their sum
  // Distributed DP: nothing exact may arrive — sample count and loss
  // withheld, no exact summary — and the private summary record is required
  // when `private_summary`, absent otherwise. Without it neither may appear.
  bool distributed_dp = false;
  bool private_summary = false;
};

// What an upload states beside its values and summary: the fields an UPDATE
// and a SECAGG_MASKED share.
struct UploadHeader {
  std::uint32_t withheld = 0;  // wire::kWithheld* flags
  std::int64_t sample_count = 0;
  double train_loss = 0.0;
  std::uint64_t mask_round = 0;
};

// The checks both uploads share: fields withheld exactly when the round is
// under distributed DP (then sample count and loss are not checked), the
// sample count within 1..`declared_samples`, the loss within
// [0, `max_train_loss`], and trained under the mask of `mask_round`.
std::optional<wire::Reject> CheckUploadHeader(const UploadHeader& header, bool distributed_dp,
                                              std::int64_t declared_samples, double max_train_loss,
                                              std::uint64_t mask_round);

class UpdateValidator {
 public:
  explicit UpdateValidator(ValidationLimits limits) : limits_(limits) {}

  // `declared_samples`: what the client declared when it was sampled for
  // the round. `frame_bytes`: the UPDATE's size on the wire.
  std::variant<StagedUpdate, wire::Reject> Validate(const wire::Update& update,
                                                    const RoundExpectation& round,
                                                    std::int64_t declared_samples,
                                                    std::size_t frame_bytes) const;

 private:
  ValidationLimits limits_;
};

}  // namespace fsd::coordinator
