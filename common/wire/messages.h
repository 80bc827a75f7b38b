// Every message of the fsd wire protocol, its kind and REJECT codes, in one
// file. The byte layout and the dialog grammar are specified in
// docs/PROTOCOL.md; numbers on the wire never change meaning: kinds, codes and
// dtype ids are append-only (retired values stay, commented `retired:`), and
// any change to an existing layout bumps kProtocolVersion. No LibTorch here.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/codec/encoded.h"

namespace fsd::wire {

// Version 3: encoded value sections (fp16, int8, zstd), sparsity masks and
// 24-byte section headers (docs/PROTOCOL.md, "Version history"); versions 1
// and 2 are retired.
inline constexpr std::uint16_t kProtocolVersion = 3;
inline constexpr std::uint16_t kMinSupportedVersion = 3;
inline constexpr std::uint16_t kMaxSupportedVersion = 3;

enum class MessageKind : std::uint16_t {
  kJoin = 1,
  kWelcome = 2,
  kRoundStart = 3,
  kUpdate = 4,
  kReject = 5,
  kHeartbeat = 6,
  kBye = 7,
};

// What the receiver of a REJECT should do is in docs/PROTOCOL.md.
enum class RejectCode : std::uint16_t {
  kMalformed = 1,           // bytes do not parse; do not resend them
  kUnsupportedVersion = 2,  // no common protocol version; do not retry until upgraded
  kUnknownKind = 3,         // kind number not defined in this version
  kLimitExceeded = 4,       // a size or count above the receiver's limits
  kDigestMismatch = 5,      // payload digest does not match (corruption or tampering)
  kNonFinite = 6,           // NaN or Inf in a value that must be finite
  kStaleRound = 7,          // update for a round that is not the current one; rejoin next round
  kDuplicate = 8,           // second update from the same client in a round
  kNotAuthorized = 9,       // sender is not an admitted client
  kSchemaMismatch = 10,     // model layout fingerprint differs from the coordinator's
  kUnexpectedKind = 11,     // a valid message the current state does not accept
  kRoundClosed = 12,        // the round ended before the update arrived; rejoin next round
  kBusy = 13,               // try the same call again later
  kInvalidValue = 14,       // a value outside its allowed range (e.g. a negative count)
};

const char* MessageKindName(MessageKind kind);
const char* RejectCodeName(RejectCode code);

// Client → coordinator: open a session.
struct Join {
  std::uint16_t min_version = kMinSupportedVersion;
  std::uint16_t max_version = kMaxSupportedVersion;
  std::uint64_t schema_fingerprint = 0;  // common/model/flat_params.h FlatSchema::fingerprint()
  std::int64_t num_samples = 0;          // local training samples; caps later UPDATE sample counts
  std::string client_name;               // free text for logs, at most WireLimits::max_string_bytes
  bool operator==(const Join&) const = default;
};

// Coordinator → client: the session is open.
struct Welcome {
  std::uint16_t version = kProtocolVersion;  // chosen protocol version
  std::uint64_t schema_fingerprint = 0;
  std::uint32_t total_rounds = 0;
  bool operator==(const Welcome&) const = default;
};

// Coordinator → client: train on these values and answer with UPDATE.
struct RoundStart {
  double temperature = 3.0;
  double alpha = 0.5;
  double beta = 0.0;
  std::uint32_t local_epochs = 1;
  // The round whose sparsity mask is in force (0: no mask, every value kept).
  std::uint64_t mask_round = 0;
  // Tensor section 0: the values the mask keeps, in flat order, encoded with
  // the downlink codec; empty (count 0) in distillation-only mode, where each
  // client continues from its own weights.
  codec::Encoded global_values;
  // Tensor section 1: global soft targets, C×C row-major probabilities (row c
  // is the target distribution for label c); empty when there are none yet.
  std::vector<float> soft_targets;
  // Tensor section 2: the mask of `mask_round` as a bitmask over the flat
  // vector, sent only to clients that do not have it yet (else count 0).
  codec::Encoded mask{codec::Dtype::kBitmask, false, 0, {}};
  bool operator==(const RoundStart&) const = default;
};

// Client → coordinator: the result of local training for the envelope's round.
struct Update {
  std::int64_t sample_count = 0;
  double train_loss = 0.0;
  // Soft-target summary: per class c, the number of samples n_c (payload,
  // at most WireLimits::max_classes entries) ...
  std::vector<std::int64_t> summary_counts;
  // The mask the client trained with (ROUND_START.mask_round).
  std::uint64_t mask_round = 0;
  // Tensor section 0: the kept values after training, in flat order, encoded
  // with the uplink codec; empty (count 0) in distillation-only mode.
  codec::Encoded values;
  // ... and tensor section 1: the C×C mean deepest-exit logits (row c over the
  // class-c samples; zeros where n_c = 0). Decoding checks C² = this size.
  std::vector<float> summary_logits;
  bool operator==(const Update&) const = default;
};

// Either direction: the previous message was refused.
struct Reject {
  RejectCode code = RejectCode::kMalformed;
  std::string text;  // names the field and the limit; at most WireLimits::max_string_bytes
  bool operator==(const Reject&) const = default;
};

struct Heartbeat {
  bool operator==(const Heartbeat&) const = default;
};

struct Bye {
  std::string reason;
  bool operator==(const Bye&) const = default;
};

using Body = std::variant<Join, Welcome, RoundStart, Update, Reject, Heartbeat, Bye>;

// A message as it travels: the round of the envelope plus one body.
struct Message {
  std::uint64_t round = 0;
  Body body;
  bool operator==(const Message&) const = default;
};

MessageKind KindOf(const Body& body);

}  // namespace fsd::wire
