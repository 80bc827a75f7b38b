#include "common/runtime/process_setup.h"

#include <dlfcn.h>
#include <malloc.h>
#include <torch/torch.h>

#include <cstdlib>

#include "common/errors.h"

namespace fsd::runtime {
namespace {

// 32 MiB mmap threshold keeps activation buffers on the heap; a 1 GiB trim
// threshold stops glibc returning (and re-faulting) freed pages every step.
constexpr int kMmapThresholdBytes = 32 << 20;
constexpr int kTrimThresholdBytes = 1 << 30;

bool TuneAllocator() {
  if (std::getenv("FSD_KEEP_MALLOC_DEFAULTS") != nullptr) return false;
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes) == 1;
  return mmap_ok && trim_ok;
}

// OpenBLAS reads OPENBLAS_NUM_THREADS before main() runs, so the thread count
// is set through its API; looked up dynamically because LibTorch may be linked
// against another BLAS, in which case there is nothing to do.
bool MakeOpenBlasSingleThreaded() {
  using SetThreadsFn = void (*)(int);
  auto* set_threads =
      reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set_threads == nullptr) return false;
  set_threads(1);
  return true;
}

}  // namespace

ProcessSetupReport ConfigureProcess(int torch_threads) {
  FSD_CHECK(torch_threads >= 1) << "torch_threads=" << torch_threads;
  ProcessSetupReport report;
  report.allocator_tuned = TuneAllocator();
  report.openblas_single = MakeOpenBlasSingleThreaded();
  SetTorchThreads(torch_threads);
  report.torch_threads = torch::get_num_threads();
  return report;
}

void SetTorchThreads(int torch_threads) {
  FSD_CHECK(torch_threads >= 1) << "torch_threads=" << torch_threads;
  torch::set_num_threads(torch_threads);
}

}  // namespace fsd::runtime
