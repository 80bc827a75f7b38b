#include "coordinator/round_attempt.h"

#include "aggregation/schedules.h"
#include "aggregation/soft_targets.h"
#include "common/errors.h"

namespace fsd::coordinator {
namespace {

// Bytes of an encoded section on the wire (header + stored bytes).
std::int64_t SectionWireBytes(const codec::Encoded& encoded) {
  return static_cast<std::int64_t>(wire::kTensorHeaderBytes + encoded.bytes.size());
}

}  // namespace

RoundAttempt::RoundAttempt(RoundContext& context, std::vector<std::string> cohort,
                           std::size_t target_in)
    : round(context.round()),
      target(target_in),
      selected(cohort.begin(), cohort.end()),
      sampled(selected.size()),
      shared_subnet(context.SubnetFor(0)) {
  const CoordinatorOptions& options = context.options;
  FederationState& state = context.state;
  // A declaration is fixed the first time the client is sampled in this round.
  std::set<model::Subnetwork> subnets = {shared_subnet};
  for (const auto& key : selected) {
    const ClientRecord* record = context.registry.Find(key);
    context.retries.declared.try_emplace(key, record->declared_samples);
    subnets.insert(context.retries.subnets.try_emplace(key, context.SubnetFor(record->max_exit))
                       .first->second);
  }
  state.UpdateMask(round);
  codec::EncodeOptions downlink = options.downlink;
  downlink.seed = round;
  for (const auto& subnet : subnets) {
    SubnetView view;
    view.mask =
        aggregation::SubnetworkMask(state.mask, options.layout, subnet, state.global.size());
    view.segments = aggregation::KeptPerTensor(options.layout, view.mask);
    view.kept = aggregation::KeptCount(view.mask, state.global.size());
    if (!context.distillation_only()) {
      view.values = codec::EncodeValues(aggregation::Gather(state.global, view.mask), view.segments,
                                        downlink);
    }
    views.emplace(subnet, std::move(view));
  }
  // The schedules see the logits aggregated up to the previous round.
  const aggregation::RoundContext schedule{round,
                                           static_cast<std::uint64_t>(options.federation.rounds),
                                           state.soft_state.empty() ? nullptr : &state.soft_state};
  temperature = options.temperature->At(schedule);
  alpha = options.alpha.At(schedule);
  beta = options.beta.At(schedule);
  lr_factor = options.lr.At(schedule);
  if (!state.soft_state.empty()) {
    soft_target_entropy = aggregation::MeanEntropy(state.soft_state, temperature);
    if (beta > 0.0) soft_targets = aggregation::SoftenRows(state.soft_state, temperature);
  }
  // The attempt's deadlines count from here, once its ROUND_STARTs can go out.
  started = context.clock.Now();
}

void RoundAttempt::SendRoundStart(RoundContext& context, const std::string& key,
                                  const wire::SecAggStart* secure) {
  ClientRecord* record = context.registry.Find(key);
  FSD_CHECK(record != nullptr) << "ROUND_START to a client that has not joined";
  const FederationState& state = context.state;
  wire::RoundStart start;
  start.temperature = temperature;
  start.alpha = alpha;
  start.beta = beta;
  start.local_epochs = static_cast<std::uint32_t>(context.options.local_epochs);
  start.mask_round = state.mask_round;
  const model::Subnetwork& subnet = context.retries.subnets.at(key);
  start.subnet_exit = static_cast<std::uint32_t>(subnet.exit);
  start.subnet_heads = subnet.head_only ? 1 : 0;
  start.lr_factor = lr_factor;
  if (!context.distillation_only()) start.global_values = views.at(subnet).values;
  start.soft_targets = soft_targets;
  if (secure != nullptr) start.secure = *secure;
  if (const PrivacyOptions& privacy = context.options.privacy; privacy.enabled) {
    // What each client's own ledger checks and counts (client/privacy_ledger.h).
    start.dp = {static_cast<std::uint64_t>(state.ledger->draws()), privacy.sampling_rate,
                privacy.StepNoiseMultiplier()};
  }
  if (state.mask_round != 0 && record->mask_round_sent != state.mask_round) {
    start.mask = state.encoded_mask;
    record->mask_round_sent = state.mask_round;
  }
  bytes.down_weights += SectionWireBytes(start.global_values);
  bytes.down_mask += start.mask.count > 0 ? SectionWireBytes(start.mask) : 0;
  bytes.down_soft_targets +=
      static_cast<std::int64_t>(wire::kTensorHeaderBytes + start.soft_targets.size() * 4);
  auto frame = wire::EncodeFrame({round, std::move(start)});
  bytes.down += static_cast<std::int64_t>(frame.size());
  context.outgoing.push_back({record->routing_id, std::move(frame)});
}

bool RoundAttempt::Drop(RoundContext& context, const std::string& key) {
  if (selected.erase(key) == 0) return false;
  context.retries.missed.insert(key);
  return true;
}

}  // namespace fsd::coordinator
