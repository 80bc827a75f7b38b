#include "sim/worker_pool.h"

#include <chrono>

#include "common/runtime/process_setup.h"

namespace fsd::sim {

WorkerPool::WorkerPool(int workers, int torch_threads, MakeWorker make_worker, RunJob run_job)
    : torch_threads_(torch_threads),
      make_worker_(std::move(make_worker)),
      run_job_(std::move(run_job)) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back(&WorkerPool::Loop, this);
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void WorkerPool::Submit(RoundJob job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push(std::move(job));
  }
  wake_.notify_one();
}

std::vector<RoundResult> WorkerPool::TakeResults() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(results_, {});
}

void WorkerPool::RethrowFailure() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failure_) std::rethrow_exception(failure_);
}

void WorkerPool::Loop() {
  runtime::SetTorchThreads(torch_threads_);
  std::unique_ptr<client::RoundWorker> worker;
  while (true) {
    RoundJob job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = jobs_.top();
      jobs_.pop();
    }
    try {
      if (!worker) worker = make_worker_();
      const auto start = std::chrono::steady_clock::now();
      auto trained = run_job_(*worker, job);
      job.round.global_values = {};  // the result needs the round's mask, not its values
      RoundResult result{job.client, job.incarnation, std::move(job.round), std::move(trained),
                         0.0};
      result.train_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::lock_guard<std::mutex> lock(mutex_);
      results_.push_back(std::move(result));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
  }
}

}  // namespace fsd::sim
