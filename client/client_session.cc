#include "client/client_session.h"

#include "common/log.h"

namespace fsd::client {

ClientSession::ClientSession(std::string name, std::int64_t num_samples,
                             std::uint64_t schema_fingerprint, wire::WireLimits limits)
    : name_(std::move(name)),
      num_samples_(num_samples),
      schema_fingerprint_(schema_fingerprint),
      limits_(limits) {}

std::vector<std::uint8_t> ClientSession::JoinFrame() const {
  return wire::EncodeFrame({0, wire::Join{wire::kMinSupportedVersion, wire::kMaxSupportedVersion,
                                          schema_fingerprint_, num_samples_, name_}});
}

std::vector<std::uint8_t> ClientSession::HeartbeatFrame() const {
  return wire::EncodeFrame({0, wire::Heartbeat{}});
}

std::vector<std::uint8_t> ClientSession::UpdateFrame(std::uint64_t round,
                                                     wire::Update update) const {
  return wire::EncodeFrame({round, std::move(update)});
}

std::vector<std::uint8_t> ClientSession::ByeFrame(const std::string& reason) const {
  return wire::EncodeFrame({0, wire::Bye{reason}});
}

ClientSession::Step ClientSession::OnFrame(std::span<const std::uint8_t> frame) {
  Step step;
  auto decoded = wire::DecodeFrame(frame, limits_);
  if (!decoded.ok()) {
    FSD_LOG(WARNING) << name_ << ": dropped a frame from the coordinator: "
                     << wire::RejectCodeName(decoded.reject().code) << " " << decoded.reject().text;
    return step;
  }
  wire::Message& message = decoded.value();
  switch (wire::KindOf(message.body)) {
    case wire::MessageKind::kWelcome: {
      const auto& welcome = std::get<wire::Welcome>(message.body);
      welcomed_ = welcome.schema_fingerprint == schema_fingerprint_;
      if (!welcomed_) FSD_LOG(ERROR) << name_ << ": coordinator runs a different model";
      break;
    }
    case wire::MessageKind::kRoundStart:
      if (welcomed_)
        step.train.emplace(message.round, std::move(std::get<wire::RoundStart>(message.body)));
      break;
    case wire::MessageKind::kReject: {
      const auto& reject = std::get<wire::Reject>(message.body);
      ++rejects_received_;
      FSD_LOG(WARNING) << name_ << ": REJECT " << wire::RejectCodeName(reject.code) << ": "
                       << reject.text.substr(0, 200);
      if (reject.code == wire::RejectCode::kNotAuthorized ||
          reject.code == wire::RejectCode::kUnexpectedKind) {
        welcomed_ = false;
        step.rejoin = true;
      }
      break;
    }
    case wire::MessageKind::kBye:
      step.finished = true;
      break;
    default:
      break;  // HEARTBEAT and anything a client does not act on
  }
  return step;
}

}  // namespace fsd::client
