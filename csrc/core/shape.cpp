#include "core/shape.h"

#include <algorithm>

#include "core/errors.h"

namespace tt {

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n))
      fail<ValueError>("shape ", shape_str(s), " has more elements than fit in 64 bits");
  return n;
}

void check_shape(const Shape& s, const char* op) {
  if (s.size() > kMaxDims)
    fail<ValueError>(op, ": a tensor can have at most ", kMaxDims, " dimensions, got ", s.size());
  int64_t bytes = 8;  // the widest dtype, so the check does not depend on it
  for (int64_t d : s) {
    if (d < 0)
      fail<ValueError>(op, ": negative dimension ", d, " in shape ", shape_str(s), "; sizes must be >= 0");
    if (__builtin_mul_overflow(bytes, d, &bytes))
      fail<ValueError>(op, ": shape ", shape_str(s),
                       " has too many elements (more bytes than can be addressed); check the sizes");
  }
}

Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

bool is_contiguous(const Shape& s, const Strides& st) {
  int64_t expected = 1;
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] == 0) return true;
    if (s[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= s[i];
  }
  return true;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = -std::max<int64_t>(ndim, 1), hi = std::max<int64_t>(ndim, 1) - 1;
  if (dim < lo || dim > hi)
    fail<IndexError>(op, ": axis ", dim, " is out of range for a ", ndim,
                     "-D tensor (valid axes are ", lo, " to ", hi, ")");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail<ValueError>(op, ": shapes ", shape_str(a), " and ", shape_str(b),
                       " cannot be broadcast together (dimension ", i, ": ", da, " vs ", db,
                       "); reshape one operand so each dimension matches or is 1");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  Strides out(target.size(), 0);
  size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    out[lead + i] = (shape[i] == 1 && target[lead + i] != 1) ? 0 : strides[i];
  return out;
}

Shape infer_reshape(const Shape& requested, int64_t total, const Shape& from) {
  if (requested.size() > kMaxDims)
    fail<ValueError>("reshape: a tensor can have at most ", kMaxDims, " dimensions, got ", requested.size());
  Shape out = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (infer_at >= 0)
        fail<ValueError>("reshape: only one dimension can be -1, got ", shape_str(requested));
      infer_at = static_cast<int64_t>(i);
    } else if (out[i] < 0) {
      fail<ValueError>("reshape: invalid size ", out[i], " in ", shape_str(requested));
    } else if (__builtin_mul_overflow(known, out[i], &known)) {
      // A wrapped product could equal `total` and pass the check below.
      fail<ValueError>("reshape: cannot reshape a tensor of shape ", shape_str(from), " (", total,
                       " elements) into ", shape_str(requested), ": that many elements overflow 64 bits");
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0)
      fail<ValueError>("reshape: cannot reshape a tensor of shape ", shape_str(from), " (",
                       total, " elements) into ", shape_str(requested));
    out[infer_at] = total / known;
  } else if (known != total) {
    fail<ValueError>("reshape: cannot reshape a tensor of shape ", shape_str(from), " (", total,
                     " elements) into ", shape_str(requested), " (", known,
                     " elements); the number of elements must stay the same");
  }
  return out;
}

// Groups old dims into contiguous chunks and splits each chunk into new dims
// (the algorithm of numpy's _attempt_nocopy_reshape / PyTorch's computeStride).
std::optional<Strides> view_strides(const Shape& old_shape, const Strides& old_strides,
                                    const Shape& new_shape) {
  Strides out(new_shape.size(), 0);
  if (old_shape.empty() || numel(old_shape) == 0) return contiguous_strides(new_shape);
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) out.push_back(normalize_dim(a, ndim, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    fail<ValueError>(op, ": an axis is repeated in the axes list");
  return out;
}

}  // namespace tt
