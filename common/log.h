// Minimal leveled logging: FSD_LOG(INFO) << "text"; each line is built in memory
// and written to stderr in one write, with severity, UTC time and pid.
// The minimum level comes from SetLogLevel() or the FSD_LOG_LEVEL environment
// variable (debug|info|warning|error). Thread-safe: one write(2) per line.
// Metrics never go through the logger; see common/metrics/metrics_sink.h.
#pragma once

#include <sstream>
#include <string_view>

namespace fsd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

namespace internal {

class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Gives the streamed LogLine expression type void, to match the other branch.
struct LogVoidify {
  void operator&(const LogLine&) const {}
};

}  // namespace internal
}  // namespace fsd

#define FSD_LOG_LEVEL_DEBUG ::fsd::LogLevel::kDebug
#define FSD_LOG_LEVEL_INFO ::fsd::LogLevel::kInfo
#define FSD_LOG_LEVEL_WARNING ::fsd::LogLevel::kWarning
#define FSD_LOG_LEVEL_ERROR ::fsd::LogLevel::kError

// An expression (not an if/else), so it nests safely inside unbraced ifs.
#define FSD_LOG(severity)                           \
  (FSD_LOG_LEVEL_##severity < ::fsd::GetLogLevel()) \
      ? (void)0                                     \
      : ::fsd::internal::LogVoidify() &             \
            ::fsd::internal::LogLine(FSD_LOG_LEVEL_##severity, __FILE__, __LINE__)
