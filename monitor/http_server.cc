#include "monitor/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>

#include "common/errors.h"
#include "monitor/prometheus.h"
#include "monitor/status_page.h"

namespace fsd::monitor {
namespace {

// The snapshot as the status page reads it, with the rounds after `since`.
nlohmann::json StatusJson(const Snapshot& snapshot, std::int64_t since) {
  const RunInfo& run = snapshot.run;
  const Live& live = snapshot.live;
  nlohmann::json rounds = nlohmann::json::array();
  for (const auto& point : snapshot.rounds) {
    if (point.value("round", std::int64_t{0}) > since) rounds.push_back(point);
  }
  nlohmann::json bytes = nlohmann::json::object();
  for (const auto& [key, value] : snapshot.totals.bytes)
    bytes[key.first + "_" + key.second] = value;
  return {{"run",
           {{"program", run.program},
            {"model", run.model_fingerprint},
            {"rounds_configured", run.rounds_configured},
            {"epsilon_budget", run.epsilon_budget},
            {"delta", run.delta}}},
          {"live",
           {{"phase", live.phase},
            {"committed", live.committed},
            {"attempt", live.attempt},
            {"enrolled", live.enrolled},
            {"connected", live.connected},
            {"sampled", live.sampled},
            {"reported", live.reported},
            {"epsilon_spent", live.epsilon_spent},
            {"rejects", live.rejects},
            {"finished", live.finished},
            {"stop_reason", live.stop_reason}}},
          {"totals",
           {{"bytes", bytes},
            {"rounds_failed", snapshot.totals.rounds_failed},
            {"secagg_dropouts", snapshot.totals.secagg_dropouts},
            {"secagg_clamped", snapshot.totals.secagg_clamped}}},
          {"rounds", rounds}};
}

}  // namespace

std::pair<std::string, int> ParseHttpAddress(const std::string& address, const std::string& flag) {
  const auto bad = [&](const std::string& why) {
    return ConfigError(flag + " '" + address + "': " + why +
                       " (expected HOST:PORT, e.g. 127.0.0.1:9464; port 0 takes a free one)");
  };
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) throw bad("no host or no port");
  std::string host = address.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      throw bad("unbalanced brackets around the IPv6 host");
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = address.substr(colon + 1);
  int port = -1;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port < 0 ||
      port > 65535) {
    throw bad("the port is not a number in 0..65535");
  }
  return {host, port};
}

HttpServer::HttpServer(const Board& board, const std::string& address)
    : board_(board), server_(std::make_unique<httplib::Server>()) {
  const auto [host, port] = ParseHttpAddress(address, "--http");
  httplib::Server& server = *server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  server.set_read_timeout(kReadTimeoutS, 0);
  server.set_write_timeout(kReadTimeoutS, 0);
  server.set_keep_alive_timeout(kReadTimeoutS);
  server.set_payload_max_length(1 << 16);  // GETs only: no body worth reading
  // SO_REUSEADDR (a restarted process binds at once) but not cpp-httplib's
  // default SO_REUSEPORT, with which a second process would share the port.
  server.set_socket_options([](int socket) {
    const int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(kStatusPage, "text/html; charset=utf-8");
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(RenderPrometheus(board_.Read()), kPrometheusContentType);
  });
  server.Get("/api/status", [this](const httplib::Request& request, httplib::Response& response) {
    std::int64_t since = 0;
    if (request.has_param("since")) {
      const std::string text = request.get_param_value("since");
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), since);
      if (error != std::errc() || end != text.data() + text.size()) {
        response.status = 400;
        response.set_content("since: expected a round number\n", "text/plain");
        return;
      }
    }
    response.set_header("Cache-Control", "no-store");
    response.set_content(StatusJson(board_.Read(), since).dump(), "application/json");
  });
  server.set_error_handler([](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;
    const std::string what = response.status == 404
                                 ? "no such page: " + request.path + " (try / or /metrics)"
                                 : "request refused";
    response.set_content(std::to_string(response.status) + " " + what + "\n", "text/plain");
  });
  port_ = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) {
    throw IoError("--http " + address +
                  ": cannot listen there (the port is in use, or the host is not this machine's)");
  }
  url_ = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port_) + "/";
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    stopped_ = true;
  });
}

HttpServer::~HttpServer() {
  // stop() does nothing before the listener is running: repeat it until
  // the thread has left its loop.
  while (!stopped_) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  thread_.join();
}

}  // namespace fsd::monitor
