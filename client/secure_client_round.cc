#include "client/secure_client_round.h"

#include <cmath>

#include "common/errors.h"
#include "privacy/secagg/ring_vector.h"
#include "privacy/secagg/secagg_graph.h"

namespace fsd::client {

std::variant<SecureClientRound, std::string> SecureClientRound::Start(
    std::uint64_t round, const wire::SecAggStart& start, std::size_t kept, std::size_t classes,
    std::uint64_t max_records, const SecureRequirements& requirements) {
  const auto text = [](auto value) { return std::to_string(value); };
  if (start.cohort < 2 || start.cohort > max_records)
    return "secure aggregation: cohort " + text(start.cohort) + " outside 2.." + text(max_records);
  if (start.id < 1 || start.id > start.cohort)
    return "secure aggregation: id " + text(start.id) + " outside 1.." + text(start.cohort);
  if (start.degree != 0 && (start.degree % 2 != 0 || start.degree >= start.cohort))
    return "secure aggregation: graph degree " + text(start.degree) +
           " is not even and below the cohort " + text(start.cohort);
  const std::uint32_t neighbourhood = start.degree == 0 ? start.cohort : start.degree + 1;
  if (start.threshold < 2 || start.threshold > neighbourhood)
    return "secure aggregation: threshold " + text(start.threshold) + " outside 2.." +
           text(neighbourhood);
  if (start.value_bits < 1 || start.value_bits > 48)
    return "secure aggregation: value_bits " + text(start.value_bits) + " outside 1..48";
  if (start.ring_bits < start.value_bits || start.ring_bits > 64)
    return "secure aggregation: ring_bits " + text(start.ring_bits) + " outside " +
           text(start.value_bits) + "..64";
  if (!(start.value_range > 0.0) || !(start.logit_range > 0.0))
    return "secure aggregation: the fixed-point ranges must be positive";
  // What this client requires, whatever the coordinator asks.
  const double floor = requirements.min_threshold;
  const std::uint32_t least =
      floor == 0.0   ? (start.degree == 0 ? neighbourhood / 2 + 1 : 2)
      : floor <= 1.0 ? static_cast<std::uint32_t>(std::ceil(floor * neighbourhood - 1e-9))
                     : static_cast<std::uint32_t>(floor);
  if (start.threshold < least)
    return "secure aggregation: threshold " + text(start.threshold) + " of a neighbourhood of " +
           text(neighbourhood) + " is below this client's " + text(least) +
           " (secure_aggregation.min_threshold): fewer colluders could reconstruct its secrets";
  // (The relative slack absorbs rounding: both sides compute the same bound.)
  if (start.value_range < requirements.min_range * (1.0 - 1e-9))
    return "secure aggregation: range " + std::to_string(start.value_range) +
           " would clamp this client's noised values; it needs at least " +
           std::to_string(requirements.min_range) + " (privacy.clip_norm + 6.11 x its noise std)";
  privacy::SecureInputLayout layout{
      kept, classes, start.value_bits, start.value_range, start.logit_range, start.ring_bits};
  // The summary travels unless the round leaves it out (under DP, where only
  // the noised weights may be learned).
  if (start.length == kept) layout.classes = 0;
  if (layout.classes > 0 && !requirements.summary_allowed)
    return "secure aggregation: the round asks for the soft-target summary, which this client's "
           "distributed DP does not noise (privacy.dp = \"distributed\")";
  // Every weighted element must fit the ring before the sum.
  unsigned weight_bits = 0;
  while (weight_bits < 32 && (std::uint64_t{1} << weight_bits) <= start.weight) ++weight_bits;
  if (start.weight < 1 || start.value_bits + weight_bits > start.ring_bits)
    return "secure aggregation: weight " + text(start.weight) + " does not fit the ring of " +
           text(start.ring_bits) + " bits";
  if (start.length != layout.length())
    return "secure aggregation: a vector of " + text(start.length) + " elements, this model's " +
           text(kept) + " kept values and " + text(classes) + " classes make " +
           text(layout.length()) + " (or " + text(kept) + " without the summary)";
  std::vector<std::uint32_t> ids;
  for (std::uint32_t id = 1; id <= start.cohort; ++id) ids.push_back(id);
  const privacy::SecAggGraph graph =
      start.degree == 0
          ? privacy::SecAggGraph::Complete(ids)
          : privacy::SecAggGraph::Harary(ids, static_cast<int>(start.degree), start.graph_seed);
  SecureClientRound secure(round, start, layout, graph.Neighbours(start.id));
  secure.min_survivors_ = requirements.min_survivors;
  return secure;
}

SecureClientRound::SecureClientRound(std::uint64_t round, const wire::SecAggStart& start,
                                     privacy::SecureInputLayout layout,
                                     std::vector<privacy::SecAggId> neighbours)
    : round_(round),
      start_(start),
      layout_(layout),
      client_(std::make_unique<privacy::SecAggClient>(
          privacy::SecAggParameters{round, static_cast<int>(start.threshold), start.ring_bits,
                                    layout.length()},
          start.id, std::move(neighbours))) {}

wire::SecAggKeys SecureClientRound::Keys() {
  const privacy::AdvertisedKeys keys = client_->AdvertiseKeys();
  stage_ = privacy::SecAggStage::kShareKeys;
  return {0, keys.encryption_key, keys.mask_key, client_->self_mask_commitment()};
}

wire::SecAggShares SecureClientRound::OnRoster(const wire::SecAggRoster& roster) {
  std::vector<privacy::AdvertisedKeys> members;
  for (const auto& m : roster.members) members.push_back({m.id, m.encryption_key, m.mask_key});
  wire::SecAggShares out;
  for (auto& sealed : client_->ShareKeys(members)) {
    out.shares.push_back({sealed.to, std::move(sealed.sealed)});
  }
  stage_ = privacy::SecAggStage::kMaskedInput;
  return out;
}

std::optional<wire::SecAggMasked> SecureClientRound::OnDelivered(
    const wire::SecAggDelivered& delivered) {
  if (delivered_) throw DataError("secure aggregation: shares delivered twice");
  std::vector<privacy::SealedShares> shares;
  for (const auto& s : delivered.shares) shares.push_back({s.peer, start_.id, s.sealed});
  delivered_ = std::move(shares);
  return MaskIfReady();
}

std::optional<wire::SecAggMasked> SecureClientRound::SetInput(
    std::span<const float> deltas, std::span<const std::int64_t> counts,
    std::span<const float> mean_logits, std::int64_t sample_count, double train_loss,
    std::uint32_t withheld, std::uint64_t mask_round) {
  if (pending_) throw DataError("secure aggregation: a second input for one round");
  const bool summary = layout_.classes > 0;
  pending_input_ = privacy::EncodeSecureInput(
      layout_, deltas, start_.weight, summary ? counts : std::span<const std::int64_t>{},
      summary ? mean_logits : std::span<const float>{}, sample_count);
  pending_ = wire::SecAggMasked{sample_count,
                                train_loss,
                                withheld,
                                mask_round,
                                static_cast<std::uint64_t>(pending_input_->clamped),
                                {},
                                {}};
  return MaskIfReady();
}

std::optional<wire::SecAggMasked> SecureClientRound::MaskIfReady() {
  if (!delivered_ || !pending_input_) return std::nullopt;
  const auto masked = client_->MaskInput(pending_input_->elements, *delivered_);
  wire::SecAggMasked out = *pending_;
  const auto& disputed = client_->disputed();
  out.disputed.assign(disputed.begin(), disputed.end());
  out.masked = codec::Encoded{codec::Dtype::kRing, false, masked.size(),
                              privacy::PackBits(masked, start_.ring_bits)};
  pending_input_.reset();  // the plain input is not needed again
  delivered_->clear();
  stage_ = privacy::SecAggStage::kUnmask;
  return out;
}

wire::SecAggReveal SecureClientRound::OnUnmask(const wire::SecAggUnmask& unmask) {
  if (unmask.survivors.size() < min_survivors_) {
    throw DataError("an unmask request naming " + std::to_string(unmask.survivors.size()) +
                    " survivors, fewer than this client's privacy.min_survivors " +
                    std::to_string(min_survivors_) + ": their noise would not add up");
  }
  const privacy::UnmaskShares shares = client_->Unmask(unmask.survivors);
  wire::SecAggReveal out;
  for (const auto& [owner, share] : shares.self_mask)
    out.self_mask.push_back({owner, share.x, share.y});
  for (const auto& [owner, share] : shares.mask_key)
    out.mask_key.push_back({owner, share.x, share.y});
  stage_ = privacy::SecAggStage::kDone;
  return out;
}

}  // namespace fsd::client
