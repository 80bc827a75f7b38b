#include "client/client_session.h"

#include <algorithm>
#include <cmath>

#include "common/config/codec_options.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/random/streams.h"
#include "privacy/dp/dp_release.h"
#include "privacy/dp/noise_plan.h"

namespace fsd::client {
namespace {

constexpr std::uint32_t kMaxLocalEpochs = 1000;

bool IsQuantized(const codec::EncodeOptions& options) {
  return options.dtype != codec::Dtype::kFp32;
}

// The factor a private summary record is scaled by in a secure round (0: no record).
double PrivateSummaryScale(const LocalDp& dp, std::size_t num_classes) {
  if (dp.summary_clip_norm <= 0.0) return 0.0;
  return privacy::SecureSummaryScale(dp.clip_norm, dp.summary_clip_norm, num_classes);
}

}  // namespace

ClientSessionOptions SessionOptionsFromConfig(const config::RunConfig& config, std::string name,
                                              std::int64_t num_samples,
                                              const model::FlatSchema& schema) {
  ClientSessionOptions options;
  options.name = std::move(name);
  options.num_samples = num_samples;
  options.max_exit = static_cast<std::uint32_t>(config.heterogeneity.max_exit);
  options.schema_fingerprint = schema.fingerprint();
  options.layout = model::LayoutOf(schema);
  FSD_CHECK(config.data.num_classes >= 2)
      << "data.num_classes is " << config.data.num_classes
      << ": adopt the loaded data's class count first (data::AdoptFromData)";
  options.num_classes = static_cast<std::size_t>(config.data.num_classes);
  options.uplink = config::EncodeOptionsFor(config.compression.uplink, config.compression);
  options.error_feedback = config.compression.error_feedback;
  options.require_secure = config.secure_aggregation.enabled;
  const auto& dp = config.privacy;
  if (dp.dp != config::DpMode::kOff) {
    // The same multipliers the coordinator accounts for (privacy/dp/noise_plan.h).
    const bool weights = config.federation.mode == config::FederationMode::kWeights;
    const bool summaries = config::ReleasesSummaries(config);
    const privacy::NoisePlan plan =
        privacy::PlanNoise({weights, weights ? dp.noise_multiplier : 0.0, summaries,
                            summaries ? dp.summary_noise_multiplier : 0.0, dp.target_epsilon,
                            config.federation.fraction, config.federation.rounds, dp.delta});
    options.ledger = LedgerOptions{config.federation.fraction, privacy::StepNoiseMultiplier(plan),
                                   dp.target_epsilon, dp.delta};
    if (dp.dp == config::DpMode::kDistributed) {
      const double share = 1.0 / std::sqrt(static_cast<double>(dp.min_survivors));
      LocalDp local{dp.clip_norm, plan.noise_multiplier * dp.clip_norm * share, std::nullopt,
                    static_cast<std::uint32_t>(dp.min_survivors)};
      if (summaries) {
        local.summary_clip_norm = dp.summary_clip_norm;
        local.summary_noise_std =
            plan.summary_multiplier *
            privacy::SummarySensitivity(dp.summary_clip_norm,
                                        static_cast<std::size_t>(config.data.num_classes)) *
            share;
      }
      options.local_dp = local;
    }
  }
  const auto& sa = config.secure_aggregation;
  options.secure_requirements.min_threshold =
      sa.min_threshold > 0.0 ? sa.min_threshold : sa.threshold;
  if (options.local_dp) {
    options.secure_requirements.min_range = privacy::SecureRangeFor(
        options.local_dp->clip_norm,
        std::max(options.local_dp->noise_std,
                 PrivateSummaryScale(*options.local_dp, options.num_classes) *
                     options.local_dp->summary_noise_std));
    options.secure_requirements.summary_allowed = false;
    options.secure_requirements.min_survivors = options.local_dp->min_survivors;
  }
  // Decoder limits: transport.max_message_mb, and sections as large as the model.
  options.limits.max_message_bytes = static_cast<std::uint64_t>(config.transport.max_message_mb)
                                     << 20;
  options.limits.max_values =
      std::max(options.limits.max_values, static_cast<std::uint64_t>(schema.total_numel()));
  return options;
}

ClientSession::ClientSession(ClientSessionOptions options) : options_(std::move(options)) {
  for (const auto& range : options_.layout)
    num_values_ = std::max(num_values_, range.offset + range.size);
  if (options_.ledger) ledger_.emplace(*options_.ledger);
}

std::size_t ClientSession::PrivateRecordLength() const {
  const std::size_t classes = options_.num_classes;
  const bool record = options_.local_dp && options_.local_dp->summary_clip_norm > 0.0;
  return record ? classes * classes + classes : 0;
}

std::vector<std::uint8_t> ClientSession::JoinFrame() const {
  // Under distributed DP the sample count stays with the client (weights are uniform).
  const std::int64_t declared = options_.local_dp ? 1 : options_.num_samples;
  return wire::EncodeFrame(
      {0, wire::Join{wire::kMinSupportedVersion, wire::kMaxSupportedVersion,
                     options_.schema_fingerprint, declared, options_.name, options_.max_exit}});
}

std::vector<std::uint8_t> ClientSession::HeartbeatFrame() const {
  return wire::EncodeFrame({0, wire::Heartbeat{}});
}

std::vector<std::uint8_t> ClientSession::ByeFrame(const std::string& reason) const {
  return wire::EncodeFrame({0, wire::Bye{reason}});
}

std::optional<std::vector<std::uint8_t>> ClientSession::UpdateFrame(const LocalRound& round,
                                                                    TrainedRound trained) {
  const auto finite = [](const std::vector<float>& values) {
    return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
  };
  if (!finite(trained.values) || !finite(trained.summary.mean_logits) ||
      !std::isfinite(trained.train_loss)) {
    FSD_LOG(ERROR) << options_.name << ": training in round " << round.round
                   << " diverged (NaN/Inf); no update sent";
    return std::nullopt;
  }
  wire::Update update;
  update.mask_round = round.mask_round;
  std::optional<privacy::PrivateSummary> private_summary;
  if (options_.local_dp) {
    // Nothing exact leaves the client: the counts, loss and summary stay here.
    update.withheld = wire::kWithheldSampleCount | wire::kWithheldTrainLoss;
  } else {
    update.sample_count = trained.sample_count;
    update.train_loss = trained.train_loss;
    update.summary_counts = std::move(trained.summary.counts);
    update.summary_logits = std::move(trained.summary.mean_logits);
  }
  if (trained.values.empty()) {  // distillation only: no weights
    update.values = codec::Encoded{};
    return wire::EncodeFrame({round.round, std::move(update)});
  }
  const aggregation::Mask& mask = round.values_mask;
  std::vector<float> kept = aggregation::Gather(trained.values, mask);
  if (options_.local_dp) {
    auto privatized = Privatize(round.round, kept, trained.summary);
    if (!privatized) return std::nullopt;
    private_summary = std::move(*privatized);
  }
  if (round.secure && !(secure_ && secure_->round() == round.round)) {
    FSD_LOG(WARNING) << options_.name << ": round " << round.round
                     << " is secure and this client is out of its protocol; nothing sent";
    return std::nullopt;
  }
  if (round.secure && secure_->has_input()) {
    FSD_LOG(DEBUG) << options_.name << ": round " << round.round
                   << " trained again; the secure round already has its input";
    return std::nullopt;
  }
  if (round.secure) {
    if (kept.size() != secure_reference_.size()) {
      FSD_LOG(ERROR) << options_.name << ": round " << round.round << " trained " << kept.size()
                     << " kept values, the secure round has " << secure_reference_.size()
                     << "; no masked input sent";
      secure_.reset();
      return std::nullopt;
    }
    for (std::size_t i = 0; i < kept.size(); ++i) kept[i] -= secure_reference_[i];
    if (private_summary) {
      // The private record rides with the deltas, scaled to their clip norm
      // (privacy::SecureSummaryScale), so one fixed-point range fits both.
      const double scale = PrivateSummaryScale(*options_.local_dp, options_.num_classes);
      for (const float v : private_summary->rows) kept.push_back(static_cast<float>(v * scale));
      for (const float v : private_summary->presence) kept.push_back(static_cast<float>(v * scale));
    }
    try {
      auto masked =
          secure_->SetInput(kept, update.summary_counts, update.summary_logits, update.sample_count,
                            update.train_loss, update.withheld, update.mask_round);
      if (!masked) return std::nullopt;  // sent when the shares arrive
      return MaskedFrame(std::move(*masked));
    } catch (const std::exception& e) {
      FSD_LOG(WARNING) << options_.name << ": secure round " << round.round
                       << " failed: " << e.what();
      secure_.reset();
      return std::nullopt;
    }
  }
  const bool feedback = options_.error_feedback && IsQuantized(options_.uplink);
  if (feedback && residual_.size() == trained.values.size()) {
    const std::vector<float> carried = aggregation::Gather(residual_, mask);
    for (std::size_t i = 0; i < kept.size(); ++i) kept[i] += carried[i];
  }
  if (private_summary) {
    update.private_summary_rows = std::move(private_summary->rows);
    update.private_summary_presence = std::move(private_summary->presence);
  }
  const auto segments = aggregation::KeptPerTensor(options_.layout, mask);
  codec::EncodeOptions uplink = options_.uplink;
  uplink.seed =
      random::DeriveSeed(options_.uplink.seed, {.name = "uplink-rounding",
                                                .round = round.round,
                                                .client = random::ClientNumber(options_.name)});
  update.values = codec::EncodeValues(kept, segments, uplink);
  if (feedback) {
    // What the coordinator will decode; the difference waits for the next upload.
    const auto sent = codec::DecodeValues(update.values, segments);
    FSD_CHECK(sent.ok()) << "own upload does not decode: " << sent.reject().text;
    std::vector<float> error(kept.size());
    for (std::size_t i = 0; i < kept.size(); ++i) error[i] = kept[i] - sent.value()[i];
    residual_.assign(trained.values.size(), 0.0f);
    aggregation::Scatter(error, mask, residual_);
  }
  return wire::EncodeFrame({round.round, std::move(update)});
}

std::optional<std::optional<privacy::PrivateSummary>> ClientSession::Privatize(
    std::uint64_t round, std::vector<float>& kept, const aggregation::SoftTargetSummary& summary) {
  const LocalDp& dp = *options_.local_dp;
  const auto reference = dp_references_.find(round);
  if (reference == dp_references_.end() || reference->second.size() != kept.size()) {
    FSD_LOG(ERROR) << options_.name << ": no global values of round " << round
                   << " to privatize against; no update sent";
    return std::nullopt;
  }
  const std::size_t classes = options_.num_classes;
  const bool summary_released = dp.summary_clip_norm > 0.0;
  if (summary_released &&
      (summary.counts.size() != classes || summary.mean_logits.size() != classes * classes)) {
    FSD_LOG(ERROR) << options_.name << ": round " << round << " produced a summary of "
                   << summary.counts.size() << " classes, the model has " << classes
                   << "; no update sent";
    return std::nullopt;
  }
  privacy::GaussianNoise noise =
      dp.seed ? privacy::GaussianNoise::Seeded(
                    random::DeriveSeed(*dp.seed, {.name = "client-dp-noise",
                                                  .round = round,
                                                  .client = random::ClientNumber(options_.name)}))
              : privacy::GaussianNoise::Secure();
  const privacy::Clipped clipped =
      privacy::PrivatizeUpdate(kept, reference->second, dp.clip_norm, dp.noise_std, noise);
  dp_references_.erase(dp_references_.begin(), std::next(reference));
  FSD_LOG(DEBUG) << options_.name << ": round " << round << " delta norm " << clipped.norm
                 << (clipped.clipped(dp.clip_norm) ? " clipped to " : " within ") << dp.clip_norm
                 << ", noise std " << dp.noise_std << " per value";
  if (!summary_released) return std::optional<privacy::PrivateSummary>{};
  return std::optional<privacy::PrivateSummary>{privacy::PrivatizeSummary(
      summary.mean_logits, summary.counts, dp.summary_clip_norm, dp.summary_noise_std, noise)};
}

std::variant<LocalRound, std::string> ClientSession::Decode(std::uint64_t round,
                                                            wire::RoundStart start) {
  if (start.secure.id != 0 && revealed_round_ != 0 && round <= revealed_round_) {
    // A second attempt would mask a retrained (or identical) update again:
    // two unmasked sums over survivor sets that differ by one client give
    // that client's update exactly (docs/SECURE_AGGREGATION.md).
    return "secure round " + std::to_string(round) +
           ": this client already revealed unmask "
           "shares for round " +
           std::to_string(revealed_round_) +
           " and takes part in no other attempt of it or of an earlier round";
  }
  if (ledger_) {
    auto admitted = ledger_->Admit(round, start.dp);
    if (auto* problem = std::get_if<std::string>(&admitted)) return *problem;
    const auto& spent = std::get<PrivacyLedger::Admitted>(admitted);
    FSD_LOG(DEBUG) << options_.name << ": round " << round << ": epsilon " << spent.epsilon
                   << " after " << spent.steps << " privacy steps (this client's own ledger)";
  }
  if (!(start.temperature > 0.0 && start.temperature <= 100.0))
    return "temperature " + std::to_string(start.temperature) + " outside (0, 100]";
  if (!(start.alpha >= 0.0 && start.alpha <= 1.0))
    return "alpha " + std::to_string(start.alpha) + " outside [0, 1]";
  if (!(start.beta >= 0.0 && start.beta <= 100.0))
    return "beta " + std::to_string(start.beta) + " outside [0, 100]";
  if (!(start.lr_factor > 0.0 && start.lr_factor <= 100.0))
    return "lr_factor " + std::to_string(start.lr_factor) + " outside (0, 100]";
  if (start.local_epochs < 1 || start.local_epochs > kMaxLocalEpochs)
    return "local_epochs " + std::to_string(start.local_epochs) + " outside 1.." +
           std::to_string(kMaxLocalEpochs);
  const std::size_t classes = options_.num_classes;
  if (!start.soft_targets.empty()) {
    if (start.soft_targets.size() != classes * classes) {
      return std::to_string(start.soft_targets.size()) + " soft targets, this model needs " +
             std::to_string(classes) + "x" + std::to_string(classes);
    }
    for (const float p : start.soft_targets) {
      if (!(p >= 0.0f && p <= 1.0f)) return "a soft target is not a probability";
    }
  }
  if (start.mask.count > 0) {
    auto bits = codec::DecodeBitmask(start.mask, num_values_);
    if (!bits.ok()) return "mask: " + bits.reject().text;
    mask_ = std::make_shared<const aggregation::Mask>(std::move(bits.value()));
    mask_round_ = start.mask_round;
  } else if (start.mask_round == 0) {
    mask_.reset();
    mask_round_ = 0;
  }
  const int exits = model::NumExits(options_.layout);
  if (start.subnet_exit > static_cast<std::uint32_t>(exits) || start.subnet_heads > 1) {
    return "sub-network of exit " + std::to_string(start.subnet_exit) + " with heads " +
           std::to_string(start.subnet_heads) + ": this model has exits 1.." +
           std::to_string(exits) + ", heads 0 (all) or 1 (that exit's)";
  }
  const model::Subnetwork subnet = model::Resolve(
      {static_cast<int>(start.subnet_exit), start.subnet_heads == 1}, options_.layout);
  if (options_.max_exit != 0 && subnet.exit > static_cast<int>(options_.max_exit)) {
    return "the round trains up to exit " + std::to_string(subnet.exit) +
           ", this client affords exit " + std::to_string(options_.max_exit) + " (max_exit)";
  }
  if (start.secure.id != 0 && start.global_values.count == 0)
    return "a secure round without global values";
  if (start.secure.id == 0 && options_.require_secure) {
    return "not a secure round, and this client takes part in secure rounds only "
           "(secure_aggregation.enabled)";
  }
  LocalRound local;
  local.round = round;
  local.temperature = start.temperature;
  local.alpha = start.alpha;
  local.beta = start.beta;
  local.local_epochs = start.local_epochs;
  local.lr_factor = start.lr_factor;
  local.soft_targets = std::move(start.soft_targets);
  local.mask_round = mask_round_;
  local.mask = mask_;
  local.subnet = subnet;
  local.values_mask = aggregation::SubnetworkMask(mask_ ? *mask_ : aggregation::Mask{},
                                                  options_.layout, subnet, num_values_);
  local.secure = start.secure.id != 0;
  if (start.global_values.count > 0) {
    const aggregation::Mask& mask = local.values_mask;
    auto kept =
        codec::DecodeValues(start.global_values, aggregation::KeptPerTensor(options_.layout, mask));
    if (!kept.ok()) return "global values: " + kept.reject().text;
    if (kept.value().size() != aggregation::KeptCount(mask, num_values_)) {
      return std::to_string(kept.value().size()) + " model values, this sub-network keeps " +
             std::to_string(aggregation::KeptCount(mask, num_values_));
    }
    local.global_values.assign(num_values_, 0.0f);
    aggregation::Scatter(kept.value(), mask, local.global_values);
    secure_.reset();
    if (start.secure.id != 0) {
      auto secure = SecureClientRound::Start(
          round, start.secure, kept.value().size() + PrivateRecordLength(), options_.num_classes,
          options_.limits.max_records, options_.secure_requirements);
      if (auto* problem = std::get_if<std::string>(&secure)) return *problem;
      secure_.emplace(std::move(std::get<SecureClientRound>(secure)));
      ++secure_rounds_started_;
      secure_reference_ = kept.value();
    }
    if (options_.local_dp) {
      // The reference the upload's delta is taken from, kept here because the
      // trainer may drop the round's values (fsd-sim does); the last few
      // rounds only, in case one never uploads.
      dp_references_[round] = std::move(kept.value());
      while (dp_references_.size() > 2) dp_references_.erase(dp_references_.begin());
    }
  }
  return local;
}

ClientSession::Step ClientSession::OnFrame(std::span<const std::uint8_t> frame) {
  Step step;
  auto decoded = wire::DecodeFrame(frame, options_.limits);
  const std::string& name = options_.name;
  if (!decoded.ok()) {
    FSD_LOG(WARNING) << name << ": dropped a frame from the coordinator: "
                     << wire::RejectCodeName(decoded.reject().code) << " " << decoded.reject().text;
    return step;
  }
  wire::Message& message = decoded.value();
  switch (wire::KindOf(message.body)) {
    case wire::MessageKind::kWelcome: {
      const auto& welcome = std::get<wire::Welcome>(message.body);
      welcomed_ = welcome.schema_fingerprint == options_.schema_fingerprint;
      if (!welcomed_) {
        step.refused = "the coordinator runs a different model (schema fingerprint " +
                       wire::FingerprintHex(welcome.schema_fingerprint) + ", this client's " +
                       wire::FingerprintHex(options_.schema_fingerprint) + ")";
      }
      break;
    }
    case wire::MessageKind::kRoundStart: {
      if (!welcomed_) break;
      auto& start = std::get<wire::RoundStart>(message.body);
      if (start.mask.count == 0 && start.mask_round != 0 && start.mask_round != mask_round_) {
        // A mask this client never received (e.g. it lost a message): resync.
        FSD_LOG(WARNING) << name << ": ROUND_START " << message.round << " uses the mask of round "
                         << start.mask_round << ", this client has " << mask_round_
                         << "; rejoining";
        welcomed_ = false;
        step.rejoin = true;
        break;
      }
      auto local = Decode(message.round, std::move(start));
      if (auto* problem = std::get_if<std::string>(&local)) {
        FSD_LOG(WARNING) << name << ": dropped ROUND_START " << message.round << ": " << *problem;
        if (ledger_ && ledger_->exhausted()) {
          // Its own budget is spent: it takes part in nothing more.
          step.replies.push_back(ByeFrame("privacy budget spent"));
          step.finished = true;
          step.reason = problem->substr(0, 200);
        }
        break;
      }
      step.train = std::move(std::get<LocalRound>(local));
      if (secure_ && secure_->round() == message.round) {
        step.replies.push_back(wire::EncodeFrame({message.round, secure_->Keys()}));
      }
      break;
    }
    case wire::MessageKind::kSecAggRoster:
    case wire::MessageKind::kSecAggDelivered:
    case wire::MessageKind::kSecAggUnmask:
      if (auto reply = OnSecure(message.round, message.body))
        step.replies.push_back(std::move(*reply));
      break;
    case wire::MessageKind::kReject: {
      const auto& reject = std::get<wire::Reject>(message.body);
      ++rejects_received_;
      FSD_LOG(WARNING) << name << ": REJECT " << wire::RejectCodeName(reject.code) << ": "
                       << reject.text.substr(0, 200);
      if (reject.code == wire::RejectCode::kNotAuthorized ||
          reject.code == wire::RejectCode::kUnexpectedKind) {
        welcomed_ = false;
        step.rejoin = true;
      }
      // Refusals of the JOIN itself: the same JOIN would be refused again.
      if (!welcomed_ && (reject.code == wire::RejectCode::kSchemaMismatch ||
                         reject.code == wire::RejectCode::kUnsupportedVersion)) {
        step.refused =
            std::string(wire::RejectCodeName(reject.code)) + ": " + reject.text.substr(0, 200);
      }
      break;
    }
    case wire::MessageKind::kBye:
      step.finished = true;
      step.reason = std::get<wire::Bye>(message.body).reason.substr(0, 200);
      break;
    default:
      break;  // HEARTBEAT and anything a client does not act on
  }
  return step;
}

std::optional<privacy::SecAggStage> ClientSession::secure_stage() const {
  if (!secure_) return std::nullopt;
  return secure_->stage();
}

std::optional<std::uint64_t> ClientSession::secure_round() const {
  if (!secure_) return std::nullopt;
  return secure_->round();
}

std::vector<std::uint8_t> ClientSession::MaskedFrame(wire::SecAggMasked masked) const {
  return wire::EncodeFrame({secure_->round(), std::move(masked)});
}

std::optional<std::vector<std::uint8_t>> ClientSession::OnSecure(std::uint64_t round,
                                                                 wire::Body& body) {
  const std::string kind = wire::MessageKindName(wire::KindOf(body));
  if (!secure_ || secure_->round() != round) {
    FSD_LOG(WARNING) << options_.name << ": dropped " << kind << " for round " << round
                     << ": no secure round in progress";
    return std::nullopt;
  }
  try {
    if (auto* roster = std::get_if<wire::SecAggRoster>(&body)) {
      return wire::EncodeFrame({round, secure_->OnRoster(*roster)});
    }
    if (auto* delivered = std::get_if<wire::SecAggDelivered>(&body)) {
      auto masked = secure_->OnDelivered(*delivered);
      if (!masked) return std::nullopt;  // sent when training is done
      return MaskedFrame(std::move(*masked));
    }
    if (auto* unmask = std::get_if<wire::SecAggUnmask>(&body)) {
      auto reveal = secure_->OnUnmask(*unmask);
      revealed_round_ = std::max(revealed_round_, round);
      return wire::EncodeFrame({round, std::move(reveal)});
    }
  } catch (const std::exception& e) {
    // DataError (the coordinator broke the protocol) or AuthError (a
    // tampered share): this client is out of the round.
    FSD_LOG(WARNING) << options_.name << ": secure round " << round << " abandoned at " << kind
                     << ": " << e.what();
    secure_.reset();
  }
  return std::nullopt;
}

}  // namespace fsd::client
