// AssignMaxExits (sim/profiles.h): exact shares, seeded, the same in every process.
#include "sim/profiles.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/errors.h"

namespace fsd::sim {
namespace {

const std::vector<config::ExitProfile> kThirtyThirtyForty = {{0.3, 1}, {0.3, 2}, {0.4, 0}};

TEST(AssignMaxExitsTest, GivesEachProfileExactlyItsShareOfTheClients) {
  const auto exits = AssignMaxExits(kThirtyThirtyForty, 20, 7);
  ASSERT_EQ(exits.size(), 20u);
  EXPECT_EQ(std::count(exits.begin(), exits.end(), 1), 6);
  EXPECT_EQ(std::count(exits.begin(), exits.end(), 2), 6);
  EXPECT_EQ(std::count(exits.begin(), exits.end(), 0), 8);
  // 10 clients: 3 / 3 / 4; 7 clients: 2.1 / 2.1 / 2.8 → the largest remainder (2.8) gets the extra.
  const auto ten = AssignMaxExits(kThirtyThirtyForty, 10, 7);
  EXPECT_EQ(std::count(ten.begin(), ten.end(), 0), 4);
  const auto seven = AssignMaxExits(kThirtyThirtyForty, 7, 7);
  EXPECT_EQ(std::count(seven.begin(), seven.end(), 1), 2);
  EXPECT_EQ(std::count(seven.begin(), seven.end(), 2), 2);
  EXPECT_EQ(std::count(seven.begin(), seven.end(), 0), 3);
}

TEST(AssignMaxExitsTest, IsAFunctionOfTheSeedAndWithoutProfilesEveryoneTrainsAll) {
  EXPECT_EQ(AssignMaxExits(kThirtyThirtyForty, 50, 3), AssignMaxExits(kThirtyThirtyForty, 50, 3));
  EXPECT_NE(AssignMaxExits(kThirtyThirtyForty, 50, 3), AssignMaxExits(kThirtyThirtyForty, 50, 4));
  EXPECT_EQ(AssignMaxExits({}, 5, 3), std::vector<int>(5, 0));
}

TEST(AssignMaxExitsTest, ProfilesBeyondTheModelsExitsAreRefusedByName) {
  config::HeterogeneityConfig heterogeneity;
  heterogeneity.profiles = {{0.5, 3}, {0.5, 0}};
  EXPECT_NO_THROW(CheckProfilesFit(heterogeneity, 3));
  try {
    CheckProfilesFit(heterogeneity, 2);
    FAIL() << "a profile deeper than the model was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("heterogeneity.profile[0].max_exit"), std::string::npos)
        << e.what();
  }
  heterogeneity.profiles.clear();
  heterogeneity.min_exit = 4;
  EXPECT_THROW(CheckProfilesFit(heterogeneity, 3), ConfigError);
}

}  // namespace
}  // namespace fsd::sim
