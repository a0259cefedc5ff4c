#include "core/views.h"

#include <algorithm>

namespace tt::views {

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  int64_t n = t.dim();
  dim0 = normalize_dim(dim0, n, "transpose");
  dim1 = normalize_dim(dim1, n, "transpose");
  if (n < 2) return Tensor::view_of(t, t.shape(), t.strides(), t.offset());
  Shape s = t.shape();
  Strides st = t.strides();
  std::swap(s[dim0], s[dim1]);
  std::swap(st[dim0], st[dim1]);
  return Tensor::view_of(t, s, st, t.offset());
}

Tensor permute(const Tensor& t, const std::vector<int64_t>& dims) {
  int64_t n = t.dim();
  if (static_cast<int64_t>(dims.size()) != n)
    fail<ValueError>("permute: got ", dims.size(), " dims for a ", n, "-D tensor of shape ",
                     shape_str(t.shape()), "; pass one entry per dimension");
  std::vector<bool> seen(n, false);
  Shape s(n);
  Strides st(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = normalize_dim(dims[i], n, "permute");
    if (seen[d]) fail<ValueError>("permute: dimension ", d, " appears twice in the permutation");
    seen[d] = true;
    s[i] = t.shape()[d];
    st[i] = t.strides()[d];
  }
  return Tensor::view_of(t, s, st, t.offset());
}

Tensor expand(const Tensor& t, const Shape& shape) {
  int64_t n = static_cast<int64_t>(shape.size()), k = t.dim();
  if (shape.size() > kMaxDims)
    fail<ValueError>("expand: a tensor can have at most ", kMaxDims, " dimensions, got ", shape.size());
  if (n < k)
    fail<ValueError>("expand: cannot expand shape ", shape_str(t.shape()), " to ",
                     shape_str(shape), " (fewer dimensions)");
  Shape s(n);
  Strides st(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t j = i - (n - k);
    int64_t want = shape[i];
    if (j < 0) {
      if (want < 0) fail<ValueError>("expand: -1 is not allowed for a new leading dimension");
      s[i] = want;
      continue;
    }
    int64_t have = t.shape()[j];
    if (want == -1) want = have;
    if (have == want) {
      s[i] = have;
      st[i] = t.strides()[j];
    } else if (have == 1) {
      s[i] = want;
    } else {
      fail<ValueError>("expand: cannot expand shape ", shape_str(t.shape()), " to ",
                       shape_str(shape), " (dimension ", i, " has size ", have,
                       "; only size-1 dimensions can be expanded)");
    }
  }
  check_shape(s, "expand");  // e.g. (1,) expanded to (2**62, 2**62) overflows the element count
  return Tensor::view_of(t, s, st, t.offset());
}

Tensor squeeze(const Tensor& t, std::optional<int64_t> dim) {
  Shape s;
  Strides st;
  int64_t only = dim ? normalize_dim(*dim, t.dim(), "squeeze") : -1;
  for (int64_t i = 0; i < t.dim(); ++i) {
    bool drop = t.shape()[i] == 1 && (only < 0 || only == i);
    if (!drop) {
      s.push_back(t.shape()[i]);
      st.push_back(t.strides()[i]);
    }
  }
  return Tensor::view_of(t, s, st, t.offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  int64_t n = t.dim() + 1;
  dim = normalize_dim(dim, n, "unsqueeze");
  Shape s = t.shape();
  Strides st = t.strides();
  int64_t stride = dim < t.dim() ? s[dim] * st[dim] : 1;
  s.insert(s.begin() + dim, 1);
  st.insert(st.begin() + dim, stride);
  return Tensor::view_of(t, s, st, t.offset());
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  dim = normalize_dim(dim, t.dim(), "narrow");
  if (start < 0 || length < 0 || start + length > t.shape()[dim])
    fail<IndexError>("narrow: range [", start, ", ", start + length, ") is out of bounds for dimension ",
                     dim, " of size ", t.shape()[dim]);
  Shape s = t.shape();
  s[dim] = length;
  return Tensor::view_of(t, s, t.strides(), t.offset() + start * t.strides()[dim]);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  dim = normalize_dim(dim, t.dim(), "select");
  int64_t size = t.shape()[dim];
  if (index < -size || index >= size)
    fail<IndexError>("index ", index, " is out of bounds for dimension ", dim, " with size ", size);
  if (index < 0) index += size;
  Shape s = t.shape();
  Strides st = t.strides();
  int64_t off = t.offset() + index * st[dim];
  s.erase(s.begin() + dim);
  st.erase(st.begin() + dim);
  return Tensor::view_of(t, s, st, off);
}

std::optional<Tensor> try_view(const Tensor& t, const Shape& shape) {
  auto st = view_strides(t.shape(), t.strides(), shape);
  if (!st) return std::nullopt;
  return Tensor::view_of(t, shape, *st, t.offset());
}

std::pair<int64_t, int64_t> adjust_slice(std::optional<int64_t> start, std::optional<int64_t> stop,
                                         int64_t step, int64_t length) {
  if (step == 0) fail<ValueError>("slice step cannot be zero");
  int64_t lo, hi;
  if (step > 0) {
    lo = start.value_or(0);
    hi = stop.value_or(length);
    if (lo < 0) lo = std::max<int64_t>(lo + length, 0);
    if (hi < 0) hi = std::max<int64_t>(hi + length, 0);
    lo = std::min(lo, length);
    hi = std::min(hi, length);
    return {lo, hi > lo ? (hi - lo - 1) / step + 1 : 0};  // no overflow for huge steps
  }
  lo = start.value_or(length - 1);
  if (lo < 0) lo = std::max<int64_t>(lo + length, -1);
  if (lo >= length) lo = length - 1;
  if (stop) {
    hi = *stop;
    if (hi < 0) hi = std::max<int64_t>(hi + length, -1);
    if (hi >= length) hi = length - 1;
  } else {
    hi = -1;
  }
  return {lo, lo > hi ? (lo - hi - 1) / (-step) + 1 : 0};
}

Tensor index(const Tensor& t, const std::vector<IndexItem>& items) {
  int64_t consumed = 0, ellipses = 0;
  for (auto& it : items) {
    if (it.kind == IndexItem::Int || it.kind == IndexItem::Slice) ++consumed;
    if (it.kind == IndexItem::Ellipsis) ++ellipses;
  }
  if (ellipses > 1) fail<IndexError>("an index can only have a single ellipsis ('...')");
  if (consumed > t.dim())
    fail<IndexError>("too many indices for tensor of shape ", shape_str(t.shape()), ": ", consumed,
                     " indices for ", t.dim(), " dimensions");
  Shape s;
  Strides st;
  int64_t off = t.offset(), d = 0;
  for (auto& it : items) {
    switch (it.kind) {
      case IndexItem::Int: {
        int64_t size = t.shape()[d], i = it.index;
        if (i < -size || i >= size)
          fail<IndexError>("index ", i, " is out of bounds for dimension ", d, " with size ", size);
        if (i < 0) i += size;
        off += i * t.strides()[d];
        ++d;
        break;
      }
      case IndexItem::Slice: {
        auto [lo, count] = adjust_slice(it.start, it.stop, it.step, t.shape()[d]);
        off += lo * t.strides()[d];
        s.push_back(count);
        st.push_back(count > 1 ? t.strides()[d] * it.step : t.strides()[d]);  // a huge step only matters if it is taken
        ++d;
        break;
      }
      case IndexItem::NewAxis:
        s.push_back(1);
        st.push_back(0);
        break;
      case IndexItem::Ellipsis:
        for (int64_t k = 0; k < t.dim() - consumed; ++k, ++d) {
          s.push_back(t.shape()[d]);
          st.push_back(t.strides()[d]);
        }
        break;
    }
  }
  for (; d < t.dim(); ++d) {
    s.push_back(t.shape()[d]);
    st.push_back(t.strides()[d]);
  }
  return Tensor::view_of(t, s, st, off);
}

}  // namespace tt::views
