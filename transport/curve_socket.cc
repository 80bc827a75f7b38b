#include "transport/curve_socket.h"

namespace fsd::transport {
namespace {

// ZMQ_ZAP_ENFORCE_DOMAIN is a draft option that zmq.h hides unless
// ZMQ_BUILD_DRAFT_API is defined; Debian 12's libzmq 4.3.4 accepts it.
constexpr int kZapEnforceDomain = 93;
constexpr const char* kZapDomain = "fsd";

void ConfigureCommon(zmq::socket_t& socket, const SocketLimits& limits) {
  socket.set(zmq::sockopt::maxmsgsize, limits.max_message_bytes);
  socket.set(zmq::sockopt::handshake_ivl, limits.handshake_ms);
  socket.set(zmq::sockopt::sndhwm, limits.high_water_mark);
  socket.set(zmq::sockopt::rcvhwm, limits.high_water_mark);
  socket.set(zmq::sockopt::linger, 0);
}

}  // namespace

void ConfigureCurveServer(zmq::socket_t& socket, const CurveKeyPair& server_keys,
                          const SocketLimits& limits) {
  ConfigureCommon(socket, limits);
  socket.set(zmq::sockopt::zap_domain, kZapDomain);
  const int enforce = 1;
  // zmq_setsockopt directly: cppzmq exposes no typed option for a hidden draft option.
  if (zmq_setsockopt(socket.handle(), kZapEnforceDomain, &enforce, sizeof(enforce)) != 0) {
    throw zmq::error_t();
  }
  socket.set(zmq::sockopt::curve_server, true);
  socket.set(zmq::sockopt::curve_secretkey, server_keys.secret_z85);
}

void ConfigureCurveClient(zmq::socket_t& socket, const CurveKeyPair& client_keys,
                          const std::string& server_public_z85, const SocketLimits& limits) {
  ConfigureCommon(socket, limits);
  socket.set(zmq::sockopt::curve_serverkey, server_public_z85);
  socket.set(zmq::sockopt::curve_publickey, client_keys.public_z85);
  socket.set(zmq::sockopt::curve_secretkey, client_keys.secret_z85);
}

void ConfigureInsecure(zmq::socket_t& socket, const SocketLimits& limits) {
  ConfigureCommon(socket, limits);
}

}  // namespace fsd::transport
