// RoundStore: where committed rounds go — one metrics.jsonl line, then the
// checkpoint that commits the round (common/storage/checkpoint.h) — and
// where a resumed coordinator finds them. A crash between the two leaves a
// metrics line for an uncommitted round; Resume() drops it, so the round is
// run again and never counted twice.
// Thread-safety: one owner thread. Errors: IoError (no checkpoint to resume,
// files not writable), DataError (a corrupt or foreign checkpoint).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/metrics/metrics_sink.h"
#include "common/storage/checkpoint.h"
#include "coordinator/options.h"

namespace fsd::coordinator {

class RoundStore {
 public:
  RoundStore(std::string out_dir, bool write_checkpoints);

  // The checkpoint to continue from (nullopt: start fresh), per `mode`;
  // metrics lines of rounds after it are dropped. Opens metrics.jsonl
  // (appending when resuming, truncating when not). Call once.
  std::optional<storage::Checkpoint> Open(ResumeMode mode, std::uint64_t max_values,
                                          std::uint64_t max_classes);
  // Writes the round's metrics line, then (when enabled) the checkpoint.
  void Commit(const nlohmann::json& record, const storage::Checkpoint& checkpoint);

  std::string checkpoint_path() const { return out_dir_ + "/checkpoint.bin"; }

 private:
  std::string out_dir_;
  bool write_checkpoints_;
  std::unique_ptr<metrics::MetricsSink> metrics_;
};

}  // namespace fsd::coordinator
