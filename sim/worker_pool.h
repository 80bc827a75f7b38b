// WorkerPool: P threads that run clients' local rounds, largest job first.
// Each thread builds its own RoundWorker (model + trainer) on first use and
// sets its torch threads, so models never cross threads.
// Thread-safety: Submit/TakeResults from any thread; the submitting thread
// turns results into UPDATE frames on the client's session.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "client/round_worker.h"

namespace fsd::sim {

struct RoundJob {
  std::size_t client = 0;
  std::int64_t size = 0;  // shard size: the scheduling priority
  // Which check-in of the client received the round: a result for an
  // earlier one (the client dropped out or restarted since) is discarded.
  std::uint64_t incarnation = 0;
  client::LocalRound round;
};

struct RoundResult {
  std::size_t client = 0;
  std::uint64_t incarnation = 0;
  client::LocalRound round;  // the job's round, without its global values
  client::TrainedRound trained;
  double train_s = 0.0;
};

class WorkerPool {
 public:
  // `run(worker, job)` executes a job on a worker thread.
  using MakeWorker = std::function<std::unique_ptr<client::RoundWorker>()>;
  using RunJob = std::function<client::TrainedRound(client::RoundWorker&, const RoundJob&)>;

  WorkerPool(int workers, int torch_threads, MakeWorker make_worker, RunJob run_job);
  ~WorkerPool();

  void Submit(RoundJob job);
  std::vector<RoundResult> TakeResults();
  // Rethrows the first exception a worker hit, if any.
  void RethrowFailure();

 private:
  void Loop();

  struct BySize {
    bool operator()(const RoundJob& a, const RoundJob& b) const {
      return a.size != b.size ? a.size < b.size : a.client > b.client;
    }
  };

  int torch_threads_;
  MakeWorker make_worker_;
  RunJob run_job_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::priority_queue<RoundJob, std::vector<RoundJob>, BySize> jobs_;
  std::vector<RoundResult> results_;
  std::exception_ptr failure_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace fsd::sim
