// Writes run metrics as JSON Lines (one object per line, flushed per record),
// the format pandas.read_json(path, lines=True) reads. Metrics never go through
// the logger. Thread-safety: one writer per instance; Record() is serialized by
// an internal mutex so worker threads may share a sink.
// Errors: IoError if the file cannot be opened or written.
#pragma once

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace fsd::metrics {

class MetricsSink {
 public:
  // Creates or truncates `path`; with `append`, adds to an existing file (resume).
  explicit MetricsSink(const std::string& path, bool append = false);

  void Record(const nlohmann::json& object);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mutex_;
  std::ofstream out_;
};

// Writes `object` to `path` as indented JSON, atomically (temp file + rename).
void WriteJsonFile(const std::string& path, const nlohmann::json& object);

}  // namespace fsd::metrics
