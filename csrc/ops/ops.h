// Forward kernels: tensors in, new tensors out, no autograd. Every function
// accepts any strides (views, broadcast/expanded inputs, offsets) and any
// supported dtype, and raises tt::ValueError / TypeError / IndexError with a
// message naming the op and the shapes or dtypes involved.
//
// Conventions:
//  - Binary elementwise ops broadcast like numpy and promote dtypes with
//    tt::promote (bool < int64 < float32 < float64); `div` of integers gives
//    float32; comparisons return Bool.
//  - Results are new contiguous tensors.
//  - `axes` empty means "all axes".
#pragma once
#include <optional>
#include <vector>

#include "core/tensor.h"
#include "core/views.h"

namespace tt::ops {

// ---- copies and conversions (ops/copy.cpp) ----
Tensor contiguous(const Tensor& t);                // returns t itself if already contiguous
Tensor clone(const Tensor& t);                     // always a new contiguous copy
Tensor astype(const Tensor& t, DType dtype);       // new tensor (t itself if same dtype)
// The tensor a float-only op (exp, softmax, layer_norm, ...) computes on: t
// itself when floating, else t converted to float32. numpy's ufuncs promote
// integers to float64; tinytorch keeps its default float, as PyTorch does.
Tensor promote_to_float(const Tensor& t);
void copy_(const Tensor& dst, const Tensor& src);  // src broadcast to dst, cast to dst dtype; bumps version
void fill_(const Tensor& dst, double value);       // bumps version
Tensor reshape(const Tensor& t, const Shape& shape);  // view when possible, else a copy; -1 allowed
Tensor scalar_tensor(double value, DType dtype);      // 0-d tensor
// True when writing `dst` element by element could change an element of
// `src` that is still to be read: both live in the same storage, their byte
// ranges intersect, and they are not the very same elements in the same
// order (an exact alias is safe, as each element is read before it is written).
// In-place ops then read from a copy of src (t[...] = t.T, t.add_(t.T)).
bool overlaps_unsafely(const Tensor& dst, const Tensor& src);

// ---- elementwise (ops/elementwise.cpp) ----
// Comparisons come last (is_comparison tests op >= Eq). The bitwise ops take
// bool and int64 tensors only, like numpy's &, |, ^.
enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum, BitAnd, BitOr, BitXor, Eq, Ne, Lt, Le, Gt, Ge };
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
inline Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Pow, a, b); }
inline Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Maximum, a, b); }
inline Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Minimum, a, b); }
inline Tensor bitwise_and(const Tensor& a, const Tensor& b) { return binary(BinaryOp::BitAnd, a, b); }
inline Tensor bitwise_or(const Tensor& a, const Tensor& b) { return binary(BinaryOp::BitOr, a, b); }
inline Tensor bitwise_xor(const Tensor& a, const Tensor& b) { return binary(BinaryOp::BitXor, a, b); }

// Unary ops keep the dtype for neg/abs/sign/relu (any numeric dtype); the
// transcendental ones need float input (TypeError otherwise).
enum class UnaryOp { Neg, Abs, Sign, Exp, Log, Sqrt, Sin, Cos, Tanh, Sigmoid, Relu, GeluTanh, GeluErf, LogicalNot, Erf };
Tensor unary(UnaryOp op, const Tensor& a);
// g * gelu'(u) for GELU's tanh form (ops/gelu.h), in u's shape; u float, g cast to u's dtype and
// read flat when it has u's element count, else broadcast to u's shape:
// the derivative kernel of tt.gelu's and the fused Linear + GELU's backward.
Tensor gelu_tanh_backward(const Tensor& g, const Tensor& u);
// ~t as numpy: logical not of a bool tensor, two's-complement not of int64; floats raise TypeError.
Tensor bitwise_not(const Tensor& a);
Tensor clip(const Tensor& a, std::optional<double> lo, std::optional<double> hi);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond any dtype (nonzero = true), broadcast all three
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);  // mask broadcast to a

// In-place a += b (b broadcast to a), used by gradient accumulation and optimizers; bumps version.
void add_(const Tensor& a, const Tensor& b, double alpha = 1.0);

// ---- reductions (ops/reduce.cpp) ----
enum class ReduceOp { Sum, Mean, Max, Min, Prod };
Tensor reduce(ReduceOp op, const Tensor& a, const std::vector<int64_t>& axes, bool keepdims);
Tensor argmax(const Tensor& a, std::optional<int64_t> axis, bool keepdims);  // int64 result
Tensor argmin(const Tensor& a, std::optional<int64_t> axis, bool keepdims);
Tensor var(const Tensor& a, const std::vector<int64_t>& axes, int64_t ddof, bool keepdims);
Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims);
Tensor softmax(const Tensor& a, int64_t axis);
Tensor log_softmax(const Tensor& a, int64_t axis);
// Sums `g` down to `shape` (undoing broadcasting): the one helper every backward rule uses.
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- linear algebra (ops/matmul.cpp) ----
// numpy matmul semantics: 1-D operands are promoted and the added dim removed,
// batch dims broadcast; float32 -> cblas_sgemm, float64 -> cblas_dgemm, int64 by a loop.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- indexing (ops/index.cpp) ----
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);        // torch.gather
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);  // index: 1-D int64
Tensor take(const Tensor& a, const Tensor& index);                       // flat indices, any shape
// out = copy of `self` with out.index_select(dim, index) += src (rows of repeated indices accumulate).
Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);  // torch.scatter_add
Tensor cat(const std::vector<Tensor>& ts, int64_t dim);
Tensor stack(const std::vector<Tensor>& ts, int64_t dim);
Tensor one_hot(const Tensor& index, int64_t num_classes);  // float32 result
Tensor nonzero(const Tensor& a);                           // (n, ndim) int64, for boolean-mask indexing

// dst.flat[positions] = values in place (numpy's t[key] = v once advanced_positions has turned the
// key into flat row-major positions): values broadcast to positions' shape and cast as copy_ does;
// a repeated position takes the last value written, as in numpy. Bumps dst's version.
void put_(const Tensor& dst, const Tensor& positions, const Tensor& values);

// One entry of an advanced-indexing key (t[idx_array, 1:3, mask]).
struct AdvancedItem {
  enum Kind { Basic, NewAxis, Ellipsis, Array, Mask } kind = Basic;
  views::IndexItem basic;  // Basic: an Int or a Slice
  Tensor array;            // Array: int64 indices; Mask: bool (a 0-d one is a bare True/False)
  bool new_axis = false;   // an Array indexing a new length-1 axis (what a bare True/False becomes)
};
// numpy's advanced indexing as flat row-major positions into a tensor of `shape`,
// in the result's shape (ops/advanced_index.cpp); t[key] is take(t, positions).
Tensor advanced_positions(const Shape& shape, const std::vector<AdvancedItem>& key);

// ---- spatial (ops/spatial.cpp): convolution and pooling as im2col + matmul ----
// The geometry of a 2-D window sliding over (N, C, H, W) images.
struct Window2d {
  int64_t C = 0, H = 0, W = 0;    // input channels and spatial size
  int64_t kh = 1, kw = 1;         // window (kernel) size
  int64_t sh = 1, sw = 1;         // stride
  int64_t ph = 0, pw = 0;         // zero (or pad_value) padding on each side
  int64_t out_h() const { return (H + 2 * ph - kh) / sh + 1; }
  int64_t out_w() const { return (W + 2 * pw - kw) / sw + 1; }
};
// Validates the geometry for input shape (N, C, H, W); raises ValueError naming `op`.
void check_window(const Window2d& g, const Shape& x_shape, const char* op);
// x (N, C, H, W) -> (N, C*kh*kw, OH*OW): row c*kh*kw + i*kw + j, column oh*OW + ow holds
// x[n, c, oh*sh - ph + i, ow*sw - pw + j], or pad_value outside the image.
Tensor im2col(const Tensor& x, const Window2d& g, double pad_value);
// The adjoint: (N, C*kh*kw, OH*OW) -> (N, C, H, W), overlapping windows summed.
Tensor col2im(const Tensor& cols, const Window2d& g);

// ---- factories and random numbers (ops/factory.cpp) ----
Tensor full(const Shape& shape, double value, DType dtype);
Tensor arange(double start, double stop, double step, DType dtype);
Tensor linspace(double start, double stop, int64_t num, DType dtype);
Tensor eye(int64_t n, std::optional<int64_t> m, DType dtype);
void manual_seed(uint64_t seed);
Tensor rand(const Shape& shape, DType dtype);                     // U[0, 1)
Tensor randn(const Shape& shape, DType dtype);                    // N(0, 1)
Tensor randint(int64_t low, int64_t high, const Shape& shape);    // int64 in [low, high)
Tensor bernoulli_mask(const Shape& shape, double keep_prob, DType dtype);  // 1/keep_prob where kept, else 0 (dropout)

}  // namespace tt::ops
