// ZapHandler: the ZeroMQ authentication (ZAP) handler that admits CURVE
// clients whose public key is on an allow-list.
//
// libzmq accepts *any* CURVE client when no ZAP handler answers, so a server
// must Start() its handler — which binds inproc://zeromq.zap.01 on the shared
// context and answers a self-probe — before it binds its own socket, and also
// set ZMQ_ZAP_ENFORCE_DOMAIN (see curve_socket.h). Admitted connections carry
// the client's Z85 public key as ZAP User-Id, readable on every message with
// zmq_msg_gets(msg, "User-Id"): that, not the routing id, is the identity.
// Thread-safety: Start/stop from the owning thread; counters are atomic and
// readable from any thread. Serves on its own thread until destroyed. Fails
// closed: if serving throws, the handler logs it and stops answering, and
// with ZAP domain enforcement every new client is then refused.
// Errors: AuthError if the self-probe gets no answer; IoError for allow-list files.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <zmq.hpp>

namespace fsd::transport {

// Admitted clients: Z85 public key → name. The name is what logs and
// metrics call the client (its .pub file's stem, e.g. "client-3"); the key is
// its identity.
using AllowList = std::map<std::string, std::string>;

// Every *.pub file in `dir` (fsd-keygen format), named by file stem.
// Errors: IoError (unreadable directory), AuthError (a bad key file, or one
// key under two names).
AllowList LoadAllowList(const std::string& dir);

class ZapHandler {
 public:
  // `context` must outlive the handler.
  ZapHandler(zmq::context_t& context, const AllowList& allowed);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Binds the ZAP endpoint, starts serving and verifies with a probe that it
  // answers. REQUIRES: called once, before any CURVE server socket binds.
  void Start();

  std::int64_t requests() const { return requests_.load(); }
  std::int64_t denials() const { return denials_.load(); }
  bool serving() const { return serving_.load(); }

 private:
  void Serve(zmq::socket_t socket);
  void ServeLoop(zmq::socket_t& socket);

  zmq::context_t& context_;
  std::set<std::string> allowed_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> serving_{false};
  std::atomic<std::int64_t> requests_{0};
  std::atomic<std::int64_t> denials_{0};
  std::thread thread_;
};

}  // namespace fsd::transport
