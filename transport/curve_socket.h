// Socket options for fsd's ZeroMQ endpoints, set in one place: CURVE keys,
// ZAP domain enforcement, message-size cap, handshake timeout, high-water
// marks, linger. Thread-safety: call on the thread that owns the socket.
#pragma once

#include <cstdint>
#include <string>
#include <zmq.hpp>

#include "transport/curve_keys.h"

namespace fsd::transport {

struct SocketLimits {
  std::int64_t max_message_bytes = 80 << 20;  // ZMQ_MAXMSGSIZE: larger frames drop the connection
  int handshake_ms = 5000;                    // ZMQ_HANDSHAKE_IVL: give up on slow handshakes
  int high_water_mark = 1000;                 // ZMQ_SNDHWM / ZMQ_RCVHWM, messages
};

// A CURVE server (coordinator ROUTER). REQUIRES: a ZapHandler was Start()ed on
// the socket's context; with ZAP domain enforcement on, clients are refused
// when no handler answers instead of admitted.
void ConfigureCurveServer(zmq::socket_t& socket, const CurveKeyPair& server_keys,
                          const SocketLimits& limits);

// A CURVE client (DEALER) that only talks to the server with `server_public_z85`.
void ConfigureCurveClient(zmq::socket_t& socket, const CurveKeyPair& client_keys,
                          const std::string& server_public_z85, const SocketLimits& limits);

// Plaintext, for debugging only (--insecure); the caller prints the warning.
void ConfigureInsecure(zmq::socket_t& socket, const SocketLimits& limits);

}  // namespace fsd::transport
