// tinytorch runs its own threads for BLAS work and keeps OpenBLAS itself
// single-threaded. Measured here with Debian's OpenBLAS 0.3.21 on 2 cores:
// - after each threaded call OpenBLAS's idle threads spin (sched_yield) for
//   a long while, so work of ours started next to them found its core taken:
//   a 256^3 product split over our threads ran slower than on one;
// - many small products (the heads of attention) gain most: OpenBLAS's
//   threads spent more time waking up and synchronising than multiplying,
//   and the softmax between the products ran on one core only;
// - one product alone (benchmarks/bench_matmul.py): 0.86x-1.31x of
//   OpenBLAS's own threading, the gain on the small ones.
// In a training step of a medium GPT (benchmarks/bench_gpt.py) this took
// tinytorch from 0.96x to 1.2x PyTorch's steps/s.
// So every BLAS call is single-threaded, and the callers split the work:
// matmul by rows (or columns) of the result, attention by (batch, head),
// large elementwise ops by chunks.
#pragma once
#include <cstdint>
#include <functional>

namespace tt {

// Threads used for parallel work (default: what OpenBLAS would have used,
// i.e. OPENBLAS_NUM_THREADS / OMP_NUM_THREADS or the core count).
int num_threads();
// Each thread is an OS thread that spins before sleeping: far more of them
// than cores only slows every region down (100000 of them made the next
// matmul appear to hang), so the count is capped at 4 per core (at least 4,
// at most 256). ValueError naming set_num_threads outside [1, max_threads()].
int max_threads();
void set_num_threads(int n);

// Below this many flops a job runs inline: waking a worker costs a few
// microseconds, as much as a whole small product.
constexpr double kMinParallelFlops = 2e6;

// Calls fn(begin, end) on disjoint chunks of [0, n) that cover it, the chunks
// running at the same time on the worker threads and the caller. fn must not
// throw and must not touch Python. Runs inline (one chunk) when there is one
// thread, one job, too little work, or another thread is already running a
// parallel region (regions do not nest).
void parallel_for(int64_t n, double flops, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace tt
