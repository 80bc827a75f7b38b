#include "coordinator/options.h"

#include <cmath>

#include "common/config/codec_options.h"
#include "common/errors.h"
#include "common/log.h"
#include "privacy/dp/dp_release.h"
#include "privacy/dp/noise_plan.h"

namespace fsd::coordinator {
namespace {

std::shared_ptr<const aggregation::TemperatureSchedule> MakeTemperatureSchedule(
    const config::ScheduleConfig& schedule, const config::LossConfig& loss) {
  using Kind = config::TemperatureScheduleKind;
  switch (schedule.temperature) {
    case Kind::kConstant:
      return std::make_shared<aggregation::ConstantTemperature>(loss.temperature);
    case Kind::kLinear:
      return std::make_shared<aggregation::LinearTemperature>(schedule.temperature_start,
                                                              schedule.temperature_end);
    case Kind::kCosine:
      return std::make_shared<aggregation::CosineTemperature>(schedule.temperature_start,
                                                              schedule.temperature_end);
    case Kind::kStep:
      return std::make_shared<aggregation::StepTemperature>(
          schedule.temperature_start, schedule.step_factor, schedule.step_rounds,
          schedule.temperature_min, schedule.temperature_max);
    case Kind::kAdaptive:
      return std::make_shared<aggregation::AdaptiveTemperature>(
          schedule.target_entropy, schedule.temperature_min, schedule.temperature_max,
          loss.temperature);
  }
  throw InternalError("unknown temperature schedule");
}

aggregation::Ramp MakeRamp(config::RampKind kind, double constant, double start, double end) {
  return kind == config::RampKind::kLinear ? aggregation::Ramp(start, end)
                                           : aggregation::Ramp::Constant(constant);
}

aggregation::LearningRateSchedule MakeLearningRateSchedule(const config::ScheduleConfig& schedule) {
  using Kind = aggregation::LearningRateSchedule::Kind;
  Kind kind = Kind::kConstant;
  switch (schedule.lr) {
    case config::RoundLrScheduleKind::kConstant:
      kind = Kind::kConstant;
      break;
    case config::RoundLrScheduleKind::kLinear:
      kind = Kind::kLinear;
      break;
    case config::RoundLrScheduleKind::kCosine:
      kind = Kind::kCosine;
      break;
    case config::RoundLrScheduleKind::kStep:
      kind = Kind::kStep;
      break;
  }
  return aggregation::LearningRateSchedule(kind, schedule.lr_warmup_rounds, schedule.lr_end,
                                           schedule.lr_step_rounds, schedule.lr_step_factor);
}

aggregation::ServerOptimizerOptions ServerOptimizerOptionsFrom(
    const config::AggregationConfig& config) {
  using Kind = aggregation::ServerOptimizerKind;
  aggregation::ServerOptimizerOptions options;
  switch (config.server_optimizer) {
    case config::ServerOptimizerKind::kNone:
      options.kind = Kind::kNone;
      break;
    case config::ServerOptimizerKind::kMomentum:
      options.kind = Kind::kMomentum;
      break;
    case config::ServerOptimizerKind::kAdam:
      options.kind = Kind::kAdam;
      break;
    case config::ServerOptimizerKind::kYogi:
      options.kind = Kind::kYogi;
      break;
    case config::ServerOptimizerKind::kAdagrad:
      options.kind = Kind::kAdagrad;
      break;
  }
  options.lr = config.server_lr;
  options.momentum = config.server_momentum;
  options.beta1 = config.beta1;
  options.beta2 = config.beta2;
  options.tau = config.tau;
  return options;
}

aggregation::AggregationOptions AggregationOptionsFrom(const config::AggregationConfig& config) {
  aggregation::AggregationOptions options;
  switch (config.rule) {
    case config::AggregationRule::kFedAvg:
      options.rule = aggregation::Rule::kFedAvg;
      break;
    case config::AggregationRule::kMedian:
      options.rule = aggregation::Rule::kMedian;
      break;
    case config::AggregationRule::kTrimmedMean:
      options.rule = aggregation::Rule::kTrimmedMean;
      break;
    case config::AggregationRule::kKrum:
      options.rule = aggregation::Rule::kKrum;
      break;
    case config::AggregationRule::kMultiKrum:
      options.rule = aggregation::Rule::kMultiKrum;
      break;
  }
  switch (config.weighting) {
    case config::ClientWeighting::kSamples:
      options.weighting = aggregation::Weighting::kSamples;
      break;
    case config::ClientWeighting::kUniform:
      options.weighting = aggregation::Weighting::kUniform;
      break;
    case config::ClientWeighting::kCapped:
      options.weighting = aggregation::Weighting::kCapped;
      break;
  }
  switch (config.summary_rule) {
    case config::SummaryRule::kMean:
      options.summary_rule = aggregation::SummaryRule::kMean;
      break;
    case config::SummaryRule::kMedian:
      options.summary_rule = aggregation::SummaryRule::kMedian;
      break;
    case config::SummaryRule::kTrimmedMean:
      options.summary_rule = aggregation::SummaryRule::kTrimmedMean;
      break;
    case config::SummaryRule::kClippedMean:
      options.summary_rule = aggregation::SummaryRule::kClippedMean;
      break;
  }
  options.one_vote = config.robust_votes == config::RobustVotes::kOnePerClient;
  options.summary_clip_factor = config.summary_clip_factor;
  options.max_weight_ratio = config.max_weight_ratio;
  options.cap_per_class = config.cap_per_class;
  options.trim_fraction = config.trim_fraction;
  options.byzantine = static_cast<std::size_t>(config.byzantine);
  options.krum_selected = static_cast<std::size_t>(config.krum_selected);
  options.clip = config.clip_median       ? aggregation::ClipMode::kMedian
                 : config.clip_norm > 0.0 ? aggregation::ClipMode::kFixed
                                          : aggregation::ClipMode::kOff;
  options.clip_norm = config.clip_norm;
  options.clip_factor = config.clip_factor;
  return options;
}

}  // namespace

PrivacyOptions PrivacyOptionsFrom(const config::RunConfig& config) {
  const auto& p = config.privacy;
  PrivacyOptions options;
  options.enabled = p.dp != config::DpMode::kOff;
  if (!options.enabled) return options;
  options.sampling_rate = config.federation.fraction;
  options.expected_cohort = config.federation.fraction * config.federation.clients;
  options.clip_norm = p.clip_norm;
  options.weights = config.federation.mode == config::FederationMode::kWeights;
  options.noise_multiplier = options.weights ? p.noise_multiplier : 0.0;
  options.summaries = config::ReleasesSummaries(config);
  options.summary_clip_norm = p.summary_clip_norm;
  options.summary_noise_multiplier = options.summaries ? p.summary_noise_multiplier : 0.0;
  options.target_epsilon = p.target_epsilon;
  options.delta = p.delta;
  options.distributed = p.dp == config::DpMode::kDistributed;
  options.min_survivors = p.min_survivors;
  const privacy::NoisePlan plan =
      privacy::PlanNoise({options.weights, options.noise_multiplier, options.summaries,
                          options.summary_noise_multiplier, p.target_epsilon, options.sampling_rate,
                          config.federation.rounds, p.delta});
  options.noise_multiplier = plan.noise_multiplier;
  options.summary_noise_multiplier = plan.summary_multiplier;
  return options;
}

CoordinatorOptions OptionsFromConfig(const config::RunConfig& config,
                                     const model::FlatSchema& schema, std::string out_dir,
                                     ResumeMode resume) {
  CoordinatorOptions options;
  options.federation = config.federation;
  options.transport = config.transport;
  options.limits = config.limits;
  options.aggregation = AggregationOptionsFrom(config.aggregation);
  options.server_optimizer = ServerOptimizerOptionsFrom(config.aggregation);
  options.min_exit = config.heterogeneity.min_exit;
  options.main_head_only = config.loss.exits == config::TrainedExits::kMain;
  options.temperature = MakeTemperatureSchedule(config.schedule, config.loss);
  options.alpha = MakeRamp(config.schedule.alpha, config.loss.alpha, config.schedule.alpha_start,
                           config.schedule.alpha_end);
  options.beta = MakeRamp(config.schedule.beta, config.loss.beta, config.schedule.beta_start,
                          config.schedule.beta_end);
  options.lr = MakeLearningRateSchedule(config.schedule);
  FSD_CHECK(config.data.num_classes >= 2)
      << "data.num_classes is " << config.data.num_classes
      << ": adopt the loaded data's class count first (data::AdoptFromData)";
  options.num_classes = static_cast<std::size_t>(config.data.num_classes);
  options.local_epochs = config.training.epochs;
  options.schema_fingerprint = schema.fingerprint();
  options.layout = model::LayoutOf(schema);
  options.downlink = config::EncodeOptionsFor(config.compression.downlink, config.compression);
  const auto& pruning = config.pruning;
  if (pruning.final_sparsity > 0.0) {
    options.sparsity =
        aggregation::SparsitySchedule(pruning.initial_sparsity, pruning.final_sparsity,
                                      pruning.start_round, pruning.end_round, pruning.every);
  }
  options.mask_scope = pruning.scope == config::PruneScope::kLayer
                           ? aggregation::MaskScope::kPerLayer
                           : aggregation::MaskScope::kGlobal;
  options.min_keep = pruning.min_keep;
  options.privacy = PrivacyOptionsFrom(config);
  options.secure_aggregation = config.secure_aggregation;
  if (options.secure_aggregation.enabled && options.privacy.distributed) {
    // The clients' noise must fit the ring's fixed point: a clamp would
    // bias the noised sum (privacy/dp/dp_release.h, SecureRangeFor).
    // The private summary records ride scaled to the deltas' clip norm
    // (privacy::SecureSummaryScale): their noise std becomes z₂·S/√t.
    const auto& dp = options.privacy;
    const double multiplier =
        std::max(dp.noise_multiplier, dp.summaries ? dp.summary_noise_multiplier : 0.0);
    const double needed = privacy::SecureRangeFor(
        dp.clip_norm, multiplier * dp.clip_norm / std::sqrt(dp.min_survivors));
    double& range = options.secure_aggregation.range;
    if (range < needed) {
      FSD_LOG(INFO) << "secure_aggregation.range raised from " << range << " to " << needed
                    << " (clip_norm + 6.11 x each client's noise std): a clamp then has "
                       "probability below 1e-9 per coordinate";
      range = needed;
    }
  }
  for (const auto& entry : schema.entries()) {
    if (entry.is_buffer && entry.name.ends_with("running_var")) {
      options.privacy.variances.push_back({static_cast<std::uint64_t>(entry.offset),
                                           static_cast<std::uint64_t>(entry.numel), false});
    }
  }
  options.out_dir = std::move(out_dir);
  options.resume = resume;
  return options;
}

}  // namespace fsd::coordinator
