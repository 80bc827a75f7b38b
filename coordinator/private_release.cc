#include "coordinator/private_release.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "aggregation/robust.h"
#include "common/errors.h"
#include "privacy/dp/noise_plan.h"
#include "privacy/dp/rdp_accountant.h"

namespace fsd::coordinator {

double PrivacyOptions::StepNoiseMultiplier() const {
  return privacy::StepNoiseMultiplier(
      {weights ? noise_multiplier : 0.0, summaries ? summary_noise_multiplier : 0.0});
}

WeightRelease ReleaseWeights(const PrivacyOptions& options, std::span<const float> reference,
                             std::span<const std::span<const float>> inputs,
                             privacy::GaussianNoise& noise) {
  FSD_CHECK(options.enabled && options.weights) << "weights are not released under DP";
  std::vector<double> sum(reference.size(), 0.0);
  WeightRelease release;
  std::vector<double> norms;
  // Distributed: the clients clipped and added the noise; clipping again here
  // would cut their noise down.
  const double clip_norm =
      options.distributed ? std::numeric_limits<double>::infinity() : options.clip_norm;
  const double noise_std = options.distributed ? 0.0 : options.noise_multiplier * options.clip_norm;
  for (const auto input : inputs) {
    const privacy::Clipped clipped = privacy::ClipInto(input, reference, clip_norm, sum);
    norms.push_back(clipped.norm);
    release.clipped += clipped.clipped(options.clip_norm) ? 1 : 0;
    release.max_norm = std::max(release.max_norm, clipped.norm);
    release.max_added_norm = std::max(release.max_added_norm, clipped.added_norm);
  }
  if (!norms.empty()) release.median_norm = aggregation::Median(std::move(norms));
  release.kept = privacy::ReleaseMean(reference, sum, noise_std, options.expected_cohort, noise);
  return release;
}

int FloorVariances(std::span<float> global, std::span<const model::TensorRange> variances) {
  int raised = 0;
  for (const auto& range : variances) {
    FSD_CHECK(range.offset + range.size <= global.size()) << "variance range outside the model";
    for (auto& v : global.subspan(range.offset, range.size)) {
      if (!(v >= kMinReleasedVariance)) {
        v = kMinReleasedVariance;
        ++raised;
      }
    }
  }
  return raised;
}

SummaryRelease ReleaseSummaries(const PrivacyOptions& options,
                                std::span<const aggregation::SoftTargetSummary* const> summaries,
                                std::size_t num_classes,
                                const aggregation::SoftTargetSummary& previous,
                                privacy::GaussianNoise& noise) {
  FSD_CHECK(options.enabled && options.summaries && !options.distributed)
      << "central summaries are not released";
  const std::size_t classes = num_classes;
  std::vector<double> row_sum(classes * classes, 0.0), presence(classes, 0.0);
  int clipped = 0;
  for (const auto* summary : summaries) {
    const privacy::Clipped clip = privacy::ClipSummaryInto(
        summary->mean_logits, summary->counts, options.summary_clip_norm, row_sum, presence);
    clipped += clip.clipped(options.summary_clip_norm) ? 1 : 0;
  }
  const double noise_std = options.summary_noise_multiplier *
                           privacy::SummarySensitivity(options.summary_clip_norm, classes);
  privacy::AddNoise(row_sum, noise_std, noise);
  privacy::AddNoise(presence, noise_std, noise);
  SummaryRelease release = ReleaseSummarySums(options, row_sum, presence, previous);
  release.clipped = clipped;
  return release;
}

SummaryRelease ReleaseSummarySums(const PrivacyOptions& options, std::span<const double> row_sum,
                                  std::span<const double> presence,
                                  const aggregation::SoftTargetSummary& previous) {
  FSD_CHECK(options.enabled && options.summaries) << "summaries are not released under DP";
  const std::size_t classes = presence.size();
  FSD_CHECK(row_sum.size() == classes * classes)
      << row_sum.size() << " row sums for " << classes << " classes";
  const double noise_std = options.summary_noise_multiplier *
                           privacy::SummarySensitivity(options.summary_clip_norm, classes);
  // Below the floor a class's mean would be mostly noise (or divide by ~0).
  const double floor = std::max(1.0, noise_std);
  SummaryRelease release;
  auto& out = release.summary;
  out = aggregation::ZeroSummary(classes);
  for (std::size_t c = 0; c < classes; ++c) {
    float* row = out.mean_logits.data() + c * classes;
    if (presence[c] >= floor) {
      for (std::size_t j = 0; j < classes; ++j) {
        row[j] = static_cast<float>(row_sum[c * classes + j] / presence[c]);
      }
      out.counts[c] = std::max<std::int64_t>(1, std::llround(presence[c]));
      ++release.classes_released;
    } else {
      aggregation::KeepPreviousRow(previous, c, out);
    }
  }
  return release;
}

}  // namespace fsd::coordinator
