// HttpServer: serves a Board to an operator over HTTP, on threads of its own.
//   GET /          the status page (status_page.html, compiled into the
//                  binary; no external assets): accuracy per exit, clients,
//                  bytes and epsilon per round, drawn live.
//   GET /metrics   the Prometheus text format (prometheus.h).
//   GET /api/status[?since=R]  the snapshot as JSON (the page's data):
//                  run, live, totals and the rounds after round R.
// Anything else gets 404; a request line or header past 8 KiB, 400/414/431
// (cpp-httplib's limits); a client silent for kReadTimeoutS, its connection
// closed. Requests are served by kThreads threads that read a copy of the
// Board, so a slow or hostile HTTP client can delay other HTTP clients but
// never the round loop. There is no authentication: bind to loopback (the
// default everywhere this is documented) or put an authenticating proxy in
// front. Errors: ConfigError for an address that is not HOST:PORT, IoError
// when it cannot be bound.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "monitor/board.h"

namespace httplib {
class Server;
}

namespace fsd::monitor {

class HttpServer {
 public:
  static constexpr int kThreads = 4;
  static constexpr int kReadTimeoutS = 5;

  // Binds `address` ("HOST:PORT"; port 0 takes a free one) and starts
  // serving `board`, which must outlive the server.
  HttpServer(const Board& board, const std::string& address);
  ~HttpServer();  // stops serving and joins the thread
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "http://HOST:PORT/" with the port actually bound.
  const std::string& url() const { return url_; }
  int port() const { return port_; }

 private:
  const Board& board_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};  // the listener thread has returned
  std::string url_;
  int port_ = 0;
};

// Splits "HOST:PORT" ("[::1]:9464" for IPv6); ConfigError naming `flag`
// when it is not that.
std::pair<std::string, int> ParseHttpAddress(const std::string& address, const std::string& flag);

}  // namespace fsd::monitor
