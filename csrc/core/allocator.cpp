#include "core/allocator.h"

#include "core/profiler.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

namespace tt {

namespace {

// A block's deleter context is its size class (small) or byte size (large);
// while the profiler records, its session tag rides in the top 16 bits, so
// the free can be counted without a lookup. Untagged blocks cost one test.
constexpr int kTagShift = 48;
constexpr uintptr_t kCtxMask = (uintptr_t{1} << kTagShift) - 1;
void* tag_ctx(uintptr_t ctx, size_t requested, size_t block) {
  if (!prof::enabled()) return reinterpret_cast<void*>(ctx);
  return reinterpret_cast<void*>(ctx | (uintptr_t{prof::on_alloc(requested, block)} << kTagShift));
}
uintptr_t untag_ctx(void* ctx, size_t (*block_size)(uintptr_t)) {
  uintptr_t raw = reinterpret_cast<uintptr_t>(ctx);
  if (raw >> kTagShift) prof::on_free(static_cast<uint16_t>(raw >> kTagShift), block_size(raw & kCtxMask));
  return raw & kCtxMask;
}

// Small blocks (<= 64 KiB): per-thread free lists, one per power-of-two size
// class. malloc's aligned path plus consolidation was a third of the cost of
// a 32x32 add from Python (perf). At most 32 blocks per class are kept.
constexpr int kClasses = 11;  // 64 B .. 64 KiB
constexpr size_t kMaxCachedPerClass = 32;
thread_local bool t_small_alive = false;  // trivially destructible: safe to read during thread exit
struct SmallCache {
  std::vector<char*> free_blocks[kClasses];
  SmallCache() { t_small_alive = true; }
  ~SmallCache() {
    t_small_alive = false;
    for (auto& v : free_blocks)
      for (char* p : v) std::free(p);
  }
};
thread_local SmallCache t_small;

int size_class(size_t nbytes) {
  size_t cap = 64;
  for (int c = 0; c < kClasses; ++c, cap <<= 1)
    if (nbytes <= cap) return c;
  return -1;
}

void free_small(void* ctx, char* p) {
  int c = static_cast<int>(untag_ctx(ctx, [](uintptr_t cls) { return size_t{64} << cls; }));
  if (!t_small_alive) {  // this thread's cache is gone (or was never used): plain free
    std::free(p);
    return;
  }
  auto& v = t_small.free_blocks[c];
  if (v.size() < kMaxCachedPerClass) v.push_back(p);
  else std::free(p);
}

// Large blocks: one process-wide cache keyed by exact rounded size. Without it
// each training step of a medium GPT re-faulted its activations from the
// kernel (clear_page was 11% of the step in perf).
// The cache holds at most max(512 MiB, the peak of large bytes in use at once):
// what the program has already shown it needs, so a training loop's whole
// per-step churn is reused; and in use + cached stays under that bound too
// (a miss first frees cached blocks of other sizes). With a fixed 512 MiB cap a GPT-2-small step
// (gradients of 124M parameters, 50257-wide logits: ~1.6 GB allocated per
// step) re-faulted ~13,000 pages per step, and clear_page was the largest
// entry in perf (a step took 1.6x as long; docs/performance.md).
// Blocks >= 4 MiB are 2 MiB aligned and marked for transparent huge pages, as
// numpy does (a 1024x1024 add went from 194 us to 158 us; numpy 151 us).
constexpr size_t kHuge = size_t{2} << 20;
constexpr size_t kMinCacheCap = size_t{512} << 20;
struct LargeCache {
  std::mutex mu;
  std::multimap<size_t, char*> blocks;
  size_t bytes = 0;       // held in the cache
  size_t live = 0;        // handed out and not yet freed
  size_t peak_live = 0;   // the most ever handed out at once
};
LargeCache& large_cache() {
  static LargeCache* cache = new LargeCache;  // leaked: storages may be freed during static destruction
  return *cache;
}

size_t round_large(size_t nbytes) {
  return nbytes >= 2 * kHuge ? (nbytes + kHuge - 1) / kHuge * kHuge : (nbytes + 4095) / 4096 * 4096;
}

void free_large(void* ctx, char* p) {
  size_t size = untag_ctx(ctx, [](uintptr_t bytes) { return size_t{bytes}; });
  auto& c = large_cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.live -= size;
    if (c.bytes + size <= std::max(kMinCacheCap, c.peak_live)) {
      c.blocks.emplace(size, p);
      c.bytes += size;
      return;
    }
  }
  std::free(p);
}

#if defined(__SANITIZE_ADDRESS__)
// The block the caches would have handed out for nbytes: what the profiler counts in both builds.
size_t counted_block(size_t nbytes) {
  int c = size_class(nbytes);
  return c >= 0 ? size_t{64} << c : round_large(nbytes);
}
void free_exact(void* ctx, char* p) {
  untag_ctx(ctx, [](uintptr_t bytes) { return size_t{bytes}; });
  std::free(p);
}
#endif

}  // namespace

Block allocate_block(size_t nbytes) {
#if defined(__SANITIZE_ADDRESS__)
  // make sanitize (.ci/sanitize.sh): exact-size blocks straight from malloc and back, so ASan
  // sees every read past a tensor's end and every use after free (the caches would hide both).
  // The profiler's memory counters still see the block the caches would have used, so its
  // figures (and tests/14_profiling) are the same under the sanitizer.
  void* exact = nullptr;
  if (posix_memalign(&exact, 64, nbytes ? nbytes : 1) != 0) exact = nullptr;
  const size_t counted = counted_block(nbytes);
  return {static_cast<char*>(exact), free_exact,
          exact ? tag_ctx(counted, nbytes, counted) : reinterpret_cast<void*>(counted)};
#endif
  int c = size_class(nbytes);
  if (c >= 0) {
    auto& v = t_small.free_blocks[c];
    char* p;
    if (!v.empty()) {
      p = v.back();
      v.pop_back();
    } else {
      p = static_cast<char*>(std::aligned_alloc(64, size_t{64} << c));
    }
    return {p, free_small, tag_ctx(static_cast<uintptr_t>(c), nbytes, size_t{64} << c)};
  }
  size_t size = round_large(nbytes);
  auto& cache = large_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mu);
    auto it = cache.blocks.find(size);
    if (it != cache.blocks.end()) {
      char* p = it->second;
      cache.blocks.erase(it);
      cache.bytes -= size;
      cache.live += size;
      cache.peak_live = std::max(cache.peak_live, cache.live);
      return {p, free_large, tag_ctx(size, nbytes, size)};
    }
  }
  {
    // A miss: before asking the system for more, give back cached blocks that would lift the
    // memory held (in use + cached) above max(512 MiB, the peak in use), largest first. A
    // training loop hits the cache every step and never gets here; a program whose shapes
    // change (a notebook trying batch sizes) would otherwise hold up to twice its peak.
    std::lock_guard<std::mutex> lock(cache.mu);
    const size_t limit = std::max({kMinCacheCap, cache.peak_live, cache.live + size});
    while (!cache.blocks.empty() && cache.live + size + cache.bytes > limit) {
      auto last = std::prev(cache.blocks.end());
      cache.bytes -= last->first;
      std::free(last->second);
      cache.blocks.erase(last);
    }
  }
  char* p = static_cast<char*>(std::aligned_alloc(size >= 2 * kHuge ? kHuge : 64, size));
  if (p) {
    std::lock_guard<std::mutex> lock(cache.mu);
    cache.live += size;
    cache.peak_live = std::max(cache.peak_live, cache.live);
  }
#ifdef MADV_HUGEPAGE
  if (p && size >= 2 * kHuge) madvise(p, size, MADV_HUGEPAGE);
#endif
  return {p, free_large, p ? tag_ctx(size, nbytes, size) : reinterpret_cast<void*>(size)};
}

void empty_block_cache() {
  auto& c = large_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& kv : c.blocks) std::free(kv.second);
  c.blocks.clear();
  c.bytes = 0;
}

}  // namespace tt
