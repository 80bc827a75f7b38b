// A live progress line on stderr: redrawn in place (at most ~5 times a second)
// when stderr is a terminal, otherwise only Finish() lines are printed so logs
// stay readable. Thread-safety: one owner thread.
#pragma once

#include <chrono>
#include <string>

namespace fsd {

class ProgressLine {
 public:
  ProgressLine();
  // Replaces the live line with `text` (throttled; dropped when not a terminal).
  void Update(const std::string& text);
  // Prints `text` as a permanent line.
  void Finish(const std::string& text);

 private:
  bool interactive_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace fsd
