#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "aggregation/robust.h"
#include "aggregation/sparsity.h"
#include "common/errors.h"

namespace fsd::aggregation {
namespace {

// Two prunable tensors (sizes 6 and 4) around an unprunable bias (size 2).
const model::ModelLayout kLayout = {{0, 6, true}, {6, 2, false}, {8, 4, true}};
const std::vector<float> kValues = {0.1f, -0.9f, 0.3f, -0.05f, 0.7f, 0.2f,  // tensor 0
                                    0.0f, 0.01f,                           // bias
                                    5.0f, -4.0f, 3.0f, 6.0f};              // tensor 1

TEST(SparsityScheduleTest, CubicFromInitialToFinalOverTheWindow) {
  const SparsitySchedule schedule(0.0, 0.8, 3, 13, 1);
  EXPECT_DOUBLE_EQ(schedule.At(1), 0.0);
  EXPECT_DOUBLE_EQ(schedule.At(3), 0.0);
  EXPECT_NEAR(schedule.At(8), 0.8 * (1 - std::pow(0.5, 3)), 1e-12);
  EXPECT_DOUBLE_EQ(schedule.At(13), 0.8);
  EXPECT_DOUBLE_EQ(schedule.At(20), 0.8);
  double previous = 0.0;
  for (std::uint64_t round = 1; round <= 20; ++round) {
    EXPECT_GE(schedule.At(round), previous) << round;
    previous = schedule.At(round);
  }
  EXPECT_FALSE(SparsitySchedule().enabled());
  EXPECT_DOUBLE_EQ(SparsitySchedule().At(10), 0.0);
}

TEST(SparsityScheduleTest, ChangesOnlyAtPruningSteps) {
  const SparsitySchedule schedule(0.2, 0.8, 1, 9, 4);
  EXPECT_DOUBLE_EQ(schedule.At(1), 0.2);
  EXPECT_DOUBLE_EQ(schedule.At(4), 0.2);
  EXPECT_DOUBLE_EQ(schedule.At(5), schedule.At(8));
  EXPECT_GT(schedule.At(5), 0.2);
  EXPECT_DOUBLE_EQ(schedule.At(9), 0.8);
}

TEST(SelectMaskTest, GlobalScopePrunesTheSmallestPrunableMagnitudes) {
  const Mask mask = SelectMask(kValues, kLayout, 0.5, MaskScope::kGlobal, 0.0);
  // 10 prunable values, 5 pruned: 0.1, -0.05, 0.3, 0.2 and 0.7 (tensor 1 is all larger).
  EXPECT_EQ(mask, (Mask{0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(SparsityOf(mask, kLayout), 0.5);
}

TEST(SelectMaskTest, NeverPrunesBiasesAndKeepsTheFloorOfEveryLayer) {
  const Mask mask = SelectMask(kValues, kLayout, 0.9, MaskScope::kGlobal, 0.34);
  EXPECT_EQ(mask[6], 1);  // the bias with value 0.0 stays
  EXPECT_EQ(mask[7], 1);
  // Tensor 0 keeps ceil(0.34·6) = 3 values: its three largest.
  EXPECT_EQ(std::vector<std::uint8_t>(mask.begin(), mask.begin() + 6),
            (std::vector<std::uint8_t>{0, 1, 1, 0, 1, 0}));
  EXPECT_GE(std::count(mask.begin() + 8, mask.end(), 1), 2);
}

TEST(SelectMaskTest, PerLayerScopePrunesTheSameShareOfEachLayer) {
  const Mask mask = SelectMask(kValues, kLayout, 0.5, MaskScope::kPerLayer, 0.0);
  EXPECT_EQ(std::count(mask.begin(), mask.begin() + 6, 0), 3);
  EXPECT_EQ(std::count(mask.begin() + 8, mask.end(), 0), 2);
  EXPECT_EQ(mask[10], 0);  // 3.0, the smallest of tensor 1
  EXPECT_EQ(mask[9], 0);   // -4.0
}

TEST(SelectMaskTest, AlreadyPrunedValuesStayPrunedAsSparsityGrows) {
  std::vector<float> values = kValues;
  const Mask first = SelectMask(values, kLayout, 0.3, MaskScope::kGlobal, 0.0);
  ApplyMask(first, values);
  const Mask second = SelectMask(values, kLayout, 0.6, MaskScope::kGlobal, 0.0);
  for (std::size_t i = 0; i < first.size(); ++i) {
    if (!first[i]) {
      EXPECT_EQ(second[i], 0) << i;
    }
  }
}

TEST(MaskValuesTest, GatherScatterRoundTripWithZerosAtPrunedPositions) {
  const Mask mask = {1, 0, 1, 1, 0};
  const std::vector<float> dense = {1, 2, 3, 4, 5};
  const auto kept = Gather(dense, mask);
  EXPECT_EQ(kept, (std::vector<float>{1, 3, 4}));
  std::vector<float> back(5, 9.0f);
  Scatter(kept, mask, back);
  EXPECT_EQ(back, (std::vector<float>{1, 0, 3, 4, 0}));
  EXPECT_EQ(KeptCount(mask, 5), 3u);
  EXPECT_EQ(KeptPerTensor({{0, 2, true}, {2, 3, true}}, mask), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(KeptPerTensor({{0, 2, true}, {2, 3, true}}, {}), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_THROW(Scatter(std::vector<float>{1, 2}, mask, back), InternalError);
}

TEST(MaskValuesTest, FedAvgOverKeptCoordinatesLeavesPrunedOnesZero) {
  const Mask mask = {1, 0, 1};
  const auto a = Gather(std::vector<float>{1.0f, 7.0f, 2.0f}, mask);
  const auto b = Gather(std::vector<float>{3.0f, 8.0f, 4.0f}, mask);
  const std::vector<WeightedInput> inputs = {{a, 1.0}, {b, 3.0}};
  std::vector<float> global(3, 5.0f);
  Scatter(WeightedMean(inputs), mask, global);
  EXPECT_EQ(global, (std::vector<float>{2.5f, 0.0f, 3.5f}));
}

// A two-exit network: stage 1 (prunable, 3 values), head 1 (1), stage 2
// (prunable, 2), head 2 (1).
const model::ModelLayout kExitLayout = {
    {0, 3, true, 1, false}, {3, 1, false, 1, true}, {4, 2, true, 2, false}, {6, 1, false, 2, true}};

TEST(SubnetworkMaskTest, KeepsTheMasksValuesWithinTheSubnetworksTensors) {
  const Mask pruned = {1, 0, 1, 1, 0, 1, 1};
  EXPECT_EQ(SubnetworkMask(pruned, kExitLayout, {1, false}, 7), (Mask{1, 0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(SubnetworkMask({}, kExitLayout, {1, false}, 7), (Mask{1, 1, 1, 1, 0, 0, 0}));
  // The main exit's path alone: no auxiliary head.
  EXPECT_EQ(SubnetworkMask({}, kExitLayout, {2, true}, 7), (Mask{1, 1, 1, 0, 1, 1, 1}));
  // The whole network: the mask itself (empty stays empty: dense).
  EXPECT_EQ(SubnetworkMask(pruned, kExitLayout, {0, false}, 7), pruned);
  EXPECT_TRUE(SubnetworkMask({}, kExitLayout, {2, false}, 7).empty());
  EXPECT_THROW(SubnetworkMask({}, kExitLayout, {3, false}, 7), InternalError);
}

TEST(SubnetworkMaskTest, ScatterKeptLeavesOtherPositionsAlone) {
  std::vector<float> dense = {9, 9, 9, 9};
  ScatterKept(std::vector<float>{1, 2}, Mask{0, 1, 0, 1}, dense);
  EXPECT_EQ(dense, (std::vector<float>{9, 1, 9, 2}));
}

}  // namespace
}  // namespace fsd::aggregation
