#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace fsd {

ProgressLine::ProgressLine() : interactive_(isatty(STDERR_FILENO) == 1) {}

void ProgressLine::Update(const std::string& text) {
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
}

void ProgressLine::Finish(const std::string& text) {
  std::fprintf(stderr, interactive_ ? "\r\033[K%s\n" : "%s\n", text.c_str());
  std::fflush(stderr);
}

}  // namespace fsd
