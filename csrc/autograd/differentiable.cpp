// The differentiable ops of api.h: each runs its forward kernel (csrc/ops),
// then, when grad mode is on and an input requires grad, records its backward
// node (autograd/backward.h) with what the rule needs: record<Node>(out,
// inputs, save), the one recording step of autograd/record.h. A few ops also
// do their argument checks and small shape arithmetic here (flatten's new
// shape, cross_entropy's targets, embedding's index range); the numerical
// work is in the kernels.
#include <algorithm>
#include <numeric>

#include "autograd/api.h"
#include "autograd/backward.h"
#include "autograd/grad_mode.h"
#include "autograd/record.h"
#include "core/profiler.h"
#include "ops/nn_kernels.h"

namespace tt {

Tensor scalar_like(double v, const Tensor& like) {
  return ops::scalar_tensor(v, is_floating(like.dtype()) ? like.dtype() : DType::Float32);
}

// ---- arithmetic ----
Tensor add(const Tensor& a, const Tensor& b) {
  return record<AddBackward>(ops::add(a, b), {&a, &b}, [&](AddBackward& n) { n.sa = a.shape(); n.sb = b.shape(); });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record<SubBackward>(ops::sub(a, b), {&a, &b}, [&](SubBackward& n) { n.sa = a.shape(); n.sb = b.shape(); });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return record<MulBackward>(ops::mul(a, b), {&a, &b}, [&](MulBackward& n) { n.a = SavedTensor(a); n.b = SavedTensor(b); });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return record<DivBackward>(ops::div(a, b), {&a, &b}, [&](DivBackward& n) { n.a = SavedTensor(a); n.b = SavedTensor(b); });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = ops::pow(a, b);
  return record<PowBackward>(out, {&a, &b}, [&](PowBackward& n) {
    n.a = SavedTensor(a);
    n.b = SavedTensor(b);
    if (b.requires_grad()) n.out = SavedTensor(out, true);  // only gb uses it
  });
}

template <class N>
static Tensor extremum(Tensor out, const Tensor& a, const Tensor& b, bool is_max) {
  return record<N>(std::move(out), {&a, &b}, [&](N& n) {
    n.a = SavedTensor(a);
    n.b = SavedTensor(b);
    n.is_max = is_max;
  });
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum<MaximumBackward>(ops::maximum(a, b), a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum<MinimumBackward>(ops::minimum(a, b), a, b, false); }

Tensor compare(ops::BinaryOp op, const Tensor& a, const Tensor& b) { return ops::binary(op, a, b); }

Tensor zero_grad_of(const Tensor& value, const Tensor& of) {
  if (!any_needs({&of})) return value;
  Tensor out = Tensor::view_of(value, value.shape(), value.strides(), value.offset());  // never relink the caller's
  return record<StepBackward>(out, {&of}, [&](StepBackward& n) { n.shape = of.shape(); n.dtype = of.dtype(); });
}

namespace {
// What a unary rule keeps for its backward (the last column of ops.def).
enum class Saves { input, output, nothing, step };

template <class N, Saves S>
Tensor record_unary(ops::UnaryOp op, Tensor out, const Tensor& a) {
  if constexpr (S == Saves::step) {
    return zero_grad_of(out, a);
  } else {
    return record<N>(out, {&a}, [&](N& n) {
      note_form(n, op);
      if constexpr (S == Saves::input) n.a = SavedTensor(a);
      if constexpr (S == Saves::output) n.out = SavedTensor(out, true);
    });
  }
}
}  // namespace

Tensor apply_unary(ops::UnaryOp op, const Tensor& a) {
  Tensor out = ops::unary(op, a);
  switch (op) {  // each op's node and what it saves: autograd/ops.def
#define TT_UNARY_OP(NAME, OP, NODE, SAVES) \
    case ops::UnaryOp::OP: return record_unary<NODE, Saves::SAVES>(op, out, a);
#define TT_UNARY_FORM(OP, NODE, SAVES) TT_UNARY_OP(_, OP, NODE, SAVES)
#include "autograd/ops.def"
#undef TT_UNARY_FORM
#undef TT_UNARY_OP
    default: return out;  // logical_not: not differentiable
  }
}

Tensor clip(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  return record<ClipBackward>(ops::clip(a, lo, hi), {&a}, [&](ClipBackward& n) {
    n.a = SavedTensor(a);
    n.lo = lo;
    n.hi = hi;
  });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  return record<WhereBackward>(ops::where(cond, a, b), {&a, &b}, [&](WhereBackward& n) {
    n.cond = SavedTensor(cond);
    n.sa = a.shape();
    n.sb = b.shape();
  });
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  return record<MaskedFillBackward>(ops::masked_fill(a, mask, value), {&a},
                                    [&](MaskedFillBackward& n) { n.mask = SavedTensor(mask); });
}

// ---- reductions ----
// Every reduction node keeps the normalized axes and keepdims; `save` adds the rest.
template <class N, class Save>
static Tensor record_reduction(Tensor out, const Tensor& a, const std::vector<int64_t>& axes, bool keepdims,
                               const char* op, Save&& save) {
  return record<N>(out, {&a}, [&](N& n) {
    n.axes = normalize_axes(axes, a.dim(), op);
    n.keepdims = keepdims;
    save(n, out);
  });
}

Tensor sum(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  return record_reduction<SumBackward>(ops::reduce(ops::ReduceOp::Sum, a, axes, keepdims), a, axes, keepdims, "sum",
                                       [&](SumBackward& n, const Tensor&) { n.in_shape = a.shape(); });
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  return record_reduction<MeanBackward>(ops::reduce(ops::ReduceOp::Mean, a, axes, keepdims), a, axes, keepdims,
                                        "mean", [&](MeanBackward& n, const Tensor&) { n.in_shape = a.shape(); });
}

template <class N>
static Tensor extreme_reduce(ops::ReduceOp op, const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  const bool is_max = op == ops::ReduceOp::Max;
  return record_reduction<N>(ops::reduce(op, a, axes, keepdims), a, axes, keepdims, is_max ? "max" : "min",
                             [&](N& n, const Tensor& out) {
                               n.a = SavedTensor(a);
                               n.out = SavedTensor(out, true);
                               n.is_max = is_max;
                             });
}
Tensor amax(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  return extreme_reduce<MaxBackward>(ops::ReduceOp::Max, a, axes, keepdims);
}
Tensor amin(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  return extreme_reduce<MinBackward>(ops::ReduceOp::Min, a, axes, keepdims);
}

Tensor prod(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  return record_reduction<ProdBackward>(ops::reduce(ops::ReduceOp::Prod, a, axes, keepdims), a, axes, keepdims,
                                        "prod", [&](ProdBackward& n, const Tensor&) { n.a = SavedTensor(a); });
}

Tensor var(const Tensor& a, const std::vector<int64_t>& axes, int64_t ddof, bool keepdims) {
  return record_reduction<VarBackward>(ops::var(a, axes, ddof, keepdims), a, axes, keepdims, "var",
                                       [&](VarBackward& n, const Tensor&) {
                                         n.a = SavedTensor(a);
                                         n.ddof = ddof;
                                       });
}

Tensor std(const Tensor& a, const std::vector<int64_t>& axes, int64_t ddof, bool keepdims) {
  return record_reduction<StdBackward>(ops::unary(ops::UnaryOp::Sqrt, ops::var(a, axes, ddof, keepdims)), a, axes,
                                       keepdims, "std", [&](StdBackward& n, const Tensor& out) {
                                         n.a = SavedTensor(a);
                                         n.out = SavedTensor(out, true);
                                         n.ddof = ddof;
                                       });
}

Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  return record_reduction<LogSumExpBackward>(ops::logsumexp(a, axes, keepdims), a, axes, keepdims, "logsumexp",
                                             [&](LogSumExpBackward& n, const Tensor& out) {
                                               n.a = SavedTensor(a);
                                               n.out = SavedTensor(out, true);
                                             });
}

Tensor softmax(const Tensor& a, int64_t axis) {
  Tensor out = ops::softmax(a, axis);
  return record<SoftmaxBackward>(out, {&a}, [&](SoftmaxBackward& n) {
    n.axis = normalize_dim(axis, a.dim(), "softmax");
    n.out = SavedTensor(out, true);
  });
}

Tensor log_softmax(const Tensor& a, int64_t axis) {
  Tensor out = ops::log_softmax(a, axis);
  return record<LogSoftmaxBackward>(out, {&a}, [&](LogSoftmaxBackward& n) {
    n.axis = normalize_dim(axis, a.dim(), "log_softmax");
    n.out = SavedTensor(out, true);
  });
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
  // ops::matmul validates the shapes (1-D operands handled as numpy does)
  return record<MatmulBackward>(ops::matmul(a, b), {&a, &b}, [&](MatmulBackward& n) {
    n.a = SavedTensor(a);
    n.b = SavedTensor(b);
  });
}

// ---- views and shape ----
template <class N = ReshapeBackward>
static Tensor record_reshape_like(Tensor out, const Tensor& a) {
  return record<N>(std::move(out), {&a}, [&](N& n) { n.in_shape = a.shape(); });
}

Tensor reshape(const Tensor& a, const Shape& shape) { return record_reshape_like(ops::reshape(a, shape), a); }

Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1) {
  return record<TransposeBackward>(views::transpose(a, dim0, dim1), {&a}, [&](TransposeBackward& n) {
    n.dim0 = dim0;
    n.dim1 = dim1;
  });
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  return record<PermuteBackward>(views::permute(a, dims), {&a}, [&](PermuteBackward& n) {
    n.inverse.resize(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) n.inverse[normalize_dim(dims[i], a.dim(), "permute")] = static_cast<int64_t>(i);
  });
}

Tensor expand(const Tensor& a, const Shape& shape) {
  return record<ExpandBackward>(views::expand(a, shape), {&a}, [&](ExpandBackward& n) { n.in_shape = a.shape(); });
}

Tensor squeeze(const Tensor& a, std::optional<int64_t> dim) {
  return record_reshape_like<SqueezeBackward>(views::squeeze(a, dim), a);
}

Tensor unsqueeze(const Tensor& a, int64_t dim) { return record_reshape_like<UnsqueezeBackward>(views::unsqueeze(a, dim), a); }

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
  return record_reshape_like<FlattenBackward>(ops::reshape(a, shape), a);
}

Tensor index_view(const Tensor& a, const std::vector<views::IndexItem>& items) {
  return record<SliceBackward>(views::index(a, items), {&a}, [&](SliceBackward& n) {
    n.in_shape = a.shape();
    n.items = items;
  });
}

Tensor index_scatter(const Tensor& g, const Shape& shape, const std::vector<views::IndexItem>& items) {
  Tensor out = ops::full(shape, 0.0, g.dtype());
  ops::copy_(views::index(out, items), g);
  return record<IndexScatterBackward>(out, {&g}, [&](IndexScatterBackward& n) { n.items = items; });
}

static std::vector<views::IndexItem> slice_items(int64_t dim, int64_t start, std::optional<int64_t> stop) {
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
  return index_view(a, slice_items(dim, start, start + length));
}

Tensor select(const Tensor& a, int64_t dim, int64_t idx) {
  dim = normalize_dim(dim, a.dim(), "select");
  return index_view(a, slice_items(dim, idx, std::nullopt));
}

Tensor contiguous(const Tensor& a) {
  if (a.is_contiguous()) return a;
  return record<ContiguousBackward>(ops::contiguous(a), {&a});
}

Tensor astype(const Tensor& a, DType dtype) {
  if (a.dtype() == dtype) return a;
  Tensor out = ops::astype(a, dtype);
  if (!is_floating(dtype)) return out;  // integer and bool results are not differentiable
  return record<ToDtypeBackward>(out, {&a}, [&](ToDtypeBackward& n) { n.in_dtype = a.dtype(); });
}

Tensor detach(const Tensor& a) { return Tensor::view_of(a, a.shape(), a.strides(), a.offset()); }

// ---- spatial windows ----
// The padding value does not enter the gradient: padded entries copy no input element.
Tensor im2col(const Tensor& x, const ops::Window2d& g, double pad_value) {
  return record<Im2ColBackward>(ops::im2col(x, g, pad_value), {&x}, [&](Im2ColBackward& n) { n.window = g; });
}

Tensor col2im(const Tensor& cols, const ops::Window2d& g) {
  return record<Col2ImBackward>(ops::col2im(cols, g), {&cols}, [&](Col2ImBackward& n) { n.window = g; });
}

// ---- indexing ----
Tensor gather(const Tensor& a, int64_t dim, const Tensor& idx) {
  return record<GatherBackward>(ops::gather(a, dim, idx), {&a}, [&](GatherBackward& n) {
    n.in_shape = a.shape();
    n.dim = dim;
    n.idx = SavedTensor(idx);
  });
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& idx) {
  return record<IndexSelectBackward>(ops::index_select(a, dim, idx), {&a}, [&](IndexSelectBackward& n) {
    n.in_shape = a.shape();
    n.dim = dim;
    n.idx = SavedTensor(idx);
  });
}

Tensor take(const Tensor& a, const Tensor& idx) {
  return record<TakeBackward>(ops::take(a, idx), {&a}, [&](TakeBackward& n) {
    n.in_shape = a.shape();
    n.idx = SavedTensor(idx);
  });
}

Tensor index_put(const Tensor& t, const Tensor& positions, const Tensor& value) {
  const Tensor flat = ops::reshape(ops::contiguous(positions), {-1});
  std::vector<int64_t> sorted(flat.data<int64_t>(), flat.data<int64_t>() + flat.numel());
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    fail<RuntimeError>("Tensor.__setitem__: the index selects some elements more than once; assigning to "
                       "repeated positions is ambiguous and not differentiable (use tinytorch.index_add or "
                       "tinytorch.where instead)");
  Tensor v = value.dtype() == t.dtype() ? value : astype(value, t.dtype());
  if (v.shape() != positions.shape()) v = expand(v, positions.shape());
  const Tensor placed = index_add(ops::full({t.numel()}, 0.0, t.dtype()), 0, flat, reshape(v, {-1}));
  const Tensor selected = ops::full({t.numel()}, 0.0, DType::Bool);
  ops::put_(selected, flat, ops::scalar_tensor(1, DType::Bool));
  return where(ops::reshape(selected, t.shape()), reshape(placed, t.shape()), t);
}

Tensor index_add(const Tensor& self, int64_t dim, const Tensor& idx, const Tensor& src) {
  return record<IndexAddBackward>(ops::index_add(self, dim, idx, src), {&self, &src}, [&](IndexAddBackward& n) {
    n.dim = dim;
    n.idx = SavedTensor(idx);
  });
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& idx, const Tensor& src) {
  return record<ScatterAddBackward>(ops::scatter_add(self, dim, idx, src), {&self, &src}, [&](ScatterAddBackward& n) {
    n.dim = dim;
    n.src_shape = src.shape();
    n.idx = SavedTensor(idx);
  });
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
  return record<EmbeddingBackward>(ops::reshape(ops::index_select(weight, 0, flat), out_shape), {&weight},
                                   [&](EmbeddingBackward& n) {
                                     n.weight_shape = weight.shape();
                                     n.idx = SavedTensor(flat);
                                   });
}

// cat and stack take a list of inputs: their node gets one edge per tensor.
template <class N, class Save>
static Tensor record_list(Tensor out, const std::vector<Tensor>& ts, Save&& save) {
  std::vector<const Tensor*> inputs;
  for (auto& t : ts) inputs.push_back(&t);
  return record<N>(std::move(out), inputs, std::forward<Save>(save));
}

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  return record_list<CatBackward>(ops::cat(ts, dim), ts, [&](CatBackward& n) {
    n.dim = normalize_dim(dim, ts[0].dim(), "cat");
    for (auto& t : ts) n.sizes.push_back(t.shape()[n.dim]);
  });
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  return record_list<StackBackward>(ops::stack(ts, dim), ts, [&](StackBackward& n) {
    n.dim = normalize_dim(dim, ts[0].dim() + 1, "stack");
    n.count = ts.size();
  });
}

// ---- neural-network functions ----
Tensor dropout(const Tensor& a, double p, bool training) {
  if (p < 0 || p > 1) fail<ValueError>("dropout: probability p must be in [0, 1], got ", p);
  if (!training || p == 0) return a;
  if (p == 1) return mul(a, scalar_like(0, a));
  Tensor mask = ops::bernoulli_mask(a.shape(), 1 - p, is_floating(a.dtype()) ? a.dtype() : DType::Float32);
  return record<DropoutBackward>(ops::mul(a, mask), {&a}, [&](DropoutBackward& n) { n.mask = SavedTensor(mask); });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  if (logits.dim() < 2)
    fail<ValueError>("cross_entropy: logits must be (N, C) or (N, T, C), got ", shape_str(logits.shape()));
  const int64_t C = logits.shape().back();
  Shape tshape(logits.shape().begin(), logits.shape().end() - 1);
  if (targets.shape() != tshape)
    fail<ValueError>("cross_entropy: targets of shape ", shape_str(targets.shape()), " do not match logits of shape ",
                     shape_str(logits.shape()), " (expected targets of shape ", shape_str(tshape), ")");
  Tensor T = ops::reshape(targets, {-1});
  auto r = ops::cross_entropy(ops::reshape(logits, {-1, C}), T, ignore_index);
  if (!any_needs({&logits})) return r.loss;  // targets are never differentiable
  return record<CrossEntropyBackward>(r.loss, {&logits, &targets}, [&](CrossEntropyBackward& n) {
    n.logits = SavedTensor(logits);
    n.targets = SavedTensor(T);
    n.weights = SavedTensor(r.weights);
    n.row_stats = SavedTensor(r.row_stats);
  });
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  broadcast_shapes(pred.shape(), target.shape(), "mse_loss");  // a mismatch names mse_loss, not sub
  Tensor diff = ops::sub(pred, target);
  Tensor out = ops::reduce(ops::ReduceOp::Mean, ops::mul(diff, diff), {}, false);
  return record<MSEBackward>(out, {&pred, &target}, [&](MSEBackward& n) {
    n.p = SavedTensor(pred);
    n.t = SavedTensor(target);
  });
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
  return record<BCEBackward>(out, {&pred, &target}, [&](BCEBackward& n) {
    n.p = SavedTensor(pred);
    n.t = SavedTensor(T);
    n.eps = eps;
  });
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
