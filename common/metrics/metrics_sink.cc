#include "common/metrics/metrics_sink.h"

#include <cstdio>

#include "common/errors.h"

namespace fsd::metrics {

MetricsSink::MetricsSink(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  if (!out_) throw IoError(path + ": cannot open metrics file for writing");
}

void MetricsSink::Record(const nlohmann::json& object) {
  FSD_CHECK(object.is_object()) << "metrics records are JSON objects";
  const std::string line = object.dump() + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  out_ << line;
  out_.flush();
  if (!out_) throw IoError(path_ + ": write failed");
}

void WriteJsonFile(const std::string& path, const nlohmann::json& object) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    if (!out) throw IoError(temp + ": cannot open for writing");
    out << object.dump(2) << "\n";
    out.flush();
    if (!out) throw IoError(temp + ": write failed");
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) throw IoError(path + ": rename failed");
}

}  // namespace fsd::metrics
