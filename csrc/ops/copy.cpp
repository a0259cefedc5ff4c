// Copies and dtype conversions. Everything that moves elements from one
// layout or dtype to another goes through copy_strided below, so strided
// views, broadcast (stride-0) sources and casts share one tested loop.
#include <array>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/profiler.h"
#include "core/views.h"
#include "ops/iter.h"
#include "ops/ops.h"

namespace tt::ops {
namespace {

// One element converted like numpy's astype: to bool means "nonzero" (NaN is
// true), float to int truncates toward zero. Out-of-range floats (and NaN)
// become INT64_MIN, which is what numpy gives on x86, instead of the
// undefined behaviour of a plain C++ cast.
template <class D, class S>
inline D convert(S x) {
  if constexpr (std::is_same_v<D, uint8_t>) {
    return static_cast<uint8_t>(x != S(0));
  } else if constexpr (std::is_same_v<D, int64_t> && std::is_floating_point_v<S>) {
    constexpr S limit = S(9223372036854775808.0);  // 2^63, exact in float and double
    return (x > -limit && x < limit) ? static_cast<int64_t>(x) : std::numeric_limits<int64_t>::min();
  } else {
    return static_cast<D>(x);
  }
}

// dst[...] = convert(src[...]) over dst's shape; src strides are already
// broadcast to that shape (0 on broadcast dims).
template <class D, class S>
void copy_strided(const Tensor& dst, const Tensor& src, const Strides& src_strides) {
  D* d = dst.data<D>();
  const S* s = src.data<S>();
  strided_loop<2>(dst.shape(), {dst.strides(), src_strides}, {0, 0},
                  [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                    D* dp = d + off[0];
                    const S* sp = s + off[1];
                    if (st[0] == 1 && st[1] == 1) {
                      for (int64_t i = 0; i < n; ++i) dp[i] = convert<D>(sp[i]);
                    } else if (st[1] == 0) {
                      const D v = convert<D>(sp[0]);
                      for (int64_t i = 0; i < n; ++i) dp[i * st[0]] = v;
                    } else {
                      for (int64_t i = 0; i < n; ++i) dp[i * st[0]] = convert<D>(sp[i * st[1]]);
                    }
                  });
}

// [first, last] byte addresses a tensor touches (its strides may be negative).
std::pair<const char*, const char*> byte_range(const Tensor& t) {
  int64_t lo = 0, hi = 0;
  for (size_t d = 0; d < t.shape().size(); ++d) {
    const int64_t reach = (t.shape()[d] - 1) * t.strides()[d];
    (reach < 0 ? lo : hi) += reach;
  }
  const int64_t item = static_cast<int64_t>(itemsize(t.dtype()));
  return {t.raw_data() + lo * item, t.raw_data() + hi * item + item - 1};
}

}  // namespace

bool overlaps_unsafely(const Tensor& dst, const Tensor& src) {
  if (dst.impl->storage != src.impl->storage || dst.numel() == 0 || src.numel() == 0) return false;
  const bool same_elements = dst.raw_data() == src.raw_data() && dst.dtype() == src.dtype() &&
                             src.shape() == dst.shape() && src.strides() == dst.strides();
  if (same_elements) return false;
  auto [dlo, dhi] = byte_range(dst);
  auto [slo, shi] = byte_range(src);
  return dlo <= shi && slo <= dhi;
}

namespace {

// Copies src (already known to broadcast to dst's shape) into dst, casting.
void copy_into(const Tensor& dst, const Tensor& src_in) {
  prof::KernelTimer timer("copy");  // forward kernel time when profiling; a flag test when off
  if (dst.numel() == 0) return;
  const bool same_layout_in = src_in.dtype() == dst.dtype() && src_in.numel() == dst.numel() &&
                              src_in.is_contiguous() && dst.is_contiguous();
  // memmove handles overlap of two contiguous blocks; any other overlapping
  // pair is copied through a temporary, or the loop would read values it
  // has already overwritten (t[...] = t.T).
  const Tensor src = !same_layout_in && overlaps_unsafely(dst, src_in) ? clone(src_in) : src_in;
  const bool same_layout = src.dtype() == dst.dtype() && src.numel() == dst.numel() &&
                           src.is_contiguous() && dst.is_contiguous();
  if (same_layout) {  // memmove: the one overlap case that is cheap to get right
    std::memmove(dst.raw_data(), src.raw_data(), static_cast<size_t>(dst.numel()) * itemsize(dst.dtype()));
    return;
  }
  const Strides src_strides = broadcast_strides(src.shape(), src.strides(), dst.shape());
  dispatch(dst.dtype(), [&](auto dtag) {
    using D = decltype(dtag);
    dispatch(src.dtype(), [&](auto stag) {
      using S = decltype(stag);
      copy_strided<D, S>(dst, src, src_strides);
    });
  });
}

}  // namespace

Tensor contiguous(const Tensor& t) {
  if (t.is_contiguous()) return t;
  return clone(t);
}

Tensor clone(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), t.dtype());
  copy_into(out, t);
  return out;
}

Tensor astype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = Tensor::empty(t.shape(), dtype);
  copy_into(out, t);
  return out;
}

Tensor promote_to_float(const Tensor& t) { return is_floating(t.dtype()) ? t : astype(t, DType::Float32); }

void copy_(const Tensor& dst, const Tensor& src) {
  if (src.shape() != dst.shape()) {
    Shape b = broadcast_shapes(src.shape(), dst.shape(), "copy_");
    if (b != dst.shape())
      fail<ValueError>("copy_: source of shape ", shape_str(src.shape()),
                       " cannot be broadcast to the destination shape ", shape_str(dst.shape()),
                       "; the source must match the destination or broadcast to it");
  }
  copy_into(dst, src);
  dst.bump_version();
}

void fill_(const Tensor& dst, double value) {
  prof::KernelTimer timer("fill_");
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T v;
    if constexpr (std::is_same_v<T, int64_t>)
      v = int64_from_double(value, "fill_");  // NaN/out of range: ValueError, not INT64_MIN (core/dtype.h)
    else
      v = convert<T>(value);
    T* d = dst.data<T>();
    if (dst.is_contiguous()) {
      const int64_t n = dst.numel();
      for (int64_t i = 0; i < n; ++i) d[i] = v;
      return;
    }
    strided_loop<1>(dst.shape(), {dst.strides()}, {0},
                    [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& st) {
                      for (int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = v;
                    });
  });
  dst.bump_version();
}

Tensor reshape(const Tensor& t, const Shape& shape) {
  const Shape target = infer_reshape(shape, t.numel(), t.shape());
  if (auto v = views::try_view(t, target)) return *v;
  // The layout does not allow a view (e.g. a transposed tensor): copy into
  // row-major order first, which any shape of the same size can view.
  Tensor c = clone(t);
  return Tensor::view_of(c, target, contiguous_strides(target), 0);
}

Tensor scalar_tensor(double value, DType dtype) {
  Tensor out = Tensor::empty({}, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    *out.data<T>() = convert<T>(value);
  });
  return out;
}

}  // namespace tt::ops
