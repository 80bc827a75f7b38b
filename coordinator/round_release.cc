#include "coordinator/round_release.h"

#include <cmath>

#include "aggregation/weighting.h"
#include "common/errors.h"
#include "common/random/streams.h"
#include "coordinator/private_release.h"

namespace fsd::coordinator {
namespace {

// No differential privacy: the configured rules.
class PlainRelease final : public RoundRelease {
 public:
  explicit PlainRelease(const CoordinatorOptions& options) : options_(options) {}

  Released FromUpdates(const RoundUpdates& updates, FederationState& state) override {
    Released out;
    // Every tensor over the clients that trained it; pruned coordinates stay exactly zero.
    if (!state.global.empty()) {
      out.report = aggregation::AggregateBySubnetwork(options_.aggregation, options_.layout,
                                                      updates.partial, state.global);
    }
    const std::vector<std::vector<double>> class_weights = aggregation::ClassWeights(
        updates.class_counts, updates.summary_weights, updates.summary_samples,
        options_.aggregation.cap_per_class, options_.aggregation.max_weight_ratio);
    state.soft_state =
        aggregation::AggregateSummaries(options_.aggregation, updates.summaries, class_weights,
                                        options_.num_classes, state.soft_state);
    return out;
  }

  Released FromSecureSum(const privacy::SecureSum& sum, std::size_t /*survivors*/,
                         const aggregation::Mask& shared_mask, FederationState& state) override {
    const std::vector<float> reference = aggregation::Gather(state.global, shared_mask);
    const auto weight = static_cast<double>(sum.weight);
    std::vector<float> kept(reference.size());
    for (std::size_t i = 0; i < kept.size(); ++i) {
      kept[i] = static_cast<float>(reference[i] + sum.weighted_deltas[i] / weight);
    }
    aggregation::ScatterKept(kept, shared_mask, state.global);
    // Summaries: class rows weighted by Σ q_c.
    const std::size_t classes = options_.num_classes;
    aggregation::SoftTargetSummary next = aggregation::ZeroSummary(classes);
    for (std::size_t c = 0; c < classes; ++c) {
      if (sum.class_weights[c] == 0) {
        aggregation::KeepPreviousRow(state.soft_state, c, next);
        continue;
      }
      next.counts[c] = sum.counts[c];
      for (std::size_t j = 0; j < classes; ++j) {
        next.mean_logits[c * classes + j] = static_cast<float>(sum.mean_logits[c * classes + j]);
      }
    }
    state.soft_state = std::move(next);
    return {};
  }

  nlohmann::json Record(const FederationState&) const override { return nlohmann::json::object(); }

 private:
  const CoordinatorOptions& options_;
};

// The DP fields of a round's metrics line: parameters, epsilon spent so
// far, privacy_steps and sampling_draws (equal: each draw is charged when drawn).
nlohmann::json PrivacyRecord(const CoordinatorOptions& options, const FederationState& state) {
  const PrivacyOptions& dp = options.privacy;
  nlohmann::json record = {{"dp", dp.distributed ? "distributed" : "central"},
                           {"clip_norm", dp.clip_norm},
                           {"noise_multiplier", dp.noise_multiplier},
                           {"step_noise_multiplier", dp.StepNoiseMultiplier()},
                           {"sampling_rate", dp.sampling_rate},
                           {"expected_cohort", dp.expected_cohort}};
  if (dp.distributed) {
    record["min_survivors"] = dp.min_survivors;
    const double share = 1.0 / std::sqrt(static_cast<double>(dp.min_survivors));
    record["client_noise_std"] = dp.noise_multiplier * dp.clip_norm * share;
    if (dp.summaries) {
      record["client_summary_noise_std"] =
          dp.summary_noise_multiplier *
          privacy::SummarySensitivity(dp.summary_clip_norm, options.num_classes) * share;
    }
  }
  const privacy::PrivacySpent spent = state.ledger->Spent();
  record["epsilon"] = spent.epsilon;
  record["epsilon_order"] = spent.order;
  record["delta"] = dp.delta;
  record["privacy_steps"] = state.ledger->draws();
  record["sampling_draws"] = state.ledger->draws();
  return record;
}

// Central and distributed DP over a plain round's updates share the
// release of the weights (ReleaseWeights knows which it is) and the noise
// source: the run's seed in simulations (a resumed run reproduces it),
// the CSPRNG in deployments.
class DpRelease : public RoundRelease {
 public:
  explicit DpRelease(const CoordinatorOptions& options) : options_(options) {}

  // The weights (when the run releases them), then the summaries (when
  // it releases them; otherwise they are not aggregated at all, and
  // soft_state stays empty), then the budget spent.
  Released FromUpdates(const RoundUpdates& updates, FederationState& state) final {
    privacy::GaussianNoise noise = NoiseOf(updates.round);
    Released out;
    out.fields = {{"summary_clip_norm", options_.privacy.summary_clip_norm},
                  {"summary_noise_multiplier", options_.privacy.summary_noise_multiplier}};
    out.fields.update(ReleaseRoundWeights(updates, state, noise));
    if (options_.privacy.summaries) {
      out.fields.update(ReleaseRoundSummaries(updates, state, noise));
    }
    out.fields.update(Record(state));
    return out;
  }

  nlohmann::json Record(const FederationState& state) const override {
    return PrivacyRecord(options_, state);
  }

 protected:
  privacy::GaussianNoise NoiseOf(std::uint64_t round) const {
    const PrivacyOptions& dp = options_.privacy;
    return dp.seed ? privacy::GaussianNoise::Seeded(
                         random::DeriveSeed(*dp.seed, {.name = "central-dp-noise", .round = round}))
                   : privacy::GaussianNoise::Secure();
  }

  // Releases the weights when the run releases them; the fields it adds.
  nlohmann::json ReleaseRoundWeights(const RoundUpdates& updates, FederationState& state,
                                     privacy::GaussianNoise& noise) const {
    const PrivacyOptions& dp = options_.privacy;
    nlohmann::json record = nlohmann::json::object();
    if (!dp.weights) return record;
    const std::vector<float> reference = aggregation::Gather(state.global, *updates.shared_mask);
    std::vector<std::span<const float>> values;
    for (const auto& input : updates.inputs) values.push_back(input.values);
    const WeightRelease release = ReleaseWeights(dp, reference, values, noise);
    aggregation::ScatterKept(release.kept, *updates.shared_mask, state.global);
    record["variances_floored"] = FloorVariances(state.global, dp.variances);
    record["delta_norm_max"] = release.max_norm;
    record["delta_norm_median"] = release.median_norm;
    if (!dp.distributed) {  // (distributed: the clients clipped and added the noise)
      const double reported = static_cast<double>(updates.inputs.size());
      record["clipped_fraction"] = reported > 0 ? release.clipped / reported : 0.0;
      record["contribution_norm_max"] = release.max_added_norm;
    }
    return record;
  }

  // The summaries' release from a plain round's updates; the fields it adds.
  virtual nlohmann::json ReleaseRoundSummaries(const RoundUpdates& updates, FederationState& state,
                                               privacy::GaussianNoise& noise) const = 0;

  const CoordinatorOptions& options_;
};

// The coordinator clips and noises (privacy.dp = "central").
class CentralDpRelease final : public DpRelease {
 public:
  using DpRelease::DpRelease;

  nlohmann::json ReleaseRoundSummaries(const RoundUpdates& updates, FederationState& state,
                                       privacy::GaussianNoise& noise) const override {
    SummaryRelease release = ReleaseSummaries(options_.privacy, updates.summaries,
                                              options_.num_classes, state.soft_state, noise);
    state.soft_state = std::move(release.summary);
    const double reported = static_cast<double>(updates.inputs.size());
    return {{"summary_clipped_fraction", reported > 0 ? release.clipped / reported : 0.0},
            {"summary_classes_released", release.classes_released}};
  }

  Released FromSecureSum(const privacy::SecureSum&, std::size_t, const aggregation::Mask&,
                         FederationState&) override {
    throw InternalError(
        "central DP over a secure sum: the config refuses privacy.dp = \"central\" with "
        "secure_aggregation.enabled");
  }
};

// The clients clip and noise; the coordinator sums (privacy.dp = "distributed").
class DistributedDpRelease final : public DpRelease {
 public:
  using DpRelease::DpRelease;

  // The clients clipped and noised their records; the sums carry the noise.
  nlohmann::json ReleaseRoundSummaries(const RoundUpdates& updates, FederationState& state,
                                       privacy::GaussianNoise&) const override {
    const std::size_t classes = options_.num_classes;
    std::vector<double> rows(classes * classes, 0.0), presence(classes, 0.0);
    for (const StagedUpdate* update : updates.private_records) {
      for (std::size_t i = 0; i < rows.size(); ++i) rows[i] += update->private_rows[i];
      for (std::size_t c = 0; c < classes; ++c) presence[c] += update->private_presence[c];
    }
    SummaryRelease release = ReleaseSummarySums(options_.privacy, rows, presence, state.soft_state);
    state.soft_state = std::move(release.summary);
    return {{"summary_classes_released", release.classes_released}};
  }

  Released FromSecureSum(const privacy::SecureSum& sum, std::size_t survivors,
                         const aggregation::Mask& shared_mask, FederationState& state) override {
    const PrivacyOptions& dp = options_.privacy;
    const std::vector<float> reference = aggregation::Gather(state.global, shared_mask);
    // Uniform weighting makes every weight the same, so Σ w·Δ / w is the
    // sum of the privatized deltas; released over the expected cohort, as
    // without secure aggregation.
    const double each = static_cast<double>(sum.weight) / static_cast<double>(survivors);
    std::vector<double> deltas(reference.size());
    for (std::size_t i = 0; i < deltas.size(); ++i) deltas[i] = sum.weighted_deltas[i] / each;
    privacy::GaussianNoise none = privacy::GaussianNoise::Seeded(0);
    const std::vector<float> kept =
        privacy::ReleaseMean(reference, deltas, 0.0, dp.expected_cohort, none);
    aggregation::ScatterKept(kept, shared_mask, state.global);
    Released out;
    out.fields["variances_floored"] = FloorVariances(state.global, dp.variances);
    if (PrivateRecordLength(dp, options_.num_classes) > 0) {
      // The private summary records' sum follows the deltas, scaled.
      const std::size_t classes = options_.num_classes;
      const double scale = privacy::SecureSummaryScale(dp.clip_norm, dp.summary_clip_norm, classes);
      std::vector<double> rows(classes * classes), presence(classes);
      const std::size_t base = reference.size();
      for (std::size_t i = 0; i < rows.size(); ++i)
        rows[i] = sum.weighted_deltas[base + i] / each / scale;
      for (std::size_t c = 0; c < classes; ++c)
        presence[c] = sum.weighted_deltas[base + rows.size() + c] / each / scale;
      SummaryRelease release = ReleaseSummarySums(dp, rows, presence, state.soft_state);
      state.soft_state = std::move(release.summary);
      out.fields["summary_classes_released"] = release.classes_released;
    }
    out.fields.update(Record(state));
    return out;
  }
};

}  // namespace

std::unique_ptr<RoundRelease> MakeRoundRelease(const CoordinatorOptions& options) {
  if (!options.privacy.enabled) return std::make_unique<PlainRelease>(options);
  if (options.privacy.distributed) return std::make_unique<DistributedDpRelease>(options);
  return std::make_unique<CentralDpRelease>(options);
}

std::size_t PrivateRecordLength(const PrivacyOptions& privacy, std::size_t num_classes) {
  const bool records = privacy.distributed && privacy.summaries;
  return records ? num_classes * num_classes + num_classes : 0;
}

}  // namespace fsd::coordinator
