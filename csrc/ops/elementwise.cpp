// Elementwise kernels: binary arithmetic and comparisons with numpy
// broadcasting, unary math, clip/where/masked_fill and the in-place add_.
//
// Binary ops cast both operands to one compute type first (astype on the
// operand whose dtype differs; usually a 0-d Python scalar, so it is cheap),
// which keeps one loop per (op, dtype) instead of one per dtype pair. The
// loops have four shapes the compiler vectorizes: both operands contiguous,
// one operand a single element, one operand repeated per row (a bias), and
// the innermost dim of the general strided walk when it is contiguous.
//
// Transcendental unary ops use xsimd's vectorized exp/log/sin/... (plain
// std::exp loops do not vectorize without -ffast-math, and numpy's are SIMD).
// Integer and bool inputs to them are computed in float32, as PyTorch does
// for torch.exp(int_tensor).
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

// GCC 12 reports its own AVX-512 intrinsics (used inside xsimd) as "maybe
// uninitialized"; a known false positive that would bury real warnings.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>

#include "core/profiler.h"
#include "ops/gelu.h"
#include "ops/iter.h"
#include "ops/simd_edges.h"
#include "ops/ops.h"
#include "ops/parallel.h"

namespace tt::ops {
namespace {

// ---------------------------------------------------------------- binary ----

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Pow: return "pow";
    case BinaryOp::Maximum: return "maximum";
    case BinaryOp::Minimum: return "minimum";
    case BinaryOp::BitAnd: return "bitwise_and (&)";
    case BinaryOp::BitOr: return "bitwise_or (|)";
    case BinaryOp::BitXor: return "bitwise_xor (^)";
    case BinaryOp::Eq: return "eq";
    case BinaryOp::Ne: return "ne";
    case BinaryOp::Lt: return "lt";
    case BinaryOp::Le: return "le";
    case BinaryOp::Gt: return "gt";
    case BinaryOp::Ge: return "ge";
  }
  return "binary";
}

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }
bool is_bitwise(BinaryOp op) { return op == BinaryOp::BitAnd || op == BinaryOp::BitOr || op == BinaryOp::BitXor; }

// int64 arithmetic wraps around like numpy (signed overflow is undefined in
// C++, unsigned is not); bool + bool is "or" and bool * bool is "and".
template <class T> inline T add_op(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) return static_cast<int64_t>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
  else if constexpr (std::is_same_v<T, uint8_t>) return x | y;
  else return x + y;
}
template <class T> inline T sub_op(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) return static_cast<int64_t>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y));
  else return x - y;
}
template <class T> inline T mul_op(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) return static_cast<int64_t>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y));
  else if constexpr (std::is_same_v<T, uint8_t>) return x & y;
  else return x * y;
}
// numpy's maximum/minimum return NaN if either side is NaN.
template <class T> inline T max_op(T x, T y) { return x != x ? x : (x > y ? x : y); }
template <class T> inline T min_op(T x, T y) { return x != x ? x : (x < y ? x : y); }

// Integer power by squaring (wrapping on overflow). A negative exponent has no
// integer answer: numpy refuses it, and so do we (flagged, raised after the loop).
inline int64_t int_pow(int64_t base, int64_t exp, bool& negative_exp) {
  if (exp < 0) {
    negative_exp = true;
    return 0;
  }
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  while (exp) {
    if (exp & 1) result *= b;
    b *= b;
    exp >>= 1;
  }
  return static_cast<int64_t>(result);
}

// True when `small`, ignoring its leading 1s, equals the trailing dims of
// `big`: then a contiguous `small` repeats once per row of a contiguous `big`
// (a bias (C,) added to (B, T, C), the most common broadcast in a network).
bool is_row_broadcast(const Shape& small, const Shape& big) {
  size_t lead = 0;
  while (lead < small.size() && small[lead] == 1) ++lead;
  const size_t k = small.size() - lead;
  if (k == 0 || k > big.size()) return false;
  for (size_t i = 0; i < k; ++i)
    if (small[lead + i] != big[big.size() - k + i]) return false;
  return true;
}

// The four inner loops, each its own small function: inlined into the
// dispatching code, GCC ran out of registers and reloaded pointers from the
// stack inside the vector loop.
#define TT_NOINLINE __attribute__((noinline))
template <class O, class T, class F>
TT_NOINLINE void loop_vv(O* __restrict o, const T* __restrict a, const T* __restrict b, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
}
template <class O, class T, class F>
TT_NOINLINE void loop_sv(O* __restrict o, T a, const T* __restrict b, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) o[i] = f(a, b[i]);
}
template <class O, class T, class F>
TT_NOINLINE void loop_vs(O* __restrict o, const T* __restrict a, T b, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b);
}
template <class O, class T, class F>
TT_NOINLINE void loop_strided(O* __restrict o, int64_t so, const T* a, int64_t sa, const T* b, int64_t sb,
                              int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) o[i * so] = f(a[i * sa], b[i * sb]);
}

// body(begin, end) over [0, n) in chunks on tinytorch's threads (ops/parallel.h)
// when the array is large: 2 cores read and write memory faster than one, and
// compute twice as fast. flops_per_element sets where that starts to pay (a
// worker wakes in microseconds): about 250K elements for an add, 50K for exp.
// Chunks are whole 64-byte lines so no two threads write the same line.
template <class Body>
void chunked(int64_t n, double flops_per_element, Body&& body) {
  constexpr int64_t kChunk = 16;  // elements; a multiple of every dtype's cache-line count
  parallel_for((n + kChunk - 1) / kChunk, flops_per_element * static_cast<double>(n),
               [&](int64_t begin, int64_t end) { body(begin * kChunk, std::min(end * kChunk, n)); });
}
constexpr double kCheapFlops = 8, kTranscendentalFlops = 40;

// out = f(a, b) over out's shape. a and b already have the compute type T and
// broadcast to out's shape; out is a new contiguous tensor of type O.
template <class O, class T, class F>
void run_binary(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  O* o = out.data<O>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  const int64_t n = out.numel();
  const int64_t na = a.numel(), nb = b.numel();
  // Fast paths first: no vectors allocated, one flat loop each.
  if (na == n && nb == n && a.is_contiguous() && b.is_contiguous())
    return chunked(n, kCheapFlops, [&](int64_t i, int64_t j) { loop_vv(o + i, pa + i, pb + i, j - i, f); });
  if (na == 1 && nb == n && b.is_contiguous())
    return chunked(n, kCheapFlops, [&](int64_t i, int64_t j) { loop_sv(o + i, pa[0], pb + i, j - i, f); });
  if (nb == 1 && na == n && a.is_contiguous())
    return chunked(n, kCheapFlops, [&](int64_t i, int64_t j) { loop_vs(o + i, pa + i, pb[0], j - i, f); });
  const Shape& shape = out.shape();
  if (na == n && nb > 0 && a.is_contiguous() && b.is_contiguous() && is_row_broadcast(b.shape(), shape)) {
    for (int64_t r = 0; r < n; r += nb) loop_vv(o + r, pa + r, pb, nb, f);
    return;
  }
  if (nb == n && na > 0 && a.is_contiguous() && b.is_contiguous() && is_row_broadcast(a.shape(), shape)) {
    for (int64_t r = 0; r < n; r += na) loop_vv(o + r, pa, pb + r, na, f);
    return;
  }
  strided_loop<3>(shape, {out.strides(), broadcast_strides(a.shape(), a.strides(), shape),
                          broadcast_strides(b.shape(), b.strides(), shape)},
                  {0, 0, 0},
                  [&](const std::array<int64_t, 3>& off, int64_t m, const std::array<int64_t, 3>& st) {
                    O* op = o + off[0];
                    const T* xa = pa + off[1];
                    const T* xb = pb + off[2];
                    if (st[0] == 1 && st[1] == 1 && st[2] == 1) loop_vv(op, xa, xb, m, f);
                    else if (st[0] == 1 && st[1] == 1 && st[2] == 0) loop_vs(op, xa, xb[0], m, f);
                    else if (st[0] == 1 && st[1] == 0 && st[2] == 1) loop_sv(op, xa[0], xb, m, f);
                    else loop_strided(op, st[0], xa, st[1], xb, st[2], m, f);
                  });
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  using B = uint8_t;  // storage type of Bool results
  switch (op) {
    case BinaryOp::Add: return run_binary<T, T>(out, a, b, [](T x, T y) { return add_op(x, y); });
    case BinaryOp::Sub: return run_binary<T, T>(out, a, b, [](T x, T y) { return sub_op(x, y); });
    case BinaryOp::Mul: return run_binary<T, T>(out, a, b, [](T x, T y) { return mul_op(x, y); });
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>) return run_binary<T, T>(out, a, b, [](T x, T y) { return x / y; });
      break;  // integer division never reaches here: binary() computes it in float32
    case BinaryOp::Pow:
      if constexpr (std::is_floating_point_v<T>) {
        // Scalar exponents numpy and PyTorch special-case: x ** 2 is x * x
        // (exact, where pow() is a library call) and x ** 0.5 is sqrt(x)
        // (so (-inf) ** 0.5 is nan and (-0) ** 0.5 is -0, as in both).
        if (b.numel() == 1 && *b.data<T>() == T(2))
          return run_binary<T, T>(out, a, b, [](T x, T) { return x * x; });
        if (b.numel() == 1 && *b.data<T>() == T(0.5))
          return run_binary<T, T>(out, a, b, [](T x, T) { return std::sqrt(x); });
        return run_binary<T, T>(out, a, b, [](T x, T y) { return std::pow(x, y); });
      } else if constexpr (std::is_same_v<T, int64_t>) {
        bool negative_exp = false;
        run_binary<T, T>(out, a, b, [&](T x, T y) { return int_pow(x, y, negative_exp); });
        if (negative_exp)
          fail<ValueError>("pow: integers to negative integer powers are not allowed; "
                           "convert the base to float first (e.g. t.astype(np.float32) ** -1)");
        return;
      }
      break;  // bool ** bool never reaches here: binary() computes it in int64
    case BinaryOp::Maximum: return run_binary<T, T>(out, a, b, [](T x, T y) { return max_op(x, y); });
    case BinaryOp::Minimum: return run_binary<T, T>(out, a, b, [](T x, T y) { return min_op(x, y); });
    case BinaryOp::BitAnd:
    case BinaryOp::BitOr:
    case BinaryOp::BitXor:
      if constexpr (std::is_integral_v<T>) {  // bool is stored as 0/1 bytes: & | ^ keep it 0/1
        if (op == BinaryOp::BitAnd) return run_binary<T, T>(out, a, b, [](T x, T y) { return T(x & y); });
        if (op == BinaryOp::BitOr) return run_binary<T, T>(out, a, b, [](T x, T y) { return T(x | y); });
        return run_binary<T, T>(out, a, b, [](T x, T y) { return T(x ^ y); });
      }
      break;  // floats never reach here: binary() refuses them
    case BinaryOp::Eq: return run_binary<B, T>(out, a, b, [](T x, T y) { return B(x == y); });
    case BinaryOp::Ne: return run_binary<B, T>(out, a, b, [](T x, T y) { return B(x != y); });
    case BinaryOp::Lt: return run_binary<B, T>(out, a, b, [](T x, T y) { return B(x < y); });
    case BinaryOp::Le: return run_binary<B, T>(out, a, b, [](T x, T y) { return B(x <= y); });
    case BinaryOp::Gt: return run_binary<B, T>(out, a, b, [](T x, T y) { return B(x > y); });
    case BinaryOp::Ge: return run_binary<B, T>(out, a, b, [](T x, T y) { return B(x >= y); });
  }
  fail<RuntimeError>(binary_name(op), ": internal error, no kernel for ", dtype_name(dtype_of<T>()));
}

// ----------------------------------------------------------------- unary ----

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Sign: return "sign";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Sin: return "sin";
    case UnaryOp::Cos: return "cos";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::GeluTanh: return "gelu";
    case UnaryOp::GeluErf: return "gelu";
    case UnaryOp::LogicalNot: return "logical_not";
    case UnaryOp::Erf: return "erf";
  }
  return "unary";
}

// o[i] = f(x[i]) for n contiguous elements, a plain loop the compiler vectorizes.
template <class O, class T, class F>
TT_NOINLINE void map_flat(O* __restrict o, const T* __restrict x, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
}

// Same with an xsimd batch functor; the tail goes through a zero-padded
// batch so every element sees the same (vector) formula.
template <class T, class F>
TT_NOINLINE void map_simd(T* o, const T* x, int64_t n, F f) {
  using Batch = xsimd::batch<T>;
  constexpr int64_t W = static_cast<int64_t>(Batch::size);
  int64_t i = 0;
  for (; i + W <= n; i += W) f(Batch::load_unaligned(x + i)).store_unaligned(o + i);
  if (i < n) {
    alignas(64) T buf[W] = {};
    for (int64_t k = 0; k < n - i; ++k) buf[k] = x[i + k];
    f(Batch::load_unaligned(buf)).store_unaligned(buf);
    for (int64_t k = 0; k < n - i; ++k) o[i + k] = buf[k];
  }
}

using simd_edges::erf_full;
using simd_edges::exp_full;
using simd_edges::log_full;

template <class T>
void float_unary(UnaryOp op, T* o, const T* x, int64_t n) {
  using Batch = xsimd::batch<T>;
  const Batch half(T(0.5)), one(T(1));
  switch (op) {
    case UnaryOp::Exp: return map_simd(o, x, n, [](Batch v) { return exp_full(v); });
    case UnaryOp::Log: return map_simd(o, x, n, [](Batch v) { return log_full(v); });
    case UnaryOp::Sqrt: return map_simd(o, x, n, [](Batch v) { return xsimd::sqrt(v); });
    case UnaryOp::Sin: return map_simd(o, x, n, [](Batch v) { return xsimd::sin(v); });
    case UnaryOp::Cos: return map_simd(o, x, n, [](Batch v) { return xsimd::cos(v); });
    case UnaryOp::Tanh: return map_simd(o, x, n, [](Batch v) { return xsimd::tanh(v); });
    case UnaryOp::Erf: return map_simd(o, x, n, [](Batch v) { return erf_full(v); });
    case UnaryOp::Sigmoid:
      // exp(-|x|) never overflows: for x >= 0 it is 1/(1+e), for x < 0 it is
      // e/(1+e), so +-1000 give exactly 1 and 0 with no inf in between.
      return map_simd(o, x, n, [&](Batch v) {
        Batch e = exp_full(-xsimd::abs(v));
        Batch r = one / (one + e);
        return xsimd::select(v >= Batch(T(0)), r, e * r);
      });
    case UnaryOp::GeluTanh: return map_simd(o, x, n, [](Batch v) { return gelu_tanh(v); });
    case UnaryOp::GeluErf: {
      const Batch inv_sqrt2(T(0.7071067811865476));
      return map_simd(o, x, n, [&](Batch v) { return half * v * (one + erf_full(v * inv_sqrt2)); });
    }
    default:
      fail<RuntimeError>(unary_name(op), ": internal error, not a float op");
  }
}

// Neg, Abs, Sign and Relu keep the dtype. int64 negation wraps like numpy.
template <class T>
void sign_family(UnaryOp op, T* o, const T* x, int64_t n) {
  if constexpr (std::is_same_v<T, uint8_t>) {  // bool: abs and relu are identities
    if (op == UnaryOp::Sign) return map_flat(o, x, n, [](T v) { return T(v != 0); });
    return map_flat(o, x, n, [](T v) { return v; });
  } else {
    switch (op) {
      case UnaryOp::Neg:
        if constexpr (std::is_same_v<T, int64_t>)
          return map_flat(o, x, n, [](T v) { return static_cast<T>(0 - static_cast<uint64_t>(v)); });
        else
          return map_flat(o, x, n, [](T v) { return -v; });
      case UnaryOp::Abs:
        if constexpr (std::is_same_v<T, int64_t>)
          return map_flat(o, x, n, [](T v) { return v < 0 ? static_cast<T>(0 - static_cast<uint64_t>(v)) : v; });
        else
          return map_flat(o, x, n, [](T v) { return std::abs(v); });
      case UnaryOp::Sign:  // NaN stays NaN, as in numpy
        return map_flat(o, x, n, [](T v) { return v > 0 ? T(1) : (v < 0 ? T(-1) : v); });
      case UnaryOp::Relu:  // NaN passes through (v < 0 is false), as in torch.relu
        return map_flat(o, x, n, [](T v) { return v < 0 ? T(0) : v; });
      default:
        fail<RuntimeError>(unary_name(op), ": internal error, not a sign-family op");
    }
  }
}

// A double bound converted to integer type T for clip: lo rounds up, hi
// rounds down (so clipping integers to [0.5, 2.5] gives [1, 2]), saturated
// to T's range.
template <class T>
T int_bound(double v, bool is_lo) {
  double r = is_lo ? std::ceil(v) : std::floor(v);
  const double lo = static_cast<double>(std::numeric_limits<T>::min());
  const double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (!(r > lo)) return std::numeric_limits<T>::min();  // also NaN
  if (r >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(r);
}

// a[i] = f(a[i], b[i]) for add_. No __restrict: b may be a itself (t.add_(t)).
// The unit-stride case is its own branch so the compiler vectorizes it.
template <class T, class F>
TT_NOINLINE void loop_inplace(T* a, int64_t sa, const T* b, int64_t sb, int64_t n, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) a[i] = f(a[i], b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) a[i * sa] = f(a[i * sa], b[i * sb]);
  }
}

// Shape check shared by masked_fill and add_: `other` must broadcast to `target`.
void require_broadcast_to(const Shape& other, const Shape& target, const char* op, const char* what) {
  if (other == target) return;
  if (broadcast_shapes(other, target, op) != target)
    fail<ValueError>(op, ": ", what, " of shape ", shape_str(other), " cannot be broadcast to shape ",
                     shape_str(target), "; it must match that shape or broadcast to it (dims of size 1)");
}

}  // namespace

Tensor binary(BinaryOp op, const Tensor& a_in, const Tensor& b_in) {
  prof::KernelTimer timer(binary_name(op));  // forward kernel time when profiling; a flag test when off
  // References and holders instead of copies: this function is called in
  // hot Python loops on small tensors, where each allocation shows.
  Shape broadcast;
  if (a_in.shape() != b_in.shape()) broadcast = broadcast_shapes(a_in.shape(), b_in.shape(), binary_name(op));
  const Shape& out_shape = a_in.shape() == b_in.shape() ? a_in.shape() : broadcast;
  DType compute = promote(a_in.dtype(), b_in.dtype());
  if (op == BinaryOp::Div && !is_floating(compute)) compute = DType::Float32;
  if (op == BinaryOp::Pow && compute == DType::Bool) compute = DType::Int64;
  if (is_bitwise(op) && is_floating(compute))
    fail<TypeError>(binary_name(op), ": defined for bool and int64 tensors (as in numpy), got ",
                    dtype_name(a_in.dtype()), " and ", dtype_name(b_in.dtype()),
                    "; compare first to get a mask (e.g. (x > 0) & (y > 0))");
  if (op == BinaryOp::Sub && compute == DType::Bool)
    fail<TypeError>("sub: subtracting bool tensors is not supported; to invert a mask use "
                    "logical_not (~mask), or convert to int64 first");
  Tensor a_cast, b_cast;
  const Tensor& a = a_in.dtype() == compute ? a_in : (a_cast = astype(a_in, compute));
  const Tensor& b = b_in.dtype() == compute ? b_in : (b_cast = astype(b_in, compute));
  Tensor out = Tensor::empty(out_shape, is_comparison(op) ? DType::Bool : compute);
  dispatch(compute, [&](auto tag) { binary_typed<decltype(tag)>(op, out, a, b); });
  return out;
}

Tensor unary(UnaryOp op, const Tensor& a_in) {
  const char* name = unary_name(op);
  prof::KernelTimer timer(name);
  const Tensor a = contiguous(a_in);
  const int64_t n = a.numel();
  if (op == UnaryOp::LogicalNot) {
    Tensor out = Tensor::empty(a.shape(), DType::Bool);
    dispatch(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      map_flat(out.data<uint8_t>(), a.data<T>(), n, [](T v) { return uint8_t(v == T(0)); });
    });
    return out;
  }
  if (op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Sign || op == UnaryOp::Relu) {
    if (op == UnaryOp::Neg && a.dtype() == DType::Bool)
      fail<TypeError>("neg: negating a bool tensor is not supported; to invert a mask use "
                      "logical_not (~mask)");
    Tensor out = Tensor::empty(a.shape(), a.dtype());
    dispatch(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      sign_family<T>(op, out.data<T>(), a.data<T>(), n);
    });
    return out;
  }
  // Transcendental ops: bool/int64 inputs are computed in float32 (like torch.exp(int_tensor)).
  const Tensor x = promote_to_float(a);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    T* po = out.data<T>();
    const T* px = x.data<T>();
    chunked(n, kTranscendentalFlops, [&](int64_t i, int64_t j) { float_unary<T>(op, po + i, px + i, j - i); });
  });
  return out;
}

Tensor gelu_tanh_backward(const Tensor& g_in, const Tensor& u_in) {
  prof::KernelTimer timer("gelu_backward");
  const Tensor u = contiguous(u_in);
  // g may have another shape with u's element count (the fused Linear's (B, T, out) gradient
  // against its (rows, out) pre-activation); a smaller g broadcasts.
  const Tensor g = g_in.numel() == u.numel() ? contiguous(astype(g_in, u.dtype()))
                                             : contiguous(views::expand(astype(g_in, u.dtype()), u.shape()));
  Tensor out = Tensor::empty(u.shape(), u.dtype());
  dispatch_float(u.dtype(), "gelu backward", [&](auto tag) {
    using T = decltype(tag);
    using Batch = xsimd::batch<T>;
    constexpr int64_t W = static_cast<int64_t>(Batch::size);
    const T *pg = g.data<T>(), *pu = u.data<T>();
    T* po = out.data<T>();
    chunked(u.numel(), kTranscendentalFlops, [&](int64_t i, int64_t end) {
      for (; i + W <= end; i += W)
        (Batch::load_unaligned(pg + i) * gelu_tanh_grad(Batch::load_unaligned(pu + i))).store_unaligned(po + i);
      if (i < end) {  // the tail through a padded batch (zeros are harmless to the formula)
        alignas(64) T bg[W] = {}, bu[W] = {};
        for (int64_t k = 0; k < end - i; ++k) bg[k] = pg[i + k], bu[k] = pu[i + k];
        (Batch::load_unaligned(bg) * gelu_tanh_grad(Batch::load_unaligned(bu))).store_unaligned(bg);
        for (int64_t k = 0; k < end - i; ++k) po[i + k] = bg[k];
      }
    });
  });
  return out;
}

Tensor bitwise_not(const Tensor& a_in) {
  if (is_floating(a_in.dtype()))
    fail<TypeError>("invert (~): defined for bool and int64 tensors (as in numpy), got ", dtype_name(a_in.dtype()),
                    "; for a mask of zeros use (x == 0)");
  if (a_in.dtype() == DType::Bool) return unary(UnaryOp::LogicalNot, a_in);
  const Tensor a = contiguous(a_in);
  Tensor out = Tensor::empty(a.shape(), DType::Int64);
  map_flat(out.data<int64_t>(), a.data<int64_t>(), a.numel(), [](int64_t v) { return ~v; });
  return out;
}

Tensor clip(const Tensor& a_in, std::optional<double> lo, std::optional<double> hi) {
  prof::KernelTimer timer("clip");
  const Tensor a = contiguous(a_in);
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T* x = a.data<T>();
    const int64_t n = a.numel();
    T l, h;
    if constexpr (std::is_floating_point_v<T>) {
      l = lo ? static_cast<T>(*lo) : -std::numeric_limits<T>::infinity();
      h = hi ? static_cast<T>(*hi) : std::numeric_limits<T>::infinity();
      if (l != l || h != h) {  // numpy: maximum/minimum with a NaN bound give NaN everywhere
        std::fill(o, o + n, std::numeric_limits<T>::quiet_NaN());
        return;
      }
    } else {
      if ((lo && std::isnan(*lo)) || (hi && std::isnan(*hi)))
        fail<ValueError>("clip: a NaN bound cannot clip an integer tensor (", dtype_name(a.dtype()),
                         "); pass numbers, or None for no bound");
      l = lo ? int_bound<T>(*lo, true) : std::numeric_limits<T>::min();
      h = hi ? int_bound<T>(*hi, false) : std::numeric_limits<T>::max();
    }
    // numpy's order, minimum(maximum(x, lo), hi): lo > hi gives hi everywhere; NaN stays NaN.
    map_flat(o, x, n, [l, h](T v) {
      T y = v < l ? l : v;
      return y > h ? h : y;
    });
  });
  return out;
}

Tensor where(const Tensor& cond_in, const Tensor& a_in, const Tensor& b_in) {
  prof::KernelTimer timer("where");
  const Shape ab = broadcast_shapes(a_in.shape(), b_in.shape(), "where");
  const Shape shape = broadcast_shapes(cond_in.shape(), ab, "where");
  const DType dt = promote(a_in.dtype(), b_in.dtype());
  const Tensor cond = astype(cond_in, DType::Bool);  // nonzero = true
  const Tensor a = astype(a_in, dt), b = astype(b_in, dt);
  Tensor out = Tensor::empty(shape, dt);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const uint8_t* pc = cond.data<uint8_t>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    strided_loop<4>(shape,
                    {out.strides(), broadcast_strides(cond.shape(), cond.strides(), shape),
                     broadcast_strides(a.shape(), a.strides(), shape),
                     broadcast_strides(b.shape(), b.strides(), shape)},
                    {0, 0, 0, 0},
                    [&](const std::array<int64_t, 4>& off, int64_t m, const std::array<int64_t, 4>& st) {
                      T* __restrict op = o + off[0];
                      const uint8_t* c = pc + off[1];
                      const T* xa = pa + off[2];
                      const T* xb = pb + off[3];
                      if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1) {
                        for (int64_t i = 0; i < m; ++i) op[i] = c[i] ? xa[i] : xb[i];
                      } else {
                        for (int64_t i = 0; i < m; ++i)
                          op[i * st[0]] = c[i * st[1]] ? xa[i * st[2]] : xb[i * st[3]];
                      }
                    });
  });
  return out;
}

Tensor masked_fill(const Tensor& a, const Tensor& mask_in, double value) {
  prof::KernelTimer timer("masked_fill");
  require_broadcast_to(mask_in.shape(), a.shape(), "masked_fill", "mask");
  const Tensor mask = astype(mask_in, DType::Bool);  // nonzero = true
  // NaN or out-of-range values into int64 raise (core/dtype.h), empty tensor or not, as full
  // and fill_ do; the rest converts like astype.
  if (a.dtype() == DType::Int64) int64_from_double(value, "masked_fill");
  Tensor out = clone(a);
  if (out.numel() == 0) return out;
  const Tensor v = scalar_tensor(value, a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T fill = *v.data<T>();
    const uint8_t* pm = mask.data<uint8_t>();
    strided_loop<2>(out.shape(), {out.strides(), broadcast_strides(mask.shape(), mask.strides(), out.shape())},
                    {0, 0},
                    [&](const std::array<int64_t, 2>& off, int64_t m, const std::array<int64_t, 2>& st) {
                      T* op = o + off[0];
                      const uint8_t* c = pm + off[1];
                      for (int64_t i = 0; i < m; ++i)
                        if (c[i * st[1]]) op[i * st[0]] = fill;
                    });
  });
  return out;
}

void add_(const Tensor& a, const Tensor& b_in, double alpha) {
  prof::KernelTimer timer("add_");
  require_broadcast_to(b_in.shape(), a.shape(), "add_", "the added tensor");
  // In place, the result must fit a's dtype: float into int (or int into
  // bool) would silently truncate, so refuse it like PyTorch does.
  const bool b_wider_kind = (is_floating(b_in.dtype()) && !is_floating(a.dtype())) ||
                            (b_in.dtype() == DType::Int64 && a.dtype() == DType::Bool);
  if (b_wider_kind)
    fail<TypeError>("add_: cannot add a ", dtype_name(b_in.dtype()), " tensor in place into a ",
                    dtype_name(a.dtype()), " tensor; convert the destination first");
  // astype copies when dtypes differ; otherwise an overlapping strided b
  // (t.add_(t.T)) must be read from a copy, as in copy_.
  Tensor b = astype(b_in, a.dtype());
  if (b.same(b_in) && overlaps_unsafely(a, b)) b = clone(b);
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T s = std::is_same_v<T, uint8_t> ? T(alpha != 0) : static_cast<T>(alpha);
    // bool "adds" by or; alpha == 1 (gradient accumulation) multiplies by 1, exactly.
    auto f = [s](T x, T y) {
      if constexpr (std::is_same_v<T, uint8_t>) return T(x | (s && y));
      else return add_op(x, mul_op(s, y));
    };
    T* pa = a.data<T>();
    const T* pb = b.data<T>();
    // a and b may be the same memory (t.add_(t)): the loops read each element before writing it.
    if (a.is_contiguous() && b.is_contiguous() && b.numel() == a.numel())
      return loop_inplace(pa, 1, pb, 1, a.numel(), f);
    strided_loop<2>(a.shape(), {a.strides(), broadcast_strides(b.shape(), b.strides(), a.shape())}, {0, 0},
                    [&](const std::array<int64_t, 2>& off, int64_t m, const std::array<int64_t, 2>& st) {
                      loop_inplace(pa + off[0], st[0], pb + off[1], st[1], m, f);
                    });
  });
  a.bump_version();
}

}  // namespace tt::ops
