#include "common/data/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "common/errors.h"
#include "tests/testing/temp_dir.h"

namespace fsd::data {
namespace {

std::vector<std::int64_t> Labels(std::int64_t n, int classes) {
  std::vector<std::int64_t> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels[i] = (i * 7) % classes;
  return labels;
}

void ExpectEverySampleExactlyOnce(const Partition& p, std::int64_t n) {
  std::vector<int> hits(n, 0);
  for (const auto& client : p) {
    for (const auto i : client) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, n);
      ++hits[i];
    }
  }
  EXPECT_TRUE(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
}

TEST(PartitionTest, IidAssignsEverySampleOnceInNearEqualShares) {
  const Partition p = PartitionIid(1003, 10, 42);
  ExpectEverySampleExactlyOnce(p, 1003);
  for (const auto& client : p) EXPECT_NEAR(static_cast<double>(client.size()), 100.3, 1.0);
}

TEST(PartitionTest, SameSeedGivesIdenticalPartition) {
  const auto labels = Labels(5000, 10);
  EXPECT_EQ(PartitionIid(5000, 7, 3), PartitionIid(5000, 7, 3));
  EXPECT_EQ(PartitionDirichlet(labels, 10, 7, 0.5, 3), PartitionDirichlet(labels, 10, 7, 0.5, 3));
  EXPECT_EQ(PartitionShards(labels, 7, 2, 3), PartitionShards(labels, 7, 2, 3));
  EXPECT_NE(PartitionDirichlet(labels, 10, 7, 0.5, 3), PartitionDirichlet(labels, 10, 7, 0.5, 4));
}

TEST(PartitionTest, DirichletAssignsEverySampleOnce) {
  const auto labels = Labels(6000, 10);
  ExpectEverySampleExactlyOnce(PartitionDirichlet(labels, 10, 10, 0.5, 42), 6000);
  ExpectEverySampleExactlyOnce(PartitionDirichlet(labels, 10, 10, 0.01, 42), 6000);
}

TEST(PartitionTest, SmallerDirichletAlphaSkewsLabelsMore) {
  const auto labels = Labels(20000, 10);
  // Mean over clients of the largest class share: near 0.1 for IID-like, near 1 for skewed.
  const auto skew = [&](double alpha) {
    const Partition p = PartitionDirichlet(labels, 10, 10, alpha, 1);
    double sum = 0;
    int counted = 0;
    for (const auto& client : p) {
      if (client.empty()) continue;
      std::vector<int> counts(10, 0);
      for (auto i : client) ++counts[labels[i]];
      sum += *std::max_element(counts.begin(), counts.end()) / static_cast<double>(client.size());
      ++counted;
    }
    return sum / counted;
  };
  EXPECT_LT(skew(100.0), 0.2);
  EXPECT_GT(skew(0.1), 0.5);
}

TEST(PartitionTest, ShardsGiveEachClientAtMostTwoLabelsWhenAsked) {
  std::vector<std::int64_t> labels(1000);
  for (int i = 0; i < 1000; ++i) labels[i] = i / 100;  // 10 classes, 100 each
  const Partition p = PartitionShards(labels, 10, 2, 5);
  ExpectEverySampleExactlyOnce(p, 1000);
  for (const auto& client : p) {
    std::set<std::int64_t> seen;
    for (auto i : client) seen.insert(labels[i]);
    EXPECT_LE(seen.size(), 2u);
  }
}

TEST(PartitionTest, RejectsImpossibleParameters) {
  const auto labels = Labels(10, 2);
  EXPECT_THROW(PartitionIid(10, 0, 1), ConfigError);
  EXPECT_THROW(PartitionDirichlet(labels, 2, 3, 0.0, 1), ConfigError);
  EXPECT_THROW(PartitionShards(labels, 6, 2, 1), ConfigError);
}

TEST(PartitionFileTest, RoundTripsThroughFile) {
  fsd::testing::TempDir dir;
  const auto labels = Labels(3000, 10);
  const Partition p = PartitionDirichlet(labels, 10, 5, 0.5, 9);
  WritePartitionFile(dir.File("p.txt"), p);
  EXPECT_EQ(ReadPartitionFile(dir.File("p.txt"), 3000), p);
  // A client without samples keeps its place (as a blank line).
  const Partition gap = {{0, 1}, {}, {2}};
  WritePartitionFile(dir.File("gap.txt"), gap);
  EXPECT_EQ(fsd::testing::ReadFile(dir.File("gap.txt")), "0 1\n\n2\n");
  EXPECT_EQ(ReadPartitionFile(dir.File("gap.txt"), 3), gap);
}

TEST(PartitionFileTest, ReadsBenchmarkPartitionWithReferenceClientSizes) {
  const Partition p = ReadPartitionFile(
      fsd::testing::SourceDir() + "/configs/partitions/fmnist_dir0.5_seed42.txt", 60000);
  std::vector<std::size_t> sizes;
  for (const auto& client : p) sizes.push_back(client.size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10309, 5958, 6754, 8712, 5251, 4719, 4372, 8401, 3402,
                                             2122}));
  ExpectEverySampleExactlyOnce(p, 60000);
}

void ExpectReadError(const std::string& text, const std::string& fragment) {
  fsd::testing::TempDir dir;
  fsd::testing::WriteFile(dir.File("p.txt"), text);
  try {
    ReadPartitionFile(dir.File("p.txt"), 10);
    FAIL() << "expected DataError for: " << text;
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(PartitionFileTest, RejectsIndexOutOfRange) {
  ExpectReadError("1 2 3\n4 10\n", ":2: index 10 outside");
}
TEST(PartitionFileTest, RejectsIndexAssignedTwice) {
  ExpectReadError("1 2 3\n3 4\n", "index 3 assigned twice");
}
TEST(PartitionFileTest, RejectsNonNumericToken) {
  ExpectReadError("1 2x 3\n", "not a sample index");
}
TEST(PartitionFileTest, RejectsNegativeIndex) { ExpectReadError("1 -2\n", "index -2 outside"); }
TEST(PartitionFileTest, RejectsAFileWithoutSamples) { ExpectReadError("\n\n", "no samples"); }

}  // namespace
}  // namespace fsd::data
