// Coordinator checkpoints: the global model vector and the last committed
// round, written atomically (temp file, fsync, rename) with a SHA-256 digest
// that is verified before anything is used on load.
// File: "FSDCKPT1" | u64 round | u64 schema fingerprint | u64 n | n × f32 | 32-byte SHA-256 of all
// before. Thread-safety: free functions. Errors: IoError (file access), DataError (corrupt,
// truncated or digest mismatch, naming the file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fsd::coordinator {

struct Checkpoint {
  std::uint64_t round = 0;  // last round whose aggregate is in `global`
  std::uint64_t schema_fingerprint = 0;
  std::vector<float> global;
};

void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint ReadCheckpoint(const std::string& path, std::uint64_t max_values);

}  // namespace fsd::coordinator
