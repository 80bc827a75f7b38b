#include "client/client_session.h"

#include "common/log.h"

namespace fsd::client {

ClientSession::ClientSession(std::string name, std::int64_t num_samples,
                             std::uint64_t schema_fingerprint, std::size_t num_values,
                             std::size_t num_classes, wire::WireLimits limits)
    : name_(std::move(name)),
      num_samples_(num_samples),
      schema_fingerprint_(schema_fingerprint),
      num_values_(num_values),
      num_classes_(num_classes),
      limits_(limits) {}

std::optional<std::string> ClientSession::ProblemWith(const wire::RoundStart& start) const {
  if (!(start.temperature > 0.0 && start.temperature <= 100.0))
    return "temperature " + std::to_string(start.temperature) + " outside (0, 100]";
  if (!(start.alpha >= 0.0 && start.alpha <= 1.0))
    return "alpha " + std::to_string(start.alpha) + " outside [0, 1]";
  if (!(start.beta >= 0.0 && start.beta <= 100.0))
    return "beta " + std::to_string(start.beta) + " outside [0, 100]";
  if (!start.global_values.empty() && start.global_values.size() != num_values_) {
    return std::to_string(start.global_values.size()) + " model values, this model has " +
           std::to_string(num_values_);
  }
  if (!start.soft_targets.empty()) {
    if (start.soft_targets.size() != num_classes_ * num_classes_) {
      return std::to_string(start.soft_targets.size()) + " soft targets, this model needs " +
             std::to_string(num_classes_) + "x" + std::to_string(num_classes_);
    }
    for (const float p : start.soft_targets) {
      if (!(p >= 0.0f && p <= 1.0f)) return "a soft target is not a probability";
    }
  }
  return std::nullopt;
}

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
    case wire::MessageKind::kRoundStart: {
      if (!welcomed_) break;
      auto& start = std::get<wire::RoundStart>(message.body);
      if (auto problem = ProblemWith(start)) {
        FSD_LOG(WARNING) << name_ << ": dropped ROUND_START " << message.round << ": " << *problem;
        break;
      }
      step.train.emplace(message.round, std::move(start));
      break;
    }
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
