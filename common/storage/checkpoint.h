// Coordinator checkpoints: written by the coordinator after every round, read
// by it on --resume and by fsd-export. Everything a resumed run needs to continue as if
// it had never stopped — the last committed round, the global model vector,
// the aggregated soft-target logits and the sparsity mask — as a sealed file
// (common/storage/sealed_file.h: atomic write, SHA-256 verified on load).
// Body: "FSDCKPT6" | u64 round | u64 schema fingerprint | u64 n | n × f32 global
//       | u64 C | C × i64 class counts | u64 C² | C² × f32 mean logits
//       | u64 mask round | u64 m | m × u8 mask (m = 0: dense, else m = n)
//       | i64 privacy steps | u64 K | K × f64 RDP orders | u64 K | K × f64 RDP
//       (K = 0: no differential-privacy account)
//       | u8 server optimizer | u64 p | p × f32 m | u64 q | q × f32 v
//       (aggregation/server_optimizer.h: its kind and moments; p = q = 0 for "none")
//       | u64 e | e × (u64 k | k × u8 client key | u64 excluded through round)
//       (secure-aggregation exclusions: culprits and disputants, e ≤ 10⁶, k ≤ 256).
// FSDCKPT5 files (the same without exclusions) are read with none, FSDCKPT4
// files (also without the server optimizer) as "none"; files of the earlier
// formats FSDCKPT1/2/3 are refused by name.
// Thread-safety: free functions. Errors: IoError (file access), DataError
// (not a checkpoint, corrupt, truncated, over the limits), naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fsd::storage {

struct Checkpoint {
  std::uint64_t round = 0;  // last round whose aggregate is in `global`
  std::uint64_t schema_fingerprint = 0;
  std::vector<float> global;  // empty in distillation-only mode
  // Aggregated soft-target logits after `round` (aggregation::SoftTargetSummary).
  std::vector<std::int64_t> class_counts;  // [C]
  std::vector<float> mean_logits;          // [C*C]
  std::uint64_t mask_round = 0;            // round that chose `mask` (0: none)
  std::vector<std::uint8_t> mask;          // 1 = kept; empty: dense
  // The differential-privacy account (privacy/dp/rdp_accountant.h): released
  // steps and the RDP summed per order; empty without privacy.dp.
  std::int64_t privacy_steps = 0;
  std::vector<double> privacy_orders;
  std::vector<double> privacy_rdp;
  // The server optimizer (aggregation::ServerOptimizerKind) and its moments.
  std::uint8_t server_optimizer = 0;
  std::vector<float> server_m;
  std::vector<float> server_v;
  // Clients left out of secure rounds (coordinator/round_state.h), by key:
  // excluded through that round (UINT64_MAX: the rest of the run).
  std::vector<std::pair<std::string, std::uint64_t>> excluded;
};

void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint ReadCheckpoint(const std::string& path, std::uint64_t max_values,
                          std::uint64_t max_classes);

}  // namespace fsd::storage
