// Splitting many small independent BLAS jobs (the heads of attention) across
// the cores, one single-threaded sgemm per core, instead of asking OpenBLAS to
// thread each tiny 128x128x32 product: its threads then spend more time
// waking up and synchronising (sched_yield in perf) than multiplying, and the
// softmax between the products runs on one core only.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

extern "C" {
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
}

namespace tt::nn {

// Calls fn(begin, end, worker) on disjoint chunks of [0, n) that cover it,
// worker in [0, workers). fn must not throw and must not touch Python.
// Runs inline (one chunk, worker 0) when there is one BLAS thread, one job, or
// too little work (flops) to pay for starting a thread (tens of microseconds,
// as much as a whole step of the milestone model).
// While the chunks run, OpenBLAS is single-threaded (a process-wide setting,
// restored afterwards); a BLAS call from another thread meanwhile still gives
// the right answer, only without threads.
constexpr double kMinParallelFlops = 4e6;

template <class F>
void parallel_jobs(int64_t n, double flops, F&& fn) {
  const int threads = openblas_get_num_threads();
  const int64_t workers = std::min<int64_t>(std::max(threads, 1), n);
  if (workers <= 1 || flops < kMinParallelFlops) {
    if (n > 0) fn(int64_t{0}, n, int64_t{0});
    return;
  }
  openblas_set_num_threads(1);
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(workers - 1));
  auto bounds = [&](int64_t w) { return n * w / workers; };
  for (int64_t w = 1; w < workers; ++w) pool.emplace_back([&, w] { fn(bounds(w), bounds(w + 1), w); });
  fn(bounds(0), bounds(1), int64_t{0});
  for (auto& t : pool) t.join();
  openblas_set_num_threads(threads);
}

}  // namespace tt::nn
