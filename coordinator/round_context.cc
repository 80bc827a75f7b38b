#include "coordinator/round_context.h"

#include <algorithm>
#include <cmath>

#include "aggregation/aggregate.h"
#include "common/log.h"

namespace fsd::coordinator {
namespace {

// The options as the rounds follow them: min_clients 0 means every
// enrolled client, and a model without a layout is one unprunable tensor.
CoordinatorOptions Resolved(CoordinatorOptions options, std::size_t model_size) {
  if (options.federation.min_clients == 0)
    options.federation.min_clients = options.federation.clients;
  if (options.layout.empty()) options.layout = {{0, model_size, false}};
  return options;
}

}  // namespace

RoundContext::RoundContext(CoordinatorOptions options_in,
                           std::map<std::string, std::string> allowed,
                           std::vector<float> initial_global, Evaluator evaluator_in,
                           RoundListener listener_in, const Clock& clock_in)
    : options(Resolved(std::move(options_in), initial_global.size())),
      clock(clock_in),
      registry(std::move(allowed), /*open=*/options.transport.insecure,
               options.limits.max_connections_per_key, options.transport.client_timeout_s,
               /*connection_idle_s=*/3.0 * options.transport.heartbeat_ms / 1000.0),
      validator(ValidationLimits{options.num_classes, options.limits.max_abs_value,
                                 options.limits.max_abs_logit, options.limits.max_train_loss}),
      evaluator(std::move(evaluator_in)),
      listener(std::move(listener_in)),
      store(options.out_dir, options.federation.checkpoint),
      state(options, std::move(initial_global)),
      release(MakeRoundRelease(options)) {
  limits.max_message_bytes = static_cast<std::uint64_t>(options.transport.max_message_mb) << 20;
  limits.max_values = std::max<std::uint64_t>(limits.max_values, state.model_size);
  if (auto checkpoint = store.Open(options.resume, limits.max_values, limits.max_classes)) {
    state.Restore(std::move(*checkpoint), store.checkpoint_path());
    FSD_LOG(INFO) << "resuming after round " << state.committed_round;
  }
  // Under DP, who is sampled must not be predictable from the (public) config.
  sampling_seed = options.privacy.enabled && !options.privacy.seed ? privacy::SecureSeed()
                                                                   : options.federation.seed;
  sampler = MakeCohortSampler(options, sampling_seed, state);
  run_started = clock.Now();
}

std::size_t RoundContext::MinimumUpdates() const {
  // Secure aggregation needs two clients at least to hide one.
  if (options.secure_aggregation.enabled) {
    return std::max<std::size_t>(2, options.privacy.distributed
                                        ? static_cast<std::size_t>(options.privacy.min_survivors)
                                        : 0);
  }
  // Central DP releases even an empty cohort (noise alone); distributed DP
  // needs min_survivors reports for the noise to add up.
  if (options.privacy.enabled) {
    return options.privacy.distributed ? static_cast<std::size_t>(options.privacy.min_survivors)
                                       : 0;
  }
  return distillation_only() ? 1 : aggregation::MinimumInputs(options.aggregation);
}

std::size_t RoundContext::Quorum(std::size_t target) const {
  return std::max<std::size_t>(
      MinimumUpdates(),
      static_cast<std::size_t>(std::ceil(options.federation.quorum * target - 1e-9)));
}

const char* RoundContext::WholeNetworkRequiredBy() const {
  if (options.secure_aggregation.enabled) return "secure_aggregation.enabled";
  if (options.privacy.enabled) return "privacy.dp";
  if (distillation_only()) return "federation.mode = distillation";
  return nullptr;
}

model::Subnetwork RoundContext::SubnetFor(std::uint32_t max_exit) const {
  const int exits = model::NumExits(options.layout);
  const int deepest = max_exit == 0 ? exits : std::min(static_cast<int>(max_exit), exits);
  return {deepest, options.main_head_only};
}

void RoundContext::Send(const std::string& routing_id, const wire::Message& message) {
  outgoing.push_back({routing_id, wire::EncodeFrame(message)});
}

void RoundContext::SendReject(const Peer& peer, wire::RejectCode code, const std::string& text,
                              bool log) {
  ++rejects[code];
  if (log) {
    FSD_LOG(WARNING) << "rejected a message from " << registry.NameOf(peer.identity) << ": "
                     << wire::RejectCodeName(code) << " " << text;
  } else {
    FSD_LOG(DEBUG) << "rejected a message from " << registry.NameOf(peer.identity) << ": "
                   << wire::RejectCodeName(code) << " " << text;
  }
  Send(peer.routing_id, {round(), wire::Reject{code, text}});
}

void RoundContext::Stop(StopKind kind, std::string reason) {
  stop_kind = kind;
  stop_reason = std::move(reason);
}

void RoundContext::Exclude(const std::string& key, std::uint64_t round, const std::string& why) {
  const std::string how_long = state.Exclude(key, round);
  FSD_LOG(WARNING) << "round " << round << ": client " << registry.NameOf(key) << " " << why
                   << "; left out of " << how_long;
}

}  // namespace fsd::coordinator
