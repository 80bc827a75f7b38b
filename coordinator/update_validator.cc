#include "coordinator/update_validator.h"

#include <cmath>
#include <string>

#include "common/codec/values.h"
#include "common/wire/frame.h"

namespace fsd::coordinator {
namespace {

using wire::RejectCode;

// Bytes of an UPDATE's soft-target summary on the wire: the count list in the
// payload (u64 size + C × i64) and tensor sections 1 to 3 (header + f32 each).
std::int64_t SummaryWireBytes(const wire::Update& update) {
  return static_cast<std::int64_t>(
      8 + update.summary_counts.size() * 8 + 3 * wire::kTensorHeaderBytes +
      (update.summary_logits.size() + update.private_summary_rows.size() +
       update.private_summary_presence.size()) *
          4);
}

std::string Number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

}  // namespace

std::optional<wire::Reject> CheckUploadHeader(const UploadHeader& header, bool distributed_dp,
                                              std::int64_t declared_samples, double max_train_loss,
                                              std::uint64_t mask_round) {
  constexpr std::uint32_t kAllWithheld = wire::kWithheldSampleCount | wire::kWithheldTrainLoss;
  if (distributed_dp && header.withheld != kAllWithheld) {
    return wire::Reject{RejectCode::kInvalidValue,
                        "under privacy.dp = \"distributed\" an upload withholds its sample_count "
                        "and train_loss"};
  }
  if (!distributed_dp && header.withheld != 0) {
    return wire::Reject{RejectCode::kInvalidValue,
                        "an upload withholds fields only under privacy.dp = \"distributed\""};
  }
  if (!distributed_dp && (header.sample_count <= 0 || header.sample_count > declared_samples)) {
    return wire::Reject{RejectCode::kLimitExceeded,
                        "sample_count " + std::to_string(header.sample_count) + " outside 1.." +
                            std::to_string(declared_samples) + " declared for this round"};
  }
  if (!distributed_dp && !(header.train_loss >= 0.0 && header.train_loss <= max_train_loss)) {
    return wire::Reject{RejectCode::kInvalidValue, "train_loss " + Number(header.train_loss) +
                                                       " outside [0, " + Number(max_train_loss) +
                                                       "] (limits.max_train_loss)"};
  }
  if (header.mask_round != mask_round) {
    return wire::Reject{RejectCode::kSchemaMismatch,
                        "trained with the mask of round " + std::to_string(header.mask_round) +
                            ", the mask in force is of round " + std::to_string(mask_round)};
  }
  return std::nullopt;
}

std::variant<StagedUpdate, wire::Reject> UpdateValidator::Validate(const wire::Update& update,
                                                                   const RoundExpectation& round,
                                                                   std::int64_t declared_samples,
                                                                   std::size_t frame_bytes) const {
  const auto reject = [](RejectCode code, std::string text) {
    return wire::Reject{code, std::move(text)};
  };
  if (auto refusal = CheckUploadHeader(
          {update.withheld, update.sample_count, update.train_loss, update.mask_round},
          round.distributed_dp, declared_samples, limits_.max_train_loss, round.mask_round)) {
    return *refusal;
  }
  if (round.distributed_dp) {
    // Under distributed DP the coordinator is not trusted with anything exact.
    if (!update.summary_counts.empty()) {
      return reject(RejectCode::kInvalidValue,
                    "under privacy.dp = \"distributed\" an update carries no exact summary");
    }
    const std::size_t classes = limits_.num_classes;
    const std::size_t presences = update.private_summary_presence.size();
    if (round.private_summary ? presences != classes : presences != 0) {
      return reject(RejectCode::kSchemaMismatch,
                    "private summary of " + std::to_string(presences) + " classes, the round " +
                        (round.private_summary ? "needs " + std::to_string(classes)
                                               : std::string("releases no summaries")));
    }
    for (const auto* values : {&update.private_summary_rows, &update.private_summary_presence}) {
      for (const float v : *values) {
        if (std::fabs(v) > limits_.max_abs_logit) {
          return reject(RejectCode::kInvalidValue,
                        "private summary value " + Number(v) +
                            ", limit |v| <= " + Number(limits_.max_abs_logit));
        }
      }
    }
  } else if (!update.private_summary_presence.empty()) {
    return reject(RejectCode::kInvalidValue,
                  "an update sends a private summary only under privacy.dp = \"distributed\"");
  }
  StagedUpdate staged;
  staged.sample_count = update.sample_count;
  staged.train_loss = update.train_loss;
  staged.withheld = round.distributed_dp;
  staged.private_rows = update.private_summary_rows;
  staged.private_presence = update.private_summary_presence;
  if (round.distillation_only) {
    if (update.values.count != 0) {
      return reject(RejectCode::kSchemaMismatch,
                    "update carries " + std::to_string(update.values.count) +
                        " values; distillation-only mode shares summaries only");
    }
  } else {
    auto kept = codec::DecodeValues(update.values, round.segments);
    if (!kept.ok()) return reject(kept.reject().code, "UPDATE values: " + kept.reject().text);
    if (kept.value().size() != round.kept_count) {
      return reject(RejectCode::kSchemaMismatch,
                    "update has " + std::to_string(kept.value().size()) +
                        " values, the model keeps " + std::to_string(round.kept_count));
    }
    for (std::size_t i = 0; i < kept.value().size(); ++i) {
      if (std::fabs(kept.value()[i]) > limits_.max_abs_value) {
        return reject(RejectCode::kInvalidValue,
                      "UPDATE value " + std::to_string(i) + " is " + Number(kept.value()[i]) +
                          ", limit |v| <= " + Number(limits_.max_abs_value));
      }
    }
    staged.kept = std::move(kept.value());
  }
  staged.summary = {update.summary_counts, update.summary_logits};
  if (!round.distributed_dp) {  // (under distributed DP nothing exact arrived)
    if (auto problem =
            aggregation::CheckSummary(staged.summary, limits_.num_classes, update.sample_count)) {
      using Kind = aggregation::SummaryProblem::Kind;
      switch (problem->kind) {
        case Kind::kClassCount:
          return reject(RejectCode::kSchemaMismatch, problem->text);
        case Kind::kNegativeCount:
          return reject(RejectCode::kInvalidValue, problem->text);
        case Kind::kTooManySamples:
          return reject(RejectCode::kLimitExceeded, problem->text);
        case Kind::kNonFinite:
          return reject(RejectCode::kNonFinite, problem->text);
      }
    }
    for (const float logit : staged.summary.mean_logits) {
      if (std::fabs(logit) > limits_.max_abs_logit) {
        return reject(RejectCode::kInvalidValue,
                      "summary logit " + Number(logit) +
                          ", limit |logit| <= " + Number(limits_.max_abs_logit));
      }
    }
  }
  staged.bytes = static_cast<std::int64_t>(frame_bytes);
  staged.summary_bytes = SummaryWireBytes(update);
  staged.weight_bytes =
      static_cast<std::int64_t>(wire::kTensorHeaderBytes + update.values.bytes.size());
  return staged;
}

}  // namespace fsd::coordinator
