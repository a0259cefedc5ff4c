// The backward rules, one short struct per op, named as users and the
// TinyTorch tests know them. Each formula is written with the differentiable
// ops of api.h, so when the engine runs with create_graph=True the backward
// pass is itself recorded and can be differentiated again (double backward).
// Broadcasting is undone in one place: sum_to(grad, input_shape).
// The nodes of the fused ops (Linear, LayerNorm, attention) are in fused_backward.h.
//
// What a rule keeps for backward is declared as members: shapes and options
// as plain members, tensors as `SavedTensor a{this};`, which registers with the
// node so the base class frees them after backward (Node::release_saved). The
// op that records the node (autograd/differentiable.cpp) fills them in, and
// autograd/ops.def lists every node.
//
// Notation: g = gradient of the output; ga, gb = gradients of the inputs.
#pragma once
#include <algorithm>
#include <cmath>

#include "autograd/api.h"
#include "autograd/grad_mode.h"
#include "ops/nn_kernels.h"

namespace tt {

// Shared helpers ------------------------------------------------------------
inline Tensor scalar(double v, const Tensor& like) { return scalar_like(v, like); }
// Gradient of a reduction, expanded back to the input's shape.
inline Tensor unreduce(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& axes, bool keepdims) {
  Tensor k = g;
  if (!keepdims) {
    Shape s = in_shape;
    for (int64_t a : axes) s[a] = 1;
    k = reshape(g, s);
  }
  return expand(k, in_shape);
}
inline int64_t reduced_count(const Shape& s, const std::vector<int64_t>& axes) {
  int64_t n = 1;
  for (int64_t a : axes) n *= s[a];
  return n;
}
inline bool wants(const Node& n, size_t i) { return n.next_edges[i].valid(); }
inline Tensor logical_and(const Tensor& x, const Tensor& y) {
  return ops::where(x, y, ops::scalar_tensor(0, DType::Bool));
}

#define TT_NODE(NAME) \
  std::string name() const override { return #NAME; }

// Arithmetic -----------------------------------------------------------------
struct AddBackward : Node {  // ga = g, gb = g (each summed to its input's shape)
  TT_NODE(AddBackward)
  Shape sa, sb;
  TensorList apply(TensorList&& g) override {
    return {wants(*this, 0) ? sum_to(g[0], sa) : Tensor(), wants(*this, 1) ? sum_to(g[0], sb) : Tensor()};
  }
};

struct SubBackward : Node {  // ga = g, gb = -g
  TT_NODE(SubBackward)
  Shape sa, sb;
  TensorList apply(TensorList&& g) override {
    return {wants(*this, 0) ? sum_to(g[0], sa) : Tensor(), wants(*this, 1) ? sum_to(neg(g[0]), sb) : Tensor()};
  }
};

struct MulBackward : Node {  // ga = g * b, gb = g * a
  TT_NODE(MulBackward)
  SavedTensor a{this}, b{this};
  TensorList apply(TensorList&& g) override {
    Tensor A = a.unpack(*this), B = b.unpack(*this);
    return {wants(*this, 0) ? sum_to(mul(g[0], B), A.shape()) : Tensor(),
            wants(*this, 1) ? sum_to(mul(g[0], A), B.shape()) : Tensor()};
  }
};

struct DivBackward : Node {  // ga = g / b, gb = -g * a / b^2
  TT_NODE(DivBackward)
  SavedTensor a{this}, b{this};
  TensorList apply(TensorList&& g) override {
    Tensor A = a.unpack(*this), B = b.unpack(*this);
    Tensor ga = div(g[0], B);
    return {wants(*this, 0) ? sum_to(ga, A.shape()) : Tensor(),
            wants(*this, 1) ? sum_to(neg(mul(ga, div(A, B))), B.shape()) : Tensor()};
  }
};

struct PowBackward : Node {  // ga = g * b * a^(b-1), gb = g * a^b * log(a)
  TT_NODE(PowBackward)
  SavedTensor a{this}, b{this}, out{this};
  TensorList apply(TensorList&& g) override {
    Tensor A = a.unpack(*this), B = b.unpack(*this);
    Tensor ga, gb;
    if (wants(*this, 0)) ga = sum_to(mul(g[0], mul(B, pow(A, sub(B, scalar(1, B))))), A.shape());
    if (wants(*this, 1)) {
      // log(a) is only defined for a > 0; where a == 0 the term is 0 (as in PyTorch).
      Tensor safe_log = log(where(compare(ops::BinaryOp::Gt, A, scalar(0, A)), A, scalar(1, A)));
      gb = sum_to(mul(g[0], mul(out.unpack(*this), safe_log)), B.shape());
    }
    return {ga, gb};
  }
};

struct MaximumBackward : Node {  // ga = g where a > b (half on ties), gb = the rest
  TT_NODE(MaximumBackward)
  SavedTensor a{this}, b{this};
  bool is_max = true;
  TensorList apply(TensorList&& g) override {
    Tensor A = a.unpack(*this), B = b.unpack(*this);
    Tensor wins = astype(compare(is_max ? ops::BinaryOp::Gt : ops::BinaryOp::Lt, A, B), g[0].dtype());
    Tensor ties = astype(compare(ops::BinaryOp::Eq, A, B), g[0].dtype());
    Tensor wa = add(wins, mul(ties, scalar(0.5, g[0])));
    Tensor ga = mul(g[0], wa);
    return {wants(*this, 0) ? sum_to(ga, A.shape()) : Tensor(),
            wants(*this, 1) ? sum_to(sub(g[0], ga), B.shape()) : Tensor()};
  }
};
struct MinimumBackward : MaximumBackward { TT_NODE(MinimumBackward) };

struct StepBackward : Node {  // ga = 0: a piecewise-constant function (sign, a mask)
  TT_NODE(StepBackward)
  Shape shape;
  DType dtype = DType::Float32;
  TensorList apply(TensorList&&) override { return {ops::full(shape, 0.0, dtype)}; }
};

struct NegBackward : Node {  // ga = -g
  TT_NODE(NegBackward)
  TensorList apply(TensorList&& g) override { return {neg(g[0])}; }
};

// Elementwise functions: one struct each, saving the input or the output.
struct AbsBackward : Node {  // ga = g * sign(a)
  TT_NODE(AbsBackward)
  SavedTensor a{this};
  TensorList apply(TensorList&& g) override {
    return {mul(g[0], apply_unary(ops::UnaryOp::Sign, a.unpack(*this)))};
  }
};

struct ExpBackward : Node {  // ga = g * exp(a) = g * out
  TT_NODE(ExpBackward)
  SavedTensor out{this};
  TensorList apply(TensorList&& g) override { return {mul(g[0], out.unpack(*this))}; }
};

struct LogBackward : Node {  // ga = g / a
  TT_NODE(LogBackward)
  SavedTensor a{this};
  TensorList apply(TensorList&& g) override { return {div(g[0], a.unpack(*this))}; }
};

struct SqrtBackward : Node {  // ga = g / (2 * out)
  TT_NODE(SqrtBackward)
  SavedTensor out{this};
  TensorList apply(TensorList&& g) override {
    Tensor o = out.unpack(*this);
    return {div(g[0], mul(o, scalar(2, o)))};
  }
};

struct SinBackward : Node {  // ga = g * cos(a)
  TT_NODE(SinBackward)
  SavedTensor a{this};
  TensorList apply(TensorList&& g) override { return {mul(g[0], apply_unary(ops::UnaryOp::Cos, a.unpack(*this)))}; }
};

struct CosBackward : Node {  // ga = -g * sin(a)
  TT_NODE(CosBackward)
  SavedTensor a{this};
  TensorList apply(TensorList&& g) override { return {neg(mul(g[0], apply_unary(ops::UnaryOp::Sin, a.unpack(*this))))}; }
};

struct TanhBackward : Node {  // ga = g * (1 - out^2)
  TT_NODE(TanhBackward)
  SavedTensor out{this};
  TensorList apply(TensorList&& g) override {
    Tensor o = out.unpack(*this);
    return {mul(g[0], sub(scalar(1, o), mul(o, o)))};
  }
};

struct SigmoidBackward : Node {  // ga = g * out * (1 - out)
  TT_NODE(SigmoidBackward)
  SavedTensor out{this};
  TensorList apply(TensorList&& g) override {
    Tensor o = out.unpack(*this);
    return {mul(g[0], mul(o, sub(scalar(1, o), o)))};
  }
};

struct ReLUBackward : Node {  // ga = g * (a > 0)
  TT_NODE(ReLUBackward)
  SavedTensor out{this};
  TensorList apply(TensorList&& g) override {
    Tensor o = out.unpack(*this);
    // The mask is linked to the output with zero derivative (zero_grad_of), so
    // under create_graph this gradient stays a function of the input, as in PyTorch.
    return {mul(g[0], zero_grad_of(astype(compare(ops::BinaryOp::Gt, o, scalar(0, o)), g[0].dtype()), o))};
  }
};

struct GELUBackward : Node {
  // tanh form: u = k(a + c a^3), t = tanh(u): ga = g * (0.5(1+t) + 0.5 a (1-t^2) k (1 + 3c a^2))
  // exact form: ga = g * (Phi(a) + a * phi(a)), Phi = 0.5(1 + erf(a/sqrt2)), phi = exp(-a^2/2)/sqrt(2pi)
  TT_NODE(GELUBackward)
  SavedTensor a{this};
  bool tanh_approx = true;
  TensorList apply(TensorList&& g) override {
    Tensor x = a.unpack(*this);
    Tensor d;
    if (tanh_approx) {
      // the derivative kernel of ops/gelu.h, shared with LinearGeluBackward; under
      // create_graph the same formula from differentiable ops (fused_ops.cpp)
      if (!GradMode::is_enabled()) return {ops::gelu_tanh_backward(g[0], x)};
      d = gelu_tanh_derivative(x);
    } else {
      Tensor Phi = mul(scalar(0.5, x), add(scalar(1, x), apply_unary(ops::UnaryOp::Erf, mul(x, scalar(M_SQRT1_2, x)))));
      Tensor phi = mul(exp(mul(mul(x, x), scalar(-0.5, x))), scalar(1.0 / std::sqrt(2 * M_PI), x));
      d = add(Phi, mul(x, phi));
    }
    return {mul(g[0], d)};
  }
};
// GELU has two forms, one node: apply_unary tells the node which one it records.
inline void note_form(Node&, ops::UnaryOp) {}
inline void note_form(GELUBackward& n, ops::UnaryOp op) { n.tanh_approx = op == ops::UnaryOp::GeluTanh; }

struct ErfBackward : Node {  // ga = g * 2/sqrt(pi) * exp(-a^2)
  TT_NODE(ErfBackward)
  SavedTensor a{this};
  TensorList apply(TensorList&& g) override {
    Tensor x = a.unpack(*this);
    return {mul(g[0], mul(exp(neg(mul(x, x))), scalar(2.0 / std::sqrt(M_PI), x)))};
  }
};

struct ClipBackward : Node {  // ga = g where lo <= a <= hi, else 0
  TT_NODE(ClipBackward)
  SavedTensor a{this};
  std::optional<double> lo, hi;
  TensorList apply(TensorList&& g) override {
    Tensor x = a.unpack(*this);
    Tensor keep = ops::full(x.shape(), 1.0, g[0].dtype());
    if (lo) keep = ops::mul(keep, compare(ops::BinaryOp::Ge, x, scalar(*lo, x)));
    if (hi) keep = ops::mul(keep, compare(ops::BinaryOp::Le, x, scalar(*hi, x)));
    return {mul(g[0], keep)};
  }
};

struct WhereBackward : Node {  // ga = g where cond, gb = g where not cond
  TT_NODE(WhereBackward)
  SavedTensor cond{this};
  Shape sa, sb;
  TensorList apply(TensorList&& g) override {
    Tensor c = cond.unpack(*this), zero = scalar(0, g[0]);
    return {wants(*this, 0) ? sum_to(where(c, g[0], zero), sa) : Tensor(),
            wants(*this, 1) ? sum_to(where(c, zero, g[0]), sb) : Tensor()};
  }
};

struct MaskedFillBackward : Node {  // ga = g with the filled positions zeroed
  TT_NODE(MaskedFillBackward)
  SavedTensor mask{this};
  TensorList apply(TensorList&& g) override { return {masked_fill(g[0], mask.unpack(*this), 0.0)}; }
};

// Reductions -----------------------------------------------------------------
struct SumBackward : Node {  // ga = g expanded back over the reduced axes
  TT_NODE(SumBackward)
  Shape in_shape;
  std::vector<int64_t> axes;
  bool keepdims = false;
  TensorList apply(TensorList&& g) override { return {unreduce(g[0], in_shape, axes, keepdims)}; }
};

struct MeanBackward : Node {  // ga = g expanded / count
  TT_NODE(MeanBackward)
  Shape in_shape;
  std::vector<int64_t> axes;
  bool keepdims = false;
  TensorList apply(TensorList&& g) override {
    double n = static_cast<double>(reduced_count(in_shape, axes));
    return {div(unreduce(g[0], in_shape, axes, keepdims), scalar(n, g[0]))};
  }
};

struct MaxBackward : Node {  // ga = g at the positions of the max (split evenly among ties)
  TT_NODE(MaxBackward)
  SavedTensor a{this}, out{this};
  std::vector<int64_t> axes;
  bool keepdims = false;
  bool is_max = true;
  TensorList apply(TensorList&& g) override {
    Tensor x = a.unpack(*this);
    Tensor o = unreduce(out.unpack(*this), x.shape(), axes, keepdims);
    Tensor hit = astype(compare(ops::BinaryOp::Eq, x, o), g[0].dtype());
    Tensor count = unreduce(sum(hit, axes, true), x.shape(), axes, true);
    return {div(mul(unreduce(g[0], x.shape(), axes, keepdims), hit), count)};
  }
};
struct MinBackward : MaxBackward { TT_NODE(MinBackward) };

// prod_{j != i} a_j for every element, over `axes`, written with
// differentiable ops so it can be differentiated again: each slice (the
// reduced axes flattened to n) is copied n times with its diagonal set to 1,
// then multiplied out. O(n^2) memory, so only double backward through a zero uses it.
inline Tensor product_of_others(const Tensor& x, const std::vector<int64_t>& axes) {
  std::vector<int64_t> perm, reduced(axes);
  Shape kept, red;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) { perm.push_back(d); kept.push_back(x.shape()[d]); }
  for (int64_t d : axes) { perm.push_back(d); red.push_back(x.shape()[d]); }
  const int64_t n = numel(red);
  Shape flat = kept, square = kept;
  flat.push_back(n);
  square.push_back(n);
  square.push_back(n);
  Tensor rows = expand(unsqueeze(reshape(permute(x, perm), flat), -2), square);  // [..., i, j] = x_j
  Tensor diagonal = ops::eye(n, n, DType::Float32);  // where() takes any nonzero as true
  Tensor others = prod(where(diagonal, scalar(1, x), rows), {-1}, false);        // [..., i] = prod_{j != i} x_j
  Shape permuted = kept;
  permuted.insert(permuted.end(), red.begin(), red.end());
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
  return permute(reshape(others, permuted), inverse);
}

struct ProdBackward : Node {
  // ga_i = g * prod_{j != i} a_j, computed without dividing by zero: with no
  // zero in the slice it is prod / a_i; with exactly one zero only that
  // element gets the product of the others; with two or more, all get 0.
  // That form is piecewise, so its own derivative at a zero would be wrong:
  // under create_graph with a zero in the input, product_of_others is used.
  TT_NODE(ProdBackward)
  SavedTensor a{this};
  std::vector<int64_t> axes;
  bool keepdims = false;
  TensorList apply(TensorList&& g) override {
    Tensor x = a.unpack(*this);
    Tensor zero = scalar(0, x), one = scalar(1, x);
    Tensor is_zero = compare(ops::BinaryOp::Eq, x, zero);
    Tensor zeros = unreduce(ops::reduce(ops::ReduceOp::Sum, ops::astype(is_zero, DType::Int64), axes, true),
                            x.shape(), axes, true);
    Tensor gx = unreduce(g[0], x.shape(), axes, keepdims);
    if (GradMode::is_enabled() && ops::reduce(ops::ReduceOp::Max, zeros, {}, false).data<int64_t>()[0] > 0)
      return {mul(gx, product_of_others(x, axes))};
    Tensor x_safe = where(is_zero, one, x);
    Tensor others = unreduce(prod(x_safe, axes, true), x.shape(), axes, true);  // product of the nonzeros
    Tensor no_zero = compare(ops::BinaryOp::Eq, zeros, scalar_tensor_int(0));
    Tensor one_zero = compare(ops::BinaryOp::Eq, zeros, scalar_tensor_int(1));
    Tensor d = where(no_zero, div(others, x_safe), where(logical_and(one_zero, is_zero), others, zero));
    return {mul(gx, d)};
  }
  static Tensor scalar_tensor_int(int64_t v) { return ops::scalar_tensor(static_cast<double>(v), DType::Int64); }
};

struct VarBackward : Node {  // ga = g * 2 (a - mean) / (N - ddof)
  TT_NODE(VarBackward)
  SavedTensor a{this};
  std::vector<int64_t> axes;
  int64_t ddof = 0;
  bool keepdims = false;
  TensorList apply(TensorList&& g) override {
    Tensor x = a.unpack(*this);
    double n = static_cast<double>(reduced_count(x.shape(), axes) - ddof);
    Tensor centered = sub(x, mean(x, axes, true));
    return {mul(unreduce(g[0], x.shape(), axes, keepdims), mul(centered, scalar(2.0 / n, x)))};
  }
};

struct StdBackward : Node {  // ga = g * (a - mean) / ((N - ddof) * std)
  TT_NODE(StdBackward)
  SavedTensor a{this}, out{this};
  std::vector<int64_t> axes;
  int64_t ddof = 0;
  bool keepdims = false;
  TensorList apply(TensorList&& g) override {
    Tensor x = a.unpack(*this);
    double n = static_cast<double>(reduced_count(x.shape(), axes) - ddof);
    Tensor centered = sub(x, mean(x, axes, true));
    Tensor s = unreduce(out.unpack(*this), x.shape(), axes, keepdims);
    // Constant input: centered and std are both 0; the gradient is 0 (as PyTorch), not 0/0 = NaN.
    Tensor is_zero = compare(ops::BinaryOp::Eq, s, scalar(0.0, x));
    Tensor safe_s = where(is_zero, scalar(1.0, x), s);
    Tensor ga = div(mul(unreduce(g[0], x.shape(), axes, keepdims), centered), mul(safe_s, scalar(n, x)));
    return {where(is_zero, scalar(0.0, x), ga)};
  }
};

struct LogSumExpBackward : Node {  // ga = g * exp(a - out)
  TT_NODE(LogSumExpBackward)
  SavedTensor a{this}, out{this};
  std::vector<int64_t> axes;
  bool keepdims = false;
  TensorList apply(TensorList&& g) override {
    Tensor x = a.unpack(*this);
    Tensor o = unreduce(out.unpack(*this), x.shape(), axes, keepdims);
    return {mul(unreduce(g[0], x.shape(), axes, keepdims), exp(sub(x, o)))};
  }
};

struct SoftmaxBackward : Node {  // ga = out * (g - sum(g * out, axis))
  TT_NODE(SoftmaxBackward)
  SavedTensor out{this};
  int64_t axis = -1;
  TensorList apply(TensorList&& g) override {
    Tensor o = out.unpack(*this);
    return {mul(o, sub(g[0], sum(mul(g[0], o), {axis}, true)))};
  }
};

struct LogSoftmaxBackward : Node {  // ga = g - exp(out) * sum(g, axis)
  TT_NODE(LogSoftmaxBackward)
  SavedTensor out{this};
  int64_t axis = -1;
  TensorList apply(TensorList&& g) override {
    Tensor o = out.unpack(*this);
    return {sub(g[0], mul(exp(o), sum(g[0], {axis}, true)))};
  }
};

// Linear algebra ---------------------------------------------------------------
struct MatmulBackward : Node {  // ga = g @ b^T, gb = a^T @ g (batched; broadcast batch dims summed)
  // A 1-D operand is a row (a) or column (b) matrix whose added dim the
  // forward op removed: put it back in g, and take it out of the gradient.
  TT_NODE(MatmulBackward)
  SavedTensor a{this}, b{this};
  TensorList apply(TensorList&& g) override {
    Tensor A = a.unpack(*this), B = b.unpack(*this), G = g[0];
    const bool a_vec = A.dim() == 1, b_vec = B.dim() == 1;
    Tensor A2 = a_vec ? unsqueeze(A, 0) : A, B2 = b_vec ? unsqueeze(B, 1) : B;
    if (b_vec) G = unsqueeze(G, G.dim());
    if (a_vec) G = unsqueeze(G, G.dim() - 1);
    Tensor ga, gb;
    if (wants(*this, 0)) ga = reshape(sum_to(matmul(G, transpose(B2, -1, -2)), A2.shape()), A.shape());
    if (wants(*this, 1)) gb = reshape(sum_to(matmul(transpose(A2, -1, -2), G), B2.shape()), B.shape());
    return {ga, gb};
  }
};

// Views and shape ---------------------------------------------------------------
struct TransposeBackward : Node {  // ga = transpose(g, dim0, dim1)
  TT_NODE(TransposeBackward)
  int64_t dim0 = 0, dim1 = 1;
  TensorList apply(TensorList&& g) override { return {transpose(g[0], dim0, dim1)}; }
};

struct PermuteBackward : Node {  // ga = permute(g, inverse permutation)
  TT_NODE(PermuteBackward)
  std::vector<int64_t> inverse;
  TensorList apply(TensorList&& g) override { return {permute(g[0], inverse)}; }
};

struct ReshapeBackward : Node {  // ga = reshape(g, a.shape)
  TT_NODE(ReshapeBackward)
  Shape in_shape;
  TensorList apply(TensorList&& g) override { return {reshape(g[0], in_shape)}; }
};
struct SqueezeBackward : ReshapeBackward { TT_NODE(SqueezeBackward) };
struct UnsqueezeBackward : ReshapeBackward { TT_NODE(UnsqueezeBackward) };
struct FlattenBackward : ReshapeBackward { TT_NODE(FlattenBackward) };

struct ExpandBackward : Node {  // ga = sum_to(g, a.shape)
  TT_NODE(ExpandBackward)
  Shape in_shape;
  TensorList apply(TensorList&& g) override { return {sum_to(g[0], in_shape)}; }
};

struct SliceBackward : Node {  // ga = zeros(a.shape) with g written into the sliced region
  TT_NODE(SliceBackward)
  Shape in_shape;
  std::vector<views::IndexItem> items;
  TensorList apply(TensorList&& g) override { return {index_scatter(g[0], in_shape, items)}; }
};

struct IndexScatterBackward : Node {  // gg = g[items]  (the derivative of SliceBackward's op)
  TT_NODE(IndexScatterBackward)
  std::vector<views::IndexItem> items;
  TensorList apply(TensorList&& g) override { return {index_view(g[0], items)}; }
};

struct ContiguousBackward : Node {  // ga = g
  TT_NODE(ContiguousBackward)
  TensorList apply(TensorList&& g) override { return {g[0]}; }
};

struct ToDtypeBackward : Node {  // ga = g cast back to a's dtype
  TT_NODE(ToDtypeBackward)
  DType in_dtype = DType::Float32;
  TensorList apply(TensorList&& g) override { return {astype(g[0], in_dtype)}; }
};

struct CatBackward : Node {  // ga_i = narrow(g, dim, offset_i, size_i)
  TT_NODE(CatBackward)
  int64_t dim = 0;
  std::vector<int64_t> sizes;
  TensorList apply(TensorList&& g) override {
    TensorList out;
    int64_t off = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      out.push_back(wants(*this, i) ? narrow(g[0], dim, off, sizes[i]) : Tensor());
      off += sizes[i];
    }
    return out;
  }
};

struct StackBackward : Node {  // ga_i = select(g, dim, i)
  TT_NODE(StackBackward)
  int64_t dim = 0;
  size_t count = 0;
  TensorList apply(TensorList&& g) override {
    TensorList out;
    for (size_t i = 0; i < count; ++i)
      out.push_back(wants(*this, i) ? select(g[0], dim, static_cast<int64_t>(i)) : Tensor());
    return out;
  }
};

// Spatial windows --------------------------------------------------------------
struct Im2ColBackward : Node {  // gx = col2im(g): each input element collects the columns it was copied to
  TT_NODE(Im2ColBackward)
  ops::Window2d window;
  TensorList apply(TensorList&& g) override { return {tt::col2im(g[0], window)}; }
};

struct Col2ImBackward : Node {  // gcols = im2col(g, pad 0): each column entry reads the element it was added to
  TT_NODE(Col2ImBackward)
  ops::Window2d window;
  TensorList apply(TensorList&& g) override { return {tt::im2col(g[0], window, 0.0)}; }
};

// Indexing -------------------------------------------------------------------
struct GatherBackward : Node {  // ga = scatter_add(zeros(a.shape), dim, index, g)
  TT_NODE(GatherBackward)
  Shape in_shape;
  int64_t dim = 0;
  SavedTensor idx{this};
  TensorList apply(TensorList&& g) override {
    return {scatter_add(ops::full(in_shape, 0.0, g[0].dtype()), dim, idx.unpack(*this), g[0])};
  }
};

struct ScatterAddBackward : Node {  // gself = g, gsrc = gather(g, dim, index), zero-padded to src's shape
  TT_NODE(ScatterAddBackward)
  int64_t dim = 0;
  SavedTensor idx{this};
  Shape src_shape;  // src may be larger than index (PyTorch's rule): its extra elements get gradient 0
  TensorList apply(TensorList&& g) override {
    Tensor gsrc;
    if (wants(*this, 1)) {
      gsrc = gather(g[0], dim, idx.unpack(*this));
      for (size_t d = 0; gsrc.shape().size() == src_shape.size() && d < src_shape.size(); ++d) {
        if (gsrc.shape()[d] == src_shape[d]) continue;
        Shape pad = gsrc.shape();
        pad[d] = src_shape[d] - pad[d];
        gsrc = cat({gsrc, ops::full(pad, 0.0, gsrc.dtype())}, static_cast<int64_t>(d));
      }
    }
    return {wants(*this, 0) ? g[0] : Tensor(), gsrc};
  }
};

struct IndexSelectBackward : Node {  // ga = index_add(zeros(a.shape), dim, index, g)
  TT_NODE(IndexSelectBackward)
  Shape in_shape;
  int64_t dim = 0;
  SavedTensor idx{this};
  TensorList apply(TensorList&& g) override {
    return {index_add(ops::full(in_shape, 0.0, g[0].dtype()), dim, idx.unpack(*this), g[0])};
  }
};

struct IndexAddBackward : Node {  // gself = g, gsrc = index_select(g, dim, index)
  TT_NODE(IndexAddBackward)
  int64_t dim = 0;
  SavedTensor idx{this};
  TensorList apply(TensorList&& g) override {
    return {wants(*this, 0) ? g[0] : Tensor(), wants(*this, 1) ? index_select(g[0], dim, idx.unpack(*this)) : Tensor()};
  }
};

struct TakeBackward : Node {  // ga = flat zeros with g added at the taken positions
  TT_NODE(TakeBackward)
  Shape in_shape;
  SavedTensor idx{this};
  TensorList apply(TensorList&& g) override {
    Tensor flat_idx = ops::reshape(idx.unpack(*this), {-1});
    int64_t n = numel(in_shape);
    // take() wraps negative indices; the scatter needs them in range.
    Tensor wrapped = ops::where(ops::binary(ops::BinaryOp::Lt, flat_idx, ops::scalar_tensor(0, DType::Int64)),
                                ops::add(flat_idx, ops::scalar_tensor(static_cast<double>(n), DType::Int64)), flat_idx);
    Tensor z = ops::full({n}, 0.0, g[0].dtype());
    return {reshape(index_add(z, 0, wrapped, reshape(g[0], {-1})), in_shape)};
  }
};

struct EmbeddingBackward : Node {  // gw = zeros(V, D) with g's rows scatter-added at the indices
  TT_NODE(EmbeddingBackward)
  Shape weight_shape;
  SavedTensor idx{this};
  TensorList apply(TensorList&& g) override {
    Tensor flat_idx = ops::reshape(idx.unpack(*this), {-1});
    Tensor rows = reshape(g[0], {-1, weight_shape.back()});
    if (!GradMode::is_enabled()) return {ops::embedding_backward(weight_shape, flat_idx, rows)};
    return {index_add(ops::full(weight_shape, 0.0, g[0].dtype()), 0, flat_idx, rows)};  // create_graph
  }
};

// Neural-network functions ---------------------------------------------------------
struct DropoutBackward : Node {  // ga = g * mask  (mask holds 0 or 1/keep)
  TT_NODE(DropoutBackward)
  SavedTensor mask{this};
  TensorList apply(TensorList&& g) override { return {mul(g[0], mask.unpack(*this))}; }
};

struct CrossEntropyBackward : Node {  // glogits = (softmax(logits) - onehot(t)) * valid / count * g
  TT_NODE(CrossEntropyBackward)
  SavedTensor logits{this}, targets{this}, weights{this};  // weights: 1/count where the target is valid, else 0, shape (M, 1)
  SavedTensor row_stats{this};  // each row's max and log-sum-exp offset: softmax rebuilt in one pass
  TensorList apply(TensorList&& g) override {
    Tensor X = logits.unpack(*this), T = targets.unpack(*this), W = weights.unpack(*this);
    const int64_t C = X.shape().back();
    if (!GradMode::is_enabled() && is_floating(X.dtype())) {  // the fused kernel (ops/nn_kernels.cpp)
      const double gv = ops::astype(g[0], DType::Float64).data<double>()[0];
      Tensor gl = ops::cross_entropy_backward(ops::reshape(X, {-1, C}), T, W, row_stats.unpack(*this), gv);
      return {ops::reshape(gl, X.shape()), Tensor()};
    }
    Tensor p = softmax(reshape(X, {-1, C}), -1);  // (M, C), differentiable for double backward
    // Ignored targets (any value outside [0, C) after the forward's checks) get weight 0;
    // map them to class 0 so one_hot stays in range.
    Tensor i64_0 = ops::scalar_tensor(0, DType::Int64);
    Tensor in_range = logical_and(ops::binary(ops::BinaryOp::Ge, T, i64_0),
                                  ops::binary(ops::BinaryOp::Lt, T, ops::scalar_tensor(static_cast<double>(C), DType::Int64)));
    Tensor safe_t = ops::where(in_range, T, i64_0);
    Tensor onehot = ops::astype(ops::one_hot(safe_t, C), X.dtype());
    Tensor gl = mul(mul(sub(p, onehot), W), g[0]);
    return {reshape(gl, X.shape()), Tensor()};
  }
};

struct MSEBackward : Node {  // gp = 2 (p - t) / N * g, gt = -gp
  TT_NODE(MSEBackward)
  SavedTensor p{this}, t{this};
  TensorList apply(TensorList&& g) override {
    Tensor P = p.unpack(*this), T = t.unpack(*this);
    Tensor diff = sub(P, T);
    Shape out_shape = broadcast_shapes(P.shape(), T.shape(), "mse_loss");
    double n = static_cast<double>(numel(out_shape));
    Tensor gp = mul(mul(diff, scalar(2.0 / n, diff)), g[0]);
    return {wants(*this, 0) ? sum_to(gp, P.shape()) : Tensor(), wants(*this, 1) ? sum_to(neg(gp), T.shape()) : Tensor()};
  }
};

struct BCEBackward : Node {  // gp = (p - t) / (p (1 - p)) / N * g   (p clamped to [eps, 1-eps])
  TT_NODE(BCEBackward)
  SavedTensor p{this}, t{this};
  double eps = 1e-7;
  TensorList apply(TensorList&& g) override {
    Tensor P = clip(p.unpack(*this), eps, 1 - eps), T = t.unpack(*this);
    double n = static_cast<double>(P.numel());
    Tensor gp = div(sub(P, T), mul(P, sub(scalar(1, P), P)));
    gp = mul(mul(gp, scalar(1.0 / n, P)), g[0]);
    Tensor gt;
    if (wants(*this, 1))  // d/dt of -(t log p + (1-t) log(1-p)) = log(1-p) - log(p)
      gt = mul(mul(sub(log(sub(scalar(1, P), P)), log(P)), scalar(1.0 / n, P)), g[0]);
    return {wants(*this, 0) ? gp : Tensor(), gt};
  }
};

#undef TT_NODE

}  // namespace tt
