// Board: what an operator can see of a running federation, kept as a
// snapshot that the round loop writes and the HTTP server (http_server.h)
// reads. The loop publishes the live state (phase, clients, rejects) a few
// times a second and each round's metrics record (the object written to
// metrics.jsonl) when the round is committed; readers copy a Snapshot.
// Nothing here blocks the round loop for longer than a copy under a mutex.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace fsd::monitor {

// What does not change during a run.
struct RunInfo {
  std::string program;            // "fsd-coordinator" or "fsd-sim"
  std::string model_fingerprint;  // hex
  std::int64_t rounds_configured = 0;
  double epsilon_budget = 0.0;  // privacy.target_epsilon; 0: no budget
  double delta = 0.0;           // privacy.delta; 0: no DP
};

// The state of the round loop now.
struct Live {
  std::string phase = "waiting";                // coordinator::PhaseName
  std::uint64_t committed = 0;                  // rounds committed (failed secure rounds included)
  std::uint64_t attempt = 0;                    // retries of the round in progress
  std::size_t enrolled = 0;                     // admitted keys (plaintext: joined clients)
  std::size_t connected = 0;                    // joined clients
  std::size_t sampled = 0;                      // in the attempt in progress
  std::size_t reported = 0;                     // of those, reported so far
  double epsilon_spent = 0.0;                   // under DP; 0 otherwise
  std::map<std::string, std::int64_t> rejects;  // REJECT code name → count, whole run
  bool finished = false;
  std::string stop_reason;  // why the run stopped early; empty otherwise
};

// Sums over every committed round.
struct Totals {
  std::map<std::pair<std::string, std::string>, std::int64_t> bytes;  // (direction, kind)
  std::int64_t rounds_failed = 0;    // outcome "failed" or "rolled_back"
  std::int64_t secagg_dropouts = 0;  // secure-round members that did not survive
  std::int64_t secagg_clamped = 0;   // values clamped to the secure range
};

struct Snapshot {
  RunInfo run;
  Live live;
  Totals totals;
  // The last committed rounds' records as the status page plots them
  // (round, outcome, acc, clients_selected, clients_reported, bytes_up,
  // bytes_down, epsilon, loss, round_s, collect_s, eval_s, stage_s), oldest
  // first, at most Board::kRoundsKept.
  std::deque<nlohmann::json> rounds;
  // The last committed round's full record (null before the first).
  nlohmann::json last_round;
};

// A number field of a metrics record; `missing` when the field is absent or
// not a number (null: withheld, or not in this run's mode).
double NumberField(const nlohmann::json& record, const char* key, double missing = 0.0);

class Board {
 public:
  // Enough for days of rounds; older rounds leave the page, not the totals.
  static constexpr std::size_t kRoundsKept = 10000;

  void SetRun(RunInfo run);
  void SetLive(Live live);
  // `record`: one metrics.jsonl object (coordinator::RoundStateMachine).
  void AddRound(const nlohmann::json& record);
  Snapshot Read() const;

 private:
  mutable std::mutex mutex_;
  Snapshot snapshot_;
};

}  // namespace fsd::monitor
