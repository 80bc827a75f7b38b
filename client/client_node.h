// ClientNode: one client's connection to a coordinator — its DEALER socket,
// its protocol session (client_session.h) and its timers — the one driver
// that fsd-client and fsd-sim both use. The owner polls socket(), calls
// Receive() when it is readable and Tick() regularly, trains the rounds
// Receive() returns wherever it likes (fsd-client on a training thread,
// fsd-sim on a worker pool) and hands the results to SendUpdate(). While a
// round trains, Tick() keeps sending HEARTBEATs, so the coordinator can tell
// a busy client from a dead one; while not welcomed, Tick() re-sends JOIN.
//
// With watch_handshake, a socket monitor reports handshakes the coordinator
// refused: this client's key is not on its allow-list (ZAP said 400), or the
// connection closed before the handshake completed (wrong --server-key, or
// not a CURVE coordinator). libzmq reconnects by itself; after
// max_handshake_failures refusals handshake_failure() says which it was.
// Thread-safety: one owner thread (the socket's). Errors: zmq::error_t from
// socket set-up; nothing the coordinator sends makes a method throw.
#pragma once

#include <chrono>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "client/client_session.h"
#include "transport/curve_keys.h"
#include "transport/curve_socket.h"

namespace fsd::client {

struct ClientNodeOptions {
  std::string endpoint;           // the coordinator's, e.g. tcp://10.0.0.1:5555
  bool insecure = false;          // plaintext (debugging only)
  transport::CurveKeyPair keys;     // this client's CURVE keypair
  std::string server_public_z85;  // the coordinator's public key
  transport::SocketLimits limits;
  int heartbeat_ms = 1000;  // ping when nothing was sent for this long; JOIN retry interval
  bool watch_handshake = false;
  int max_handshake_failures = 3;
  // fsd-sim's protocol attacks (sim/attack.h): a hostile client's own
  // deviation, editing each frame as it arrives from the coordinator or
  // before it leaves. Empty: frames pass unchanged.
  using FrameEditor = std::function<void(std::vector<std::uint8_t>& frame)>;
  FrameEditor edit_incoming;
  FrameEditor edit_outgoing;
};

// A node's connection options from `config`'s [transport] (plaintext,
// message and handshake limits, heartbeat) for the coordinator at
// `endpoint`; the caller adds the keys (not in plaintext) and anything else.
ClientNodeOptions NodeOptionsFromConfig(const config::RunConfig& config, std::string endpoint);

enum class HandshakeFailure {
  kKeyRefused,        // the coordinator's ZAP handler refused this client's key
  kHandshakeAborted,  // closed during the handshake: wrong server key, or not CURVE
};
const char* HandshakeFailureText(HandshakeFailure failure);

class ClientNode {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `context` must outlive the node.
  ClientNode(zmq::context_t& context, ClientSession session, ClientNodeOptions options);
  ~ClientNode();
  ClientNode(ClientNode&&) noexcept;
  ClientNode& operator=(ClientNode&&) = delete;

  // Connects and sends JOIN. ConfigError when the endpoint is not valid.
  void Start(TimePoint now);
  zmq::socket_t& socket() { return socket_; }

  // Handles every frame waiting on the socket, or at most `max_frames` of
  // them (tests step a client one message at a time), and monitor events;
  // the rounds to train, in arrival order.
  std::vector<LocalRound> Receive(TimePoint now,
                                  std::size_t max_frames = std::numeric_limits<std::size_t>::max());
  // Sends the UPDATE of a trained round (nothing when training diverged).
  void SendUpdate(const LocalRound& round, TrainedRound trained, TimePoint now);
  // HEARTBEAT when idle, JOIN again while not welcomed.
  void Tick(TimePoint now);
  // BYE, delivered before the socket closes (linger).
  void SayBye(const std::string& reason);
  // Lets the frames already queued go out when the node is destroyed
  // (without it they are dropped, as in a crash). fsd-sim's dropouts.
  void DeliverQueuedOnClose();
  // Sends `frame` as it is, past the session (fsd-sim injects garbage this way).
  void SendRaw(std::span<const std::uint8_t> frame, TimePoint now);

  bool finished() const { return finished_; }
  // Why the coordinator said BYE (its text, at most 200 bytes).
  const std::string& finish_reason() const { return finish_reason_; }
  std::optional<HandshakeFailure> handshake_failure() const;
  // Why the coordinator will not admit this client (another model or protocol
  // version: ClientSession::Step::refused); retrying the JOIN cannot help.
  const std::optional<std::string>& refusal() const { return refusal_; }
  const ClientSession& session() const { return session_; }
  ClientSession& session() { return session_; }
  std::int64_t updates_sent() const { return updates_sent_; }

 private:
  void Send(const std::vector<std::uint8_t>& frame, TimePoint now);
  void ReadMonitor();

  zmq::socket_t socket_;
  zmq::socket_t monitor_;  // PAIR reading the socket monitor; empty unless watched
  ClientSession session_;
  ClientNodeOptions options_;
  TimePoint last_sent_{};
  bool finished_ = false;
  std::string finish_reason_;
  std::optional<std::string> refusal_;
  std::int64_t updates_sent_ = 0;
  int auth_failures_ = 0, aborted_handshakes_ = 0;
  bool handshake_ok_ = false;  // this connection's handshake succeeded
  bool refused_ = false;       // this connection's handshake was refused by ZAP
};

}  // namespace fsd::client
