// CoordinatorOptions: everything a coordinator's rounds follow, and the one
// place a run's config is mapped onto them (OptionsFromConfig).
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aggregation/aggregate.h"
#include "aggregation/schedules.h"
#include "aggregation/server_optimizer.h"
#include "aggregation/sparsity.h"
#include "common/codec/values.h"
#include "common/config/config.h"
#include "common/model/flat_params.h"
#include "common/model/layout.h"
#include "coordinator/private_release.h"

namespace fsd::coordinator {

// Whether a coordinator continues from DIR/checkpoint.bin.
enum class ResumeMode {
  kFresh,            // start at round 1 (an existing checkpoint is overwritten)
  kResume,           // continue from the checkpoint; an error when there is none
  kResumeIfPresent,  // continue when there is a checkpoint, else start fresh
};

struct CoordinatorOptions {
  config::FederationConfig federation;
  config::TransportConfig transport;
  config::PeerLimitsConfig limits;  // what one client may send or cost
  aggregation::AggregationOptions aggregation;
  // How the global model moves from the rule's output (aggregation/server_optimizer.h).
  aggregation::ServerOptimizerOptions server_optimizer;
  // T, α and β announced in ROUND_START (aggregation/schedules.h).
  std::shared_ptr<const aggregation::TemperatureSchedule> temperature =
      std::make_shared<aggregation::ConstantTemperature>(3.0);
  aggregation::Ramp alpha = aggregation::Ramp::Constant(0.5);
  aggregation::Ramp beta = aggregation::Ramp::Constant(0.0);
  // The learning-rate factor announced in ROUND_START (× the clients' training.lr).
  aggregation::LearningRateSchedule lr;
  std::size_t num_classes = 10;  // classes of the model: soft-target summaries are C×C
  int local_epochs = 1;
  std::uint64_t schema_fingerprint = 0;
  // The model's tensors in the flat vector (which ones may be pruned; the
  // int8 codec's segments). Empty: one unprunable tensor of the initial size.
  model::ModelLayout layout;
  // Heterogeneous clients (common/model/layout.h): a JOIN whose max_exit is
  // below min_exit is refused (0: every exit is welcome); under
  // loss.exits = "main" every client trains and exchanges only its deepest
  // exit's path (main_head_only).
  int min_exit = 0;
  bool main_head_only = false;
  codec::EncodeOptions downlink;  // how ROUND_START values and masks are encoded
  aggregation::SparsitySchedule sparsity;  // default: never prunes
  aggregation::MaskScope mask_scope = aggregation::MaskScope::kGlobal;
  double min_keep = 0.05;  // share of every prunable tensor a mask keeps
  // Central differential privacy (coordinator/private_release.h); fsd-sim
  // sets privacy.seed, deployments draw sampling and noise from the CSPRNG.
  PrivacyOptions privacy;
  // Secure aggregation (coordinator/secure_round.h); off by default.
  config::SecureAggregationConfig secure_aggregation;
  std::string out_dir;     // metrics.jsonl and checkpoint.bin go here
  ResumeMode resume = ResumeMode::kFresh;
  // Extra fields for a round's metrics line, asked for just before it is
  // written, with the names of the clients whose updates the round
  // aggregated (fsd-sim: which of them were attackers); called on the
  // coordinator's thread, so it must be thread-safe. Empty: none.
  std::function<nlohmann::json(std::uint64_t round, const std::vector<std::string>& aggregated)>
      round_annotations;
};

// The options a run's config implies (the one place they are mapped).
// REQUIRES: config.data.num_classes resolved (data::AdoptFromData).
CoordinatorOptions OptionsFromConfig(const config::RunConfig& config,
                                     const model::FlatSchema& schema, std::string out_dir,
                                     ResumeMode resume);

// The [privacy] part of OptionsFromConfig. Noise multipliers not given are
// computed from privacy.target_epsilon for federation.rounds rounds by
// privacy::PlanNoise (privacy/dp/noise_plan.h), which says how and when it
// throws ConfigError.
PrivacyOptions PrivacyOptionsFrom(const config::RunConfig& config);

}  // namespace fsd::coordinator
