// Vectorized log/exp/erf that stay right at the edges of the float range.
// Shared by the elementwise kernels and the softmax family; include only
// from csrc/ops (xsimd must be included first by the .cpp, after its
// diagnostic pragma).
#pragma once
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace tt::ops::simd_edges {

// xsimd 8.1's kernels are wrong at the edges of the float range, and numpy
// is not: double log reads the exponent bits before rescaling a subnormal
// (log(1.1e-308) = -746.1, not -709.1); exp builds 2**k from exponent bits,
// so results that are subnormal flush to 0 and results just below the
// overflow threshold become inf (exp(709.7)); double erf gives nan for
// +-DBL_MAX (0 * inf) and is ~20 ulps off for tiny arguments. Normal inputs
// stay on the vector formula; only the lanes where it is wrong are redone
// with libm, after a compare or two + movemask per batch (a rare branch).
//
// The slow path, out of line so the hot loop keeps its registers and no
// stack buffers: `fine` narrows the cheap `coarse` test of the caller down
// to the lanes that really need libm.
template <class T, class Fine, class F>
[[gnu::noinline, gnu::cold]] xsimd::batch<T> redo_lanes_cold(xsimd::batch<T> v, xsimd::batch<T> r,
                                                             Fine fine, F scalar) {
  using Batch = xsimd::batch<T>;
  const auto wrong = fine(v);
  if (!xsimd::any(wrong)) return r;
  constexpr std::size_t W = Batch::size;
  alignas(64) T vb[W], rb[W], mb[W];
  v.store_aligned(vb);
  r.store_aligned(rb);
  xsimd::select(wrong, Batch(T(1)), Batch(T(0))).store_aligned(mb);
  for (std::size_t k = 0; k < W; ++k)
    if (mb[k] != T(0)) rb[k] = scalar(vb[k]);
  return Batch::load_aligned(rb);
}

template <class T, class Fine, class F>
inline xsimd::batch<T> redo_lanes(xsimd::batch<T> v, xsimd::batch<T> r, xsimd::batch_bool<T> coarse,
                                  Fine fine, F scalar) {
  if (__builtin_expect(!xsimd::any(coarse), 1)) return r;
  return redo_lanes_cold(v, r, fine, scalar);
}

// A subnormal double is scaled by 2**54 into the normal range first (exact),
// then log(x) = log(x * 2**54) - 54*ln2 (ln2 split hi/lo so the product is
// exact). xsimd's float log rescales correctly and is left alone.
template <class T>
inline xsimd::batch<T> log_full(xsimd::batch<T> v) {
  using Batch = xsimd::batch<T>;
  if constexpr (std::is_same_v<T, float>) {
    return xsimd::log(v);
  } else {
    const auto sub = (v > Batch(0.0)) && (v < Batch(std::numeric_limits<double>::min()));
    if (!xsimd::any(sub)) return xsimd::log(v);
    const Batch r = xsimd::log(xsimd::select(sub, v * Batch(18014398509481984.0), v));
    const Batch ln2_hi(6.93147180369123816490e-01), ln2_lo(1.90821492927058770002e-10);
    return xsimd::select(sub, (r - Batch(54.0) * ln2_hi) - Batch(54.0) * ln2_lo, r);
  }
}

// xsimd's exp is right inside [lo, hi], where exp(x) is a normal number away
// from overflow, and right far outside (0 below the underflow limit, inf
// above the overflow one). In the two thin bands between (subnormal results,
// the last bit before overflow) libm decides.
template <class T>
inline xsimd::batch<T> exp_full(xsimd::batch<T> v) {
  using Batch = xsimd::batch<T>;
  constexpr bool f32 = std::is_same_v<T, float>;
  static constexpr T zero_below = f32 ? T(-104.5) : T(-745.5), lo = f32 ? T(-87.0) : T(-708.0);
  static constexpr T hi = f32 ? T(88.0) : T(709.0), inf_above = f32 ? T(89.0) : T(710.0);
  const auto band = [](Batch u) {
    return ((u < Batch(lo)) && (u >= Batch(zero_below))) || ((u > Batch(hi)) && (u <= Batch(inf_above)));
  };
  const Batch r = xsimd::exp(v);
  return redo_lanes(v, r, (v < Batch(lo)) || (v > Batch(hi)), band, [](T a) { return std::exp(a); });
}

// erf(x) = x * 2/sqrt(pi) * (1 - x**2/3 + ...): below 2**-28 the cubic term
// is under half an ulp, so one rounded product is the answer; above 6,
// erf is 1 to double precision (and the polynomial would give nan at inf*0).
template <class T>
inline xsimd::batch<T> erf_full(xsimd::batch<T> v) {
  using Batch = xsimd::batch<T>;
  const Batch a = xsimd::abs(v);
  Batch r = xsimd::select(a < Batch(T(3.7252902984619141e-09)), v * Batch(T(1.1283791670955126)),
                          xsimd::erf(v));
  const auto all_huge = [](Batch u) { return xsimd::abs(u) > Batch(T(6)); };
  return redo_lanes(v, r, a > Batch(T(6)), all_huge, [](T x) { return std::erf(x); });
}

}  // namespace tt::ops::simd_edges
