// The worker pool behind parallel_for (see parallel.h for why it exists).
//
// Fork-join, one region at a time: the caller publishes a task and a new
// generation number, works on chunk 0 itself, and waits until every worker
// has finished its chunk. Workers spin briefly before sleeping, because a
// training step starts regions back to back (a wake-up from sleep costs tens
// of microseconds), but only briefly, so an idle pool does not hold a core.
#include "ops/parallel.h"

#include "core/errors.h"
#include "ops/blas.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <new>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TT_CPU_RELAX() _mm_pause()
#else
#define TT_CPU_RELAX() ((void)0)
#endif


namespace tt {
namespace {

constexpr int kSpinIterations = 2000;  // about 50-100 microseconds of pause instructions

struct Pool {
  explicit Pool(int workers) : workers(workers) {
    for (int id = 1; id <= workers; ++id) std::thread([this, id] { loop(id); }).detach();
  }

  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation.load(std::memory_order_acquire);
      for (int i = 0; i < kSpinIterations && g == seen && !stop.load(std::memory_order_relaxed); ++i) {
        TT_CPU_RELAX();
        g = generation.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait(lock, [&] { return generation.load(std::memory_order_acquire) != seen || stop.load(); });
        if (stop.load()) return;
        g = generation.load(std::memory_order_acquire);
      }
      seen = g;
      (*task)(id);
      if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu);  // pairs with the caller's predicate check
        done.notify_one();
      }
    }
  }

  // Runs f(0) here and f(1..workers) on the pool; returns when all are done.
  void run(const std::function<void(int)>& f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      task = &f;
      remaining.store(workers, std::memory_order_relaxed);
      generation.fetch_add(1, std::memory_order_release);
    }
    wake.notify_all();
    f(0);
    // The workers usually finish within microseconds of us: spin before sleeping.
    for (int i = 0; i < kSpinIterations && remaining.load(std::memory_order_acquire) != 0; ++i) TT_CPU_RELAX();
    std::unique_lock<std::mutex> lock(mu);
    done.wait(lock, [&] { return remaining.load(std::memory_order_acquire) == 0; });
  }

  const int workers;
  std::mutex mu;
  std::condition_variable wake, done;
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stop{false};
  const std::function<void(int)>* task = nullptr;
  std::atomic<int> remaining{0};
};

std::mutex g_config_mu;
std::atomic<int> g_threads{0};          // 0: not decided yet
std::atomic<Pool*> g_pool{nullptr};     // pools are never freed: a retired one may still be waking up
std::atomic<bool> g_region_busy{false};

// In a forked child the workers do not exist: start a new pool on demand. The
// lock may have been held by a parent thread that the child does not have.
void forget_pool_in_child() {
  new (&g_config_mu) std::mutex();
  g_pool.store(nullptr);
  g_region_busy.store(false);
}

Pool* pool_for(int threads) {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p && p->workers == threads - 1) return p;
  std::lock_guard<std::mutex> lock(g_config_mu);
  p = g_pool.load();
  if (p && p->workers == threads - 1) return p;
  if (p) {  // the thread count changed: retire the old pool's threads
    p->stop.store(true);
    p->wake.notify_all();
  }
  static bool atfork_registered = (pthread_atfork(nullptr, nullptr, forget_pool_in_child), true);
  (void)atfork_registered;
  p = new Pool(threads - 1);
  g_pool.store(p, std::memory_order_release);
  return p;
}

}  // namespace

int num_threads() {
  int n = g_threads.load(std::memory_order_acquire);
  if (n > 0) return n;
  std::lock_guard<std::mutex> lock(g_config_mu);
  n = g_threads.load();
  if (n > 0) return n;
  n = std::max(1, openblas_get_num_threads());  // honours OPENBLAS_NUM_THREADS / OMP_NUM_THREADS
  openblas_set_num_threads(1);
  g_threads.store(n, std::memory_order_release);
  return n;
}

int max_threads() {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(4 * std::max(cores, 1), 4, 256);
}

void set_num_threads(int n) {
  if (n < 1 || n > max_threads())
    fail<ValueError>("set_num_threads: the thread count must be between 1 and ", max_threads(),
                     " (4 per core on this machine), got ", n);
  num_threads();  // make sure OpenBLAS was switched to one thread first
  g_threads.store(n, std::memory_order_release);
}

void parallel_for(int64_t n, double flops, const std::function<void(int64_t, int64_t)>& fn) {
  const int threads = num_threads();
  const int64_t parts = std::min<int64_t>(threads, n);
  bool expected = false;
  if (parts <= 1 || flops < kMinParallelFlops || !g_region_busy.compare_exchange_strong(expected, true)) {
    if (n > 0) fn(0, n);
    return;
  }
  Pool* p = pool_for(threads);
  p->run([&](int w) {
    if (w >= parts) return;
    // n * w could overflow for huge n: split as q, q, ..., q+1 instead.
    const int64_t q = n / parts, r = n % parts;
    const int64_t begin = q * w + std::min<int64_t>(w, r), end = begin + q + (w < r ? 1 : 0);
    if (begin < end) fn(begin, end);
  });
  g_region_busy.store(false);
}

}  // namespace tt
