// Reductions: sum / mean / max / min / prod over any set of axes, var,
// argmax / argmin and sum_to (the exp-based ones live in softmax.cpp).
//
// One strided engine serves sum, mean, max, min, prod and var, on any strides
// and without copying the input. The input's dims are visited in memory order
// (largest stride outermost, as numpy's iterator does) and coalesced; then the
// innermost dim is one of:
//  - reduced: each run folds into ONE output element, through independent
//    lane accumulators the compiler keeps in SIMD registers;
//  - kept, with a reduced dim just outside it (sum over a leading axis): rows
//    are added into the output row, four at a time, so the loop vectorizes
//    and the output is loaded and stored once per four input rows;
//  - anything else (strided leftovers): a plain elementwise update.
// Two accumulation types: P for short partial folds (four rows, or one block
// of lanes) and Acc for the running total. float32 sums use P = float,
// Acc = double: converting every element to double halves the speed, while
// float partials of a few terms added into a double total keep the result
// more accurate than numpy's float32 pairwise summation, and faster.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>

#include "core/profiler.h"
#include "ops/iter.h"
#include "ops/ops.h"

namespace tt::ops {
namespace {

constexpr int kLanes = 32;  // independent accumulators in a horizontal run
// Elements per partial of a horizontal run: short when partials are float so
// their rounding error stays a few ulps, long when they already are Acc.
template <class P, class Acc> constexpr int64_t kBlock = std::is_same_v<P, Acc> ? 4096 : 256;

const char* op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Mean: return "mean";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
    case ReduceOp::Prod: return "prod";
  }
  return "reduce";
}

std::string axes_str(const std::vector<int64_t>& axes) {
  if (axes.empty()) return "all axes";
  std::string s = "axes (";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? ", " : "") + std::to_string(axes[i]);
  return s + ")";
}

// ---- the folds: a binary operation with its identity ----
struct SumFold {
  template <class A> static A identity() { return A(0); }
  template <class A> A operator()(A acc, A v) const { return acc + v; }
};
struct ProdFold {
  template <class A> static A identity() { return A(1); }
  template <class A> A operator()(A acc, A v) const { return acc * v; }
};
// max/min propagate NaN like numpy: once a NaN is seen it wins (`v != v` is the NaN test).
struct MaxFold {
  template <class A> static A identity() {
    return std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity()
                                                : std::numeric_limits<A>::lowest();
  }
  template <class A> A operator()(A acc, A v) const { return (v > acc || v != v) ? v : acc; }
};
struct MinFold {
  template <class A> static A identity() {
    return std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity()
                                                : std::numeric_limits<A>::max();
  }
  template <class A> A operator()(A acc, A v) const { return (v < acc || v != v) ? v : acc; }
};

// Folds f(0), ..., f(n-1) (each a P) into one Acc: kLanes partials the
// compiler keeps in vector registers, added into the total every block.
template <class P, class Acc, class Fold, class F>
Acc fold_run(int64_t n, Fold fold, F f) {
  Acc total = Fold::template identity<Acc>();
  for (int64_t start = 0; start < n; start += kBlock<P, Acc>) {
    const int64_t end = std::min(n, start + kBlock<P, Acc>);
    P lane[kLanes];
    for (int k = 0; k < kLanes; ++k) lane[k] = Fold::template identity<P>();
    int64_t i = start;
    for (; i + kLanes <= end; i += kLanes)
      for (int k = 0; k < kLanes; ++k) lane[k] = fold(lane[k], f(i + k));
    for (; i < end; ++i) lane[0] = fold(lane[0], f(i));
    P block = lane[0];
    for (int k = 1; k < kLanes; ++k) block = fold(block, lane[k]);
    total = fold(total, static_cast<Acc>(block));
  }
  return total;
}

// y[j] = fold(y[j], x[r][j]) over R rows of n contiguous elements (row stride
// rs); y[j] is output element o + j. Four rows are folded in P first.
template <class P, class T, class Acc, class Fold, class Load>
void fold_rows(const T* x, int64_t rs, int64_t R, int64_t n, Acc* __restrict y, int64_t o, Fold fold,
               Load load) {
  int64_t r = 0;
  for (; r + 4 <= R; r += 4) {
    const T* x0 = x + r * rs;
    const T* x1 = x0 + rs;
    const T* x2 = x1 + rs;
    const T* x3 = x2 + rs;
    for (int64_t j = 0; j < n; ++j) {
      const P p = fold(fold(load(x0[j], o + j), load(x1[j], o + j)), fold(load(x2[j], o + j), load(x3[j], o + j)));
      y[j] = fold(y[j], static_cast<Acc>(p));
    }
  }
  for (; r < R; ++r) {
    const T* xr = x + r * rs;
    for (int64_t j = 0; j < n; ++j) y[j] = fold(y[j], static_cast<Acc>(load(xr[j], o + j)));
  }
}

// Geometry of one reduction: the input dims in memory order, coalesced, each
// with its input stride and the stride of the output element it folds into
// (0 on reduced dims; the output is contiguous in keepdims shape).
struct Plan {
  Shape keep_shape;   // output shape with reduced dims kept as size 1
  Shape out_shape;    // the shape returned (keep_shape, or without the reduced dims)
  int64_t count = 1;  // input elements folded into each output element
  Shape iter_shape;
  std::array<Strides, 2> strides;  // {input, output}
};

Plan make_plan(const Tensor& a, const std::vector<int64_t>& axes_in, bool keepdims, const char* op) {
  const int64_t nd = a.dim();
  std::vector<int64_t> axes = normalize_axes(axes_in, nd, op);  // validates, even for 0-d tensors
  std::vector<bool> reduced(nd, false);
  if (nd > 0)
    for (int64_t ax : axes) reduced[ax] = true;
  Plan p;
  p.keep_shape = a.shape();
  for (int64_t d = 0; d < nd; ++d)
    if (reduced[d]) {
      p.count *= a.shape()[d];
      p.keep_shape[d] = 1;
    }
  for (int64_t d = 0; d < nd; ++d)
    if (!reduced[d] || keepdims) p.out_shape.push_back(p.keep_shape[d]);
  Strides out_st = contiguous_strides(p.keep_shape);
  for (int64_t d = 0; d < nd; ++d)
    if (reduced[d]) out_st[d] = 0;
  // Visit dims in memory order, so a transposed input is read sequentially;
  // broadcast (stride-0) dims go outermost, where re-reading the same block
  // is cheap and the dims inside them still vectorize.
  std::vector<int64_t> order(nd);
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int64_t d) {
    const int64_t s = a.strides()[d];
    return s == 0 ? std::numeric_limits<int64_t>::max() : s;
  };
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return key(x) > key(y); });
  Shape shape;
  for (int64_t d : order) {
    shape.push_back(a.shape()[d]);
    p.strides[0].push_back(a.strides()[d]);
    p.strides[1].push_back(out_st[d]);
  }
  p.iter_shape = a.numel() == 0 ? shape : coalesce<2>(shape, p.strides);
  return p;
}

// acc[o] = fold(acc[o], load(x, o)) for every input element x and the output
// element o it reduces into. `acc` must hold numel(keep_shape) identities.
// `load` converts (for var: transforms) an element to P; it gets o so it can
// read per-output data such as a mean.
template <class P, class T, class Acc, class Fold, class Load>
void fold_into(const Plan& p, const T* x0, Acc* acc, Fold fold, Load load) {
  const Shape& shape = p.iter_shape;
  const auto& st = p.strides;
  const size_t nd = shape.size();
  if (nd >= 2 && st[0][nd - 1] == 1 && st[1][nd - 1] == 1 && st[1][nd - 2] == 0) {
    // (..., reduced R, kept n contiguous): fold whole rows into output rows.
    const int64_t R = shape[nd - 2], rs = st[0][nd - 2], n = shape[nd - 1];
    Shape outer(shape.begin(), shape.end() - 2);
    std::array<Strides, 2> ost = {Strides(st[0].begin(), st[0].end() - 2), Strides(st[1].begin(), st[1].end() - 2)};
    strided_loop<2>(outer, ost, {0, 0},
                    [&](const std::array<int64_t, 2>& off, int64_t cnt, const std::array<int64_t, 2>& ist) {
      for (int64_t k = 0; k < cnt; ++k) {
        const int64_t o = off[1] + k * ist[1];
        fold_rows<P>(x0 + off[0] + k * ist[0], rs, R, n, acc + o, o, fold, load);
      }
    });
    return;
  }
  strided_loop<2>(shape, st, {0, 0},
                  [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& ist) {
    const T* x = x0 + off[0];
    const int64_t xs = ist[0], os = ist[1], o = off[1];
    if (os == 0) {  // the run is reduced into acc[o]
      const Acc r = xs == 1 ? fold_run<P, Acc>(n, fold, [&](int64_t i) { return load(x[i], o); })
                            : fold_run<P, Acc>(n, fold, [&](int64_t i) { return load(x[i * xs], o); });
      acc[o] = fold(acc[o], r);
    } else {
      for (int64_t j = 0; j < n; ++j)
        acc[o + j * os] = fold(acc[o + j * os], static_cast<Acc>(load(x[j * xs], o + j * os)));
    }
  });
}

// Runs one reduction into a new tensor of dtype Out, with partials in P and
// the total in Acc (directly in the output when Acc is Out).
template <class T, class P, class Acc, class Out, class Fold>
Tensor run_reduce(const Tensor& a, const Plan& p, Fold fold, bool divide_by_count) {
  Tensor out = Tensor::empty(p.out_shape, dtype_of<Out>());
  const int64_t m = numel(p.keep_shape);
  if (m == 0) return out;
  Out* y = out.data<Out>();
  auto load = [](T v, int64_t) { return static_cast<P>(v); };
  if constexpr (std::is_same_v<Acc, Out>) {
    std::fill(y, y + m, Fold::template identity<Acc>());
    fold_into<P>(p, a.data<T>(), y, fold, load);
    if (divide_by_count)
      for (int64_t i = 0; i < m; ++i) y[i] = y[i] / static_cast<Acc>(p.count);
  } else {
    std::vector<Acc> acc(m, Fold::template identity<Acc>());
    fold_into<P>(p, a.data<T>(), acc.data(), fold, load);
    for (int64_t i = 0; i < m; ++i)
      y[i] = static_cast<Out>(divide_by_count ? acc[i] / static_cast<Acc>(p.count) : acc[i]);
  }
  return out;
}

// Result and accumulator types: bool/int sums and products give int64, means
// of integers give float32; float32 totals are kept in double. Integers
// accumulate in uint64, whose overflow wraps (as numpy's int64 does) where a
// signed overflow would be undefined behaviour.
template <class T> using SumOut = std::conditional_t<std::is_floating_point_v<T>, T, int64_t>;
template <class T> using SumAcc = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;
template <class T> using SumPartial = std::conditional_t<std::is_floating_point_v<T>, T, uint64_t>;
template <class T> using FloatOut = std::conditional_t<std::is_same_v<T, double>, double, float>;
template <class T> using MeanPartial = std::conditional_t<std::is_floating_point_v<T>, T, double>;

}  // namespace

Tensor reduce(ReduceOp op, const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  const char* name = op_name(op);
  prof::KernelTimer timer(name);  // forward kernel time when profiling; a flag test when off
  Plan p = make_plan(a, axes, keepdims, name);
  if ((op == ReduceOp::Max || op == ReduceOp::Min) && p.count == 0)
    fail<ValueError>(name, ": cannot reduce an empty tensor (shape ", shape_str(a.shape()), ", over ",
                     axes_str(axes), "): a zero-size reduction has no identity for ", name,
                     "; check the shape, or reduce over a non-empty axis");
  return dispatch(a.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    switch (op) {
      case ReduceOp::Sum: return run_reduce<T, SumPartial<T>, SumAcc<T>, SumOut<T>>(a, p, SumFold{}, false);
      case ReduceOp::Mean: return run_reduce<T, MeanPartial<T>, double, FloatOut<T>>(a, p, SumFold{}, true);
      // float partial products could overflow where the double total would not
      case ReduceOp::Prod: return run_reduce<T, SumAcc<T>, SumAcc<T>, SumOut<T>>(a, p, ProdFold{}, false);
      case ReduceOp::Max: return run_reduce<T, T, T, T>(a, p, MaxFold{}, false);
      case ReduceOp::Min: return run_reduce<T, T, T, T>(a, p, MinFold{}, false);
    }
    fail<ValueError>("reduce: unknown reduction");
  });
}

// Two passes (mean, then squared deviations from it) in double: the one-pass
// E[x^2] - E[x]^2 formula cancels catastrophically when the mean is large.
Tensor var(const Tensor& a, const std::vector<int64_t>& axes, int64_t ddof, bool keepdims) {
  prof::KernelTimer timer("var");
  Plan p = make_plan(a, axes, keepdims, "var");
  int64_t dof_count = 0;  // count - ddof: checked here, before the kernel and the backward use it
  if (__builtin_sub_overflow(p.count, ddof, &dof_count))
    fail<ValueError>("var/std: ddof ", ddof, " is out of range for ", p.count, " elements; use 0 <= ddof < n");
  return dispatch(a.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    using Out = FloatOut<T>;
    Tensor out = Tensor::empty(p.out_shape, dtype_of<Out>());
    const int64_t m = numel(p.keep_shape);
    if (m == 0) return out;
    std::vector<double> mean(m, 0.0), sq(m, 0.0);
    fold_into<double>(p, a.data<T>(), mean.data(), SumFold{}, [](T v, int64_t) { return static_cast<double>(v); });
    for (double& v : mean) v /= static_cast<double>(p.count);
    const double* mu = mean.data();
    fold_into<double>(p, a.data<T>(), sq.data(), SumFold{}, [mu](T v, int64_t o) {
      const double d = static_cast<double>(v) - mu[o];
      return d * d;
    });
    // numpy's convention: fewer than ddof+1 elements divide by 0 (inf or nan).
    const double dof = static_cast<double>(std::max<int64_t>(dof_count, 0));
    Out* y = out.data<Out>();
    for (int64_t i = 0; i < m; ++i) y[i] = static_cast<Out>(sq[i] / dof);
    return out;
  });
}

namespace {

// First index of the max (min) along one axis of a contiguous (outer, n, inner)
// block; a NaN counts as larger (smaller) than everything, as in numpy.
template <class T, bool kMax>
void arg_extreme(const T* x, int64_t outer, int64_t n, int64_t inner, int64_t* out) {
  auto better = [](T v, T best) {
    const bool nan_first = v != v && best == best;
    return (kMax ? v > best : v < best) || nan_first;
  };
  if (inner == 1) {
    // Two vectorizable passes beat one branchy pass: find the extreme value
    // (NaN wins), then the first block of kLanes elements that holds it.
    using Fold = std::conditional_t<kMax, MaxFold, MinFold>;
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = x + o * n;
      const T best = fold_run<T, T>(n, Fold{}, [row](int64_t i) { return row[i]; });
      int64_t i = 0;
      if (best != best) {  // the first NaN
        while (row[i] == row[i]) ++i;
      } else {
        for (; i + kLanes <= n; i += kLanes) {
          int hits = 0;  // a count, not a bool, so the compiler vectorizes it
          for (int k = 0; k < kLanes; ++k) hits += row[i + k] == best;
          if (hits) break;
        }
        while (row[i] != best) ++i;  // stops: best is one of the elements
      }
      out[o] = i;
    }
    return;
  }
  // Reduced axis is not innermost: sweep rows, keeping a running best per column.
  std::vector<T> best(inner);
  for (int64_t o = 0; o < outer; ++o) {
    const T* block = x + o * n * inner;
    int64_t* idx = out + o * inner;
    std::copy(block, block + inner, best.begin());
    std::fill(idx, idx + inner, int64_t{0});
    for (int64_t r = 1; r < n; ++r) {
      const T* row = block + r * inner;
      for (int64_t j = 0; j < inner; ++j)
        if (better(row[j], best[j])) best[j] = row[j], idx[j] = r;
    }
  }
}

Tensor arg_reduce(bool is_max, const Tensor& a, std::optional<int64_t> axis, bool keepdims) {
  const char* name = is_max ? "argmax" : "argmin";
  prof::KernelTimer timer(name);
  const int64_t nd = a.dim();
  int64_t outer = 1, n = a.numel(), inner = 1;
  Shape out_shape;
  if (!axis) {
    if (keepdims) out_shape.assign(nd, 1);
  } else {
    const int64_t ax = normalize_dim(*axis, nd, name);
    if (nd > 0) {
      outer = numel(Shape(a.shape().begin(), a.shape().begin() + ax));
      n = a.shape()[ax];
      inner = numel(Shape(a.shape().begin() + ax + 1, a.shape().end()));
      out_shape = a.shape();
      if (keepdims) out_shape[ax] = 1;
      else out_shape.erase(out_shape.begin() + ax);
    }
  }
  if (n == 0)
    fail<ValueError>(name, ": cannot take the ", name, " of an empty sequence (tensor shape ",
                     shape_str(a.shape()), axis ? ", axis " + std::to_string(*axis) : std::string(", flattened"),
                     "); reduce over a non-empty axis");
  Tensor out = Tensor::empty(out_shape, DType::Int64);
  if (out.numel() == 0) return out;
  Tensor c = contiguous(a);
  dispatch(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (is_max) arg_extreme<T, true>(c.data<T>(), outer, n, inner, out.data<int64_t>());
    else arg_extreme<T, false>(c.data<T>(), outer, n, inner, out.data<int64_t>());
  });
  return out;
}

}  // namespace

Tensor argmax(const Tensor& a, std::optional<int64_t> axis, bool keepdims) {
  return arg_reduce(true, a, axis, keepdims);
}

Tensor argmin(const Tensor& a, std::optional<int64_t> axis, bool keepdims) {
  return arg_reduce(false, a, axis, keepdims);
}

// The inverse of broadcasting: sum the leading dims `shape` lacks and the dims
// where `shape` has 1, then drop the leading ones.
Tensor sum_to(const Tensor& g, const Shape& shape) {
  const Shape& gs = g.shape();
  if (gs == shape) return g;
  bool ok = shape.size() <= gs.size();
  const size_t lead = ok ? gs.size() - shape.size() : 0;
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] == gs[lead + i] || shape[i] == 1;
  if (!ok)
    fail<ValueError>("sum_to: cannot sum a tensor of shape ", shape_str(gs), " down to shape ",
                     shape_str(shape), ": the target shape must broadcast to ", shape_str(gs),
                     " (same trailing dims, or 1 where the tensor was broadcast)");
  std::vector<int64_t> axes;
  for (size_t d = 0; d < lead; ++d) axes.push_back(static_cast<int64_t>(d));
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 1 && gs[lead + i] != 1) axes.push_back(static_cast<int64_t>(lead + i));
  // (axes is never empty here, which matters: to reduce() empty means "all".)
  Tensor summed = axes.empty() ? g : reduce(ReduceOp::Sum, g, axes, /*keepdims=*/true);
  return reshape(summed, shape);
}

}  // namespace tt::ops
