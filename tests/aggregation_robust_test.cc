// The aggregation rules against hand-computed tables (aggregation/robust.h,
// aggregation/aggregate.h).
#include <gtest/gtest.h>

#include <vector>

#include "aggregation/aggregate.h"
#include "aggregation/robust.h"
#include "common/errors.h"

namespace fsd::aggregation {
namespace {

// Client vectors given column by column: columns[i][k] is coordinate i of client k.
struct Round {
  std::vector<std::vector<float>> clients;
  std::vector<WeightedInput> inputs;
  Round(const std::vector<std::vector<float>>& columns, const std::vector<double>& weights) {
    clients.assign(weights.size(), std::vector<float>(columns.size()));
    for (std::size_t i = 0; i < columns.size(); ++i) {
      for (std::size_t k = 0; k < weights.size(); ++k) clients[k][i] = columns[i][k];
    }
    for (std::size_t k = 0; k < weights.size(); ++k) inputs.push_back({clients[k], weights[k]});
  }
};

TEST(WeightedMeanTest, WeightsClientsAndIgnoresTheirOrder) {
  const Round forward({{1, 4}, {0, 2}, {-2, 2}}, {100, 300});
  EXPECT_EQ(WeightedMean(forward.inputs), (std::vector<float>{3.25f, 1.5f, 1.0f}));
  const Round single({{0.1f}, {1e-7f}}, {7});
  EXPECT_EQ(WeightedMean(single.inputs), (std::vector<float>{0.1f, 1e-7f}));
}

TEST(CoordinateMedianTest, OddCountTakesTheMiddleValueAndIgnoresTheOutlier) {
  const Round round({{1, 2, 3, 4, 100}, {5, 5, 5, 1, 9}, {-7, 0, 7, 7, 7}}, {1, 1, 1, 1, 1});
  EXPECT_EQ(CoordinateMedian(round.inputs), (std::vector<float>{3, 5, 7}));
}

TEST(CoordinateMedianTest, EvenCountAveragesTheTwoMiddleValues) {
  const Round round({{1, 2, 3, 10}, {4, 4, 4, 4}, {-1e4f, 1e4f, 0, 1}}, {1, 1, 1, 1});
  EXPECT_EQ(CoordinateMedian(round.inputs), (std::vector<float>{2.5f, 4, 0.5f}));
}

TEST(CoordinateMedianTest, WeightedMedianFollowsTheWeight) {
  // Weights 1,1,3 of total 5: the value where the cumulative weight passes 2.5.
  EXPECT_EQ(CoordinateMedian(Round({{1, 2, 3}}, {1, 1, 3}).inputs), (std::vector<float>{3}));
  // Weights 2,1,1: the first value holds exactly half, so it is averaged with the next.
  EXPECT_EQ(CoordinateMedian(Round({{1, 2, 3}}, {2, 1, 1}).inputs), (std::vector<float>{1.5f}));
}

TEST(TrimmedMeanTest, DropsTheFloorOfBetaNFromEachSide) {
  EXPECT_EQ(TrimCount(5, 0.2), 1u);
  EXPECT_EQ(TrimCount(4, 0.2), 0u);
  EXPECT_EQ(TrimCount(4, 0.25), 1u);
  EXPECT_EQ(TrimCount(20, 0.1), 2u);
  const Round odd({{1, 2, 3, 4, 100}, {5, 5, 5, 1, 9}}, {1, 1, 1, 1, 1});
  EXPECT_EQ(TrimmedMean(odd.inputs, 0.2), (std::vector<float>{3, 5}));
  const Round even({{1, 2, 3, 10}}, {1, 1, 1, 1});
  EXPECT_EQ(TrimmedMean(even.inputs, 0.25), (std::vector<float>{2.5f}));
  EXPECT_EQ(TrimmedMean(even.inputs, 0.2), (std::vector<float>{4}));  // nothing trimmed
  EXPECT_EQ(TrimCount(3, 0.49), 1u);
  EXPECT_EQ(TrimCount(2, 0.4999999999), 0u);  // never trims everything
  EXPECT_THROW(TrimCount(4, 0.5), InternalError);
}

TEST(AggregateTest, MedianAndTrimmedMeanGiveEveryClientOneVoteUnlessToldToWeigh) {
  const std::vector<float> reference = {0};
  AggregationOptions options;
  // Three honest clients at 0, one attacker at 10 declaring 4× their samples:
  // by weight it holds 4/7 of the round and owns the median.
  const Round median_round({{0, 0, 0, 10}}, {1, 1, 1, 4});
  options.rule = Rule::kMedian;
  EXPECT_EQ(Aggregate(options, reference, median_round.inputs), (std::vector<float>{0}));
  options.one_vote = false;
  EXPECT_EQ(Aggregate(options, reference, median_round.inputs), (std::vector<float>{10}));
  // Two such attackers among five, β = 0.2: one 0 and one 10 are trimmed,
  // then 0, 0, 10 count once each (10/3) or by weight (40/6).
  const Round trimmed_round({{0, 0, 0, 10, 10}}, {1, 1, 1, 4, 4});
  options.rule = Rule::kTrimmedMean;
  options.trim_fraction = 0.2;
  options.one_vote = true;
  EXPECT_FLOAT_EQ(Aggregate(options, reference, trimmed_round.inputs).front(), 10.0f / 3);
  options.one_vote = false;
  EXPECT_FLOAT_EQ(Aggregate(options, reference, trimmed_round.inputs).front(), 40.0f / 6);
  // Multi-Krum's selection is unweighted, so its mean keeps the weights.
  options.rule = Rule::kMultiKrum;
  options.one_vote = true;
  options.byzantine = 0;
  const Round close({{1, 2, 2}}, {1, 1, 2});
  EXPECT_FLOAT_EQ(Aggregate(options, reference, close.inputs).front(), (1 + 2 + 4) / 4.0f);
}

TEST(AggregateTest, TrimmedMeanNeedsACohortThatTrimsOneFromEachSide) {
  AggregationOptions options;
  options.rule = Rule::kTrimmedMean;
  for (const auto& [beta, needed] : std::vector<std::pair<double, std::size_t>>{
           {0.2, 5}, {0.1, 10}, {0.25, 4}, {0.4, 3}, {0.49, 3}, {0.15, 7}}) {
    options.trim_fraction = beta;
    EXPECT_EQ(MinimumInputs(options), needed) << beta;
    EXPECT_EQ(TrimCount(needed, beta), 1u) << beta;
    EXPECT_EQ(TrimCount(needed - 1, beta), 0u) << beta;
  }
  options.trim_fraction = 0.0;
  EXPECT_THROW(MinimumInputs(options), InternalError);
  options.rule = Rule::kMedian;
  EXPECT_EQ(MinimumInputs(options), 1u);
}

TEST(TrimmedMeanTest, KeptValuesAreWeightedByTheirClients) {
  const Round round({{1, 2, 3, 10}}, {1, 1, 3, 1});
  EXPECT_EQ(TrimmedMean(round.inputs, 0.25), (std::vector<float>{(2 + 3 * 3) / 4.0f}));
}

// Points 0, 1, 2, 3, 100 on a line, f = 1: each scores the sum of squared
// distances to its n − f − 2 = 2 nearest others: 5, 2, 2, 5, 19013.
TEST(KrumTest, ScoresAndSelectionMatchTheHandComputedTable) {
  const Round round({{0, 1, 2, 3, 100}}, {1, 1, 1, 1, 1});
  EXPECT_EQ(KrumScores(round.inputs, 1), (std::vector<double>{5, 2, 2, 5, 19013}));
  EXPECT_EQ(KrumSelect(round.inputs, 1, 1), (std::vector<std::size_t>{1}));  // tie: lower index
  EXPECT_EQ(KrumSelect(round.inputs, 1, 4), (std::vector<std::size_t>{0, 1, 2, 3}));
}

TEST(KrumTest, NeedsTwoFPlusThreeInputs) {
  EXPECT_EQ(KrumMinimumInputs(4), 11u);
  const Round at_limit({{0, 1, 2, 3, 100}}, {1, 1, 1, 1, 1});  // n = 5 = 2·1 + 3
  EXPECT_EQ(KrumSelect(at_limit.inputs, 1, 1).size(), 1u);
  const Round below({{0, 1, 2, 3}}, {1, 1, 1, 1});
  EXPECT_THROW(KrumScores(below.inputs, 1), InternalError);
  AggregationOptions options;
  options.rule = Rule::kKrum;
  options.byzantine = 1;
  EXPECT_EQ(MinimumInputs(options), 5u);
  const std::vector<float> reference = {0};
  EXPECT_THROW(Aggregate(options, reference, below.inputs), InternalError);
}

TEST(AggregateTest, KrumReturnsTheChosenClientExactlyAndMultiKrumAveragesTheBest) {
  const Round round({{0, 1, 2, 3, 100}, {0.5f, 0.25f, 0.125f, 0, -9}}, {1, 1, 1, 1, 1});
  const std::vector<float> reference = {0, 0};
  AggregationOptions options;
  options.byzantine = 1;
  options.rule = Rule::kKrum;
  AggregateReport report;
  // Squared distances to the two nearest: 5.203125, 2.078125, 2.03125, 5.078125, ...
  EXPECT_EQ(Aggregate(options, reference, round.inputs, &report), round.clients[2]);
  EXPECT_EQ(report.selected, (std::vector<std::size_t>{2}));
  options.rule = Rule::kMultiKrum;  // m = n − f = 4
  EXPECT_EQ(Aggregate(options, reference, round.inputs, &report),
            (std::vector<float>{1.5f, 0.875f / 4}));
  options.krum_selected = 2;
  EXPECT_EQ(Aggregate(options, reference, round.inputs, &report),
            (std::vector<float>{1.5f, 0.1875f}));
}

TEST(ClipTest, ClipsTheDeltaFromTheReferenceToTheBound) {
  const std::vector<float> reference = {1, 1};
  const std::vector<float> values = {4, 5};  // delta (3, 4), norm 5
  EXPECT_DOUBLE_EQ(DeltaNorm(values, reference), 5.0);
  EXPECT_EQ(ClipDelta(values, reference, 2.5), (std::vector<float>{2.5f, 3}));
  EXPECT_EQ(ClipDelta(values, reference, 5.0), values);
}

TEST(AggregateTest, MedianClippingBoundsTheLongestDeltaByTheRoundsMedianNorm) {
  // Deltas of norm 1, 2 and 10 along one axis: the median bound is 2 × factor.
  const Round round({{1, 2, 10}, {0, 0, 0}}, {1, 1, 1});
  const std::vector<float> reference = {0, 0};
  AggregationOptions options;
  options.weighting = Weighting::kUniform;
  options.clip = ClipMode::kMedian;
  options.clip_factor = 1.0;
  AggregateReport report;
  EXPECT_EQ(Aggregate(options, reference, round.inputs, &report),
            (std::vector<float>{5 / 3.0f, 0}));
  EXPECT_EQ(report.clipped, 1u);
  EXPECT_DOUBLE_EQ(report.clip_bound, 2.0);
  options.clip = ClipMode::kFixed;
  options.clip_norm = 0.5;
  EXPECT_EQ(Aggregate(options, reference, round.inputs, &report), (std::vector<float>{0.5f, 0}));
  EXPECT_EQ(report.clipped, 3u);
}

TEST(AggregateTest, EveryRuleStaysBoundedUnderOneHugeUpdateButTheMean) {
  // Four honest clients near 1, one at 1e6.
  const Round round({{0.9f, 1.0f, 1.1f, 1.0f, 1e6f}}, {1, 1, 1, 1, 1});
  const std::vector<float> reference = {0};
  AggregationOptions options;
  options.byzantine = 1;
  options.trim_fraction = 0.2;
  for (const Rule rule : {Rule::kMedian, Rule::kTrimmedMean, Rule::kKrum, Rule::kMultiKrum}) {
    options.rule = rule;
    const float value = Aggregate(options, reference, round.inputs).front();
    EXPECT_GE(value, 0.9f) << RuleName(rule);
    EXPECT_LE(value, 1.1f) << RuleName(rule);
  }
  options.rule = Rule::kFedAvg;
  EXPECT_GT(Aggregate(options, reference, round.inputs).front(), 1e5f);
}

SoftTargetSummary TwoClasses(std::int64_t n0, std::int64_t n1, float a, float b) {
  return {{n0, n1}, {a, 0.0f, 0.0f, b}};
}

SoftTargetSummary Combine(SummaryRule rule, const std::vector<SoftTargetSummary>& summaries,
                          const SoftTargetSummary& previous = {}, double trim_fraction = 0.25) {
  std::vector<const SoftTargetSummary*> pointers;
  std::vector<std::vector<double>> weights;
  for (const auto& s : summaries) {
    pointers.push_back(&s);
    weights.push_back({static_cast<double>(s.counts[0]), static_cast<double>(s.counts[1])});
  }
  AggregationOptions options;
  options.summary_rule = rule;
  options.trim_fraction = trim_fraction;
  return AggregateSummaries(options, pointers, weights, 2, previous);
}

TEST(AggregateSummariesTest, MeanAveragesLogitsWeightedByClassCounts) {
  const auto global = Combine(SummaryRule::kMean, {TwoClasses(1, 3, 2, 4), TwoClasses(3, 1, 6, 8)});
  EXPECT_EQ(global.counts, (std::vector<std::int64_t>{4, 4}));
  EXPECT_FLOAT_EQ(global.mean_logits[0], (1 * 2.0f + 3 * 6.0f) / 4);
  EXPECT_FLOAT_EQ(global.mean_logits[3], (3 * 4.0f + 1 * 8.0f) / 4);
  EXPECT_FLOAT_EQ(global.mean_logits[1], 0.0f);
}

TEST(AggregateSummariesTest, ClassNobodyReportedKeepsItsPreviousRow) {
  const auto global =
      Combine(SummaryRule::kMean, {TwoClasses(5, 0, 2, 99)}, TwoClasses(1, 7, -1, 3));
  EXPECT_EQ(global.counts, (std::vector<std::int64_t>{5, 7}));
  EXPECT_EQ(global.mean_logits, (std::vector<float>{2, 0, 0, 3}));
}

TEST(AggregateSummariesTest, MedianAndTrimmedMeanResistOnePoisonedRowAndCount) {
  // Four clients report class 0 (logit 2, 2, 4, 4; 10 samples each); a fifth
  // claims 1000 samples of class 0 with logit −50. Class 1 has one reporter.
  const std::vector<SoftTargetSummary> summaries = {
      TwoClasses(10, 0, 2, 0), TwoClasses(10, 0, 2, 0), TwoClasses(10, 0, 4, 0),
      TwoClasses(10, 0, 4, 0), TwoClasses(1000, 5, -50, 7)};
  const auto mean = Combine(SummaryRule::kMean, summaries);
  EXPECT_EQ(mean.counts[0], 1040);
  EXPECT_LT(mean.mean_logits[0], -40.0f);
  // The robust rules give each reporter one vote, however many samples it
  // claims: the median is 2 and the count 5 × median(10, ..., 1000) = 50.
  const auto median = Combine(SummaryRule::kMedian, summaries);
  EXPECT_EQ(median.mean_logits[0], 2.0f);
  EXPECT_EQ(median.counts[0], 50);
  EXPECT_EQ(median.mean_logits[3], 7.0f);  // class 1: its only reporter
  EXPECT_EQ(median.counts[1], 5);
  // Trimmed mean with β = 0.2 drops −50 and one 4: mean of 2, 2, 4 → 8/3;
  // counts 10, 10, 10 → 5 × 10 = 50.
  const auto trimmed = Combine(SummaryRule::kTrimmedMean, summaries, {}, 0.2);
  EXPECT_FLOAT_EQ(trimmed.mean_logits[0], 8.0f / 3);
  EXPECT_EQ(trimmed.counts[0], 50);
}

TEST(AggregateSummariesTest, ClippedMeanKeepsTheExpertsWeightWhenNoRowIsFar) {
  // Class 0 logits 2, 3, 4, 5 from 1, 2, 3, 4 samples: the median row is 3.5,
  // every row within 2 × the median distance (1), so nothing is clipped and
  // the result is the count-weighted mean 4 — where the median says 3.5.
  const std::vector<SoftTargetSummary> summaries = {TwoClasses(1, 0, 2, 0), TwoClasses(2, 0, 3, 0),
                                                    TwoClasses(3, 0, 4, 0), TwoClasses(4, 0, 5, 0)};
  const auto clipped = Combine(SummaryRule::kClippedMean, summaries);
  EXPECT_FLOAT_EQ(clipped.mean_logits[0], 4.0f);
  EXPECT_EQ(clipped.counts[0], 10);
  EXPECT_FLOAT_EQ(Combine(SummaryRule::kMean, summaries).mean_logits[0], 4.0f);
  EXPECT_FLOAT_EQ(Combine(SummaryRule::kMedian, summaries).mean_logits[0], 3.5f);
}

TEST(AggregateSummariesTest, ClippedMeanBoundsAFarRowWithAnInflatedCount) {
  // As in the median test: 2, 2, 4, 4 from 10 samples each and −50 from 1000.
  // Median row 2, distances 0, 0, 2, 2, 52 → radius 2 × 2 = 4: the poisoned
  // row is clipped to −2 and its weight capped at 4 × 10, so the class's row
  // is (10·2 + 10·2 + 10·4 + 10·4 + 40·(−2)) / 80 = 0.5 and its count
  // 10 + 10 + 10 + 10 + 40 = 80.
  const std::vector<SoftTargetSummary> summaries = {
      TwoClasses(10, 0, 2, 0), TwoClasses(10, 0, 2, 0), TwoClasses(10, 0, 4, 0),
      TwoClasses(10, 0, 4, 0), TwoClasses(1000, 5, -50, 7)};
  const auto clipped = Combine(SummaryRule::kClippedMean, summaries);
  EXPECT_FLOAT_EQ(clipped.mean_logits[0], 0.5f);
  EXPECT_EQ(clipped.counts[0], 80);
  EXPECT_EQ(clipped.mean_logits[3], 7.0f);  // class 1: its only reporter
  // However far the row: the same bound.
  auto farther = summaries;
  farther.back() = TwoClasses(1000, 5, -5e6f, 7);
  EXPECT_FLOAT_EQ(Combine(SummaryRule::kClippedMean, farther).mean_logits[0], 0.5f);
}

// Two exits: stage 1 (2 values), head 1 (1), stage 2 (2), head 2 (1).
const model::ModelLayout kTwoExits = {
    {0, 2, true, 1, false}, {2, 1, false, 1, true}, {3, 2, true, 2, false}, {5, 1, false, 2, true}};

TEST(AggregateBySubnetworkTest, AveragesEveryTensorOverTheClientsThatTrainedIt) {
  const Mask whole;                           // client a: the whole network
  const Mask shallow = {1, 1, 1, 0, 0, 0};    // client b: exit 1's sub-network
  const Mask main_path = {1, 1, 0, 1, 1, 1};  // client c: exit 2's path alone
  const std::vector<float> a = {1, 1, 1, 1, 1, 1}, b = {4, 4, 4}, c = {7, 7, 7, 7, 7};
  const std::vector<PartialInput> inputs = {
      {a, &whole, 1.0}, {b, &shallow, 2.0}, {c, &main_path, 1.0}};
  std::vector<float> global(6, 0.0f);
  AggregationOptions options;
  const AggregateReport report = AggregateBySubnetwork(options, kTwoExits, inputs, global);
  // stage 1: all three (1 + 8 + 7) / 4; head 1: a and b (1 + 8) / 3; stage 2
  // and head 2: a and c (1 + 7) / 2.
  EXPECT_FLOAT_EQ(global[0], 4.0f);
  EXPECT_FLOAT_EQ(global[1], 4.0f);
  EXPECT_FLOAT_EQ(global[2], 3.0f);
  EXPECT_FLOAT_EQ(global[3], 4.0f);
  EXPECT_FLOAT_EQ(global[4], 4.0f);
  EXPECT_FLOAT_EQ(global[5], 4.0f);
  EXPECT_EQ(report.clipped, 0u);
}

TEST(AggregateBySubnetworkTest, WithOneSubnetworkEqualsTheRuleOverTheKeptValues) {
  const Mask pruned = {1, 0, 1, 1, 0, 1};
  const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 9}, d = {-100, 100, -100, 100};
  const std::vector<PartialInput> inputs = {
      {a, &pruned, 1.0}, {b, &pruned, 1.0}, {d, &pruned, 1.0}};
  AggregationOptions options;
  options.rule = Rule::kMedian;
  options.weighting = Weighting::kUniform;
  std::vector<float> global = {0, 0, 0, 0, 0, 0};
  AggregateBySubnetwork(options, kTwoExits, inputs, global);
  const std::vector<WeightedInput> flat = {{a, 1.0}, {b, 1.0}, {d, 1.0}};
  std::vector<float> expected(6, 0.0f);
  Scatter(Aggregate(options, std::vector<float>(4, 0.0f), flat), pruned, expected);
  EXPECT_EQ(global, expected);
  EXPECT_EQ(global[1], 0.0f);  // pruned coordinates stay exactly zero
  EXPECT_EQ(global[4], 0.0f);
}

TEST(AggregateBySubnetworkTest, TensorsThatTooFewClientsTrainedKeepTheirValues) {
  // Krum with f = 0 needs 3 inputs: only stage 1 and head 1 have them.
  const Mask whole, shallow = {1, 1, 1, 0, 0, 0};
  const std::vector<float> a = {1, 1, 1, 1, 1, 1}, b = {2, 2, 2}, c = {2.5f, 2.5f, 2.5f},
                           d = {3, 3, 3};
  const std::vector<PartialInput> inputs = {
      {a, &whole, 1.0}, {b, &shallow, 1.0}, {c, &shallow, 1.0}, {d, &shallow, 1.0}};
  AggregationOptions options;
  options.rule = Rule::kKrum;
  std::vector<float> global(6, 9.0f);
  const AggregateReport report = AggregateBySubnetwork(options, kTwoExits, inputs, global);
  EXPECT_EQ(global[3], 9.0f);
  EXPECT_EQ(global[5], 9.0f);
  EXPECT_EQ(global[0], 2.5f);  // Krum picks c, nearest to its two nearest
  ASSERT_EQ(report.selected.size(), 1u);
  EXPECT_EQ(report.selected[0], 2u);
}

}  // namespace
}  // namespace fsd::aggregation
