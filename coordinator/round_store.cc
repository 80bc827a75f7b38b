#include "coordinator/round_store.h"

#include <filesystem>
#include <fstream>

#include "common/errors.h"
#include "common/log.h"
#include "common/storage/atomic_file.h"

namespace fsd::coordinator {
namespace {

// Drops metrics lines of rounds after `round` (written before a crash, not committed).
void KeepMetricsUpTo(const std::string& path, std::uint64_t round) {
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!record.is_discarded() && record.contains("round") && record["round"].is_number() &&
        record["round"].get<std::uint64_t>() <= round) {
      kept += line + "\n";
    }
  }
  in.close();
  // Atomically: a crash while resuming must not lose the committed lines.
  storage::WriteFileAtomically(
      path, {reinterpret_cast<const std::uint8_t*>(kept.data()), kept.size()}, 0644);
}

}  // namespace

RoundStore::RoundStore(std::string out_dir, bool write_checkpoints)
    : out_dir_(std::move(out_dir)), write_checkpoints_(write_checkpoints) {}

std::optional<storage::Checkpoint> RoundStore::Open(ResumeMode mode, std::uint64_t max_values,
                                                    std::uint64_t max_classes) {
  FSD_CHECK(!metrics_) << "RoundStore opened twice";
  const std::string path = checkpoint_path();
  std::optional<storage::Checkpoint> checkpoint;
  const bool exists = std::filesystem::exists(path);
  if (mode == ResumeMode::kResume && !exists) {
    throw IoError(path + ": no checkpoint to resume from (start without --resume, or use "
                         "--resume-if-present to start fresh when there is none)");
  }
  if (mode != ResumeMode::kFresh && exists) {
    checkpoint = storage::ReadCheckpoint(path, max_values, max_classes);
    KeepMetricsUpTo(out_dir_ + "/metrics.jsonl", checkpoint->round);
  }
  metrics_ = std::make_unique<metrics::MetricsSink>(out_dir_ + "/metrics.jsonl",
                                                    /*append=*/checkpoint.has_value());
  return checkpoint;
}

void RoundStore::Commit(const nlohmann::json& record, const storage::Checkpoint& checkpoint) {
  FSD_CHECK(metrics_) << "RoundStore::Commit before Open";
  metrics_->Record(record);
  if (write_checkpoints_) storage::WriteCheckpoint(checkpoint_path(), checkpoint);
}

}  // namespace fsd::coordinator
