// CURVE + ZAP over real loopback TCP sockets (libzmq test_security_curve
// style): an allow-listed client is delivered with its key as identity; an
// unlisted key, a plaintext client and a raw TCP writer deliver nothing, and
// the server keeps serving afterwards.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include "client/client_node.h"
#include "common/errors.h"
#include "common/wire/frame.h"
#include "transport/curve_socket.h"
#include "transport/zap_handler.h"
#include "tests/testing/temp_dir.h"

namespace fsd::transport {
namespace {

struct Received {
  std::string user_id;
  std::vector<std::uint8_t> frame;
};

class CurveAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_keys_ = GenerateCurveKeyPair();
    allowed_keys_ = GenerateCurveKeyPair();
    zap_ = std::make_unique<ZapHandler>(context_, AllowList{{allowed_keys_.public_z85, "allowed"}});
    zap_->Start();
    ConfigureCurveServer(router_, server_keys_, SocketLimits{});
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  }

  zmq::socket_t Dealer() {
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    return dealer;
  }

  // The next message on the ROUTER within `timeout_ms`, if any.
  std::optional<Received> Receive(int timeout_ms) {
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) <= 0) return std::nullopt;
    zmq::message_t routing_id, body;
    EXPECT_TRUE(router_.recv(routing_id));
    EXPECT_TRUE(router_.recv(body));
    Received received;
    const char* user = body.gets("User-Id");
    received.user_id = user != nullptr ? user : "";
    received.frame.assign(body.data<std::uint8_t>(), body.data<std::uint8_t>() + body.size());
    return received;
  }

  void SendJoin(zmq::socket_t& dealer, const std::string& name) {
    const auto frame = wire::EncodeFrame(wire::Message{0, wire::Join{1, 1, 42, 100, name, 0}});
    // dontwait: a DEALER whose handshake was refused has no pipe, and a
    // blocking send would wait for one forever.
    (void)dealer.send(zmq::buffer(frame), zmq::send_flags::dontwait);
  }

  void ExpectAllowedClientDelivers() {
    auto dealer = Dealer();
    ConfigureCurveClient(dealer, allowed_keys_, server_keys_.public_z85, SocketLimits{});
    dealer.connect(endpoint_);
    SendJoin(dealer, "allowed");
    const auto received = Receive(5000);
    ASSERT_TRUE(received.has_value());
    EXPECT_EQ(received->user_id, allowed_keys_.public_z85);
    const auto decoded = wire::DecodeFrame(received->frame, wire::WireLimits{});
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(std::get<wire::Join>(decoded.value().body).client_name, "allowed");
  }

  zmq::context_t context_;
  CurveKeyPair server_keys_;
  CurveKeyPair allowed_keys_;
  std::unique_ptr<ZapHandler> zap_;
  zmq::socket_t router_{context_, zmq::socket_type::router};
  std::string endpoint_;
};

TEST_F(CurveAuthTest, AllowListedClientIsDeliveredWithItsKeyAsIdentity) {
  ExpectAllowedClientDelivers();
  EXPECT_EQ(zap_->denials(), 0);
}

TEST_F(CurveAuthTest, UnlistedKeyNeverDeliversAMessage) {
  auto dealer = Dealer();
  ConfigureCurveClient(dealer, GenerateCurveKeyPair(), server_keys_.public_z85, SocketLimits{});
  dealer.connect(endpoint_);
  SendJoin(dealer, "intruder");
  EXPECT_FALSE(Receive(1500).has_value());
  EXPECT_GE(zap_->denials(), 1);
  ExpectAllowedClientDelivers();
}

TEST_F(CurveAuthTest, PlaintextClientDeliversNothing) {
  auto dealer = Dealer();
  ConfigureInsecure(dealer, SocketLimits{});
  dealer.connect(endpoint_);
  SendJoin(dealer, "plaintext");
  EXPECT_FALSE(Receive(1500).has_value());
  ExpectAllowedClientDelivers();
}

TEST_F(CurveAuthTest, ClientPinnedToAnotherServerKeyDeliversNothing) {
  auto dealer = Dealer();
  ConfigureCurveClient(dealer, allowed_keys_, GenerateCurveKeyPair().public_z85, SocketLimits{});
  dealer.connect(endpoint_);
  SendJoin(dealer, "wrong server key");
  EXPECT_FALSE(Receive(1500).has_value());
}

TEST_F(CurveAuthTest, RawTcpGarbageDeliversNothingAndServerKeepsServing) {
  const auto colon = endpoint_.rfind(':');
  const int port = std::stoi(endpoint_.substr(colon + 1));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  // A ZMTP-looking greeting followed by a "sneaky" unauthenticated frame, then noise.
  std::string garbage("\xff\0\0\0\0\0\0\0\x01\x7f", 10);
  garbage += std::string(256, '\xab');
  ASSERT_GT(::write(fd, garbage.data(), garbage.size()), 0);
  EXPECT_FALSE(Receive(1000).has_value());
  ::close(fd);
  ExpectAllowedClientDelivers();
}

TEST_F(CurveAuthTest, ClientsAreRefusedOnceTheZapHandlerIsGone) {
  ExpectAllowedClientDelivers();
  zap_.reset();  // the handler stops answering: domain enforcement must fail closed
  auto dealer = Dealer();
  ConfigureCurveClient(dealer, allowed_keys_, server_keys_.public_z85, SocketLimits{});
  dealer.connect(endpoint_);
  SendJoin(dealer, "after the handler died");
  EXPECT_FALSE(Receive(1500).has_value());
}

// The client driver notices a refused handshake and says which refusal it was.
std::optional<client::HandshakeFailure> WaitForHandshakeFailure(client::ClientNode& node) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  node.Start(std::chrono::steady_clock::now());
  while (std::chrono::steady_clock::now() < deadline && !node.handshake_failure()) {
    zmq::pollitem_t item{node.socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    node.Receive(std::chrono::steady_clock::now());
    node.Tick(std::chrono::steady_clock::now());
  }
  return node.handshake_failure();
}

client::ClientNode NodeWith(zmq::context_t& context, const CurveKeyPair& keys,
                            const std::string& server_key, const std::string& endpoint) {
  client::ClientSessionOptions session;
  session.name = "probe";
  session.num_samples = 10;
  client::ClientNodeOptions options;
  options.endpoint = endpoint;
  options.keys = keys;
  options.server_public_z85 = server_key;
  options.heartbeat_ms = 100;
  options.watch_handshake = true;
  return client::ClientNode(context, client::ClientSession(session), options);
}

TEST_F(CurveAuthTest, ClientNodeReportsAKeyThatIsNotOnTheAllowList) {
  auto node = NodeWith(context_, GenerateCurveKeyPair(), server_keys_.public_z85, endpoint_);
  EXPECT_EQ(WaitForHandshakeFailure(node), client::HandshakeFailure::kKeyRefused);
}

TEST_F(CurveAuthTest, ClientNodeReportsAWrongServerKey) {
  auto node = NodeWith(context_, allowed_keys_, GenerateCurveKeyPair().public_z85, endpoint_);
  EXPECT_EQ(WaitForHandshakeFailure(node), client::HandshakeFailure::kHandshakeAborted);
}

TEST_F(CurveAuthTest, ClientNodeWithTheRightKeysReportsNoFailure) {
  auto node = NodeWith(context_, allowed_keys_, server_keys_.public_z85, endpoint_);
  node.Start(std::chrono::steady_clock::now());
  ASSERT_TRUE(Receive(5000).has_value());  // its JOIN arrived
  node.Receive(std::chrono::steady_clock::now());
  EXPECT_FALSE(node.handshake_failure().has_value());
}

TEST(ZapAllowListTest, LoadsEveryPublicKeyFileInADirectoryNamedByItsStem) {
  fsd::testing::TempDir dir;
  const auto a = GenerateCurveKeyPair();
  const auto b = GenerateCurveKeyPair();
  WriteCurveKeyPair(dir.path(), "client-a", a, false);
  WriteCurveKeyPair(dir.path(), "client-b", b, false);
  EXPECT_EQ(LoadAllowList(dir.path()),
            (AllowList{{a.public_z85, "client-a"}, {b.public_z85, "client-b"}}));
}

TEST(ZapAllowListTest, RefusesOneKeyUnderTwoNames) {
  fsd::testing::TempDir dir;
  const auto a = GenerateCurveKeyPair();
  WriteCurveKeyPair(dir.path(), "first", a, false);
  WriteCurveKeyPair(dir.path(), "second", a, false);
  EXPECT_THROW(LoadAllowList(dir.path()), fsd::AuthError);
}

}  // namespace
}  // namespace fsd::transport
