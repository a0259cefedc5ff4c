// Shape and stride arithmetic as pure functions (no tensors, no allocation
// beyond the returned vectors), so each rule can be tested on its own.
// Strides are in elements, not bytes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tt {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

std::string shape_str(const Shape& s);                  // "(2, 3)"
// Most dimensions a tensor may have (numpy's limit too): kernels keep
// per-dim counters on the stack, and 200 size-1 dims is always a bug.
constexpr size_t kMaxDims = 64;

int64_t numel(const Shape& s);                          // product, 1 for (); ValueError on overflow
// Rejects negative sizes, more than kMaxDims dims, and element counts whose
// size in bytes (at 8 bytes per element) would not fit in int64: ValueError
// naming `op`. Every path that makes a new shape calls it, because a wrapped
// element count passes the later size checks and then indexes out of bounds.
void check_shape(const Shape& s, const char* op);
Strides contiguous_strides(const Shape& s);             // row-major
bool is_contiguous(const Shape& s, const Strides& st);  // size-1 dims ignored

// Wraps a negative axis; raises IndexError "op: axis 3 is out of range for a 2-D tensor".
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);

// numpy broadcasting of two shapes; raises ValueError naming op and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Strides to read a tensor of (shape, strides) as if it had `target` shape
// (broadcast dims get stride 0). `shape` must broadcast to `target`.
Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target);

// Resolves one -1 in a reshape request; raises ValueError for bad sizes.
Shape infer_reshape(const Shape& requested, int64_t total, const Shape& from);

// Strides that view (old_shape, old_strides) as new_shape without copying,
// or nullopt when the memory layout does not allow it (then reshape copies).
std::optional<Strides> view_strides(const Shape& old_shape, const Strides& old_strides,
                                    const Shape& new_shape);

// Sorted unique normalized axes from a list (empty list means all axes).
std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t ndim, const char* op);

}  // namespace tt
