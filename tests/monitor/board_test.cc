// The board's totals and page points, and the Prometheus text rendered from it.
#include "monitor/board.h"

#include <gtest/gtest.h>

#include <string>

#include "common/errors.h"
#include "monitor/http_server.h"
#include "monitor/prometheus.h"

namespace fsd::monitor {
namespace {

nlohmann::json PlainRound(int round) {
  return {{"round", round},
          {"outcome", "committed"},
          {"acc", {0.5, 0.75}},
          {"clients_selected", 4},
          {"clients_reported", 3},
          {"bytes_up", 1000},
          {"bytes_up_weights", 900},
          {"bytes_up_control", 100},
          {"bytes_down", 2000},
          {"bytes_down_weights", 2000},
          {"loss", 1.25},
          {"round_s", 3.5},
          {"collect_s", 3.0},
          {"eval_s", 0.5},
          {"unplotted", "x"}};
}

TEST(BoardTest, SumsBytesPerDirectionAndKindOverRounds) {
  Board board;
  board.AddRound(PlainRound(1));
  board.AddRound(PlainRound(2));
  const Snapshot snapshot = board.Read();
  EXPECT_EQ(snapshot.totals.bytes.at({"up", "weights"}), 1800);
  EXPECT_EQ(snapshot.totals.bytes.at({"up", "control"}), 200);
  EXPECT_EQ(snapshot.totals.bytes.at({"down", "weights"}), 4000);
  EXPECT_EQ(snapshot.totals.bytes.size(), 3u);  // bytes_up / bytes_down themselves are not kinds
  EXPECT_EQ(snapshot.totals.rounds_failed, 0);
  ASSERT_EQ(snapshot.rounds.size(), 2u);
  EXPECT_EQ(snapshot.rounds[1]["round"], 2);
  EXPECT_FALSE(snapshot.rounds[1].contains("unplotted"));
  EXPECT_EQ(snapshot.last_round["unplotted"], "x");
}

TEST(BoardTest, CountsSecureDropoutsClampsAndFailedRounds) {
  Board board;
  nlohmann::json secure = PlainRound(1);
  secure["secure_aggregation"] = {
      {"cohort", 10},
      {"survivors", 7},
      {"clamped", 2},
      {"stages", {{"advertise", {{"seconds", 0.25}}}, {"unmask", {{"seconds", 1.5}}}}}};
  board.AddRound(secure);
  nlohmann::json failed = PlainRound(2);
  failed["outcome"] = "failed";
  failed["secure_aggregation"] = {{"cohort", 5}, {"survivors", 0}, {"clamped", 0}};
  board.AddRound(failed);
  const Snapshot snapshot = board.Read();
  EXPECT_EQ(snapshot.totals.secagg_dropouts, 3 + 5);
  EXPECT_EQ(snapshot.totals.secagg_clamped, 2);
  EXPECT_EQ(snapshot.totals.rounds_failed, 1);
  EXPECT_DOUBLE_EQ(snapshot.rounds[0]["stage_s"]["unmask"].get<double>(), 1.5);
}

TEST(BoardTest, KeepsTheLastRoundsForThePageAndEveryRoundInTheTotals) {
  Board board;
  for (std::size_t round = 1; round <= Board::kRoundsKept + 5; ++round) {
    board.AddRound(PlainRound(static_cast<int>(round)));
  }
  const Snapshot snapshot = board.Read();
  EXPECT_EQ(snapshot.rounds.size(), Board::kRoundsKept);
  EXPECT_EQ(snapshot.rounds.front()["round"], 6);
  EXPECT_EQ(snapshot.totals.bytes.at({"down", "weights"}),
            2000 * static_cast<std::int64_t>(Board::kRoundsKept + 5));
}

Snapshot Example() {
  Board board;
  board.SetRun({"fsd-sim", "00ab", 20, 8.0, 1e-5});
  Live live;
  live.phase = "collecting";
  live.committed = 2;
  live.enrolled = 10;
  live.connected = 9;
  live.sampled = 5;
  live.reported = 4;
  live.epsilon_spent = 1.5;
  live.rejects = {{"STALE_ROUND", 3}};
  board.SetLive(live);
  board.AddRound(PlainRound(1));
  board.AddRound(PlainRound(2));
  return board.Read();
}

TEST(PrometheusTest, RendersEveryFamilyWithItsValues) {
  const std::string text = RenderPrometheus(Example());
  for (const char* line :
       {"# TYPE fsd_rounds_committed_total counter\nfsd_rounds_committed_total 2\n",
        "fsd_info{program=\"fsd-sim\",model=\"00ab\"} 1\n", "fsd_rounds_configured 20\n",
        "fsd_phase{phase=\"collecting\"} 1\n", "fsd_clients_enrolled 10\n",
        "fsd_clients_connected 9\n", "fsd_clients_sampled 5\n", "fsd_clients_reported 4\n",
        "fsd_bytes_total{direction=\"up\",kind=\"weights\"} 1800\n",
        "fsd_bytes_total{direction=\"down\",kind=\"weights\"} 4000\n",
        "fsd_rejects_total{code=\"STALE_ROUND\"} 3\n", "fsd_exit_accuracy{exit=\"1\"} 0.5\n",
        "fsd_exit_accuracy{exit=\"2\"} 0.75\n", "fsd_round_loss 1.25\n",
        "fsd_last_round_seconds{part=\"collect\"} 3\n", "fsd_privacy_epsilon_spent 1.5\n",
        "fsd_privacy_epsilon_budget 8\n", "fsd_privacy_delta 1.0000000000000001e-05\n",
        "fsd_finished 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << text;
  }
  // Every sample line belongs to the family its TYPE line announced.
  EXPECT_EQ(text.find("fsd_last_secure_stage_seconds"), std::string::npos);
}

TEST(PrometheusTest, LeavesOutPrivacyWithoutDpAndEscapesLabelValues) {
  Board board;
  board.SetRun({"fsd-\"sim\"\\\n", "ff", 3, 0.0, 0.0});
  const std::string text = RenderPrometheus(board.Read());
  EXPECT_EQ(text.find("fsd_privacy"), std::string::npos);
  EXPECT_NE(text.find("fsd_info{program=\"fsd-\\\"sim\\\"\\\\\\n\",model=\"ff\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("fsd_round_loss"), std::string::npos);  // no round yet
}

TEST(ParseHttpAddressTest, AcceptsHostAndPortIncludingIpv6AndPortZero) {
  EXPECT_EQ(ParseHttpAddress("127.0.0.1:9464", "--http"),
            std::make_pair(std::string("127.0.0.1"), 9464));
  EXPECT_EQ(ParseHttpAddress("[::1]:0", "--http"), std::make_pair(std::string("::1"), 0));
  EXPECT_EQ(ParseHttpAddress("0.0.0.0:80", "--http"), std::make_pair(std::string("0.0.0.0"), 80));
}

TEST(ParseHttpAddressTest, RefusesWhatIsNotHostColonPortNamingTheFlag) {
  for (const char* bad : {"9464", ":9464", "localhost:", "localhost:http", "host:70000", "host:-1",
                          "[::1:9464", "host:12x"}) {
    try {
      ParseHttpAddress(bad, "--http");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find("--http '" + std::string(bad) + "'"),
                std::string::npos)
          << error.what();
    }
  }
}

}  // namespace
}  // namespace fsd::monitor
