// Strided N-D iteration shared by the kernels. strided_loop visits every
// element of `shape` once, in row-major order, handing the functor the
// element offsets (in elements) of each of N operands, whose strides may be
// anything (0 for broadcast dims, negative never occurs). The innermost
// dimension is a plain loop so the compiler can vectorize the common cases.
#pragma once
#include <array>
#include <cstdint>

#include "core/shape.h"

namespace tt::ops {

// Merges adjacent dims that are contiguous with each other in every operand,
// dropping size-1 dims: (4,5,6) contiguous becomes (120,). Returns the new
// shape; rewrites the stride vectors in place.
template <size_t N>
Shape coalesce(const Shape& shape, std::array<Strides, N>& st) {
  Shape out;
  std::array<Strides, N> ost;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !out.empty();
    for (size_t k = 0; merge && k < N; ++k)
      merge = ost[k].back() == st[k][d] * shape[d];
    if (merge) {
      out.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) ost[k].back() = st[k][d];
    } else {
      out.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) ost[k].push_back(st[k][d]);
    }
  }
  st = ost;
  return out;
}

// f(std::array<int64_t, N> offsets) for each element; also passes the inner
// count and strides so hot kernels can specialise: see inner_loop below.
template <size_t N, class Inner>
void strided_loop(const Shape& shape_in, std::array<Strides, N> st, std::array<int64_t, N> base, Inner&& inner) {
  for (int64_t d : shape_in)
    if (d == 0) return;
  Shape shape = coalesce<N>(shape_in, st);
  if (shape.empty()) {  // a single element
    std::array<int64_t, N> zero{};
    inner(base, int64_t{1}, zero);
    return;
  }
  const size_t nd = shape.size();
  const int64_t n_inner = shape[nd - 1];
  std::array<int64_t, N> inner_st;
  for (size_t k = 0; k < N; ++k) inner_st[k] = st[k][nd - 1];
  std::vector<int64_t> counter(nd, 0);
  std::array<int64_t, N> off = base;
  while (true) {
    inner(off, n_inner, inner_st);  // processes shape[nd-1] elements starting at off
    // advance the outer counter (dims 0..nd-2)
    int64_t d = static_cast<int64_t>(nd) - 2;
    for (; d >= 0; --d) {
      if (++counter[d] < shape[d]) {
        for (size_t k = 0; k < N; ++k) off[k] += st[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k) off[k] -= st[k][d] * (shape[d] - 1);
      counter[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace tt::ops
