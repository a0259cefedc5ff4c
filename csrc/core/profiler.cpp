// The engine profiler's recorder (see profiler.h for the choke points).
#include "core/profiler.h"

#include <chrono>
#include <mutex>

namespace tt::prof {

std::atomic<bool> g_enabled __attribute__((visibility("hidden"))){false};

namespace {

struct Recorder {
  std::mutex mu;
  std::vector<Event> events;
  int64_t origin_ns = 0;
};
Recorder& recorder() {
  static Recorder* r = new Recorder;  // leaked: blocks may be freed during static destruction
  return *r;
}

// Memory counters: atomics, since blocks are freed on whichever thread drops them.
std::atomic<uint16_t> g_session{1};
std::atomic<int64_t> g_allocations{0}, g_requested{0}, g_block{0}, g_frees{0}, g_live{0}, g_peak{0};

std::atomic<uint64_t> g_next_thread{0};
uint64_t thread_index() {
  thread_local uint64_t id = g_next_thread.fetch_add(1, std::memory_order_relaxed);
  return id;
}

}  // namespace

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void set_enabled(bool on) {
  if (on && !enabled()) {
    std::lock_guard<std::mutex> lock(recorder().mu);
    if (recorder().events.empty()) recorder().origin_ns = now_ns();
  }
  g_enabled.store(on, std::memory_order_relaxed);
}

void reset() {
  {
    auto& r = recorder();
    std::lock_guard<std::mutex> lock(r.mu);
    r.events.clear();
    r.origin_ns = now_ns();
  }
  // A new session tag: blocks allocated before the reset no longer count when freed.
  uint16_t next = static_cast<uint16_t>(g_session.load(std::memory_order_relaxed) + 1);
  g_session.store(next == 0 ? 1 : next, std::memory_order_relaxed);
  for (auto* c : {&g_allocations, &g_requested, &g_block, &g_frees, &g_live, &g_peak})
    c->store(0, std::memory_order_relaxed);
}

void record(Kind kind, std::string name, int64_t start_ns, int64_t end_ns, double flops) {
  auto& r = recorder();
  const uint64_t tid = thread_index();
  std::lock_guard<std::mutex> lock(r.mu);
  r.events.push_back({std::move(name), kind, start_ns - r.origin_ns, end_ns - start_ns, flops, tid});
}

std::vector<Event> events() {
  auto& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.events;
}

MemoryStats memory() {
  MemoryStats s;
  s.allocations = g_allocations.load(std::memory_order_relaxed);
  s.requested_bytes = g_requested.load(std::memory_order_relaxed);
  s.block_bytes = g_block.load(std::memory_order_relaxed);
  s.frees = g_frees.load(std::memory_order_relaxed);
  s.live_bytes = g_live.load(std::memory_order_relaxed);
  s.peak_live_bytes = g_peak.load(std::memory_order_relaxed);
  return s;
}

uint16_t on_alloc(size_t requested, size_t block) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_requested.fetch_add(static_cast<int64_t>(requested), std::memory_order_relaxed);
  g_block.fetch_add(static_cast<int64_t>(block), std::memory_order_relaxed);
  int64_t live = g_live.fetch_add(static_cast<int64_t>(block), std::memory_order_relaxed) + static_cast<int64_t>(block);
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (live > peak && !g_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
  return g_session.load(std::memory_order_relaxed);
}

void on_free(uint16_t tag, size_t block) {
  if (tag != g_session.load(std::memory_order_relaxed)) return;
  g_frees.fetch_add(1, std::memory_order_relaxed);
  g_live.fetch_sub(static_cast<int64_t>(block), std::memory_order_relaxed);
}

}  // namespace tt::prof
