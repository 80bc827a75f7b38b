// Clock: where the coordinator's round state machine reads the time, so its
// deadlines and expiry are unit-tested with ManualClock, without sleeping.
// Thread-safety: SteadyClock is; ManualClock belongs to one test thread.
#pragma once

#include <time.h>

#include <chrono>

namespace fsd::coordinator {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

// Time moves only when told (tests).
class ManualClock final : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  void Advance(std::chrono::duration<double> by) {
    now_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(by);
  }

 private:
  TimePoint now_{};
};

// CPU seconds the calling thread has used (what the coordinator's own work costs,
// apart from ZeroMQ's I/O threads and waiting).
inline double ThreadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

inline double SecondsBetween(Clock::TimePoint from, Clock::TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace fsd::coordinator
