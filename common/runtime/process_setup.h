// Process-wide performance setup every fsd executable calls first in main().
//
// Why: glibc's dynamic mmap threshold maps and unmaps LibTorch's per-step
// activation buffers on every training step (15-25% on cnn3-s), and OpenMP plus
// OpenBLAS threads oversubscribe small machines. Parallelism in fsd comes from
// worker pools, each worker running one torch thread.
// Not thread-safe: call once, before any other thread starts.
#pragma once

namespace fsd::runtime {

struct ProcessSetupReport {
  bool allocator_tuned = false;  // mallopt thresholds applied
  bool openblas_single = false;  // openblas_set_num_threads(1) found and called
  int torch_threads = 0;         // torch intra-op threads after setup
};

// Pins glibc's mmap/trim thresholds (unless FSD_KEEP_MALLOC_DEFAULTS is set, for
// measuring their effect), makes OpenBLAS single-threaded and sets LibTorch's
// intra-op threads to `torch_threads` (>= 1).
ProcessSetupReport ConfigureProcess(int torch_threads);

// Sets the calling thread's torch intra-op threads; used by worker threads.
void SetTorchThreads(int torch_threads);

}  // namespace fsd::runtime
