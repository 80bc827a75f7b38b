// SecureClientRound: one client's part in one secure round (secure
// aggregation, docs/SECURE_AGGREGATION.md): checks the round's parameters
// from ROUND_START, builds the round's graph from its public seed, and turns
// each coordinator message into the answer privacy::SecAggClient gives.
// Training runs beside it: the masked input is sent once both the trained
// result (SetInput) and the shares addressed to this client (OnDelivered)
// are in, whichever comes last.
// Thread-safety: one owner thread (the client's session). Errors: Start
// returns why parameters are unusable; the On* methods throw DataError or
// AuthError (privacy/secagg/secagg_client.h) when the coordinator or a peer breaks
// the protocol, after which the round is over for this client.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/wire/messages.h"
#include "privacy/secagg/secagg_client.h"
#include "privacy/secagg/secure_input.h"

namespace fsd::client {

// What this client itself requires of a secure round, from its own config,
// whatever the coordinator announces (a coordinator that asks for less is
// refused by name).
struct SecureRequirements {
  // The least threshold: a fraction in (0, 1] of the neighbourhood or a count
  // > 1 (secure_aggregation.min_threshold); 0: more than half of the
  // neighbourhood on a complete graph (two disjoint survivor sets cannot
  // both reach it), 2 on a sparse one (Bell et al.'s t is smaller by design).
  double min_threshold = 0.0;
  // Under distributed DP: the least fixed-point range that clamps this
  // client's noised values with probability below 1e-9
  // (privacy::SecureRangeFor), the summary stays out of the masked vector
  // (it carries no noise), and an unmask naming fewer survivors than
  // privacy.min_survivors is refused (their noise would not add up).
  double min_range = 0.0;
  bool summary_allowed = true;
  std::uint32_t min_survivors = 0;
};

class SecureClientRound {
 public:
  // `kept`: the kept values of the round's mask; `classes`: the model's C;
  // `max_records`: the decoder's list limit (the cohort must fit it).
  static std::variant<SecureClientRound, std::string> Start(
      std::uint64_t round, const wire::SecAggStart& start, std::size_t kept, std::size_t classes,
      std::uint64_t max_records, const SecureRequirements& requirements = {});

  std::uint64_t round() const { return round_; }
  // The stage whose message this client owes next (privacy/secagg/secagg_stage.h):
  // kDone once it revealed its shares.
  privacy::SecAggStage stage() const { return stage_; }

  wire::SecAggKeys Keys();
  wire::SecAggShares OnRoster(const wire::SecAggRoster& roster);
  // The masked input, when the trained input is already in.
  std::optional<wire::SecAggMasked> OnDelivered(const wire::SecAggDelivered& delivered);
  // The trained input: `deltas` = kept values − the round's global values
  // (under distributed DP followed by the scaled private summary record);
  // `withheld` (wire::kWithheld*) says which of sample_count and train_loss
  // are not sent. The masked input, when the shares are already in.
  std::optional<wire::SecAggMasked> SetInput(std::span<const float> deltas,
                                             std::span<const std::int64_t> counts,
                                             std::span<const float> mean_logits,
                                             std::int64_t sample_count, double train_loss,
                                             std::uint32_t withheld, std::uint64_t mask_round);
  wire::SecAggReveal OnUnmask(const wire::SecAggUnmask& unmask);
  // Whether the trained input is in (a retried round may train twice; the
  // first result counts).
  bool has_input() const { return pending_.has_value(); }

 private:
  SecureClientRound(std::uint64_t round, const wire::SecAggStart& start,
                    privacy::SecureInputLayout layout, std::vector<privacy::SecAggId> neighbours);
  std::optional<wire::SecAggMasked> MaskIfReady();

  std::uint64_t round_ = 0;
  std::uint32_t min_survivors_ = 0;
  wire::SecAggStart start_;
  privacy::SecureInputLayout layout_;
  std::unique_ptr<privacy::SecAggClient> client_;
  privacy::SecAggStage stage_ = privacy::SecAggStage::kAdvertise;
  std::optional<std::vector<privacy::SealedShares>> delivered_;
  std::optional<wire::SecAggMasked> pending_;          // the input's metadata, waiting for shares
  std::optional<privacy::SecureInput> pending_input_;  // ... and its elements
};

}  // namespace fsd::client
