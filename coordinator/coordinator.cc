#include "coordinator/coordinator.h"

#include <cerrno>
#include <cstdio>

#include "common/log.h"
#include "transport/curve_socket.h"

namespace fsd::coordinator {
namespace {

constexpr int kSendQueueMessages = 1000;
// Often enough for a page that polls every 2 s, rare enough to cost nothing.
constexpr auto kPublishInterval = std::chrono::milliseconds(250);

}  // namespace

Coordinator::Coordinator(zmq::context_t& context, CoordinatorOptions options,
                         transport::CurveKeyPair server_keys, transport::AllowList allowed,
                         std::vector<float> initial_global, Evaluator evaluator,
                         RoundListener listener)
    : context_(context),
      transport_(options.transport),
      server_keys_(std::move(server_keys)),
      allowed_(std::move(allowed)),
      router_(context, zmq::socket_type::router),
      rounds_(
          std::move(options), allowed_, std::move(initial_global), std::move(evaluator),
          [this, listener = std::move(listener)](const nlohmann::json& record) {
            if (board_ != nullptr) board_->AddRound(record);
            if (listener) listener(record);
          },
          clock_) {}

Coordinator::~Coordinator() = default;

std::string Coordinator::Bind() {
  transport::SocketLimits socket_limits;
  socket_limits.max_message_bytes = static_cast<std::int64_t>(transport_.max_message_mb) << 20;
  socket_limits.handshake_ms = transport_.handshake_ms;
  socket_limits.high_water_mark = transport_.queue_messages;
  if (transport_.insecure) {
    FSD_LOG(WARNING) << "--insecure: plaintext transport, no authentication";
    transport::ConfigureInsecure(router_, socket_limits);
  } else {
    // The handler must answer before the socket binds: libzmq admits any CURVE
    // client when no ZAP handler is running.
    zap_ = std::make_unique<transport::ZapHandler>(context_, allowed_);
    zap_->Start();
    transport::ConfigureCurveServer(router_, server_keys_, socket_limits);
  }
  // Outbound replies get a deeper queue than inbound frames: they are the
  // coordinator's own small REJECTs and at most 1 + max_round_start_resends
  // ROUND_STARTs per round, and a shallow send queue would drop replies to a
  // client that is merely slower to read than libzmq is to acknowledge.
  router_.set(zmq::sockopt::sndhwm, kSendQueueMessages);
  router_.set(zmq::sockopt::router_mandatory, false);
  router_.bind(transport_.bind);
  return router_.get(zmq::sockopt::last_endpoint);
}

void Coordinator::Watch(monitor::Board& board, const std::string& program) {
  const CoordinatorOptions& options = rounds_.options();
  monitor::RunInfo run;
  run.program = program;
  run.model_fingerprint = wire::FingerprintHex(options.schema_fingerprint);
  run.rounds_configured = options.federation.rounds;
  if (const nlohmann::json spent = rounds_.privacy_spent(); spent.is_object()) {
    run.delta = spent.value("delta", 0.0);
    run.epsilon_budget = options.privacy.target_epsilon;
  }
  board.SetRun(std::move(run));
  board_ = &board;
  Publish(true);
}

void Coordinator::Publish(bool now_or_never) {
  if (board_ == nullptr || (!now_or_never && clock_.Now() - published_ < kPublishInterval)) return;
  published_ = clock_.Now();
  monitor::Live live;
  live.phase = PhaseName(rounds_.phase());
  live.committed = rounds_.committed_round();
  live.attempt = rounds_.attempt();
  live.enrolled = rounds_.registry().num_enrolled();
  live.connected = rounds_.registry().num_joined();
  live.sampled = rounds_.sampled();
  live.reported = rounds_.reported();
  if (const nlohmann::json spent = rounds_.privacy_spent(); spent.is_object()) {
    live.epsilon_spent = spent.value("epsilon", 0.0);
  }
  live.rejects = rounds_.reject_counts();
  live.finished = rounds_.done() || stop_;
  live.stop_reason = rounds_.stop_reason();
  board_->SetLive(std::move(live));
}

void Coordinator::Run() {
  while (!stop_ && !rounds_.done()) {
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
      continue;  // a signal: Stop() may have been called
    }
    Drain();
    rounds_.Tick();
    Flush();
    Publish();
  }
  rounds_.SayGoodbye(rounds_.stop_reason().empty() ? "federation finished" : rounds_.stop_reason());
  Flush();
  Publish(true);
}

void Coordinator::Drain() {
  const auto budget_end = clock_.Now() + std::chrono::milliseconds(transport_.poll_budget_ms);
  while (!stop_ && clock_.Now() < budget_end) {
    // Each message is [routing id, frame].
    zmq::message_t routing_id;
    if (!router_.recv(routing_id, zmq::recv_flags::dontwait)) return;
    std::vector<zmq::message_t> parts;
    while (routing_id.more() || (!parts.empty() && parts.back().more())) {
      zmq::message_t part;
      if (!router_.recv(part, zmq::recv_flags::dontwait)) break;
      parts.push_back(std::move(part));
      if (!parts.back().more()) break;
    }
    Peer peer;
    peer.routing_id = routing_id.to_string();
    if (transport_.insecure) {
      // No ZAP, no authenticated identity (and no User-Id property to read).
      peer.identity = peer.routing_id;
    } else if (!parts.empty()) {
      const char* user = zmq_msg_gets(parts[0].handle(), "User-Id");
      peer.identity = user != nullptr ? user : "";
    }
    if (parts.size() != 1) {
      rounds_.Refuse(peer, wire::RejectCode::kMalformed, "expected exactly one frame per message");
    } else {
      rounds_.OnFrame(peer, {parts[0].data<std::uint8_t>(), parts[0].size()});
    }
    Flush();
  }
}

void Coordinator::Flush() {
  for (auto& out : rounds_.TakeOutgoing()) {
    // Non-blocking: a client whose queue is full loses this message (it
    // rejoins or times out), the coordinator never waits for it.
    if (!router_.send(zmq::buffer(out.routing_id),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      continue;
    }
    (void)router_.send(zmq::buffer(out.frame), zmq::send_flags::dontwait);
  }
}

}  // namespace fsd::coordinator
