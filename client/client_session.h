// ClientSession: the client's side of the wire dialog (docs/PROTOCOL.md),
// without a socket, so fsd-client and fsd-sim drive it the same way:
// JoinFrame() → feed every received frame to OnFrame() → train when it says
// so → send UpdateFrame(). A REJECT that says the session is unknown
// (NOT_AUTHORIZED, UNEXPECTED_KIND) asks the owner to rejoin, which is how a
// client survives a coordinator restart. A ROUND_START whose T, α, β or
// sizes do not fit this client is logged and dropped (the coordinator's
// deadline then moves on without it).
// Thread-safety: one owner thread. Errors: OnFrame never throws on peer input.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/wire/frame.h"

namespace fsd::client {

class ClientSession {
 public:
  // The model's shape lets OnFrame refuse a ROUND_START that does not fit it:
  // `num_values` flat values (or none, in distillation-only mode) and
  // `num_classes` × `num_classes` soft targets (or none).
  ClientSession(std::string name, std::int64_t num_samples, std::uint64_t schema_fingerprint,
                std::size_t num_values, std::size_t num_classes, wire::WireLimits limits = {});

  struct Step {
    std::optional<std::pair<std::uint64_t, wire::RoundStart>> train;  // round and its start message
    bool rejoin = false;                                              // send JoinFrame() again
    bool finished = false;                                            // the coordinator said BYE
  };

  std::vector<std::uint8_t> JoinFrame() const;
  std::vector<std::uint8_t> HeartbeatFrame() const;
  std::vector<std::uint8_t> UpdateFrame(std::uint64_t round, wire::Update update) const;
  std::vector<std::uint8_t> ByeFrame(const std::string& reason) const;

  Step OnFrame(std::span<const std::uint8_t> frame);
  // Why `start` cannot be trained on by this client, if it cannot.
  std::optional<std::string> ProblemWith(const wire::RoundStart& start) const;

  bool welcomed() const { return welcomed_; }
  std::int64_t rejects_received() const { return rejects_received_; }

 private:
  std::string name_;
  std::int64_t num_samples_;
  std::uint64_t schema_fingerprint_;
  std::size_t num_values_;
  std::size_t num_classes_;
  wire::WireLimits limits_;
  bool welcomed_ = false;
  std::int64_t rejects_received_ = 0;
};

}  // namespace fsd::client
