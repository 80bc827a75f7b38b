#include "transport/zap_handler.h"

#include <filesystem>
#include <vector>

#include "common/errors.h"
#include "common/log.h"
#include "transport/curve_keys.h"

namespace fsd::transport {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kProbeRequestId = "fsd-zap-self-probe";

std::string Z85Of(const zmq::message_t& key) {
  if (key.size() != 32) return {};
  char text[41];
  if (zmq_z85_encode(text, static_cast<const std::uint8_t*>(key.data()), 32) == nullptr) return {};
  return text;
}

}  // namespace

AllowList LoadAllowList(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw IoError(dir + ": cannot read allow-list directory: " + ec.message());
  AllowList keys;
  for (const auto& entry : it) {
    if (entry.path().extension() != ".pub") continue;
    const std::string name = entry.path().stem().string();
    const auto [at, inserted] = keys.emplace(LoadCurvePublicKeyFile(entry.path().string()), name);
    if (!inserted) {
      throw AuthError(entry.path().string() + ": the same key as " + at->second +
                      ".pub; every admitted client needs its own key");
    }
  }
  return keys;
}

ZapHandler::ZapHandler(zmq::context_t& context, const AllowList& allowed) : context_(context) {
  for (const auto& [key, name] : allowed) allowed_.insert(key);
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::Start() {
  FSD_CHECK(!thread_.joinable()) << "ZapHandler started twice";
  zmq::socket_t socket(context_, zmq::socket_type::rep);
  socket.set(zmq::sockopt::linger, 0);
  socket.bind(kZapEndpoint);
  thread_ = std::thread(&ZapHandler::Serve, this, std::move(socket));

  // Self-probe: an unknown key must be answered with 400 before we trust the handler.
  zmq::socket_t probe(context_, zmq::socket_type::req);
  probe.set(zmq::sockopt::linger, 0);
  probe.set(zmq::sockopt::rcvtimeo, 2000);
  probe.connect(kZapEndpoint);
  const std::uint8_t zero_key[32] = {};
  const std::vector<zmq::const_buffer> request = {zmq::str_buffer("1.0"),
                                                  zmq::buffer(std::string_view(kProbeRequestId)),
                                                  zmq::str_buffer("fsd"),
                                                  zmq::str_buffer("127.0.0.1"),
                                                  zmq::str_buffer(""),
                                                  zmq::str_buffer("CURVE"),
                                                  zmq::buffer(zero_key, sizeof(zero_key))};
  for (std::size_t i = 0; i < request.size(); ++i) {
    probe.send(request[i],
               i + 1 < request.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  std::vector<zmq::message_t> reply;
  zmq::message_t part;
  while (true) {
    if (!probe.recv(part)) throw AuthError("ZAP handler did not answer its self-probe");
    reply.push_back(std::move(part));
    if (!reply.back().more()) break;
  }
  if (reply.size() < 3 || reply[1].to_string() != kProbeRequestId ||
      reply[2].to_string() != "400") {
    throw AuthError("ZAP handler answered its self-probe incorrectly");
  }
}

void ZapHandler::Serve(zmq::socket_t socket) {
  serving_ = true;
  try {
    ServeLoop(socket);
  } catch (const std::exception& error) {
    // Fail closed: nobody answers ZAP requests now, so the enforcing server
    // socket refuses every new client.
    FSD_LOG(ERROR) << "ZAP handler stopped, new clients are refused: " << error.what();
  }
  serving_ = false;
}

void ZapHandler::ServeLoop(zmq::socket_t& socket) {
  while (!stop_) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if ((item.revents & ZMQ_POLLIN) == 0) continue;
    std::vector<zmq::message_t> request;
    zmq::message_t part;
    do {
      if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
      request.push_back(std::move(part));
    } while (request.back().more());

    // ZAP 1.0: version, request id, domain, address, identity, mechanism, credentials...
    const bool well_formed = request.size() >= 6 && request[0].to_string() == "1.0";
    const std::string request_id = request.size() > 1 ? request[1].to_string() : "";
    std::string status = "400", text = "malformed ZAP request", user_id;
    if (well_formed) {
      const std::string mechanism = request[5].to_string();
      const std::string key = request.size() == 7 ? Z85Of(request[6]) : "";
      if (mechanism == "CURVE" && !key.empty() && allowed_.contains(key)) {
        status = "200";
        text = "OK";
        user_id = key;
      } else {
        text = mechanism == "CURVE" ? "client key not on the allow-list" : "mechanism not allowed";
        if (request_id != kProbeRequestId) {
          ++denials_;
          FSD_LOG(WARNING) << "ZAP denied " << mechanism << " client"
                           << (key.empty() ? "" : " with key " + Fingerprint(key) + "...") << ": "
                           << text;
        }
      }
    }
    if (request_id != kProbeRequestId) ++requests_;
    const std::vector<std::string> reply = {"1.0", request_id, status, text, user_id, ""};
    for (std::size_t i = 0; i < reply.size(); ++i) {
      socket.send(zmq::buffer(reply[i]),
                  i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
}

}  // namespace fsd::transport
