#include "aggregation/aggregate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "common/errors.h"

namespace fsd::aggregation {
namespace {

// The robust count of a class: the rule applied to the reporters' counts,
// times the number of reporters (so "mean" gives the plain sum).
std::int64_t CombinedCount(SummaryRule rule, double trim_fraction, double max_weight_ratio,
                           const std::vector<std::int64_t>& counts) {
  std::vector<double> values(counts.begin(), counts.end());
  double per_client = 0.0;
  switch (rule) {
    case SummaryRule::kMean: {
      std::int64_t sum = 0;
      for (const auto count : counts) sum += count;
      return sum;
    }
    case SummaryRule::kClippedMean: {
      const double cap = max_weight_ratio * Median(values);
      double sum = 0.0;
      for (const double count : values) sum += std::min(count, cap);
      return std::max<std::int64_t>(1, std::llround(sum));
    }
    case SummaryRule::kMedian:
      per_client = Median(values);
      break;
    case SummaryRule::kTrimmedMean: {
      std::sort(values.begin(), values.end());
      const std::size_t trim = TrimCount(values.size(), trim_fraction);
      double sum = 0.0;
      for (std::size_t k = trim; k < values.size() - trim; ++k) sum += values[k];
      per_client = sum / static_cast<double>(values.size() - 2 * trim);
      break;
    }
  }
  return std::max<std::int64_t>(1, std::llround(per_client * static_cast<double>(counts.size())));
}

// The clipped mean of one class's rows (AggregateSummaries): each row clipped
// to ρ = clip_factor × the median distance from the coordinate-wise median
// row, then their mean under weights capped at max_weight_ratio × the median
// weight.
std::vector<float> ClippedMean(std::span<const WeightedInput> rows, double clip_factor,
                               double max_weight_ratio) {
  std::vector<WeightedInput> votes;
  std::vector<double> weights;
  for (const auto& row : rows) {
    votes.push_back({row.values, 1.0});
    weights.push_back(row.weight);
  }
  const std::vector<float> center = CoordinateMedian(votes);
  std::vector<double> distances;
  for (const auto& row : rows) distances.push_back(DeltaNorm(row.values, center));
  const double radius = clip_factor * Median(distances);
  const double cap = max_weight_ratio * Median(weights);
  std::vector<std::vector<float>> clipped;
  clipped.reserve(rows.size());
  std::vector<WeightedInput> bounded;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    // A zero radius (at least half the rows equal the center) clips every
    // other row onto the center, which ClipDelta cannot do: place it there.
    if (radius > 0.0) {
      clipped.push_back(ClipDelta(rows[i].values, center, radius));
    } else {
      clipped.push_back(distances[i] > 0.0
                            ? center
                            : std::vector<float>(rows[i].values.begin(), rows[i].values.end()));
    }
    bounded.push_back({clipped.back(), std::min(rows[i].weight, cap)});
  }
  return WeightedMean(bounded);
}

}  // namespace

const char* RuleName(Rule rule) {
  switch (rule) {
    case Rule::kFedAvg:
      return "fedavg";
    case Rule::kMedian:
      return "median";
    case Rule::kTrimmedMean:
      return "trimmed_mean";
    case Rule::kKrum:
      return "krum";
    case Rule::kMultiKrum:
      return "multi_krum";
  }
  return "unknown";
}

const char* SummaryRuleName(SummaryRule rule) {
  switch (rule) {
    case SummaryRule::kMean:
      return "mean";
    case SummaryRule::kMedian:
      return "median";
    case SummaryRule::kTrimmedMean:
      return "trimmed_mean";
    case SummaryRule::kClippedMean:
      return "clipped_mean";
  }
  return "unknown";
}

std::size_t MinimumInputs(const AggregationOptions& options) {
  switch (options.rule) {
    case Rule::kKrum:
    case Rule::kMultiKrum:
      return KrumMinimumInputs(options.byzantine);
    case Rule::kTrimmedMean: {
      FSD_CHECK(options.trim_fraction > 0.0) << "trimmed_mean with trim_fraction 0 trims nothing";
      std::size_t n = 3;
      while (TrimCount(n, options.trim_fraction) < 1) ++n;  // n <= ⌈1/β⌉ + 1
      return n;
    }
    case Rule::kFedAvg:
    case Rule::kMedian:
      return 1;
  }
  return 1;
}

std::vector<float> Aggregate(const AggregationOptions& options, std::span<const float> reference,
                             std::span<const WeightedInput> inputs, AggregateReport* report) {
  FSD_CHECK(inputs.size() >= MinimumInputs(options))
      << RuleName(options.rule) << " needs at least " << MinimumInputs(options) << " updates, got "
      << inputs.size();
  AggregateReport local;
  AggregateReport& out = report != nullptr ? *report : local;
  out = AggregateReport{};

  // Clipping replaces the inputs whose delta is too long by clipped copies.
  std::vector<std::vector<float>> clipped_values;
  std::vector<WeightedInput> clipped_inputs;
  if (options.clip != ClipMode::kOff) {
    std::vector<double> norms;
    for (const auto& input : inputs) norms.push_back(DeltaNorm(input.values, reference));
    out.clip_bound =
        options.clip == ClipMode::kFixed ? options.clip_norm : Median(norms) * options.clip_factor;
    clipped_values.reserve(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      // A zero bound (every delta zero under "median") leaves nothing to clip.
      if (out.clip_bound > 0.0 && norms[i] > out.clip_bound) {
        clipped_values.push_back(ClipDelta(inputs[i].values, reference, out.clip_bound));
        clipped_inputs.push_back({clipped_values.back(), inputs[i].weight});
        ++out.clipped;
      } else {
        clipped_inputs.push_back(inputs[i]);
      }
    }
    inputs = clipped_inputs;
  }

  // One vote per client for the rules whose weighted form breaks down by weight.
  std::vector<WeightedInput> votes;
  if (options.one_vote && (options.rule == Rule::kMedian || options.rule == Rule::kTrimmedMean)) {
    for (const auto& input : inputs) votes.push_back({input.values, 1.0});
    inputs = votes;
  }

  switch (options.rule) {
    case Rule::kFedAvg:
      return WeightedMean(inputs);
    case Rule::kMedian:
      return CoordinateMedian(inputs);
    case Rule::kTrimmedMean:
      out.trimmed = TrimCount(inputs.size(), options.trim_fraction);
      return TrimmedMean(inputs, options.trim_fraction);
    case Rule::kKrum: {
      out.selected = KrumSelect(inputs, options.byzantine, 1);
      const auto& chosen = inputs[out.selected.front()].values;
      return {chosen.begin(), chosen.end()};
    }
    case Rule::kMultiKrum: {
      const std::size_t keep = options.krum_selected > 0
                                   ? std::min(options.krum_selected, inputs.size())
                                   : inputs.size() - options.byzantine;
      out.selected = KrumSelect(inputs, options.byzantine, keep);
      std::vector<WeightedInput> chosen;
      for (const auto index : out.selected) chosen.push_back(inputs[index]);
      return WeightedMean(chosen);
    }
  }
  throw InternalError(std::string("unknown aggregation rule ") + RuleName(options.rule));
}

SoftTargetSummary AggregateSummaries(const AggregationOptions& options,
                                     std::span<const SoftTargetSummary* const> summaries,
                                     const std::vector<std::vector<double>>& class_weights,
                                     std::size_t num_classes, const SoftTargetSummary& previous) {
  FSD_CHECK(class_weights.size() == summaries.size())
      << class_weights.size() << " class-weight rows for " << summaries.size() << " summaries";
  const std::size_t classes = num_classes;
  for (std::size_t i = 0; i < summaries.size(); ++i) {
    FSD_CHECK(summaries[i]->counts.size() == classes &&
              summaries[i]->mean_logits.size() == classes * classes &&
              class_weights[i].size() == classes)
        << "summary of " << summaries[i]->counts.size() << " classes, expected " << classes;
  }
  SoftTargetSummary out = ZeroSummary(classes);
  std::vector<WeightedInput> rows;
  std::vector<std::int64_t> counts;
  for (std::size_t c = 0; c < classes; ++c) {
    rows.clear();
    counts.clear();
    for (std::size_t i = 0; i < summaries.size(); ++i) {
      if (summaries[i]->counts[c] == 0) continue;
      // The robust rules give every reporter of the class one vote: a client
      // can put all of its weight on one class, and would own that class's
      // weighted median.
      const bool one_vote = options.summary_rule == SummaryRule::kMedian ||
                            options.summary_rule == SummaryRule::kTrimmedMean;
      rows.push_back({std::span(summaries[i]->mean_logits).subspan(c * classes, classes),
                      one_vote ? 1.0 : class_weights[i][c]});
      counts.push_back(summaries[i]->counts[c]);
    }
    float* row = out.mean_logits.data() + c * classes;
    if (rows.empty()) {
      KeepPreviousRow(previous, c, out);
      continue;
    }
    std::vector<float> combined;
    switch (options.summary_rule) {
      case SummaryRule::kMean:
        combined = WeightedMean(rows);
        break;
      case SummaryRule::kMedian:
        combined = CoordinateMedian(rows);
        break;
      case SummaryRule::kTrimmedMean:
        combined = TrimmedMean(rows, options.trim_fraction);
        break;
      case SummaryRule::kClippedMean:
        combined = ClippedMean(rows, options.summary_clip_factor, options.max_weight_ratio);
        break;
    }
    std::copy(combined.begin(), combined.end(), row);
    out.counts[c] = CombinedCount(options.summary_rule, options.trim_fraction,
                                  options.max_weight_ratio, counts);
  }
  return out;
}

AggregateReport AggregateBySubnetwork(const AggregationOptions& options,
                                      const model::ModelLayout& layout,
                                      std::span<const PartialInput> inputs,
                                      std::span<float> global) {
  const std::size_t dim = global.size();
  // Each input's kept values back in place (zeros elsewhere), once.
  std::vector<std::vector<float>> dense(inputs.size(), std::vector<float>(dim, 0.0f));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    FSD_CHECK(inputs[i].mask != nullptr) << "input " << i << " without a mask";
    Scatter(inputs[i].kept, *inputs[i].mask, dense[i]);
  }
  // Tensors grouped by who kept values in them; std::map keeps the order fixed.
  std::map<std::vector<bool>, std::vector<std::size_t>> groups;
  for (std::size_t t = 0; t < layout.size(); ++t) {
    const auto& range = layout[t];
    FSD_CHECK(range.offset + range.size <= dim) << "layout beyond the vector";
    std::vector<bool> contributors(inputs.size(), false);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Mask& mask = *inputs[i].mask;
      contributors[i] =
          mask.empty() ||
          std::any_of(mask.begin() + static_cast<std::ptrdiff_t>(range.offset),
                      mask.begin() + static_cast<std::ptrdiff_t>(range.offset + range.size),
                      [](std::uint8_t bit) { return bit != 0; });
    }
    groups[contributors].push_back(t);
  }
  AggregateReport largest;
  std::size_t largest_size = 0;
  for (const auto& [contributors, tensors] : groups) {
    std::vector<std::size_t> members;
    for (std::size_t i = 0; i < inputs.size(); ++i)
      if (contributors[i]) members.push_back(i);
    if (members.empty() || members.size() < MinimumInputs(options)) continue;
    // The group's coordinates: its tensors' kept values (the same in every
    // member's mask, since a sub-network holds whole tensors).
    const Mask& first = *inputs[members.front()].mask;
    Mask group(dim, std::uint8_t{0});
    for (const auto t : tensors) {
      for (std::uint64_t k = layout[t].offset; k < layout[t].offset + layout[t].size; ++k)
        group[k] = first.empty() ? std::uint8_t{1} : first[k];
    }
    const std::vector<float> reference = Gather(global, group);
    std::vector<std::vector<float>> values;
    std::vector<WeightedInput> weighted;
    values.reserve(members.size());
    for (const auto i : members) values.push_back(Gather(dense[i], group));
    for (std::size_t m = 0; m < members.size(); ++m)
      weighted.push_back({values[m], inputs[members[m]].weight});
    AggregateReport report;
    ScatterKept(Aggregate(options, reference, weighted, &report), group, global);
    if (members.size() > largest_size) {
      largest_size = members.size();
      for (auto& index : report.selected) index = members[index];
      largest = std::move(report);
    }
  }
  return largest;
}

}  // namespace fsd::aggregation
