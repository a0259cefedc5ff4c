// Indexing kernels: reading or accumulating along one dim at positions given
// by an int64 index tensor (gather, index_select, take, index_add,
// scatter_add, one_hot, nonzero), and joining tensors (cat, stack).
//
// Index rules follow PyTorch: gather, index_select, index_add and scatter_add
// reject negative indices; take wraps them like Python (-1 is the last
// element). Every index is checked before it is used: a bad one raises
// IndexError naming the op, the index value and the size of the dimension.
//
// The gather-like kernels share one trick: the indexed operand gets stride 0
// along `dim` and the index value times the real stride is added per element,
// so one strided_loop over the output (or source) shape does the whole job.
#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>

#include "core/profiler.h"
#include "core/views.h"
#include "ops/iter.h"
#include "ops/ops.h"

namespace tt::ops {
namespace {

void require_int64_index(const Tensor& index, const char* op) {
  if (index.dtype() != DType::Int64)
    fail<TypeError>(op, ": index must be an int64 tensor, got ", dtype_name(index.dtype()),
                    "; convert it with .astype(np.int64)");
}

// Where the element at row-major position `pos` (0 <= pos < numel) of a strided `t` sits in its
// storage: take() and put_() address strided tensors without copying them. (Callers test
// is_contiguous() once, outside their loop: then the offset is pos itself.)
int64_t element_offset(const Tensor& t, int64_t pos) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (pos % t.shape()[d]) * t.strides()[d];
    pos /= t.shape()[d];
  }
  return off;
}

[[noreturn]] void index_out_of_range(const char* op, int64_t value, int64_t dim, int64_t size) {
  fail<IndexError>(op, ": index ", value, " is out of bounds for dimension ", dim, " with size ", size,
                   " (valid indices are 0 to ", size - 1, ")");
}

// The values of a 0-D or 1-D index as a checked vector (non-negative, < size).
std::vector<int64_t> checked_index_vector(const Tensor& index, int64_t size, int64_t dim, const char* op) {
  require_int64_index(index, op);
  if (index.dim() > 1)
    fail<IndexError>(op, ": index must be 0-D or 1-D, got shape ", shape_str(index.shape()),
                     "; flatten it with .reshape(-1)");
  const int64_t n = index.numel();
  const int64_t stride = index.dim() == 1 ? index.strides()[0] : 0;
  const int64_t* p = index.data<int64_t>();
  std::vector<int64_t> out(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = p[i * stride];
    if (v < 0 || v >= size) index_out_of_range(op, v, dim, size);
    out[i] = v;
  }
  return out;
}

// A 0-D tensor seen as 1-D (size 1), so the kernels only deal with dim >= 1.
Tensor at_least_1d(const Tensor& t) { return t.dim() == 0 ? views::unsqueeze(t, 0) : t; }

// The contiguous result `r` given the shape `shape` (used to drop the dim at_least_1d added).
Tensor with_shape(const Tensor& r, const Shape& shape) {
  return Tensor::view_of(r, shape, contiguous_strides(shape), r.offset());
}

Strides zero_at(Strides st, int64_t dim) {
  st[dim] = 0;
  return st;
}

// dst += src; for bool, "adding" a true sets true (no wrap-around to 2).
template <class T>
void accumulate(T& dst, T src) {
  if constexpr (std::is_same_v<T, uint8_t>)
    dst = static_cast<T>(dst || src);
  else if constexpr (std::is_same_v<T, int64_t>)  // wraps as numpy does; a signed overflow would be undefined
    dst = static_cast<int64_t>(static_cast<uint64_t>(dst) + static_cast<uint64_t>(src));
  else
    dst = static_cast<T>(dst + src);
}

// Adding a float source into an integer tensor would truncate fractions and has no value for
// NaN or Inf: refused, as PyTorch does (an integer source into a float tensor is exact and allowed).
void check_source_dtype(const Tensor& self, const Tensor& src, const char* op) {
  if (!is_floating(self.dtype()) && is_floating(src.dtype()))
    fail<TypeError>(op, ": cannot add a ", dtype_name(src.dtype()), " source into a ", dtype_name(self.dtype()),
                    " tensor (fractions would be cut, NaN has no integer value); use a float input, or convert "
                    "the source with .astype(np.int64) deliberately");
}

}  // namespace

Tensor gather(const Tensor& a_in, int64_t dim, const Tensor& index_in) {
  prof::KernelTimer timer("gather");  // forward kernel time when profiling; a flag test when off
  require_int64_index(index_in, "gather");
  dim = normalize_dim(dim, a_in.dim(), "gather");
  if (index_in.dim() != a_in.dim())
    fail<ValueError>("gather: index must have the same number of dimensions as the input, got index shape ",
                     shape_str(index_in.shape()), " for input shape ", shape_str(a_in.shape()));
  Tensor a = at_least_1d(a_in), index = at_least_1d(index_in);
  for (int64_t d = 0; d < a.dim(); ++d)
    if (d != dim && index.shape()[d] > a.shape()[d])
      fail<ValueError>("gather: index shape ", shape_str(index.shape()), " is larger than input shape ",
                       shape_str(a.shape()), " in dimension ", d, " (only dimension ", dim, " may differ)");
  Tensor out = Tensor::empty(index.shape(), a.dtype());
  const int64_t size = a.shape()[dim], a_dim_stride = a.strides()[dim];
  const int64_t* idx = index.data<int64_t>();
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = a.data<T>();
    T* dst = out.data<T>();
    strided_loop<3>(index.shape(), {out.strides(), index.strides(), zero_at(a.strides(), dim)}, {0, 0, 0},
                    [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
                      for (int64_t j = 0; j < n; ++j) {
                        int64_t v = idx[off[1] + j * st[1]];
                        if (v < 0 || v >= size) index_out_of_range("gather", v, dim, size);
                        dst[off[0] + j * st[0]] = src[off[2] + j * st[2] + v * a_dim_stride];
                      }
                    });
  });
  return with_shape(out, index_in.shape());
}

Tensor index_select(const Tensor& a_in, int64_t dim, const Tensor& index) {
  prof::KernelTimer timer("index_select");
  dim = normalize_dim(dim, a_in.dim(), "index_select");
  Tensor a = at_least_1d(a_in);
  std::vector<int64_t> idx = checked_index_vector(index, a.shape()[dim], dim, "index_select");
  Shape out_shape = a.shape();
  out_shape[dim] = static_cast<int64_t>(idx.size());
  Tensor out = Tensor::empty(out_shape, a.dtype());
  // The index is a third operand that only moves along `dim`.
  Strides idx_strides(out_shape.size(), 0);
  idx_strides[dim] = 1;
  const int64_t a_dim_stride = a.strides()[dim];
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = a.data<T>();
    T* dst = out.data<T>();
    strided_loop<3>(out_shape, {out.strides(), zero_at(a.strides(), dim), idx_strides}, {0, 0, 0},
                    [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
                      for (int64_t j = 0; j < n; ++j)
                        dst[off[0] + j * st[0]] = src[off[1] + j * st[1] + idx[off[2] + j * st[2]] * a_dim_stride];
                    });
  });
  // torch: a 0-D input with one index gives a 0-D result.
  return a_in.dim() == 0 && idx.size() == 1 ? with_shape(out, {}) : out;
}

Tensor take(const Tensor& a, const Tensor& index) {
  prof::KernelTimer timer("take");
  require_int64_index(index, "take");
  const int64_t n = a.numel();
  // Unravelling a flat index through a's strides avoids copying a large strided input.
  const bool flat = a.is_contiguous();
  Tensor out = Tensor::empty(index.shape(), a.dtype());
  const int64_t* idx = index.data<int64_t>();
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = a.data<T>();
    T* dst = out.data<T>();
    strided_loop<2>(index.shape(), {out.strides(), index.strides()}, {0, 0},
                    [&](std::array<int64_t, 2> off, int64_t count, std::array<int64_t, 2> st) {
                      for (int64_t j = 0; j < count; ++j) {
                        int64_t v = idx[off[1] + j * st[1]];
                        if (v < -n || v >= n)
                          fail<IndexError>("take: index ", v, " is out of range for a tensor of ", n,
                                           " elements (shape ", shape_str(a.shape()),
                                           "; valid indices are ", -n, " to ", n - 1, ")");
                        if (v < 0) v += n;
                        dst[off[0] + j * st[0]] = src[flat ? v : element_offset(a, v)];
                      }
                    });
  });
  return out;
}

void put_(const Tensor& dst, const Tensor& positions, const Tensor& values) {
  prof::KernelTimer timer("put_");
  require_int64_index(positions, "put_");
  Tensor vals = Tensor::empty(positions.shape(), dst.dtype());
  copy_(vals, values);  // broadcast and cast with assignment's rules
  const Tensor pos = contiguous(positions);
  const int64_t n = dst.numel(), count = pos.numel();
  const int64_t* idx = pos.data<int64_t>();
  for (int64_t j = 0; j < count; ++j)  // checked before anything is written
    if (idx[j] < 0 || idx[j] >= n)
      fail<IndexError>("put_: position ", idx[j], " is out of range for a tensor of ", n, " elements");
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* out = dst.data<T>();
    const T* v = vals.data<T>();
    const bool flat = dst.is_contiguous();
    for (int64_t j = 0; j < count; ++j)  // in order, so the last write to a position wins
      out[flat ? idx[j] : element_offset(dst, idx[j])] = v[j];
  });
  dst.bump_version();
}

Tensor index_add(const Tensor& self_in, int64_t dim, const Tensor& index, const Tensor& src_in) {
  prof::KernelTimer timer("index_add");
  dim = normalize_dim(dim, self_in.dim(), "index_add");
  Tensor self = at_least_1d(self_in), src = at_least_1d(src_in);
  std::vector<int64_t> idx = checked_index_vector(index, self.shape()[dim], dim, "index_add");
  Shape want = self.shape();
  want[dim] = static_cast<int64_t>(idx.size());
  if (src.shape() != want)
    fail<ValueError>("index_add: source shape ", shape_str(src_in.shape()), " does not match ",
                     shape_str(want), " (the input shape ", shape_str(self_in.shape()), " with dimension ",
                     dim, " replaced by the ", idx.size(), " indices)");
  check_source_dtype(self, src, "index_add");
  Tensor out = clone(self);
  if (src.dtype() != out.dtype()) src = astype(src, out.dtype());
  Strides idx_strides(want.size(), 0);
  idx_strides[dim] = 1;
  const int64_t out_dim_stride = out.strides()[dim];
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = src.data<T>();
    T* dst = out.data<T>();
    // Serial on purpose: repeated indices must accumulate, not race.
    strided_loop<3>(want, {zero_at(out.strides(), dim), src.strides(), idx_strides}, {0, 0, 0},
                    [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
                      for (int64_t j = 0; j < n; ++j) {
                        accumulate(dst[off[0] + j * st[0] + idx[off[2] + j * st[2]] * out_dim_stride],
                                   s[off[1] + j * st[1]]);
                      }
                    });
  });
  return with_shape(out, self_in.shape());
}

Tensor embedding_backward(const Shape& table_shape, const Tensor& index, const Tensor& rows_in) {
  prof::KernelTimer timer("embedding_backward");
  const int64_t V = table_shape[0], D = table_shape[1];
  std::vector<int64_t> idx = checked_index_vector(ops::reshape(index, {-1}), V, 0, "embedding backward");
  const Tensor rows = contiguous(rows_in);
  if (rows.dim() != 2 || rows.shape()[0] != static_cast<int64_t>(idx.size()) || rows.shape()[1] != D)
    fail<ValueError>("embedding backward: gradient rows of shape ", shape_str(rows.shape()), " do not match ",
                     idx.size(), " indices into a table of shape ", shape_str(table_shape));
  Tensor out = full(table_shape, 0.0, rows.dtype());
  dispatch_float(rows.dtype(), "embedding backward", [&](auto tag) {
    using T = decltype(tag);
    const T* src = rows.data<T>();
    T* dst = out.data<T>();
    for (size_t i = 0; i < idx.size(); ++i) {  // in order: repeated indices accumulate, never race
      T* row = dst + idx[i] * D;
      const T* add = src + static_cast<int64_t>(i) * D;
      for (int64_t j = 0; j < D; ++j) row[j] += add[j];
    }
  });
  return out;
}

Tensor scatter_add(const Tensor& self_in, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  prof::KernelTimer timer("scatter_add");
  require_int64_index(index_in, "scatter_add");
  dim = normalize_dim(dim, self_in.dim(), "scatter_add");
  if (index_in.dim() != self_in.dim() || src_in.dim() != self_in.dim())
    fail<ValueError>("scatter_add: input, index and source must have the same number of dimensions, got ",
                     shape_str(self_in.shape()), ", ", shape_str(index_in.shape()), " and ",
                     shape_str(src_in.shape()));
  Tensor self = at_least_1d(self_in), index = at_least_1d(index_in), src = at_least_1d(src_in);
  for (int64_t d = 0; d < self.dim(); ++d)
    if (index.shape()[d] > src.shape()[d] || (d != dim && index.shape()[d] > self.shape()[d]))
      fail<ValueError>("scatter_add: index shape ", shape_str(index.shape()), " is larger than the source ",
                       shape_str(src.shape()), " or (outside dimension ", dim, ") the input ",
                       shape_str(self.shape()), " in dimension ", d);
  check_source_dtype(self, src, "scatter_add");
  Tensor out = clone(self);
  if (src.dtype() != out.dtype()) src = astype(src, out.dtype());
  const int64_t size = out.shape()[dim], out_dim_stride = out.strides()[dim];
  const int64_t* idx = index.data<int64_t>();
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = src.data<T>();
    T* dst = out.data<T>();
    strided_loop<3>(index.shape(), {zero_at(out.strides(), dim), index.strides(), src.strides()}, {0, 0, 0},
                    [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
                      for (int64_t j = 0; j < n; ++j) {
                        int64_t v = idx[off[1] + j * st[1]];
                        if (v < 0 || v >= size) index_out_of_range("scatter_add", v, dim, size);
                        accumulate(dst[off[0] + j * st[0] + v * out_dim_stride], s[off[2] + j * st[2]]);
                      }
                    });
  });
  return with_shape(out, self_in.shape());
}

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  prof::KernelTimer timer("cat");
  if (ts.empty()) fail<ValueError>("cat: expected a non-empty list of tensors");
  const Tensor& first = ts[0];
  if (first.dim() == 0)
    fail<ValueError>("cat: zero-dimensional tensors cannot be concatenated; use stack, or reshape them to (1,)");
  dim = normalize_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[dim] = 0;
  DType dt = first.dtype();
  for (size_t i = 0; i < ts.size(); ++i) {
    const Shape& s = ts[i].shape();
    bool ok = ts[i].dim() == first.dim();
    for (int64_t d = 0; ok && d < first.dim(); ++d) ok = d == dim || s[d] == first.shape()[d];
    if (!ok)
      fail<ValueError>("cat: tensor ", i, " has shape ", shape_str(s), " but tensor 0 has shape ",
                       shape_str(first.shape()), "; all dimensions except dimension ", dim, " must match");
    out_shape[dim] += s[dim];
    dt = promote(dt, ts[i].dtype());
  }
  Tensor out = Tensor::empty(out_shape, dt);
  if (out.numel() == 0) return out;
  int64_t start = 0;
  for (const Tensor& t : ts) {
    const int64_t len = t.shape()[dim];
    if (len > 0) copy_(views::narrow(out, dim, start, len), t);
    start += len;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  prof::KernelTimer timer("stack");
  if (ts.empty()) fail<ValueError>("stack: expected a non-empty list of tensors");
  const Shape& shape = ts[0].shape();
  dim = normalize_dim(dim, ts[0].dim() + 1, "stack");
  DType dt = ts[0].dtype();
  for (size_t i = 0; i < ts.size(); ++i) {
    if (ts[i].shape() != shape)
      fail<ValueError>("stack: tensor ", i, " has shape ", shape_str(ts[i].shape()), " but tensor 0 has shape ",
                       shape_str(shape), "; all tensors must have the same shape");
    dt = promote(dt, ts[i].dtype());
  }
  Shape out_shape = shape;
  out_shape.insert(out_shape.begin() + dim, static_cast<int64_t>(ts.size()));
  Tensor out = Tensor::empty(out_shape, dt);
  if (out.numel() == 0) return out;
  for (size_t i = 0; i < ts.size(); ++i) copy_(views::select(out, dim, static_cast<int64_t>(i)), ts[i]);
  return out;
}

Tensor one_hot(const Tensor& index, int64_t num_classes) {
  prof::KernelTimer timer("one_hot");
  require_int64_index(index, "one_hot");
  if (num_classes < -1)
    fail<ValueError>("one_hot: num_classes must be -1 (infer from the data) or >= 0, got ", num_classes);
  Tensor idx = contiguous(index);
  const int64_t* p = idx.data<int64_t>();
  const int64_t n = idx.numel();
  if (num_classes == -1) {
    if (n == 0)
      fail<ValueError>("one_hot: cannot infer the number of classes from an empty index; pass num_classes");
    num_classes = *std::max_element(p, p + n) + 1;
  }
  // Guards the size computation below against overflow from a huge inferred class count.
  if (num_classes > 0 && n > (int64_t{1} << 40) / num_classes)
    fail<ValueError>("one_hot: a result of ", n, " x ", num_classes,
                     " elements is too large; check the class indices or pass num_classes");
  for (int64_t i = 0; i < n; ++i)
    if (p[i] < 0 || p[i] >= num_classes)
      fail<IndexError>("one_hot: class index ", p[i], " is out of range for num_classes=", num_classes,
                       " (valid classes are 0 to ", num_classes - 1, ")");
  Shape out_shape = index.shape();
  out_shape.push_back(num_classes);
  Tensor out = Tensor::empty(out_shape, DType::Float32);
  float* dst = out.data<float>();
  std::fill(dst, dst + out.numel(), 0.0f);
  for (int64_t i = 0; i < n; ++i) dst[i * num_classes + p[i]] = 1.0f;
  return out;
}

Tensor nonzero(const Tensor& a_in) {
  prof::KernelTimer timer("nonzero");
  Tensor a = contiguous(a_in);
  const int64_t n = a.numel(), nd = a.dim();
  // Positions of nonzero elements as flat indices first, then unravelled.
  std::vector<int64_t> hits;
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = a.data<T>();
    for (int64_t i = 0; i < n; ++i)
      if (p[i] != T(0)) hits.push_back(i);
  });
  const int64_t count = static_cast<int64_t>(hits.size());
  Tensor out = Tensor::empty({count, nd}, DType::Int64);
  int64_t* dst = out.data<int64_t>();
  for (int64_t h = 0; h < count; ++h) {
    int64_t v = hits[h];
    for (int64_t d = nd - 1; d >= 0; --d) {
      dst[h * nd + d] = v % a.shape()[d];
      v /= a.shape()[d];
    }
  }
  return out;
}

}  // namespace tt::ops
