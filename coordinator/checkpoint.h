// Coordinator checkpoints: everything a resumed run needs to continue as if
// it had never stopped — the last committed round, the global model vector
// and the aggregated soft-target logits — as a sealed file
// (common/storage/sealed_file.h: atomic write, SHA-256 verified on load).
// Body: "FSDCKPT2" | u64 round | u64 schema fingerprint | u64 n | n × f32 global
//       | u64 C | C × i64 class counts | u64 C² | C² × f32 mean logits.
// (FSDCKPT1 files, which had no soft-target state, are refused by name.)
// Thread-safety: free functions. Errors: IoError (file access), DataError
// (not a checkpoint, corrupt, truncated, over the limits), naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aggregation/soft_targets.h"

namespace fsd::coordinator {

struct Checkpoint {
  std::uint64_t round = 0;  // last round whose aggregate is in `global`
  std::uint64_t schema_fingerprint = 0;
  std::vector<float> global;                  // empty in distillation-only mode
  aggregation::SoftTargetSummary soft_state;  // aggregated logits after `round`
};

void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint ReadCheckpoint(const std::string& path, std::uint64_t max_values,
                          std::uint64_t max_classes);

}  // namespace fsd::coordinator
