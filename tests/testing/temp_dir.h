// Test helpers: a temporary directory removed on destruction, file writing,
// and the repository / binary locations ctest passes in the environment.
#pragma once

#include <string>
#include <string_view>

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

// The repository and build/bin directories of this build; the environment
// variables FSD_SOURCE_DIR / FSD_BIN_DIR override them.
std::string SourceDir();
std::string BinDir();

}  // namespace fsd::testing
