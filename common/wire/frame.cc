#include "common/wire/frame.h"

#include <bit>
#include <cereal/archives/portable_binary.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <streambuf>

#include "common/codec/encoded.h"
#include "common/errors.h"
#include "common/wire/sha256.h"

namespace fsd::wire {
namespace {

static_assert(std::endian::native == std::endian::little, "tensor sections are copied as-is");

// Envelope field offsets (docs/PROTOCOL.md, "Envelope").
constexpr std::size_t kMagicAt = 0, kVersionAt = 4, kKindAt = 6, kFlagsAt = 8, kPayloadAt = 12,
                      kRoundAt = 16, kTensorCountAt = 24, kReservedAt = 28, kDigestAt = 32;

template <typename T>
T ReadLe(const std::uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

template <typename T>
void WriteLe(std::uint8_t* at, T value) {
  std::memcpy(at, &value, sizeof(T));
}

Reject Refuse(RejectCode code, std::string text) { return Reject{code, std::move(text)}; }

// A read-only streambuf over the payload bytes, so Cereal reads from a bounded
// view and loaders can ask how many bytes remain.
class SpanBuffer : public std::streambuf {
 public:
  SpanBuffer(const std::uint8_t* data, std::size_t size) {
    char* begin = const_cast<char*>(reinterpret_cast<const char*>(data));
    setg(begin, begin, begin + size);
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

// Thrown inside payload decoding to carry a specific Reject out of Cereal.
struct PayloadReject {
  Reject reject;
};

class PayloadReader {
 public:
  PayloadReader(std::span<const std::uint8_t> payload, const WireLimits& limits)
      : buffer_(payload.data(), payload.size()),
        stream_(&buffer_),
        archive_(stream_),
        limits_(limits) {}

  template <typename... T>
  void operator()(T&... values) {
    archive_(values...);
  }

  void String(std::string& out, const char* field) {
    std::uint64_t size = 0;
    archive_(size);
    if (size > limits_.max_string_bytes) {
      throw PayloadReject{Refuse(RejectCode::kLimitExceeded,
                                 std::string(field) + " is " + std::to_string(size) +
                                     " bytes, limit " + std::to_string(limits_.max_string_bytes))};
    }
    if (size > buffer_.remaining()) {
      throw PayloadReject{Refuse(RejectCode::kMalformed,
                                 std::string(field) + " claims " + std::to_string(size) +
                                     " bytes, " + std::to_string(buffer_.remaining()) + " remain")};
    }
    out.resize(static_cast<std::size_t>(size));
    archive_(cereal::binary_data(out.data(), out.size()));
  }

  // A u64 count, bounded by max_classes and the bytes left, then the values.
  void Counts(std::vector<std::int64_t>& out, const char* field) {
    std::uint64_t size = 0;
    archive_(size);
    if (size > limits_.max_classes) {
      throw PayloadReject{Refuse(RejectCode::kLimitExceeded,
                                 std::string(field) + " has " + std::to_string(size) +
                                     " entries, limit " + std::to_string(limits_.max_classes))};
    }
    if (size * sizeof(std::int64_t) > buffer_.remaining()) {
      throw PayloadReject{Refuse(RejectCode::kMalformed, std::string(field) + " claims " +
                                                             std::to_string(size) + " entries, " +
                                                             std::to_string(buffer_.remaining()) +
                                                             " bytes remain")};
    }
    out.resize(static_cast<std::size_t>(size));
    for (auto& value : out) archive_(value);
  }

  // A u64 record count, bounded by max_records and by the bytes left at
  // `min_record_bytes` each, then the records (read by `read`).
  template <typename R, typename F>
  void Records(std::vector<R>& out, const char* field, std::size_t min_record_bytes, F read) {
    std::uint64_t size = 0;
    archive_(size);
    if (size > limits_.max_records) {
      throw PayloadReject{Refuse(RejectCode::kLimitExceeded,
                                 std::string(field) + " has " + std::to_string(size) +
                                     " entries, limit " + std::to_string(limits_.max_records))};
    }
    if (size * min_record_bytes > buffer_.remaining()) {
      throw PayloadReject{Refuse(RejectCode::kMalformed, std::string(field) + " claims " +
                                                             std::to_string(size) + " entries, " +
                                                             std::to_string(buffer_.remaining()) +
                                                             " bytes remain")};
    }
    out.resize(static_cast<std::size_t>(size));
    for (auto& record : out) read(record);
  }

  // Bytes with a u64 size, at most max_string_bytes.
  void Bytes(std::vector<std::uint8_t>& out, const char* field) {
    std::uint64_t size = 0;
    archive_(size);
    if (size > limits_.max_string_bytes || size > buffer_.remaining()) {
      throw PayloadReject{Refuse(
          size > limits_.max_string_bytes ? RejectCode::kLimitExceeded : RejectCode::kMalformed,
          std::string(field) + " of " + std::to_string(size) + " bytes: limit " +
              std::to_string(limits_.max_string_bytes) + ", " +
              std::to_string(buffer_.remaining()) + " remain")};
    }
    out.resize(static_cast<std::size_t>(size));
    archive_(cereal::binary_data(out.data(), out.size()));
  }

  // Field elements of a Shamir share: a u64 count ≤ kMaxShareChunks, then the values.
  void Chunks(std::vector<std::uint64_t>& out, const char* field) {
    std::uint64_t size = 0;
    archive_(size);
    if (size > kMaxShareChunks || size * 8 > buffer_.remaining()) {
      throw PayloadReject{
          Refuse(RejectCode::kMalformed, std::string(field) + " claims " + std::to_string(size) +
                                             " field elements (limit " +
                                             std::to_string(kMaxShareChunks) + ")")};
    }
    out.resize(static_cast<std::size_t>(size));
    for (auto& value : out) archive_(value);
  }

  void Key(X25519Key& key) { archive_(cereal::binary_data(key.data(), key.size())); }

  std::size_t remaining() const { return buffer_.remaining(); }

 private:
  SpanBuffer buffer_;
  std::istream stream_;
  cereal::PortableBinaryInputArchive archive_;
  const WireLimits& limits_;
};

class PayloadWriter {
 public:
  PayloadWriter() : archive_(stream_) {}
  template <typename... T>
  void operator()(const T&... values) {
    archive_(values...);
  }
  void String(const std::string& value, const char*) {
    archive_(static_cast<std::uint64_t>(value.size()));
    archive_(cereal::binary_data(value.data(), value.size()));
  }
  void Counts(const std::vector<std::int64_t>& values, const char*) {
    archive_(static_cast<std::uint64_t>(values.size()));
    for (const auto value : values) archive_(value);
  }
  template <typename R, typename F>
  void Records(const std::vector<R>& records, const char*, std::size_t, F write) {
    archive_(static_cast<std::uint64_t>(records.size()));
    for (const auto& record : records) write(record);
  }
  void Bytes(const std::vector<std::uint8_t>& bytes, const char*) {
    archive_(static_cast<std::uint64_t>(bytes.size()));
    archive_(cereal::binary_data(bytes.data(), bytes.size()));
  }
  void Chunks(const std::vector<std::uint64_t>& values, const char*) {
    archive_(static_cast<std::uint64_t>(values.size()));
    for (const auto value : values) archive_(value);
  }
  void Key(const X25519Key& key) { archive_(cereal::binary_data(key.data(), key.size())); }
  std::string bytes() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
  cereal::PortableBinaryOutputArchive archive_;
};

// One description of each body's control fields, used for both directions.
template <typename Io, typename M>
void Fields(Io& io, M& m) {
  using T = std::remove_const_t<M>;
  if constexpr (std::is_same_v<T, Join>) {
    io(m.min_version, m.max_version, m.schema_fingerprint, m.num_samples);
    io.String(m.client_name, "JOIN.client_name");
    io(m.max_exit);
  } else if constexpr (std::is_same_v<T, Welcome>) {
    io(m.version, m.schema_fingerprint, m.total_rounds);
  } else if constexpr (std::is_same_v<T, RoundStart>) {
    io(m.temperature, m.alpha, m.beta, m.local_epochs, m.mask_round, m.subnet_exit, m.subnet_heads,
       m.lr_factor);
    auto& s = m.secure;
    io(s.id, s.cohort, s.threshold, s.degree, s.graph_seed, s.ring_bits, s.value_bits,
       s.value_range, s.logit_range, s.weight, s.length);
    io(m.dp.steps, m.dp.sampling_rate, m.dp.noise_multiplier);
  } else if constexpr (std::is_same_v<T, Update>) {
    io(m.sample_count, m.train_loss, m.withheld);
    io.Counts(m.summary_counts, "UPDATE.summary_counts");
    io(m.mask_round);
  } else if constexpr (std::is_same_v<T, Reject>) {
    std::uint16_t code = static_cast<std::uint16_t>(m.code);
    io(code);
    if constexpr (!std::is_const_v<M>) m.code = static_cast<RejectCode>(code);
    io.String(m.text, "REJECT.text");
  } else if constexpr (std::is_same_v<T, Heartbeat>) {
  } else if constexpr (std::is_same_v<T, Bye>) {
    io.String(m.reason, "BYE.reason");
  } else if constexpr (std::is_same_v<T, SecAggKeys>) {
    io(m.id);
    io.Key(m.encryption_key);
    io.Key(m.mask_key);
    io.Key(m.self_mask_commitment);
  } else if constexpr (std::is_same_v<T, SecAggRoster>) {
    io.Records(m.members, "SECAGG_ROSTER.members", 68, [&](auto& member) {
      io(member.id);
      io.Key(member.encryption_key);
      io.Key(member.mask_key);
    });
  } else if constexpr (std::is_same_v<T, SecAggShares> || std::is_same_v<T, SecAggDelivered>) {
    io.Records(m.shares, "SECAGG shares", 12, [&](auto& share) {
      io(share.peer);
      io.Bytes(share.sealed, "SECAGG sealed share");
    });
  } else if constexpr (std::is_same_v<T, SecAggMasked>) {
    io(m.sample_count, m.train_loss, m.withheld, m.mask_round, m.clamped);
    io.Records(m.disputed, "SECAGG_MASKED.disputed", 4, [&](auto& id) { io(id); });
  } else if constexpr (std::is_same_v<T, SecAggUnmask>) {
    io.Records(m.survivors, "SECAGG_UNMASK.survivors", 4, [&](auto& id) { io(id); });
  } else if constexpr (std::is_same_v<T, SecAggReveal>) {
    const auto share = [&](auto& revealed) {
      io(revealed.owner, revealed.x);
      io.Chunks(revealed.y, "SECAGG_REVEAL share");
    };
    io.Records(m.self_mask, "SECAGG_REVEAL.self_mask", 16, share);
    io.Records(m.mask_key, "SECAGG_REVEAL.mask_key", 16, share);
  }
}

// One tensor section of a body: raw float32 values (soft targets, summary
// logits), or encoded model values or a mask (common/codec).
// `Const` follows the body's constness (encoding reads, decoding writes).
template <bool Const>
struct SectionRef {
  template <typename T>
  using Ptr = std::conditional_t<Const, const T*, T*>;
  Ptr<std::vector<float>> floats = nullptr;
  Ptr<codec::Encoded> encoded = nullptr;
  codec::Dtype only = codec::Dtype::kFp32;  // for a mask or ring section: its one dtype
  bool is_mask = false;
  const char* name = "";
};

// The tensor sections of a body, in wire order (docs/PROTOCOL.md, "Messages").
template <typename B>
std::vector<SectionRef<std::is_const_v<B>>> SectionsOf(B& body) {
  if (auto* r = std::get_if<RoundStart>(&body)) {
    return {{nullptr, &r->global_values, codec::Dtype::kFp32, false, "ROUND_START.global_values"},
            {&r->soft_targets, nullptr, codec::Dtype::kFp32, false, "ROUND_START.soft_targets"},
            {nullptr, &r->mask, codec::Dtype::kBitmask, true, "ROUND_START.mask"}};
  }
  if (auto* u = std::get_if<Update>(&body)) {
    return {{nullptr, &u->values, codec::Dtype::kFp32, false, "UPDATE.values"},
            {&u->summary_logits, nullptr, codec::Dtype::kFp32, false, "UPDATE.summary_logits"},
            {&u->private_summary_rows, nullptr, codec::Dtype::kFp32, false,
             "UPDATE.private_summary_rows"},
            {&u->private_summary_presence, nullptr, codec::Dtype::kFp32, false,
             "UPDATE.private_summary_presence"}};
  }
  if (auto* m = std::get_if<SecAggMasked>(&body)) {
    return {{nullptr, &m->masked, codec::Dtype::kRing, true, "SECAGG_MASKED.masked"}};
  }
  return {};
}

bool IsValueDtype(std::uint32_t dtype) {
  return dtype == static_cast<std::uint32_t>(codec::Dtype::kFp32) ||
         dtype == static_cast<std::uint32_t>(codec::Dtype::kFp16) ||
         dtype == static_cast<std::uint32_t>(codec::Dtype::kInt8);
}

Body EmptyBody(MessageKind kind) {
  switch (kind) {
    case MessageKind::kJoin:
      return Join{};
    case MessageKind::kWelcome:
      return Welcome{};
    case MessageKind::kRoundStart:
      return RoundStart{};
    case MessageKind::kUpdate:
      return Update{};
    case MessageKind::kReject:
      return Reject{};
    case MessageKind::kHeartbeat:
      return Heartbeat{};
    case MessageKind::kBye:
      return Bye{};
    case MessageKind::kSecAggKeys:
      return SecAggKeys{};
    case MessageKind::kSecAggRoster:
      return SecAggRoster{};
    case MessageKind::kSecAggShares:
      return SecAggShares{};
    case MessageKind::kSecAggDelivered:
      return SecAggDelivered{};
    case MessageKind::kSecAggMasked:
      return SecAggMasked{};
    case MessageKind::kSecAggUnmask:
      return SecAggUnmask{};
    case MessageKind::kSecAggReveal:
      return SecAggReveal{};
    default:
      throw InternalError("EmptyBody of unknown kind");
  }
}

bool KnownKind(std::uint16_t kind) { return kind >= 1 && kind <= 14; }

bool IsSquareOf(std::size_t values, std::size_t side) { return values == side * side; }

bool AllFinite(std::span<const float> values) {
  for (const float v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// Semantic checks every receiver applies: finite numbers.
std::optional<Reject> CheckFinite(const Body& body) {
  if (const auto* r = std::get_if<RoundStart>(&body)) {
    if (!std::isfinite(r->temperature) || !std::isfinite(r->alpha) || !std::isfinite(r->beta) ||
        !std::isfinite(r->lr_factor) || !std::isfinite(r->secure.value_range) ||
        !std::isfinite(r->secure.logit_range) || !std::isfinite(r->dp.sampling_rate) ||
        !std::isfinite(r->dp.noise_multiplier)) {
      return Refuse(RejectCode::kNonFinite,
                    "ROUND_START temperature, alpha, beta, lr_factor, a secure-aggregation "
                    "range or a privacy figure is not finite");
    }
    if (!AllFinite(r->soft_targets))
      return Refuse(RejectCode::kNonFinite, "ROUND_START soft_targets hold NaN or Inf");
  }
  if (const auto* m = std::get_if<SecAggMasked>(&body)) {
    if (!std::isfinite(m->train_loss))
      return Refuse(RejectCode::kNonFinite, "SECAGG_MASKED train_loss is not finite");
  }
  if (const auto* u = std::get_if<Update>(&body)) {
    if (!std::isfinite(u->train_loss))
      return Refuse(RejectCode::kNonFinite, "UPDATE train_loss is not finite");
    if (!AllFinite(u->summary_logits))
      return Refuse(RejectCode::kNonFinite, "UPDATE summary_logits hold NaN or Inf");
    if (!AllFinite(u->private_summary_rows) || !AllFinite(u->private_summary_presence))
      return Refuse(RejectCode::kNonFinite, "UPDATE private summary holds NaN or Inf");
  }
  return std::nullopt;
}

// Withheld fields are 0, and only known bits are set.
std::optional<Reject> CheckWithheld(std::uint32_t withheld, std::int64_t sample_count,
                                    double train_loss, const char* kind) {
  if ((withheld & ~kWithheldKnownBits) != 0) {
    return Refuse(RejectCode::kMalformed, std::string(kind) + " withheld has unknown bits " +
                                              std::to_string(withheld & ~kWithheldKnownBits));
  }
  if (((withheld & kWithheldSampleCount) != 0 && sample_count != 0) ||
      ((withheld & kWithheldTrainLoss) != 0 && train_loss != 0.0)) {
    return Refuse(RejectCode::kMalformed,
                  std::string(kind) + " withholds sample_count or train_loss but sends a value");
  }
  return std::nullopt;
}

// Shapes that span the payload and the tensor sections.
std::optional<Reject> CheckShapes(const Body& body) {
  if (const auto* u = std::get_if<Update>(&body)) {
    if (!IsSquareOf(u->summary_logits.size(), u->summary_counts.size())) {
      return Refuse(RejectCode::kMalformed,
                    "UPDATE summary has " + std::to_string(u->summary_counts.size()) +
                        " class counts but " + std::to_string(u->summary_logits.size()) +
                        " logits; needs counts squared");
    }
    const std::size_t presence = u->private_summary_presence.size();
    if (!IsSquareOf(u->private_summary_rows.size(), presence)) {
      return Refuse(RejectCode::kMalformed, "UPDATE private summary has " +
                                                std::to_string(presence) + " presences but " +
                                                std::to_string(u->private_summary_rows.size()) +
                                                " row values; needs presences squared");
    }
    if (presence > 0 && !u->summary_counts.empty()) {
      return Refuse(RejectCode::kMalformed, "UPDATE carries both an exact and a private summary");
    }
    if (auto reject = CheckWithheld(u->withheld, u->sample_count, u->train_loss, "UPDATE")) {
      return reject;
    }
  }
  if (const auto* m = std::get_if<SecAggMasked>(&body)) {
    if (auto reject = CheckWithheld(m->withheld, m->sample_count, m->train_loss, "SECAGG_MASKED")) {
      return reject;
    }
  }
  return std::nullopt;
}

Decoded<Message> DecodeChecked(std::span<const std::uint8_t> frame, const WireLimits& limits) {
  if (frame.size() > limits.max_message_bytes) {
    return Refuse(RejectCode::kLimitExceeded, "frame is " + std::to_string(frame.size()) +
                                                  " bytes, limit " +
                                                  std::to_string(limits.max_message_bytes));
  }
  if (frame.size() < kEnvelopeBytes) {
    return Refuse(RejectCode::kMalformed, "frame is " + std::to_string(frame.size()) +
                                              " bytes, shorter than the 64-byte envelope");
  }
  const std::uint8_t* head = frame.data();
  if (ReadLe<std::uint32_t>(head + kMagicAt) != kMagic) {
    return Refuse(RejectCode::kMalformed, "bad magic: not an fsd frame");
  }
  const auto version = ReadLe<std::uint16_t>(head + kVersionAt);
  if (version < kMinSupportedVersion || version > kMaxSupportedVersion) {
    return Refuse(RejectCode::kUnsupportedVersion, "frame version " + std::to_string(version) +
                                                       ", this side speaks " +
                                                       std::to_string(kMinSupportedVersion) + ".." +
                                                       std::to_string(kMaxSupportedVersion));
  }
  const auto kind_number = ReadLe<std::uint16_t>(head + kKindAt);
  if (!KnownKind(kind_number)) {
    return Refuse(RejectCode::kUnknownKind,
                  "message kind " + std::to_string(kind_number) + " is not defined");
  }
  const auto kind = static_cast<MessageKind>(kind_number);
  if (ReadLe<std::uint32_t>(head + kFlagsAt) != 0 ||
      ReadLe<std::uint32_t>(head + kReservedAt) != 0) {
    return Refuse(RejectCode::kMalformed, "flags and reserved envelope fields must be 0");
  }
  const std::uint64_t payload_bytes = ReadLe<std::uint32_t>(head + kPayloadAt);
  std::uint64_t remaining = frame.size() - kEnvelopeBytes;
  if (payload_bytes > limits.max_payload_bytes) {
    return Refuse(RejectCode::kLimitExceeded, "payload is " + std::to_string(payload_bytes) +
                                                  " bytes, limit " +
                                                  std::to_string(limits.max_payload_bytes));
  }
  if (payload_bytes > remaining) {
    return Refuse(RejectCode::kMalformed, "envelope announces a " + std::to_string(payload_bytes) +
                                              "-byte payload, " + std::to_string(remaining) +
                                              " bytes follow");
  }
  remaining -= payload_bytes;

  Message message;
  message.round = ReadLe<std::uint64_t>(head + kRoundAt);
  message.body = EmptyBody(kind);
  const auto tensor_count = ReadLe<std::uint32_t>(head + kTensorCountAt);
  const auto sections = SectionsOf(message.body);
  if (tensor_count > limits.max_tensors) {
    return Refuse(RejectCode::kLimitExceeded, "tensor count " + std::to_string(tensor_count) +
                                                  ", limit " + std::to_string(limits.max_tensors));
  }
  if (tensor_count != sections.size()) {
    return Refuse(RejectCode::kMalformed, std::string(MessageKindName(kind)) + " carries " +
                                              std::to_string(sections.size()) +
                                              " tensor sections, frame has " +
                                              std::to_string(tensor_count));
  }
  const std::uint8_t* cursor = head + kEnvelopeBytes + payload_bytes;
  struct Found {
    std::uint32_t dtype, flags;
    std::uint64_t count;
    std::span<const std::uint8_t> bytes;
  };
  std::vector<Found> found;
  for (const auto& section : sections) {
    const std::string name = section.name;
    if (remaining < kTensorHeaderBytes) {
      return Refuse(RejectCode::kMalformed, name + " header truncated");
    }
    const auto dtype = ReadLe<std::uint32_t>(cursor);
    const auto flags = ReadLe<std::uint32_t>(cursor + 4);
    const auto count = ReadLe<std::uint64_t>(cursor + 8);
    const auto stored = ReadLe<std::uint64_t>(cursor + 16);
    remaining -= kTensorHeaderBytes;
    cursor += kTensorHeaderBytes;
    const bool dtype_ok = section.floats != nullptr
                              ? dtype == static_cast<std::uint32_t>(codec::Dtype::kFp32)
                          : section.is_mask ? dtype == static_cast<std::uint32_t>(section.only)
                                            : IsValueDtype(dtype);
    if (!dtype_ok) {
      return Refuse(RejectCode::kMalformed,
                    name + ": dtype " + std::to_string(dtype) + " is not allowed here");
    }
    const bool plain = section.floats != nullptr || section.only == codec::Dtype::kRing;
    const std::uint32_t allowed_flags = plain ? 0 : kSectionZstd;
    if ((flags & ~allowed_flags) != 0) {
      return Refuse(RejectCode::kMalformed, name + ": unknown flags " + std::to_string(flags));
    }
    if (count > limits.max_values) {
      return Refuse(RejectCode::kLimitExceeded, name + " has " + std::to_string(count) +
                                                    " values, limit " +
                                                    std::to_string(limits.max_values));
    }
    if (stored > remaining) {
      return Refuse(RejectCode::kMalformed, name + " announces " + std::to_string(stored) +
                                                " bytes, " + std::to_string(remaining) + " follow");
    }
    // max_values (< 2^40) times 4 cannot overflow.
    if (section.floats != nullptr && stored != count * sizeof(float)) {
      return Refuse(RejectCode::kMalformed, name + " announces " + std::to_string(count) +
                                                " float32 values in " + std::to_string(stored) +
                                                " bytes");
    }
    found.push_back({dtype, flags, count, {cursor, static_cast<std::size_t>(stored)}});
    cursor += stored;
    remaining -= stored;
  }
  if (remaining != 0) {
    return Refuse(RejectCode::kMalformed,
                  std::to_string(remaining) + " bytes after the last section");
  }

  std::array<std::uint8_t, kEnvelopeBytes> envelope;
  std::memcpy(envelope.data(), head, kEnvelopeBytes);
  std::memset(envelope.data() + kDigestAt, 0, 32);
  const Sha256Digest digest = Sha256({envelope, frame.subspan(kEnvelopeBytes)});
  if (std::memcmp(digest.data(), head + kDigestAt, 32) != 0) {
    return Refuse(RejectCode::kDigestMismatch, "frame digest does not match its bytes");
  }
  // Cereal's portable archive starts with an endianness byte and would
  // byte-swap a big-endian payload: one message, one encoding — little only.
  if (payload_bytes < 1 || head[kEnvelopeBytes] != 1) {
    return Refuse(RejectCode::kMalformed,
                  "payload must start with the little-endian marker byte 1");
  }

  PayloadReader reader(frame.subspan(kEnvelopeBytes, static_cast<std::size_t>(payload_bytes)),
                       limits);
  try {
    std::visit([&](auto& body) { Fields(reader, body); }, message.body);
  } catch (const PayloadReject& failure) {
    return failure.reject;
  }
  if (reader.remaining() != 0) {
    return Refuse(RejectCode::kMalformed,
                  std::to_string(reader.remaining()) + " unread payload bytes");
  }
  for (std::size_t i = 0; i < sections.size(); ++i) {
    const Found& f = found[i];
    if (sections[i].floats != nullptr) {
      sections[i].floats->resize(static_cast<std::size_t>(f.count));
      if (!f.bytes.empty()) std::memcpy(sections[i].floats->data(), f.bytes.data(), f.bytes.size());
    } else {
      codec::Encoded& encoded = *sections[i].encoded;
      encoded.dtype = static_cast<codec::Dtype>(f.dtype);
      encoded.zstd = (f.flags & kSectionZstd) != 0;
      encoded.count = f.count;
      encoded.bytes.assign(f.bytes.begin(), f.bytes.end());
    }
  }
  if (auto problem = CheckShapes(message.body)) return *problem;
  if (auto problem = CheckFinite(message.body)) return *problem;
  return message;
}

}  // namespace

const char* MessageKindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kJoin:
      return "JOIN";
    case MessageKind::kWelcome:
      return "WELCOME";
    case MessageKind::kRoundStart:
      return "ROUND_START";
    case MessageKind::kUpdate:
      return "UPDATE";
    case MessageKind::kReject:
      return "REJECT";
    case MessageKind::kHeartbeat:
      return "HEARTBEAT";
    case MessageKind::kBye:
      return "BYE";
    case MessageKind::kSecAggKeys:
      return "SECAGG_KEYS";
    case MessageKind::kSecAggRoster:
      return "SECAGG_ROSTER";
    case MessageKind::kSecAggShares:
      return "SECAGG_SHARES";
    case MessageKind::kSecAggDelivered:
      return "SECAGG_DELIVERED";
    case MessageKind::kSecAggMasked:
      return "SECAGG_MASKED";
    case MessageKind::kSecAggUnmask:
      return "SECAGG_UNMASK";
    case MessageKind::kSecAggReveal:
      return "SECAGG_REVEAL";
    default:
      return "UNKNOWN";
  }
}

std::string FingerprintHex(std::uint64_t fingerprint) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(fingerprint));
  return text;
}

const char* RejectCodeName(RejectCode code) {
  switch (code) {
    case RejectCode::kMalformed:
      return "MALFORMED";
    case RejectCode::kUnsupportedVersion:
      return "UNSUPPORTED_VERSION";
    case RejectCode::kUnknownKind:
      return "UNKNOWN_KIND";
    case RejectCode::kLimitExceeded:
      return "LIMIT_EXCEEDED";
    case RejectCode::kDigestMismatch:
      return "DIGEST_MISMATCH";
    case RejectCode::kNonFinite:
      return "NON_FINITE";
    case RejectCode::kStaleRound:
      return "STALE_ROUND";
    case RejectCode::kDuplicate:
      return "DUPLICATE";
    case RejectCode::kNotAuthorized:
      return "NOT_AUTHORIZED";
    case RejectCode::kSchemaMismatch:
      return "SCHEMA_MISMATCH";
    case RejectCode::kUnexpectedKind:
      return "UNEXPECTED_KIND";
    case RejectCode::kRoundClosed:
      return "ROUND_CLOSED";
    case RejectCode::kBusy:
      return "BUSY";
    case RejectCode::kInvalidValue:
      return "INVALID_VALUE";
    default:
      return "UNKNOWN_CODE";
  }
}

MessageKind KindOf(const Body& body) {
  return static_cast<MessageKind>(body.index() + 1);  // Body's alternatives follow kind numbers
}

std::optional<EnvelopeHead> PeekEnvelope(std::span<const std::uint8_t> frame) {
  if (frame.size() < kEnvelopeBytes) return std::nullopt;
  const std::uint8_t* head = frame.data();
  if (ReadLe<std::uint32_t>(head + kMagicAt) != kMagic) return std::nullopt;
  return EnvelopeHead{ReadLe<std::uint16_t>(head + kVersionAt),
                      ReadLe<std::uint16_t>(head + kKindAt),
                      ReadLe<std::uint64_t>(head + kRoundAt)};
}

std::vector<std::uint8_t> EncodeFrame(const Message& message) {
  PayloadWriter writer;
  std::visit([&](const auto& body) { Fields(writer, body); }, message.body);
  const std::string payload = writer.bytes();
  const auto sections = SectionsOf(message.body);
  std::size_t section_bytes = 0;
  for (const auto& section : sections) {
    section_bytes +=
        kTensorHeaderBytes + (section.floats != nullptr ? section.floats->size() * sizeof(float)
                                                        : section.encoded->bytes.size());
  }
  FSD_CHECK(payload.size() <= UINT32_MAX) << "payload of " << payload.size() << " bytes";

  std::vector<std::uint8_t> frame(kEnvelopeBytes + payload.size() + section_bytes, 0);
  std::uint8_t* head = frame.data();
  WriteLe<std::uint32_t>(head + kMagicAt, kMagic);
  WriteLe<std::uint16_t>(head + kVersionAt, kProtocolVersion);
  WriteLe<std::uint16_t>(head + kKindAt, static_cast<std::uint16_t>(KindOf(message.body)));
  WriteLe<std::uint32_t>(head + kPayloadAt, static_cast<std::uint32_t>(payload.size()));
  WriteLe<std::uint64_t>(head + kRoundAt, message.round);
  WriteLe<std::uint32_t>(head + kTensorCountAt, static_cast<std::uint32_t>(sections.size()));
  std::memcpy(head + kEnvelopeBytes, payload.data(), payload.size());
  std::uint8_t* at = head + kEnvelopeBytes + payload.size();
  for (const auto& section : sections) {
    const bool floats = section.floats != nullptr;
    const std::uint8_t* data = floats
                                   ? reinterpret_cast<const std::uint8_t*>(section.floats->data())
                                   : section.encoded->bytes.data();
    const std::size_t size =
        floats ? section.floats->size() * sizeof(float) : section.encoded->bytes.size();
    WriteLe<std::uint32_t>(at, floats ? static_cast<std::uint32_t>(codec::Dtype::kFp32)
                                      : static_cast<std::uint32_t>(section.encoded->dtype));
    WriteLe<std::uint32_t>(at + 4, !floats && section.encoded->zstd ? kSectionZstd : 0);
    WriteLe<std::uint64_t>(at + 8, floats ? section.floats->size() : section.encoded->count);
    WriteLe<std::uint64_t>(at + 16, size);
    at += kTensorHeaderBytes;
    if (size > 0) std::memcpy(at, data, size);
    at += size;
  }
  const Sha256Digest digest =
      Sha256({std::span<const std::uint8_t>(frame)});  // digest field is still zero
  std::memcpy(head + kDigestAt, digest.data(), digest.size());
  return frame;
}

Decoded<Message> DecodeFrame(std::span<const std::uint8_t> frame, const WireLimits& limits) {
  try {
    return DecodeChecked(frame, limits);
  } catch (const std::exception& e) {
    // Cereal (short reads), bad_alloc, length_error: never escape the boundary.
    std::string what = e.what();
    if (what.size() > 200) what.resize(200);
    return Reject{RejectCode::kMalformed, "payload does not decode: " + what};
  }
}

}  // namespace fsd::wire
