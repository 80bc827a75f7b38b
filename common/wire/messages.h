// Every message of the fsd wire protocol, its kind and REJECT codes, in one
// file. The byte layout and the dialog grammar are specified in
// docs/PROTOCOL.md; numbers on the wire never change meaning: kinds, codes and
// dtype ids are append-only (retired values stay, commented `retired:`), and
// any change to an existing layout bumps kProtocolVersion. No LibTorch here.
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/codec/encoded.h"

namespace fsd::wire {

// Version 8: ROUND_START's privacy block, UPDATE's and SECAGG_MASKED's
// withheld fields, UPDATE's private summary sections, SECAGG_MASKED's
// disputed senders (docs/PROTOCOL.md, "Version history"); versions 1 to 7
// are retired.
inline constexpr std::uint16_t kProtocolVersion = 8;
inline constexpr std::uint16_t kMinSupportedVersion = 8;
inline constexpr std::uint16_t kMaxSupportedVersion = 8;

// Bits of UPDATE.withheld and SECAGG_MASKED.withheld: fields a client does
// not send (their value on the wire is then 0), as under distributed DP,
// where nothing exact leaves a client. Other bits are malformed.
inline constexpr std::uint32_t kWithheldSampleCount = 1;
inline constexpr std::uint32_t kWithheldTrainLoss = 2;
inline constexpr std::uint32_t kWithheldKnownBits = kWithheldSampleCount | kWithheldTrainLoss;

enum class MessageKind : std::uint16_t {
  kJoin = 1,
  kWelcome = 2,
  kRoundStart = 3,
  kUpdate = 4,
  kReject = 5,
  kHeartbeat = 6,
  kBye = 7,
  // Secure aggregation (docs/SECURE_AGGREGATION.md), in dialog order.
  kSecAggKeys = 8,        // client → coordinator: two X25519 public keys
  kSecAggRoster = 9,      // coordinator → client: its neighbours' keys
  kSecAggShares = 10,     // client → coordinator: sealed key shares, one per neighbour
  kSecAggDelivered = 11,  // coordinator → client: the sealed shares addressed to it
  kSecAggMasked = 12,     // client → coordinator: the masked input
  kSecAggUnmask = 13,     // coordinator → client: who survived
  kSecAggReveal = 14,     // client → coordinator: the shares that remove the masks
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
// A schema fingerprint as logs, REJECT texts and summaries print it: 16
// lower-case hex digits.
std::string FingerprintHex(std::uint64_t fingerprint);

// Client → coordinator: open a session.
struct Join {
  std::uint16_t min_version = kMinSupportedVersion;
  std::uint16_t max_version = kMaxSupportedVersion;
  std::uint64_t schema_fingerprint = 0;  // common/model/flat_params.h FlatSchema::fingerprint()
  std::int64_t num_samples = 0;          // local training samples; caps later UPDATE sample counts
  std::string client_name;               // free text for logs, at most WireLimits::max_string_bytes
  // The deepest exit this client can afford to train (1-based); 0: the whole
  // network. It then receives, trains and sends only that exit's sub-network.
  std::uint32_t max_exit = 0;
  bool operator==(const Join&) const = default;
};

// Coordinator → client: the session is open.
struct Welcome {
  std::uint16_t version = kProtocolVersion;  // chosen protocol version
  std::uint64_t schema_fingerprint = 0;
  std::uint32_t total_rounds = 0;
  bool operator==(const Welcome&) const = default;
};

// ROUND_START's secure-aggregation block: the round's parameters and this
// client's place in the cohort (all 0 when the round is not secure).
struct SecAggStart {
  std::uint32_t id = 0;          // this client's id in the cohort, 1..cohort; 0: not secure
  std::uint32_t cohort = 0;      // n: ids 1..n
  std::uint32_t threshold = 0;   // t: shares that reconstruct a secret
  std::uint32_t degree = 0;      // neighbours per client in the Harary graph; 0: complete graph
  std::uint64_t graph_seed = 0;  // the graph's public permutation seed
  std::uint32_t ring_bits = 0;   // B: masked elements live in Z_{2^B}
  std::uint32_t value_bits = 0;  // fixed-point resolution of a delta or logit
  double value_range = 0.0;      // deltas are clamped to ±value_range
  double logit_range = 0.0;      // summary logits are clamped to ±logit_range
  std::uint32_t weight = 0;      // this client's integer aggregation weight, ≥ 1
  std::uint64_t length = 0;      // elements of the masked vector
  bool operator==(const SecAggStart&) const = default;
};

// ROUND_START's privacy block: what the coordinator states about the
// round's differentially private release (all 0 when privacy.dp is off), so
// that a client keeps its own ledger (client/privacy_ledger.h).
struct DpStart {
  std::uint64_t steps = 0;        // accountant steps charged so far, this draw included
  double sampling_rate = 0.0;     // q of the Poisson sample
  double noise_multiplier = 0.0;  // the multiplier each step is charged with
  bool operator==(const DpStart&) const = default;
};

// Coordinator → client: train on these values and answer with UPDATE (or,
// in a secure round, with the SECAGG_* dialog).
struct RoundStart {
  double temperature = 3.0;
  double alpha = 0.5;
  double beta = 0.0;
  std::uint32_t local_epochs = 1;
  // The round whose sparsity mask is in force (0: no mask, every value kept).
  std::uint64_t mask_round = 0;
  // The sub-network this client trains (common/model/layout.h): the backbone
  // up to exit `subnet_exit` (1-based; 0: the deepest) with the heads of
  // every exit up to it (subnet_heads 0) or of that exit alone (1).
  std::uint32_t subnet_exit = 0;
  std::uint32_t subnet_heads = 0;
  // The round's learning-rate factor: clients train at training.lr × lr_factor
  // (their own per-step schedule within the round).
  double lr_factor = 1.0;
  // Tensor section 0: the values the mask keeps within the sub-network, in
  // flat order, encoded with
  // the downlink codec; empty (count 0) in distillation-only mode, where each
  // client continues from its own weights.
  codec::Encoded global_values;
  // Tensor section 1: global soft targets, C×C row-major probabilities (row c
  // is the target distribution for label c); empty when there are none yet.
  std::vector<float> soft_targets;
  // Tensor section 2: the mask of `mask_round` as a bitmask over the flat
  // vector, sent only to clients that do not have it yet (else count 0).
  codec::Encoded mask{codec::Dtype::kBitmask, false, 0, {}};
  SecAggStart secure;  // payload, after mask_round
  DpStart dp;          // payload, after secure
  bool operator==(const RoundStart&) const = default;
};

// Client → coordinator: the result of local training for the envelope's round.
struct Update {
  std::int64_t sample_count = 0;
  double train_loss = 0.0;
  std::uint32_t withheld = 0;  // kWithheld* bits: those fields are 0 and mean nothing
  // Soft-target summary: per class c, the number of samples n_c (payload,
  // at most WireLimits::max_classes entries) ...
  std::vector<std::int64_t> summary_counts;
  // The mask the client trained with (ROUND_START.mask_round).
  std::uint64_t mask_round = 0;
  // Tensor section 0: the kept values of the round's sub-network after
  // training, in flat order, encoded with the uplink codec; empty (count 0)
  // in distillation-only mode.
  codec::Encoded values;
  // ... and tensor section 1: the C×C mean deepest-exit logits (row c over the
  // class-c samples; zeros where n_c = 0). Decoding checks C² = this size.
  std::vector<float> summary_logits;
  // Under distributed DP the summary travels privatized instead (the exact
  // sections above empty): tensor section 2, the C×C rows clipped jointly
  // (privacy::ClipSummaryInto) plus Gaussian noise, and tensor section 3,
  // the C per-class presences (1 or 0) plus Gaussian noise. Both empty, or
  // C² and C values.
  std::vector<float> private_summary_rows;
  std::vector<float> private_summary_presence;
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

// ---- Secure aggregation (docs/SECURE_AGGREGATION.md). Ids are cohort ids
// (SecAggStart::id); the sender of a client message is its authenticated key.

using X25519Key = std::array<std::uint8_t, 32>;

// Client → coordinator, and one entry of SECAGG_ROSTER.
using Sha256Commitment = std::array<std::uint8_t, 32>;

struct SecAggKeys {
  std::uint32_t id = 0;  // 0 from a client (the coordinator knows who sent it)
  X25519Key encryption_key{};
  X25519Key mask_key{};
  // SHA-256 commitment to the client's self-mask seed b (privacy/secagg/secagg_client.h),
  // which lets the coordinator check b's reconstruction share by share. Kept
  // by the coordinator, not relayed in rosters.
  Sha256Commitment self_mask_commitment{};
  bool operator==(const SecAggKeys&) const = default;
};

// A neighbour's advertised keys, as relayed in a roster.
struct SecAggRosterMember {
  std::uint32_t id = 0;
  X25519Key encryption_key{};
  X25519Key mask_key{};
  bool operator==(const SecAggRosterMember&) const = default;
};

// Coordinator → client: the keys of its neighbours that advertised (itself included).
struct SecAggRoster {
  std::vector<SecAggRosterMember> members;
  bool operator==(const SecAggRoster&) const = default;
};

// One sealed share pair; `peer` is the addressee (SECAGG_SHARES) or the
// sender (SECAGG_DELIVERED).
struct SealedShare {
  std::uint32_t peer = 0;
  std::vector<std::uint8_t> sealed;  // at most WireLimits::max_string_bytes
  bool operator==(const SealedShare&) const = default;
};

// Client → coordinator (its shares for its roster) and coordinator → client
// (the shares addressed to it).
struct SecAggShares {
  std::vector<SealedShare> shares;
  bool operator==(const SecAggShares&) const = default;
};
struct SecAggDelivered {
  std::vector<SealedShare> shares;
  bool operator==(const SecAggDelivered&) const = default;
};

// Client → coordinator: the masked input of the envelope's round.
struct SecAggMasked {
  std::int64_t sample_count = 0;
  double train_loss = 0.0;
  std::uint32_t withheld = 0;  // kWithheld* bits, as in UPDATE
  std::uint64_t mask_round = 0;
  std::uint64_t clamped = 0;  // elements the client clamped to the fixed-point range
  // Tensor section 0: dtype ring (5), SecAggStart::length elements of
  // ring_bits each, packed LSB first.
  codec::Encoded masked{codec::Dtype::kRing, false, 0, {}};
  // Payload, after clamped: the neighbours whose sealed shares failed to
  // open at this client (privacy::SecAggClient::disputed); it masked with
  // them but holds no share of their secrets. At most WireLimits::max_records ids.
  std::vector<std::uint32_t> disputed;
  bool operator==(const SecAggMasked&) const = default;
};

// Coordinator → client: the survivors (ids that sent masked inputs).
struct SecAggUnmask {
  std::vector<std::uint32_t> survivors;
  bool operator==(const SecAggUnmask&) const = default;
};

// A Shamir share of the secret of client `owner`, at point x.
struct RevealedShare {
  std::uint32_t owner = 0;
  std::uint32_t x = 0;
  std::vector<std::uint64_t> y;  // at most kMaxShareChunks field elements
  bool operator==(const RevealedShare&) const = default;
};
inline constexpr std::uint64_t kMaxShareChunks = 64;

// Client → coordinator: self-mask shares of survivors, mask-key shares of
// neighbours that dropped.
struct SecAggReveal {
  std::vector<RevealedShare> self_mask;
  std::vector<RevealedShare> mask_key;
  bool operator==(const SecAggReveal&) const = default;
};

using Body = std::variant<Join, Welcome, RoundStart, Update, Reject, Heartbeat, Bye, SecAggKeys,
                          SecAggRoster, SecAggShares, SecAggDelivered, SecAggMasked, SecAggUnmask,
                          SecAggReveal>;

// A message as it travels: the round of the envelope plus one body.
struct Message {
  std::uint64_t round = 0;
  Body body;
  bool operator==(const Message&) const = default;
};

MessageKind KindOf(const Body& body);

}  // namespace fsd::wire
