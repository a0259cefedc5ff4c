// Forward wrappers: run the kernel, then record the backward node when an
// input requires grad (and grad mode is on). Nothing here does math.
#include <algorithm>
#include <numeric>

#include "autograd/api.h"
#include "autograd/backward.h"
#include "autograd/grad_mode.h"
#include "core/profiler.h"
#include "ops/nn_kernels.h"

namespace tt {

namespace {

bool any_needs(std::initializer_list<const Tensor*> ts) {
  if (!GradMode::is_enabled()) return false;
  for (auto* t : ts)
    if (t->defined() && t->impl->requires_grad) return true;
  return false;
}

template <class N>
std::shared_ptr<N> make_node(std::initializer_list<const Tensor*> inputs) {
  auto n = std::make_shared<N>();
  n->next_edges.reserve(inputs.size());
  for (auto* t : inputs) n->next_edges.push_back(gradient_edge(*t));
  return n;
}

void require_float_for_grad(const Tensor& t, const char* op) {
  if (t.impl->requires_grad && !is_floating(t.dtype()))
    fail<TypeError>(op, ": only floating-point tensors can require gradients, got ", dtype_name(t.dtype()));
}

}  // namespace

Tensor scalar_like(double v, const Tensor& like) {
  return ops::scalar_tensor(v, is_floating(like.dtype()) ? like.dtype() : DType::Float32);
}

// ---- arithmetic ----
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = ops::add(a, b);
  if (any_needs({&a, &b})) {
    auto n = make_node<AddBackward>({&a, &b});
    n->sa = a.shape();
    n->sb = b.shape();
    set_history(out, n);
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = ops::sub(a, b);
  if (any_needs({&a, &b})) {
    auto n = make_node<SubBackward>({&a, &b});
    n->sa = a.shape();
    n->sb = b.shape();
    set_history(out, n);
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = ops::mul(a, b);
  if (any_needs({&a, &b})) {
    auto n = make_node<MulBackward>({&a, &b});
    n->a = SavedTensor(a);
    n->b = SavedTensor(b);
    set_history(out, n);
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = ops::div(a, b);
  if (any_needs({&a, &b})) {
    auto n = make_node<DivBackward>({&a, &b});
    n->a = SavedTensor(a);
    n->b = SavedTensor(b);
    set_history(out, n);
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = ops::pow(a, b);
  if (any_needs({&a, &b})) {
    auto n = make_node<PowBackward>({&a, &b});
    n->a = SavedTensor(a);
    n->b = SavedTensor(b);
    set_history(out, n);
    if (b.requires_grad()) n->out = SavedTensor(out, true);
  }
  return out;
}

static Tensor extremum(bool is_max, const Tensor& a, const Tensor& b) {
  Tensor out = is_max ? ops::maximum(a, b) : ops::minimum(a, b);
  if (any_needs({&a, &b})) {
    auto n = is_max ? make_node<MaximumBackward>({&a, &b}) : make_node<MinimumBackward>({&a, &b});
    n->a = SavedTensor(a);
    n->b = SavedTensor(b);
    n->is_max = is_max;
    set_history(out, n);
  }
  return out;
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(true, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(false, a, b); }

Tensor compare(ops::BinaryOp op, const Tensor& a, const Tensor& b) { return ops::binary(op, a, b); }

namespace {
// Unary nodes saving only the input or only the output, with the member named accordingly.
template <class N> void save_in(N& n, const Tensor& a) { n.a = SavedTensor(a); }
template <class N> void save_out(N& n, const Tensor& out) { n.out = SavedTensor(out, true); }
}  // namespace

Tensor zero_grad_of(const Tensor& value, const Tensor& of) {
  if (!any_needs({&of})) return value;
  auto n = make_node<StepBackward>({&of});
  n->shape = of.shape();
  n->dtype = of.dtype();
  Tensor out = Tensor::view_of(value, value.shape(), value.strides(), value.offset());  // never relink the caller's
  set_history(out, n);
  return out;
}

Tensor apply_unary(ops::UnaryOp op, const Tensor& a) {
  using U = ops::UnaryOp;
  Tensor out = ops::unary(op, a);
  if (op == U::Sign) return zero_grad_of(out, a);
  if (!any_needs({&a}) || op == U::LogicalNot) return out;
  auto in_node = [&](auto node) { save_in(*node, a); set_history(out, node); return out; };
  auto out_node = [&](auto node) { set_history(out, node); save_out(*node, out); return out; };
  switch (op) {
    case U::Neg: set_history(out, make_node<NegBackward>({&a})); return out;
    case U::Abs: return in_node(make_node<AbsBackward>({&a}));
    case U::Exp: return out_node(make_node<ExpBackward>({&a}));
    case U::Log: return in_node(make_node<LogBackward>({&a}));
    case U::Sqrt: return out_node(make_node<SqrtBackward>({&a}));
    case U::Sin: return in_node(make_node<SinBackward>({&a}));
    case U::Cos: return in_node(make_node<CosBackward>({&a}));
    case U::Tanh: return out_node(make_node<TanhBackward>({&a}));
    case U::Sigmoid: return out_node(make_node<SigmoidBackward>({&a}));
    case U::Relu: return out_node(make_node<ReLUBackward>({&a}));
    case U::Erf: return in_node(make_node<ErfBackward>({&a}));
    case U::GeluTanh:
    case U::GeluErf: {
      auto n = make_node<GELUBackward>({&a});
      n->tanh_approx = op == U::GeluTanh;
      return in_node(n);
    }
    default: return out;
  }
}

Tensor clip(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  Tensor out = ops::clip(a, lo, hi);
  if (any_needs({&a})) {
    auto n = make_node<ClipBackward>({&a});
    n->a = SavedTensor(a);
    n->lo = lo;
    n->hi = hi;
    set_history(out, n);
  }
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = ops::where(cond, a, b);
  if (any_needs({&a, &b})) {
    auto n = make_node<WhereBackward>({&a, &b});
    n->cond = SavedTensor(cond);
    n->sa = a.shape();
    n->sb = b.shape();
    set_history(out, n);
  }
  return out;
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  Tensor out = ops::masked_fill(a, mask, value);
  if (any_needs({&a})) {
    auto n = make_node<MaskedFillBackward>({&a});
    n->mask = SavedTensor(mask);
    set_history(out, n);
  }
  return out;
}

// ---- reductions ----
Tensor sum(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  Tensor out = ops::reduce(ops::ReduceOp::Sum, a, axes, keepdims);
  if (any_needs({&a})) {
    auto n = make_node<SumBackward>({&a});
    n->in_shape = a.shape();
    n->axes = normalize_axes(axes, a.dim(), "sum");
    n->keepdims = keepdims;
    set_history(out, n);
  }
  return out;
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  Tensor out = ops::reduce(ops::ReduceOp::Mean, a, axes, keepdims);
  if (any_needs({&a})) {
    auto n = make_node<MeanBackward>({&a});
    n->in_shape = a.shape();
    n->axes = normalize_axes(axes, a.dim(), "mean");
    n->keepdims = keepdims;
    set_history(out, n);
  }
  return out;
}

static Tensor extreme_reduce(bool is_max, const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  Tensor out = ops::reduce(is_max ? ops::ReduceOp::Max : ops::ReduceOp::Min, a, axes, keepdims);
  if (any_needs({&a})) {
    auto n = is_max ? make_node<MaxBackward>({&a}) : make_node<MinBackward>({&a});
    n->a = SavedTensor(a);
    n->axes = normalize_axes(axes, a.dim(), is_max ? "max" : "min");
    n->keepdims = keepdims;
    n->is_max = is_max;
    set_history(out, n);
    n->out = SavedTensor(out, true);
  }
  return out;
}
Tensor prod(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  Tensor out = ops::reduce(ops::ReduceOp::Prod, a, axes, keepdims);
  if (any_needs({&a})) {
    auto n = make_node<ProdBackward>({&a});
    n->a = SavedTensor(a);
    n->axes = normalize_axes(axes, a.dim(), "prod");
    n->keepdims = keepdims;
    set_history(out, n);
  }
  return out;
}

Tensor amax(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) { return extreme_reduce(true, a, axes, keepdims); }
Tensor amin(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) { return extreme_reduce(false, a, axes, keepdims); }

Tensor var(const Tensor& a, const std::vector<int64_t>& axes, int64_t ddof, bool keepdims) {
  Tensor out = ops::var(a, axes, ddof, keepdims);
  if (any_needs({&a})) {
    auto n = make_node<VarBackward>({&a});
    n->a = SavedTensor(a);
    n->axes = normalize_axes(axes, a.dim(), "var");
    n->ddof = ddof;
    n->keepdims = keepdims;
    set_history(out, n);
  }
  return out;
}

Tensor std(const Tensor& a, const std::vector<int64_t>& axes, int64_t ddof, bool keepdims) {
  Tensor out = ops::unary(ops::UnaryOp::Sqrt, ops::var(a, axes, ddof, keepdims));
  if (any_needs({&a})) {
    auto n = make_node<StdBackward>({&a});
    n->a = SavedTensor(a);
    n->axes = normalize_axes(axes, a.dim(), "std");
    n->ddof = ddof;
    n->keepdims = keepdims;
    set_history(out, n);
    n->out = SavedTensor(out, true);
  }
  return out;
}

Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  Tensor out = ops::logsumexp(a, axes, keepdims);
  if (any_needs({&a})) {
    auto n = make_node<LogSumExpBackward>({&a});
    n->a = SavedTensor(a);
    n->axes = normalize_axes(axes, a.dim(), "logsumexp");
    n->keepdims = keepdims;
    set_history(out, n);
    n->out = SavedTensor(out, true);
  }
  return out;
}

Tensor softmax(const Tensor& a, int64_t axis) {
  Tensor out = ops::softmax(a, axis);
  if (any_needs({&a})) {
    auto n = make_node<SoftmaxBackward>({&a});
    n->axis = normalize_dim(axis, a.dim(), "softmax");
    set_history(out, n);
    n->out = SavedTensor(out, true);
  }
  return out;
}

Tensor log_softmax(const Tensor& a, int64_t axis) {
  Tensor out = ops::log_softmax(a, axis);
  if (any_needs({&a})) {
    auto n = make_node<LogSoftmaxBackward>({&a});
    n->axis = normalize_dim(axis, a.dim(), "log_softmax");
    set_history(out, n);
    n->out = SavedTensor(out, true);
  }
  return out;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  if (!GradMode::is_enabled() || !g.requires_grad()) return ops::sum_to(g, shape);
  // Differentiable form: sum the leading extra dims and the broadcast dims.
  int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  if (axes.empty()) return reshape(g, shape);
  return reshape(sum(g, axes, true), shape);
}

// ---- linear algebra ----
Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor out = ops::matmul(a, b);  // validates shapes (1-D operands handled as numpy does)
  if (any_needs({&a, &b})) {
    auto n = make_node<MatmulBackward>({&a, &b});
    n->a = SavedTensor(a);
    n->b = SavedTensor(b);
    set_history(out, n);
  }
  return out;
}

// ---- views and shape ----
template <class N = ReshapeBackward>
static Tensor record_reshape_like(Tensor out, const Tensor& a) {
  auto n = make_node<N>({&a});
  n->in_shape = a.shape();
  set_history(out, n);
  return out;
}

Tensor reshape(const Tensor& a, const Shape& shape) {
  Tensor out = ops::reshape(a, shape);
  return any_needs({&a}) ? record_reshape_like(out, a) : out;
}

Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1) {
  Tensor out = views::transpose(a, dim0, dim1);
  if (any_needs({&a})) {
    auto n = make_node<TransposeBackward>({&a});
    n->dim0 = dim0;
    n->dim1 = dim1;
    set_history(out, n);
  }
  return out;
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  Tensor out = views::permute(a, dims);
  if (any_needs({&a})) {
    auto n = make_node<PermuteBackward>({&a});
    n->inverse.resize(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) n->inverse[normalize_dim(dims[i], a.dim(), "permute")] = static_cast<int64_t>(i);
    set_history(out, n);
  }
  return out;
}

Tensor expand(const Tensor& a, const Shape& shape) {
  Tensor out = views::expand(a, shape);
  if (any_needs({&a})) {
    auto n = make_node<ExpandBackward>({&a});
    n->in_shape = a.shape();
    set_history(out, n);
  }
  return out;
}

Tensor squeeze(const Tensor& a, std::optional<int64_t> dim) {
  Tensor out = views::squeeze(a, dim);
  return any_needs({&a}) ? record_reshape_like<SqueezeBackward>(out, a) : out;
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  Tensor out = views::unsqueeze(a, dim);
  return any_needs({&a}) ? record_reshape_like<UnsqueezeBackward>(out, a) : out;
}

Tensor flatten(const Tensor& a, int64_t start_dim, int64_t end_dim) {
  if (a.dim() == 0) {  // a scalar flattens to (1,); its dims are checked as PyTorch does, as if it were 1-D
    normalize_dim(start_dim, 1, "flatten"), normalize_dim(end_dim, 1, "flatten");
    return reshape(a, {1});
  }
  int64_t s = normalize_dim(start_dim, a.dim(), "flatten"), e = normalize_dim(end_dim, a.dim(), "flatten");
  if (s > e) fail<ValueError>("flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape shape(a.shape().begin(), a.shape().begin() + s);
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= a.shape()[i];
  shape.push_back(m);
  shape.insert(shape.end(), a.shape().begin() + e + 1, a.shape().end());
  Tensor out = ops::reshape(a, shape);
  return any_needs({&a}) ? record_reshape_like<FlattenBackward>(out, a) : out;
}

Tensor index_view(const Tensor& a, const std::vector<views::IndexItem>& items) {
  Tensor out = views::index(a, items);
  if (any_needs({&a})) {
    auto n = make_node<SliceBackward>({&a});
    n->in_shape = a.shape();
    n->items = items;
    set_history(out, n);
  }
  return out;
}

Tensor index_scatter(const Tensor& g, const Shape& shape, const std::vector<views::IndexItem>& items) {
  Tensor out = ops::full(shape, 0.0, g.dtype());
  ops::copy_(views::index(out, items), g);
  if (any_needs({&g})) {
    auto n = make_node<IndexScatterBackward>({&g});
    n->items = items;
    set_history(out, n);
  }
  return out;
}

static std::vector<views::IndexItem> slice_items(int64_t ndim, int64_t dim, int64_t start, std::optional<int64_t> stop) {
  std::vector<views::IndexItem> items(static_cast<size_t>(dim));
  for (auto& it : items) it.kind = views::IndexItem::Slice;
  views::IndexItem it;
  if (stop) {
    it.kind = views::IndexItem::Slice;
    it.start = start;
    it.stop = *stop;
  } else {
    it.kind = views::IndexItem::Int;
    it.index = start;
  }
  items.push_back(it);
  return items;
}

Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length) {
  dim = normalize_dim(dim, a.dim(), "narrow");
  views::narrow(a, dim, start, length);  // validates the range
  return index_view(a, slice_items(a.dim(), dim, start, start + length));
}

Tensor select(const Tensor& a, int64_t dim, int64_t idx) {
  dim = normalize_dim(dim, a.dim(), "select");
  return index_view(a, slice_items(a.dim(), dim, idx, std::nullopt));
}

Tensor contiguous(const Tensor& a) {
  if (a.is_contiguous()) return a;
  Tensor out = ops::contiguous(a);
  if (any_needs({&a})) set_history(out, make_node<ContiguousBackward>({&a}));
  return out;
}

Tensor astype(const Tensor& a, DType dtype) {
  if (a.dtype() == dtype) return a;
  Tensor out = ops::astype(a, dtype);
  if (any_needs({&a}) && is_floating(dtype)) {
    auto n = make_node<ToDtypeBackward>({&a});
    n->in_dtype = a.dtype();
    set_history(out, n);
  }
  return out;
}

Tensor detach(const Tensor& a) { return Tensor::view_of(a, a.shape(), a.strides(), a.offset()); }

// ---- spatial windows ----
// The padding value does not enter the gradient: padded entries copy no input element.
Tensor im2col(const Tensor& x, const ops::Window2d& g, double pad_value) {
  Tensor out = ops::im2col(x, g, pad_value);
  if (any_needs({&x})) {
    auto n = make_node<Im2ColBackward>({&x});
    n->window = g;
    set_history(out, n);
  }
  return out;
}

Tensor col2im(const Tensor& cols, const ops::Window2d& g) {
  Tensor out = ops::col2im(cols, g);
  if (any_needs({&cols})) {
    auto n = make_node<Col2ImBackward>({&cols});
    n->window = g;
    set_history(out, n);
  }
  return out;
}

// ---- indexing ----
Tensor gather(const Tensor& a, int64_t dim, const Tensor& idx) {
  Tensor out = ops::gather(a, dim, idx);
  if (any_needs({&a})) {
    auto n = make_node<GatherBackward>({&a});
    n->in_shape = a.shape();
    n->dim = dim;
    n->idx = SavedTensor(idx);
    set_history(out, n);
  }
  return out;
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& idx) {
  Tensor out = ops::index_select(a, dim, idx);
  if (any_needs({&a})) {
    auto n = make_node<IndexSelectBackward>({&a});
    n->in_shape = a.shape();
    n->dim = dim;
    n->idx = SavedTensor(idx);
    set_history(out, n);
  }
  return out;
}

Tensor take(const Tensor& a, const Tensor& idx) {
  Tensor out = ops::take(a, idx);
  if (any_needs({&a})) {
    auto n = make_node<TakeBackward>({&a});
    n->in_shape = a.shape();
    n->idx = SavedTensor(idx);
    set_history(out, n);
  }
  return out;
}

Tensor index_add(const Tensor& self, int64_t dim, const Tensor& idx, const Tensor& src) {
  Tensor out = ops::index_add(self, dim, idx, src);
  if (any_needs({&self, &src})) {
    auto n = make_node<IndexAddBackward>({&self, &src});
    n->dim = dim;
    n->idx = SavedTensor(idx);
    set_history(out, n);
  }
  return out;
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& idx, const Tensor& src) {
  Tensor out = ops::scatter_add(self, dim, idx, src);
  if (any_needs({&self, &src})) {
    auto n = make_node<ScatterAddBackward>({&self, &src});
    n->dim = dim;
    n->src_shape = src.shape();
    n->idx = SavedTensor(idx);
    set_history(out, n);
  }
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  prof::KernelTimer timer("embedding");  // forward kernel time when profiling; a flag test when off
  if (weight.dim() != 2)
    fail<ValueError>("embedding: weight must be 2-D (vocab_size, embed_dim), got ", shape_str(weight.shape()));
  if (indices.dtype() != DType::Int64)
    fail<TypeError>("embedding: indices must be int64 token ids, got ", dtype_name(indices.dtype()));
  Tensor flat = ops::contiguous(ops::reshape(indices, {-1}));
  const int64_t V = weight.shape()[0];
  const int64_t* p = flat.data<int64_t>();
  for (int64_t i = 0, n = flat.numel(); i < n; ++i)
    if (p[i] < 0 || p[i] >= V)
      fail<IndexError>("Embedding: index ", p[i], " is out of range for vocab_size ", V,
                       " (valid token ids are 0 to ", V - 1, ")");
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.shape()[1]);
  Tensor out = ops::reshape(ops::index_select(weight, 0, flat), out_shape);
  if (any_needs({&weight})) {
    auto n = make_node<EmbeddingBackward>({&weight});
    n->weight_shape = weight.shape();
    n->idx = SavedTensor(flat);
    set_history(out, n);
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  Tensor out = ops::cat(ts, dim);
  bool needs = false;
  for (auto& t : ts) needs = needs || any_needs({&t});
  if (needs) {
    auto n = std::make_shared<CatBackward>();
    n->dim = normalize_dim(dim, ts[0].dim(), "cat");
    for (auto& t : ts) {
      n->next_edges.push_back(gradient_edge(t));
      n->sizes.push_back(t.shape()[n->dim]);
    }
    set_history(out, n);
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  Tensor out = ops::stack(ts, dim);
  bool needs = false;
  for (auto& t : ts) needs = needs || any_needs({&t});
  if (needs) {
    auto n = std::make_shared<StackBackward>();
    n->dim = normalize_dim(dim, ts[0].dim() + 1, "stack");
    n->count = ts.size();
    for (auto& t : ts) n->next_edges.push_back(gradient_edge(t));
    set_history(out, n);
  }
  return out;
}

// ---- neural-network functions ----
Tensor dropout(const Tensor& a, double p, bool training) {
  if (p < 0 || p > 1) fail<ValueError>("dropout: probability p must be in [0, 1], got ", p);
  if (!training || p == 0) return a;
  if (p == 1) return mul(a, scalar_like(0, a));
  Tensor mask = ops::bernoulli_mask(a.shape(), 1 - p, is_floating(a.dtype()) ? a.dtype() : DType::Float32);
  Tensor out = ops::mul(a, mask);
  if (any_needs({&a})) {
    auto n = make_node<DropoutBackward>({&a});
    n->mask = SavedTensor(mask);
    set_history(out, n);
  }
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  if (logits.dim() < 2)
    fail<ValueError>("cross_entropy: logits must be (N, C) or (N, T, C), got ", shape_str(logits.shape()));
  const int64_t C = logits.shape().back();
  Shape tshape(logits.shape().begin(), logits.shape().end() - 1);
  if (targets.shape() != tshape)
    fail<ValueError>("cross_entropy: targets of shape ", shape_str(targets.shape()), " do not match logits of shape ",
                     shape_str(logits.shape()), " (expected targets of shape ", shape_str(tshape), ")");
  Tensor L = ops::reshape(logits, {-1, C});
  Tensor T = ops::reshape(targets, {-1});
  auto r = ops::cross_entropy(L, T, ignore_index);
  if (any_needs({&logits})) {
    auto n = make_node<CrossEntropyBackward>({&logits, &targets});
    n->logits = SavedTensor(logits);
    n->targets = SavedTensor(T);
    n->weights = SavedTensor(r.weights);
    set_history(r.loss, n);
  }
  return r.loss;
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  Shape s = broadcast_shapes(pred.shape(), target.shape(), "mse_loss");
  Tensor diff = ops::sub(pred, target);
  Tensor out = ops::reduce(ops::ReduceOp::Mean, ops::mul(diff, diff), {}, false);
  (void)s;
  if (any_needs({&pred, &target})) {
    auto n = make_node<MSEBackward>({&pred, &target});
    n->p = SavedTensor(pred);
    n->t = SavedTensor(target);
    set_history(out, n);
  }
  return out;
}

Tensor bce_loss(const Tensor& pred, const Tensor& target) {
  if (pred.shape() != target.shape())
    fail<ValueError>("binary_cross_entropy: predictions ", shape_str(pred.shape()), " and targets ",
                     shape_str(target.shape()), " must have the same shape");
  const double eps = 1e-7;
  Tensor P = ops::clip(pred, eps, 1 - eps);
  Tensor T = ops::astype(target, P.dtype());
  Tensor one = ops::scalar_tensor(1, P.dtype());
  Tensor ll = ops::add(ops::mul(T, ops::unary(ops::UnaryOp::Log, P)),
                       ops::mul(ops::sub(one, T), ops::unary(ops::UnaryOp::Log, ops::sub(one, P))));
  Tensor out = ops::unary(ops::UnaryOp::Neg, ops::reduce(ops::ReduceOp::Mean, ll, {}, false));
  if (any_needs({&pred, &target})) {
    auto n = make_node<BCEBackward>({&pred, &target});
    n->p = SavedTensor(pred);
    n->t = SavedTensor(T);
    n->eps = eps;
    set_history(out, n);
  }
  return out;
}

// ---- autograd state ----
void retain_grad(const Tensor& t) {
  if (!t.requires_grad())
    fail<RuntimeError>("retain_grad: can't retain_grad on a tensor that does not require grad");
  auto& m = t.impl->autograd();
  if (!m.grad_fn || m.retains_grad) return;  // leaves keep their grad anyway
  m.retains_grad = true;
  std::weak_ptr<TensorImpl> weak = t.impl;
  m.grad_fn->pre_hooks.push_back({m.output_nr, -1, [weak](const Tensor& g) {
    if (auto impl = weak.lock()) {
      auto& mm = impl->autograd();
      Tensor copy = ops::clone(g);
      mm.grad = mm.grad ? ops::add(Tensor(mm.grad), copy).impl : copy.impl;
    }
    return Tensor();
  }});
}

int register_hook(const Tensor& t, TensorHook fn) {
  if (!t.requires_grad())
    fail<RuntimeError>("register_hook: cannot register a hook on a tensor that doesn't require gradient");
  auto& m = t.impl->autograd();
  int id = m.next_hook_id++;
  if (m.grad_fn)
    m.grad_fn->pre_hooks.push_back({m.output_nr, id, std::move(fn)});
  else
    m.hooks.push_back({id, std::move(fn)});
  return id;
}

void remove_hook(const Tensor& t, int id) {
  if (!t.impl->meta) return;
  auto& m = *t.impl->meta;
  auto& hs = m.hooks;
  hs.erase(std::remove_if(hs.begin(), hs.end(), [id](auto& h) { return h.first == id; }), hs.end());
  if (m.grad_fn) {
    auto& ph = m.grad_fn->pre_hooks;
    ph.erase(std::remove_if(ph.begin(), ph.end(), [&](auto& h) { return h.id == id && h.output_nr == m.output_nr; }),
             ph.end());
  }
}

}  // namespace tt
