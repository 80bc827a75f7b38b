#include "client/client_node.h"

#include <atomic>
#include <cstring>

#include "common/errors.h"
#include "common/log.h"

namespace fsd::client {
namespace {

std::string MonitorEndpoint() {
  static std::atomic<std::uint64_t> next{0};
  return "inproc://fsd-client-monitor-" + std::to_string(next++);
}

}  // namespace

ClientNodeOptions NodeOptionsFromConfig(const config::RunConfig& config, std::string endpoint) {
  ClientNodeOptions options;
  options.endpoint = std::move(endpoint);
  options.insecure = config.transport.insecure;
  options.limits.max_message_bytes = static_cast<std::int64_t>(config.transport.max_message_mb)
                                     << 20;
  options.limits.handshake_ms = config.transport.handshake_ms;
  options.heartbeat_ms = config.transport.heartbeat_ms;
  return options;
}

const char* HandshakeFailureText(HandshakeFailure failure) {
  switch (failure) {
    case HandshakeFailure::kKeyRefused:
      return "the coordinator refused this client's key (not on its allow-list)";
    case HandshakeFailure::kHandshakeAborted:
      return "the coordinator closed every connection during the handshake (wrong --server-key, "
             "or the endpoint is not a CURVE coordinator)";
  }
  return "unknown handshake failure";
}

ClientNode::ClientNode(zmq::context_t& context, ClientSession session, ClientNodeOptions options)
    : socket_(context, zmq::socket_type::dealer),
      session_(std::move(session)),
      options_(std::move(options)) {
  if (options_.insecure) {
    transport::ConfigureInsecure(socket_, options_.limits);
  } else {
    transport::ConfigureCurveClient(socket_, options_.keys, options_.server_public_z85,
                                  options_.limits);
  }
  if (options_.watch_handshake) {
    const std::string endpoint = MonitorEndpoint();
    const int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_DISCONNECTED;
    if (zmq_socket_monitor(socket_.handle(), endpoint.c_str(), events) != 0) throw zmq::error_t();
    monitor_ = zmq::socket_t(context, zmq::socket_type::pair);
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(endpoint);
  }
}

ClientNode::~ClientNode() = default;
ClientNode::ClientNode(ClientNode&&) noexcept = default;

void ClientNode::Start(TimePoint now) {
  try {
    socket_.connect(options_.endpoint);
  } catch (const zmq::error_t& error) {
    throw ConfigError("--connect '" + options_.endpoint +
                      "': not a ZeroMQ endpoint this client can connect to (" + error.what() +
                      "), e.g. tcp://10.0.0.1:5555");
  }
  Send(session_.JoinFrame(), now);
}

void ClientNode::Send(const std::vector<std::uint8_t>& frame, TimePoint now) {
  // Non-blocking: with the queue full (coordinator unreachable) the frame is
  // dropped, and the timers send what is needed again.
  if (options_.edit_outgoing) {
    std::vector<std::uint8_t> edited = frame;
    options_.edit_outgoing(edited);
    (void)socket_.send(zmq::buffer(edited), zmq::send_flags::dontwait);
  } else {
    (void)socket_.send(zmq::buffer(frame), zmq::send_flags::dontwait);
  }
  last_sent_ = now;
}

std::vector<LocalRound> ClientNode::Receive(TimePoint now, std::size_t max_frames) {
  std::vector<LocalRound> rounds;
  if (monitor_) ReadMonitor();
  zmq::message_t message;
  for (std::size_t frames = 0;
       frames < max_frames && socket_.recv(message, zmq::recv_flags::dontwait); ++frames) {
    std::span<const std::uint8_t> received(message.data<std::uint8_t>(), message.size());
    std::vector<std::uint8_t> edited;
    if (options_.edit_incoming) {
      edited.assign(received.begin(), received.end());
      options_.edit_incoming(edited);
      received = edited;
    }
    auto step = session_.OnFrame(received);
    for (const auto& reply : step.replies) Send(reply, now);
    if (step.train) rounds.push_back(std::move(*step.train));
    if (step.rejoin) Send(session_.JoinFrame(), now);
    if (step.finished) {
      finished_ = true;
      finish_reason_ = std::move(step.reason);
    }
    if (!step.refused.empty()) refusal_ = std::move(step.refused);
  }
  return rounds;
}

void ClientNode::SendUpdate(const LocalRound& round, TrainedRound trained, TimePoint now) {
  if (auto frame = session_.UpdateFrame(round, std::move(trained))) {
    Send(*frame, now);
    ++updates_sent_;
  }
}

void ClientNode::Tick(TimePoint now) {
  if (monitor_) ReadMonitor();
  if (finished_ || now - last_sent_ < std::chrono::milliseconds(options_.heartbeat_ms)) return;
  Send(session_.welcomed() ? session_.HeartbeatFrame() : session_.JoinFrame(), now);
}

void ClientNode::SayBye(const std::string& reason) {
  (void)socket_.send(zmq::buffer(session_.ByeFrame(reason)), zmq::send_flags::dontwait);
  DeliverQueuedOnClose();
}

void ClientNode::DeliverQueuedOnClose() { socket_.set(zmq::sockopt::linger, 2000); }

void ClientNode::SendRaw(std::span<const std::uint8_t> frame, TimePoint now) {
  (void)socket_.send(zmq::const_buffer(frame.data(), frame.size()), zmq::send_flags::dontwait);
  last_sent_ = now;
}

void ClientNode::ReadMonitor() {
  zmq::message_t event, address;
  while (monitor_.recv(event, zmq::recv_flags::dontwait)) {
    if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::dontwait);
    if (event.size() < 6) continue;
    std::uint16_t id = 0;
    std::uint32_t value = 0;
    std::memcpy(&id, event.data(), 2);
    std::memcpy(&value, static_cast<const char*>(event.data()) + 2, 4);
    switch (id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        handshake_ok_ = true;
        auth_failures_ = aborted_handshakes_ = 0;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        // libzmq does not reconnect after a ZAP refusal: retry by hand, a
        // bounded number of times (the allow-list may just be late).
        ++auth_failures_;
        refused_ = true;
        FSD_LOG(WARNING) << "handshake refused by the coordinator (ZAP status " << value
                         << "), attempt " << auth_failures_ << " of "
                         << options_.max_handshake_failures;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        FSD_LOG(WARNING) << "CURVE handshake failed (protocol error " << value << ")";
        break;
      case ZMQ_EVENT_DISCONNECTED:
        if (!handshake_ok_ && !refused_) {
          ++aborted_handshakes_;
          FSD_LOG(WARNING) << "connection closed during the CURVE handshake, attempt "
                           << aborted_handshakes_ << " of " << options_.max_handshake_failures;
        }
        handshake_ok_ = false;
        if (refused_ && auth_failures_ < options_.max_handshake_failures) {
          socket_.disconnect(options_.endpoint);
          socket_.connect(options_.endpoint);
        }
        refused_ = false;
        break;
      default:
        break;
    }
  }
}

std::optional<HandshakeFailure> ClientNode::handshake_failure() const {
  if (auth_failures_ >= options_.max_handshake_failures) return HandshakeFailure::kKeyRefused;
  if (aborted_handshakes_ >= options_.max_handshake_failures)
    return HandshakeFailure::kHandshakeAborted;
  return std::nullopt;
}

}  // namespace fsd::client
