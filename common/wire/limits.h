// Upper bounds the decoder enforces on every peer-supplied size and count,
// before allocating. Configured per deployment; the defaults fit models up to
// 16 M parameters. Thread-safety: plain values.
#pragma once

#include <cstdint>

namespace fsd::wire {

struct WireLimits {
  std::uint64_t max_message_bytes = 80u << 20;  // whole frame; also ZMQ_MAXMSGSIZE
  std::uint64_t max_payload_bytes = 64u << 10;  // control payload (Cereal part)
  std::uint64_t max_values = 16u << 20;         // elements in one tensor section
  std::uint32_t max_tensors = 4;                // tensor sections in one message
  std::uint64_t max_string_bytes = 1024;        // any string field
  std::uint64_t max_classes = 4096;             // entries of a per-class count list
  std::uint64_t max_records = 4096;             // entries of a secure-aggregation list
};

}  // namespace fsd::wire
