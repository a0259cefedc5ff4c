// The engine profiler: a recorder the choke points of the engine report to
// while it is switched on (tinytorch.profiling.Profiler switches it).
//
// Choke points (each tests one relaxed atomic flag when the recorder is off,
// so an unprofiled program pays a load and a predictable branch, nothing more):
//   - the backward loop (autograd/engine.cpp): every node's apply, timed, named
//     by the node (MatmulBackward, AccumulateGrad, ...);
//   - graph recording (autograd/node.cpp set_history): every differentiable
//     forward op that records a node, counted under the node's forward name;
//   - the matmul kernel (ops/matmul.cpp): timed with its FLOP count, so each
//     call's GFLOP/s can be set against the machine's BLAS peak;
//   - every other forward kernel: a KernelTimer at the entry of each family's
//     dispatch function (ops::binary, unary, reduce, softmax, index ops, the
//     copy behind clone/astype/contiguous, the fused linear/attention/layer_norm,
//     the fused block and GPT forward), named as users know the op (add, exp,
//     sum, layer_norm, ...). Kernels nest (linear holds its matmul); Python's
//     summary splits each event's self time from its total;
//   - the storage allocator (core/allocator.cpp): bytes requested, block bytes
//     held and their peak, for blocks allocated while recording.
// Events are kept in memory (a vector under a mutex, taken only when on) and
// read back by Python, which builds the table and the Chrome trace.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

namespace tt::prof {

// Hidden: read PC-relative, one load, instead of through the GOT as an
// exported variable of a -fPIC library would be.
extern std::atomic<bool> g_enabled __attribute__((visibility("hidden")));
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

enum class Kind : uint8_t { Forward = 0, Backward = 1, Kernel = 2, User = 3 };

struct Event {
  std::string name;
  Kind kind;
  int64_t start_ns;  // steady clock, since the session started
  int64_t dur_ns;    // 0 for forward ops (counted, not timed: see set_history)
  double flops;      // kernels that know their work (matmul); 0 otherwise
  uint64_t thread;   // small per-thread id, for the trace's rows
};

struct MemoryStats {
  int64_t allocations = 0;      // blocks handed out while recording
  int64_t requested_bytes = 0;  // sum of the sizes asked for
  int64_t block_bytes = 0;      // sum of the block sizes actually reserved (size classes round up)
  int64_t frees = 0;            // of those blocks, how many came back while this session lasted
  int64_t live_bytes = 0;       // block bytes of this session's blocks still held
  int64_t peak_live_bytes = 0;  // the most live_bytes reached
};

int64_t now_ns();  // steady clock (absolute)
void set_enabled(bool on);
void reset();  // drops events and zeroes the memory counters (blocks from before no longer count)
void record(Kind kind, std::string name, int64_t start_ns, int64_t end_ns, double flops = 0);
std::vector<Event> events();
MemoryStats memory();

// Allocator hooks. on_alloc (called only when enabled()) returns the session
// tag to keep with the block, nonzero; on_free takes it back when the block is
// freed, and counts the free only if the tag is the current session's.
uint16_t on_alloc(size_t requested, size_t block);
void on_free(uint16_t tag, size_t block);

// Times a kernel from construction to destruction when the recorder was on at
// construction; `flops` may be set once the work is known.
class KernelTimer {
 public:
  explicit KernelTimer(const char* name) : name_(name), start_(enabled() ? now_ns() : 0) {}
  ~KernelTimer() {
    if (start_ && std::uncaught_exceptions() == 0) record(Kind::Kernel, name_, start_, now_ns(), flops);
  }
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;
  double flops = 0;

 private:
  const char* name_;
  int64_t start_;
};

}  // namespace tt::prof
