// Central client-level differential privacy (privacy.dp = "central"): what
// the coordinator releases each round when it is trusted with the clients'
// exact updates but everything it publishes — the global model, the global
// soft targets — must be (ε, δ)-DP with respect to adding or removing one
// client (all of its rounds' contributions; DP-FedAvg, McMahan et al. 2018).
//
// Per round (RoundStateMachine): the cohort is a Poisson sample (every joined
// client independently with probability q = federation.fraction); each
// sampled client's delta from the round's global kept values is clipped to
// L2 norm S (clip_norm), the clipped deltas are summed, N(0, (z·S)²) is
// added per kept coordinate, and the sum is divided by the fixed expected
// cohort q·N (N = federation.clients), so neither the noise nor the
// denominator depends on who was sampled. Pruned coordinates carry no
// values, so they get no noise: the mask is public (it is chosen from the
// released global model).
// Soft-target summaries: a client's whole summary is one record — its
// per-class mean-logit rows clipped jointly to S₂ (summary_clip_norm) and
// its per-class presence (0/1) in place of counts; noise of std
// z₂·sqrt(S₂² + C) goes on every row sum and presence count, and each class's
// noisy row sum is divided by its noisy presence count when that count is at
// least max(1, the noise std); a class below it keeps its previous row.
// Each released round is one step of the sampled Gaussian mechanism with
// multiplier z (weights only), z₂ (distillation mode), or
// (z⁻² + z₂⁻²)^(−1/2) (both, one cohort), charged to an RdpAccountant.
//
// The metrics line (clients reported, their mean loss, clipped fractions) is
// the coordinator's own log, not part of the release.
// Thread-safety: pure functions over values. Errors: InternalError on
// inconsistent sizes (inputs are validated before they get here).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "aggregation/soft_targets.h"
#include "common/model/layout.h"
#include "privacy/dp/dp_release.h"

namespace fsd::coordinator {

struct PrivacyOptions {
  bool enabled = false;
  double sampling_rate = 1.0;             // q
  double expected_cohort = 1.0;           // q·N, the fixed denominator of the mean
  double clip_norm = 1.0;                 // S
  bool weights = true;                    // model deltas are released (not distillation mode)
  double noise_multiplier = 0.0;          // z (weights)
  bool summaries = false;                 // soft-target summaries are released
  double summary_clip_norm = 10.0;        // S₂
  double summary_noise_multiplier = 0.0;  // z₂
  // Distributed DP: the clients clip and add noise themselves (each
  // N(0, (z·S)²/min_survivors)); the coordinator sums and divides, and
  // releases no round with fewer than min_survivors reports.
  bool distributed = false;
  int min_survivors = 0;
  double target_epsilon = 0.0;  // 0: no budget
  double delta = 1e-5;
  // Where the model's BatchNorm running variances sit in the flat vector
  // (FloorVariances).
  std::vector<model::TensorRange> variances;
  // Simulation: client sampling and noise drawn from this seed (reproducible
  // runs). nullopt (deployments): sampling seeded from OpenSSL's CSPRNG and
  // noise drawn from it.
  std::optional<std::uint64_t> seed;

  // The multiplier one released round is charged with.
  double StepNoiseMultiplier() const;
};

struct WeightRelease {
  std::vector<float> kept;      // the new global kept values
  int clipped = 0;              // clients whose delta norm exceeded S
  double max_norm = 0.0;        // largest delta norm before clipping
  double median_norm = 0.0;     // the cohort's median delta norm (0 when empty)
  double max_added_norm = 0.0;  // largest contribution actually summed (≤ S)
};

// Central: reference + (Σ clip(input − reference, S) + N(0, (z·S)²)) / (q·N).
// Distributed: reference + Σ (input − reference) / (q·N) — each input already
// carries its clipped delta and its share of the noise (clipped, and
// max_added_norm, then describe what arrived: 0 and the largest norm).
// REQUIRES: options.enabled && options.weights; every input has reference's size.
WeightRelease ReleaseWeights(const PrivacyOptions& options, std::span<const float> reference,
                             std::span<const std::span<const float>> inputs,
                             privacy::GaussianNoise& noise);

// Post-processing of a released model (free under DP): noise can push a
// BatchNorm running variance below zero, which turns the model's outputs into
// NaN, so every released variance below kMinReleasedVariance is raised to it.
// Returns how many were raised.
inline constexpr float kMinReleasedVariance = 0.01f;
int FloorVariances(std::span<float> global, std::span<const model::TensorRange> variances);

struct SummaryRelease {
  aggregation::SoftTargetSummary summary;
  int clipped = 0;           // clients whose rows' joint norm exceeded S₂
  int classes_released = 0;  // classes whose noisy presence reached the floor
};

// Central: the noisy per-class means described above from the clients' exact
// summaries; classes below the floor keep `previous` (when it has
// num_classes classes) or stay empty (count 0).
// REQUIRES: options.enabled && options.summaries && !options.distributed;
// summaries of num_classes classes.
SummaryRelease ReleaseSummaries(const PrivacyOptions& options,
                                std::span<const aggregation::SoftTargetSummary* const> summaries,
                                std::size_t num_classes,
                                const aggregation::SoftTargetSummary& previous,
                                privacy::GaussianNoise& noise);

// The same release from sums that already carry the noise: the row sums
// (C×C) and presence sums (C) of the clients' records — under distributed DP
// each client's record is privacy::PrivatizeSummary's, so the sums carry
// noise of std z₂·sqrt(S₂² + C) once min_survivors of them are in. `clipped`
// stays 0 (the clients clipped). REQUIRES: options.enabled && options.summaries,
// row_sum.size() == presence.size()².
SummaryRelease ReleaseSummarySums(const PrivacyOptions& options, std::span<const double> row_sum,
                                  std::span<const double> presence,
                                  const aggregation::SoftTargetSummary& previous);

}  // namespace fsd::coordinator
