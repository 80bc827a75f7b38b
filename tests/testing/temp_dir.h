// Test helpers: a temporary directory removed on destruction, file writing,
// and the repository / binary locations ctest passes in the environment.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fsd::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Writes `bytes` to `path` (plain) or gzip-compressed when `gzip` is true.
void WriteFile(const std::string& path, std::string_view bytes, bool gzip = false);
std::string ReadFile(const std::string& path);

// Starts `arguments` (argv[0] is the executable path) as a child process with
// stdout and stderr written to `log`; returns its pid.
int SpawnProcess(const std::vector<std::string>& arguments, const std::string& log);
// Waits for a child at most `timeout_s` (then kills it with SIGKILL); its
// exit code, -1 if a signal ended it, kTimedOut if the wait timed out.
inline constexpr int kTimedOut = -2;
int WaitProcess(int pid, double timeout_s = 600.0);
// Polls `path` until it contains `text` (true) or `timeout_s` passed (false).
bool WaitForText(const std::string& path, const std::string& text, double timeout_s = 60.0);
// The endpoint an fsd-coordinator bound to "*" reports in its `log`
// ("listening on tcp://127.0.0.1:PORT, ..."); empty if none within the timeout.
std::string ListeningEndpoint(const std::string& log, double timeout_s = 60.0);

// The repository and build/bin directories of this build; the environment
// variables FSD_SOURCE_DIR / FSD_BIN_DIR override them.
std::string SourceDir();
std::string BinDir();

}  // namespace fsd::testing
