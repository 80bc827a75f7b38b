// The HTTP server over a real socket: its pages, its errors, and that slow or
// hostile HTTP clients never hold up whoever writes the board.
#include "monitor/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/errors.h"
#include "monitor/prometheus.h"

namespace fsd::monitor {
namespace {

// A TCP connection to the server that sends `bytes` and then stays silent.
class RawConnection {
 public:
  RawConnection(int port, const std::string& bytes) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    if (!bytes.empty()) {
      EXPECT_EQ(send(fd_, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    }
  }
  ~RawConnection() { close(fd_); }
  // Everything the server sends until it closes the connection.
  std::string ReadAll() {
    std::string all;
    char buffer[4096];
    ssize_t n;
    while ((n = recv(fd_, buffer, sizeof buffer, 0)) > 0)
      all.append(buffer, static_cast<std::size_t>(n));
    return all;
  }

 private:
  int fd_;
};

nlohmann::json Round(int round) {
  return {{"round", round}, {"acc", {0.5}}, {"bytes_up", 10}, {"bytes_up_weights", 10}};
}

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() : server_(board_, "127.0.0.1:0"), client_("127.0.0.1", server_.port()) {
    board_.SetRun({"fsd-coordinator", "00ff", 5, 0.0, 0.0});
    client_.set_read_timeout(10, 0);
  }
  Board board_;
  HttpServer server_;
  httplib::Client client_;
};

TEST_F(HttpServerTest, ServesMetricsInThePrometheusFormat) {
  board_.AddRound(Round(1));
  Live live;
  live.committed = 1;
  board_.SetLive(live);
  const auto response = client_.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), kPrometheusContentType);
  EXPECT_NE(response->body.find("fsd_rounds_committed_total 1\n"), std::string::npos);
  EXPECT_NE(response->body.find("fsd_exit_accuracy{exit=\"1\"} 0.5\n"), std::string::npos);
  EXPECT_EQ(server_.url(), "http://127.0.0.1:" + std::to_string(server_.port()) + "/");
}

TEST_F(HttpServerTest, ServesTheStatusPageFromTheBinary) {
  const auto response = client_.Get("/");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(response->body.find("<canvas id=\"accuracy\">"), std::string::npos);
  EXPECT_NE(response->body.find("/api/status?since="), std::string::npos);
  // No external assets: nothing is fetched from another origin.
  EXPECT_EQ(response->body.find("http://"), std::string::npos);
  EXPECT_EQ(response->body.find("https://"), std::string::npos);
}

TEST_F(HttpServerTest, StatusGivesOnlyTheRoundsAfterSince) {
  for (int round = 1; round <= 4; ++round) board_.AddRound(Round(round));
  const auto response = client_.Get("/api/status?since=2");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  const auto status = nlohmann::json::parse(response->body);
  ASSERT_EQ(status["rounds"].size(), 2u);
  EXPECT_EQ(status["rounds"][0]["round"], 3);
  EXPECT_EQ(status["run"]["rounds_configured"], 5);
  EXPECT_EQ(status["totals"]["bytes"]["up_weights"], 40);
  const auto bad = client_.Get("/api/status?since=two");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("since"), std::string::npos);
}

TEST_F(HttpServerTest, UnknownPathsGet404NamingThePath) {
  const auto response = client_.Get("/admin");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_NE(response->body.find("no such page: /admin"), std::string::npos);
  const auto post = client_.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_GE(post->status, 400);
}

TEST_F(HttpServerTest, RefusesAHugeHeaderAndStillServes) {
  RawConnection huge(server_.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                         std::string(64 * 1024, 'a') + "\r\n\r\n");
  const std::string answer = huge.ReadAll();
  EXPECT_EQ(answer.find("200 OK"), std::string::npos) << answer.substr(0, 200);
  const auto response = client_.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, SilentClientsNeverHoldUpTheBoardAndAreDroppedAfterTheTimeout) {
  // More silent connections than the server has threads: each holds one.
  std::vector<std::unique_ptr<RawConnection>> silent;
  for (int i = 0; i < HttpServer::kThreads + 2; ++i) {
    silent.push_back(std::make_unique<RawConnection>(server_.port(), "GET /metr"));
  }
  // The round loop's side: publishing takes no longer than a copy.
  const auto start = std::chrono::steady_clock::now();
  for (int round = 1; round <= 100; ++round) {
    board_.AddRound(Round(round));
    board_.SetLive(Live{});
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 0.5);
  // The server drops each silent client after its read timeout and then serves again.
  const auto waited = std::chrono::steady_clock::now();
  EXPECT_EQ(silent[0]->ReadAll().find("200 OK"), std::string::npos);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - waited).count(),
            HttpServer::kReadTimeoutS + 3.0);
  const auto response = client_.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_NE(response->body.find("fsd_rounds_committed_total"), std::string::npos);
}

TEST(HttpServerBindTest, AnAddressInUseIsAnIoErrorNamingIt) {
  Board board;
  HttpServer first(board, "127.0.0.1:0");
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  try {
    HttpServer second(board, address);
    FAIL() << "bound twice";
  } catch (const IoError& error) {
    EXPECT_NE(std::string(error.what()).find("--http " + address), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace fsd::monitor
