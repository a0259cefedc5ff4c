// Winograd F(2x2, 3x3): each 2x2 block of outputs from a 4x4 block of inputs with 16
// multiplies per channel pair instead of 36.
//
// With the 4x4 input tile d, the 3x3 kernel g and the 2x2 output tile Y:
//   U = G g G^T,  V = B^T d B,  Y = A^T (U .* V) A
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1]
// Summed over input channels, each of the 16 positions k of U .* V is a matrix product:
//   M[k] (O, tiles) = U[k] (O, C) @ V[k] (C, tiles)
// so a layer is 16 GEMMs of inner size C between cheap transforms, 2.25x fewer
// multiplies than the (O, C*9) @ (C*9, H*W) column product. Backward is the same shape:
//   input gradient: a convolution of gy (padding 1) with the kernel flipped and its two
//     channel axes swapped, i.e. U[flip(k)]^T @ V_gy[k]: the same forward kernel;
//   weight gradient: dU[k] (O, C) = sum over tiles of dM[k] @ V_x[k]^T with dM = A dY A^T
//     (the adjoint of the output transform), then dg = G^T dU G: 16 GEMMs of inner size
//     tiles, accumulated across the batch in the GEMM (beta = 1).
// The batch is cut into chunks of whole images whose tiles make one GEMM's columns; chunks
// split across tinytorch's threads, each with its own buffers and weight-gradient accumulator.
// Tiles at the bottom and right edge of an odd-sized image read zeros past the edge and
// drop the outputs there.
#include "ops/conv_winograd.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/profiler.h"
#include "ops/blas.h"
#include "ops/parallel.h"

namespace tt::ops {

namespace {

// Tiles per GEMM below which whole images are batched into one chunk. Measured (fwd+bwd,
// 1 thread): 128 and 256 within noise on bench_conv's shapes, 512 5-25% slower, 1024 slower still.
constexpr int64_t kTargetTiles = 256;
// Fewer channels than this on either side and the 16 thin GEMMs (inner size C or O) are
// not worth it: the 1-channel first layer of a CNN stays on the column GEMM (5x PyTorch there).
constexpr int64_t kMinChannels = 8;
// Tiles per row (image width / 2) from which the transforms run as vector loops along a row.
constexpr int64_t kRowTiles = 8;

struct Plan {
  int64_t N, C, O, H, W, TH, TW, tiles;  // tiles: per image
  int64_t per, chunks, slots;             // images per chunk; slots: one per thread
  Plan(const Window2d& g, int64_t n, int64_t o)
      : N(n), C(g.C), O(o), H(g.H), W(g.W), TH((g.H + 1) / 2), TW((g.W + 1) / 2), tiles(TH * TW) {
    per = std::clamp<int64_t>((kTargetTiles + tiles - 1) / tiles, 1, std::max<int64_t>(N, 1));
    chunks = (N + per - 1) / per;
    slots = std::max<int64_t>(1, std::min<int64_t>(num_threads(), chunks));
  }
  int64_t first_chunk(int64_t slot) const { return chunks / slots * slot + std::min(slot, chunks % slots); }
};

// The 16 planes of a (16, R, ld) transform buffer lie kstride(R, ld) elements apart: R*ld
// rounded up to 16 elements, plus 16. A whole number of 4 KiB pages apart (as R*ld often
// is), the 16 streams a transform reads or writes at once fall into one set of the L1 cache
// and evict each other (measured: the transforms took twice the GEMMs' time).
inline int64_t kstride(int64_t rows, int64_t ld) { return (rows * ld + 15) / 16 * 16 + 16; }

template <class T>
std::unique_ptr<T[]> buffer(int64_t n) {
  return std::unique_ptr<T[]>(n > 0 ? new T[static_cast<size_t>(n)] : nullptr);
}

// The transforms work on one row of tiles at a time, as arrays over the tile column tw, so
// the compiler vectorizes them (measured on 16 -> 32 channels, 32x32: the whole fwd+bwd 12-17%
// faster than one 4x4 tile at a time).
// Each needs 8 rows of TW + 1 values of scratch per thread: scratch_size.
inline int64_t scratch_size(const Plan& p) { return 8 * (p.TW + 1); }

// e[j] = row[2j + off], o[j] = row[2j + off + 1] for j in [0, n), zero outside [0, W); row may be null (all zero).
template <class T>
inline void load_even_odd(const T* row, int64_t W, int64_t off, int64_t n, T* e, T* o) {
  if (!row) {
    std::fill(e, e + n, T(0)), std::fill(o, o + n, T(0));
    return;
  }
  auto checked = [&](int64_t j) {
    const int64_t q = 2 * j + off;
    e[j] = q >= 0 && q < W ? row[q] : T(0);
    o[j] = q + 1 >= 0 && q + 1 < W ? row[q + 1] : T(0);
  };
  // [lo, hi): both columns inside the row, no test (off is -1 or 0)
  const int64_t hi = std::min<int64_t>(n, W - 2 - off >= 0 ? (W - 2 - off) / 2 + 1 : 0);
  const int64_t lo = std::min<int64_t>(off < 0 ? 1 : 0, hi);
  for (int64_t j = 0; j < lo; ++j) checked(j);
  for (int64_t j = lo; j < hi; ++j) e[j] = row[2 * j + off], o[j] = row[2 * j + off + 1];
  for (int64_t j = std::max(lo, hi); j < n; ++j) checked(j);
}

// The vector loops of the transforms, over the tw tiles of one row of tiles. __restrict__: the
// arrays never overlap, and without it GCC vectorizes none of these loops.
template <class T>
inline void input_rows(T* __restrict R, int64_t S) {  // B^T on the four rows R[a*S + j], in place
  for (int64_t j = 0; j < S; ++j) {
    const T r0 = R[j], r1 = R[S + j], r2 = R[2 * S + j], r3 = R[3 * S + j];
    R[j] = r0 - r2, R[S + j] = r1 + r2, R[2 * S + j] = r2 - r1, R[3 * S + j] = r1 - r3;
  }
}
// Times B on the right: a tile's columns 2tw-1, 2tw, 2tw+1, 2tw+2 are e[tw], d[tw], e[tw+1], d[tw+1].
template <class T>
inline void input_columns(const T* __restrict e, const T* __restrict d, T* __restrict o0, T* __restrict o1,
                          T* __restrict o2, T* __restrict o3, int64_t TW) {
  for (int64_t tw = 0; tw < TW; ++tw) {
    o0[tw] = e[tw] - e[tw + 1];
    o1[tw] = d[tw] + e[tw + 1];
    o2[tw] = e[tw + 1] - d[tw];
    o3[tw] = d[tw] - d[tw + 1];
  }
}
// A^T M A + bias for TW tiles whose 16 products are s[k*plane + tw]: row a of each 2x2 output
// block into ea[tw] (even column) and oa[tw] (odd column).
template <class T>
inline void output_tiles(const T* __restrict s, int64_t plane, T bias, T* __restrict e0, T* __restrict o0,
                         T* __restrict e1, T* __restrict o1, int64_t TW) {
  for (int64_t tw = 0; tw < TW; ++tw) {
    T t[2][4];  // A^T M
    for (int b = 0; b < 4; ++b) {
      const T m0 = s[b * plane + tw], m1 = s[(4 + b) * plane + tw], m2 = s[(8 + b) * plane + tw],
              m3 = s[(12 + b) * plane + tw];
      t[0][b] = m0 + m1 + m2;
      t[1][b] = m1 - m2 - m3;
    }
    e0[tw] = t[0][0] + t[0][1] + t[0][2] + bias;
    o0[tw] = t[0][1] - t[0][2] - t[0][3] + bias;
    e1[tw] = t[1][0] + t[1][1] + t[1][2] + bias;
    o1[tw] = t[1][1] - t[1][2] - t[1][3] + bias;
  }
}
// row[2j] = e[j], row[2j + 1] = o[j] for the W values of a row.
template <class T>
inline void interleave(const T* __restrict e, const T* __restrict o, T* __restrict row, int64_t W) {
  for (int64_t j = 0; j < W / 2; ++j) row[2 * j] = e[j], row[2 * j + 1] = o[j];
  if (W % 2) row[W - 1] = e[W / 2];
}
// Row R of A dY A^T for TW blocks dY = [e0 d0; e1 d1] (even, odd column of rows 0 and 1):
// row R of A dY is (x, y) = (e0, d0), (e0 + e1, d0 + d1), (e0 - e1, d0 - d1), (-e1, -d1), and
// times A^T it gives x, x + y, x - y, -y.
template <int R, class T>
inline void gradient_row(const T* __restrict e0, const T* __restrict e1, const T* __restrict d0,
                         const T* __restrict d1, T* __restrict o0, T* __restrict o1, T* __restrict o2,
                         T* __restrict o3, int64_t TW) {
  for (int64_t tw = 0; tw < TW; ++tw) {
    const T x = R == 0 ? e0[tw] : R == 1 ? e0[tw] + e1[tw] : R == 2 ? e0[tw] - e1[tw] : -e1[tw];
    const T y = R == 0 ? d0[tw] : R == 1 ? d0[tw] + d1[tw] : R == 2 ? d0[tw] - d1[tw] : -d1[tw];
    o0[tw] = x, o1[tw] = x + y, o2[tw] = x - y, o3[tw] = -y;
  }
}
template <class T>
inline void gradient_tiles(const T* e0, const T* e1, const T* d0, const T* d1, T* out, int64_t plane, int64_t TW) {
  T* o[16];
  for (int k = 0; k < 16; ++k) o[k] = out + k * plane;
  gradient_row<0>(e0, e1, d0, d1, o[0], o[1], o[2], o[3], TW);
  gradient_row<1>(e0, e1, d0, d1, o[4], o[5], o[6], o[7], TW);
  gradient_row<2>(e0, e1, d0, d1, o[8], o[9], o[10], o[11], TW);
  gradient_row<3>(e0, e1, d0, d1, o[12], o[13], o[14], o[15], TW);
}

// V (16, Cn, ld) = B^T d B for every tile of images [0, cnt) of x (cnt, Cn, H, W); the tile
// (th, tw) of image i is column i*tiles + th*TW + tw, its input rows 2th-1 .. 2th+2 and
// columns 2tw-1 .. 2tw+2 (zero outside the image).
template <class T>
void input_transform(const T* x, int64_t cnt, int64_t Cn, const Plan& p, T* V, int64_t ld, T* scratch) {
  const int64_t plane = kstride(Cn, ld), H = p.H, W = p.W, TW = p.TW, S = TW + 1;
  T* E = scratch;  // E[a*S + j] = x[2th-1+a, 2j-1], D[a*S + j] = x[2th-1+a, 2j]
  T* D = scratch + 4 * S;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t c = 0; c < Cn; ++c) {
      const T* img = x + (i * Cn + c) * H * W;
      T* v = V + c * ld + i * p.tiles;
      for (int64_t th = 0; th < p.TH; ++th) {
        for (int a = 0; a < 4; ++a) {
          const int64_t r = 2 * th - 1 + a;
          load_even_odd(r >= 0 && r < H ? img + r * W : nullptr, W, -1, S, E + a * S, D + a * S);
        }
        input_rows(E, S), input_rows(D, S);  // B^T d
        T* out = v + th * TW;
        for (int a = 0; a < 4; ++a)  // (B^T d) B
          input_columns(E + a * S, D + a * S, out + 4 * a * plane, out + (4 * a + 1) * plane,
                        out + (4 * a + 2) * plane, out + (4 * a + 3) * plane, TW);
      }
    }
}

// y (cnt, On, H, W) = A^T M A (+ bias) from M (16, On, ld): the adjoint layout of input_transform.
template <class T>
void output_transform(const T* M, int64_t ld, int64_t cnt, int64_t On, const T* bias, const Plan& p, T* y,
                      T* scratch) {
  const int64_t plane = kstride(On, ld), H = p.H, W = p.W, TW = p.TW, S = TW + 1;
  T* ev = scratch;  // ev[a*S + tw] = y[2th+a, 2tw], od[a*S + tw] = y[2th+a, 2tw+1]
  T* od = scratch + 2 * S;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t o = 0; o < On; ++o) {
      const T* m = M + o * ld + i * p.tiles;
      T* img = y + (i * On + o) * H * W;
      const T bo = bias ? bias[o] : T(0);
      for (int64_t th = 0; th < p.TH; ++th) {
        output_tiles(m + th * TW, plane, bo, ev, od, ev + S, od + S, TW);  // A^T M A
        for (int a = 0; a < 2 && 2 * th + a < H; ++a) {
          T* row = img + (2 * th + a) * W;
          interleave(ev + a * S, od + a * S, row, W);
        }
      }
    }
}

// dM (16, On, ld) = A dY A^T for every 2x2 block dY of gy (cnt, On, H, W), zero past the edge:
// the adjoint of output_transform, the gradient of the 16 products.
template <class T>
void output_gradient_transform(const T* gy, int64_t cnt, int64_t On, const Plan& p, T* dM, int64_t ld, T* scratch) {
  const int64_t plane = kstride(On, ld), H = p.H, W = p.W, TW = p.TW, S = TW + 1;
  T* E = scratch;  // E[a*S + tw] = gy[2th+a, 2tw], D[a*S + tw] = gy[2th+a, 2tw+1]
  T* D = scratch + 2 * S;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t o = 0; o < On; ++o) {
      const T* img = gy + (i * On + o) * H * W;
      T* m = dM + o * ld + i * p.tiles;
      for (int64_t th = 0; th < p.TH; ++th) {
        for (int a = 0; a < 2; ++a) {
          const int64_t r = 2 * th + a;
          load_even_odd(r < H ? img + r * W : nullptr, W, 0, TW, E + a * S, D + a * S);
        }
        gradient_tiles(E, E + S, D, D + S, m + th * TW, plane, TW);  // A dY A^T
      }
    }
}

// input_transform one 4x4 tile at a time, for narrow images (TW < kRowTiles) whose rows of
// tiles are too short for vectors. V (16, Cn, ld) = B^T d B for every tile of images [0, cnt)
// of x (cnt, Cn, H, W); the tile (th, tw) of image i is column i*tiles + th*TW + tw, its
// input rows 2th-1 .. 2th+2 (zero outside).
template <class T>
void input_transform_by_tile(const T* x, int64_t cnt, int64_t Cn, const Plan& p, T* V, int64_t ld) {
  const int64_t plane = kstride(Cn, ld), H = p.H, W = p.W;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t c = 0; c < Cn; ++c) {
      const T* img = x + (i * Cn + c) * H * W;
      T* v = V + c * ld + i * p.tiles;
      for (int64_t th = 0; th < p.TH; ++th) {
        const int64_t r0 = 2 * th - 1;
        const bool rows_inside = r0 >= 0 && r0 + 3 < H;
        for (int64_t tw = 0; tw < p.TW; ++tw) {
          const int64_t c0 = 2 * tw - 1;
          T d[4][4];
          if (rows_inside && c0 >= 0 && c0 + 3 < W) {
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b) d[a][b] = img[(r0 + a) * W + c0 + b];
          } else {
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b) {
                const int64_t r = r0 + a, q = c0 + b;
                d[a][b] = (r >= 0 && r < H && q >= 0 && q < W) ? img[r * W + q] : T(0);
              }
          }
          T t[4][4];  // B^T d
          for (int b = 0; b < 4; ++b) {
            t[0][b] = d[0][b] - d[2][b];
            t[1][b] = d[1][b] + d[2][b];
            t[2][b] = d[2][b] - d[1][b];
            t[3][b] = d[1][b] - d[3][b];
          }
          T* out = v + th * p.TW + tw;
          for (int a = 0; a < 4; ++a) {  // (B^T d) B
            out[(4 * a + 0) * plane] = t[a][0] - t[a][2];
            out[(4 * a + 1) * plane] = t[a][1] + t[a][2];
            out[(4 * a + 2) * plane] = t[a][2] - t[a][1];
            out[(4 * a + 3) * plane] = t[a][1] - t[a][3];
          }
        }
      }
    }
}

// output_transform one tile at a time (narrow images).
template <class T>
void output_transform_by_tile(const T* M, int64_t ld, int64_t cnt, int64_t On, const T* bias, const Plan& p, T* y) {
  const int64_t plane = kstride(On, ld), H = p.H, W = p.W;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t o = 0; o < On; ++o) {
      const T* m = M + o * ld + i * p.tiles;
      T* img = y + (i * On + o) * H * W;
      const T bo = bias ? bias[o] : T(0);
      for (int64_t th = 0; th < p.TH; ++th)
        for (int64_t tw = 0; tw < p.TW; ++tw) {
          const T* s = m + th * p.TW + tw;
          T t[2][4];  // A^T M
          for (int b = 0; b < 4; ++b) {
            const T m0 = s[b * plane], m1 = s[(4 + b) * plane], m2 = s[(8 + b) * plane], m3 = s[(12 + b) * plane];
            t[0][b] = m0 + m1 + m2;
            t[1][b] = m1 - m2 - m3;
          }
          const int64_t r = 2 * th, q = 2 * tw;
          const bool full = r + 1 < H && q + 1 < W;
          for (int a = 0; a < 2; ++a) {
            if (!full && r + a >= H) break;
            T* row = img + (r + a) * W + q;
            row[0] = t[a][0] + t[a][1] + t[a][2] + bo;
            if (full || q + 1 < W) row[1] = t[a][1] - t[a][2] - t[a][3] + bo;
          }
        }
    }
}

// output_gradient_transform one tile at a time (narrow images).
template <class T>
void output_gradient_transform_by_tile(const T* gy, int64_t cnt, int64_t On, const Plan& p, T* dM, int64_t ld) {
  const int64_t plane = kstride(On, ld), H = p.H, W = p.W;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t o = 0; o < On; ++o) {
      const T* img = gy + (i * On + o) * H * W;
      T* m = dM + o * ld + i * p.tiles;
      for (int64_t th = 0; th < p.TH; ++th)
        for (int64_t tw = 0; tw < p.TW; ++tw) {
          const int64_t r = 2 * th, q = 2 * tw;
          T e[2][2];
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) e[a][b] = (r + a < H && q + b < W) ? img[(r + a) * W + q + b] : T(0);
          T t[4][2];  // A dY
          for (int b = 0; b < 2; ++b) {
            t[0][b] = e[0][b];
            t[1][b] = e[0][b] + e[1][b];
            t[2][b] = e[0][b] - e[1][b];
            t[3][b] = -e[1][b];
          }
          T* out = m + th * p.TW + tw;
          for (int a = 0; a < 4; ++a) {  // (A dY) A^T
            out[(4 * a + 0) * plane] = t[a][0];
            out[(4 * a + 1) * plane] = t[a][0] + t[a][1];
            out[(4 * a + 2) * plane] = t[a][0] - t[a][1];
            out[(4 * a + 3) * plane] = -t[a][1];
          }
        }
    }
}

// U (16, O, C) = G g G^T for every kernel g = w[o, c] (3x3).
template <class T>
void weight_transform(const T* w, int64_t O, int64_t C, T* U) {
  const int64_t plane = O * C;
  for (int64_t oc = 0; oc < plane; ++oc) {
    const T* g = w + oc * 9;
    T t[4][3];  // G g
    for (int b = 0; b < 3; ++b) {
      t[0][b] = g[b];
      t[1][b] = T(0.5) * (g[b] + g[3 + b] + g[6 + b]);
      t[2][b] = T(0.5) * (g[b] - g[3 + b] + g[6 + b]);
      t[3][b] = g[6 + b];
    }
    for (int a = 0; a < 4; ++a) {  // (G g) G^T
      U[(4 * a + 0) * plane + oc] = t[a][0];
      U[(4 * a + 1) * plane + oc] = T(0.5) * (t[a][0] + t[a][1] + t[a][2]);
      U[(4 * a + 2) * plane + oc] = T(0.5) * (t[a][0] - t[a][1] + t[a][2]);
      U[(4 * a + 3) * plane + oc] = t[a][2];
    }
  }
}

// gw[o, c] = G^T dU G (3x3) from dU (16, O, C): the adjoint of weight_transform.
template <class T>
void weight_gradient_transform(const T* dU, int64_t O, int64_t C, T* gw) {
  const int64_t plane = O * C;
  for (int64_t oc = 0; oc < plane; ++oc) {
    T u[4][4];
    for (int k = 0; k < 16; ++k) u[k / 4][k % 4] = dU[k * plane + oc];
    T t[3][4];  // G^T dU
    for (int b = 0; b < 4; ++b) {
      const T s = T(0.5) * (u[1][b] + u[2][b]);
      t[0][b] = u[0][b] + s;
      t[1][b] = T(0.5) * (u[1][b] - u[2][b]);
      t[2][b] = s + u[3][b];
    }
    T* g = gw + oc * 9;
    for (int a = 0; a < 3; ++a) {  // (G^T dU) G
      const T s = T(0.5) * (t[a][1] + t[a][2]);
      g[3 * a + 0] = t[a][0] + s;
      g[3 * a + 1] = T(0.5) * (t[a][1] - t[a][2]);
      g[3 * a + 2] = s + t[a][3];
    }
  }
}

// The transforms by rows of tiles, or by tile for images narrower than kRowTiles tiles (8x8 maps:
// 4 tiles a row, where the vector loops ran 1.25x slower than the scalar tile-at-a-time code).
template <class T>
void to_winograd(const T* x, int64_t cnt, int64_t Cn, const Plan& p, T* V, int64_t ld, T* scratch) {
  if (p.TW < kRowTiles)
    input_transform_by_tile(x, cnt, Cn, p, V, ld);
  else
    input_transform(x, cnt, Cn, p, V, ld, scratch);
}
template <class T>
void from_winograd(const T* M, int64_t ld, int64_t cnt, int64_t On, const T* bias, const Plan& p, T* y, T* scratch) {
  if (p.TW < kRowTiles)
    output_transform_by_tile(M, ld, cnt, On, bias, p, y);
  else
    output_transform(M, ld, cnt, On, bias, p, y, scratch);
}
template <class T>
void gradient_to_winograd(const T* gy, int64_t cnt, int64_t On, const Plan& p, T* dM, int64_t ld, T* scratch) {
  if (p.TW < kRowTiles)
    output_gradient_transform_by_tile(gy, cnt, On, p, dM, ld);
  else
    output_gradient_transform(gy, cnt, On, p, dM, ld, scratch);
}

// Flipping a 3x3 kernel in both axes permutes the rows and columns of G g G^T: 0 <-> 3.
constexpr int kFlip[16] = {15, 13, 14, 12, 7, 5, 6, 4, 11, 9, 10, 8, 3, 1, 2, 0};

}  // namespace

bool winograd_conv_applies(const Window2d& g, int64_t O) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.ph == 1 && g.pw == 1 && g.C >= kMinChannels &&
         O >= kMinChannels;
}

template <class T>
void winograd_conv_forward(const T* x, const T* w, const T* b, T* y, int64_t N, int64_t O, const Window2d& g) {
  prof::KernelTimer timer("conv2d_winograd");  // nested in conv2d's timer, which holds the FLOPs
  const Plan p(g, N, O);
  const int64_t ld_max = p.per * p.tiles;
  std::unique_ptr<T[]> U = buffer<T>(16 * O * p.C);
  weight_transform(w, O, p.C, U.get());
  std::vector<std::unique_ptr<T[]>> V(p.slots), M(p.slots), SC(p.slots);
  for (int64_t s = 0; s < p.slots; ++s)
    V[s] = buffer<T>(16 * kstride(p.C, ld_max)), M[s] = buffer<T>(16 * kstride(O, ld_max)),
    SC[s] = buffer<T>(scratch_size(p));
  const double flops = 32.0 * static_cast<double>(O * p.C) * static_cast<double>(N * p.tiles);
  parallel_for(p.slots, flops, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      for (int64_t ch = p.first_chunk(s); ch < p.first_chunk(s + 1); ++ch) {
        const int64_t n0 = ch * p.per, cnt = std::min(p.per, N - n0), ld = cnt * p.tiles;
        T *v = V[s].get(), *m = M[s].get();
        to_winograd(x + n0 * p.C * p.H * p.W, cnt, p.C, p, v, ld, SC[s].get());
        for (int k = 0; k < 16; ++k)
          gemm(false, false, O, ld, p.C, T(1), U.get() + k * O * p.C, p.C, v + k * kstride(p.C, ld), ld, T(0),
               m + k * kstride(O, ld), ld);
        from_winograd(m, ld, cnt, O, b, p, y + n0 * O * p.H * p.W, SC[s].get());
      }
  });
}

template <class T>
void winograd_conv_backward(const T* gy, const T* x, const T* w, T* gx, T* gw, T* gb, int64_t N, int64_t O,
                            const Window2d& g) {
  prof::KernelTimer timer("conv2d_winograd_backward");
  const Plan p(g, N, O);
  const int64_t ld_max = p.per * p.tiles, C = p.C, HW = p.H * p.W;
  std::unique_ptr<T[]> U;
  if (gx) {
    U = buffer<T>(16 * O * C);
    weight_transform(w, O, C, U.get());
  }
  // Per slot: the input's transform (then reused for the input gradient's products), the
  // gradient's transform for the input gradient, dM for the weight gradient, dU accumulators.
  std::vector<std::unique_ptr<T[]>> VC(p.slots), VG(p.slots), DM(p.slots), DU(p.slots), SC(p.slots);
  for (int64_t s = 0; s < p.slots; ++s) {
    VC[s] = buffer<T>(16 * kstride(C, ld_max)), SC[s] = buffer<T>(scratch_size(p));
    if (gx) VG[s] = buffer<T>(16 * kstride(O, ld_max));
    if (gw) DM[s] = buffer<T>(16 * kstride(O, ld_max)), DU[s] = buffer<T>(16 * O * C);
  }
  const double flops =
      32.0 * static_cast<double>(O * C) * static_cast<double>(N * p.tiles) * ((gx != nullptr) + (gw != nullptr));
  parallel_for(p.slots, flops, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      bool first = true;
      for (int64_t ch = p.first_chunk(s); ch < p.first_chunk(s + 1); ++ch) {
        const int64_t n0 = ch * p.per, cnt = std::min(p.per, N - n0), ld = cnt * p.tiles;
        const T* gyc = gy + n0 * O * HW;
        T* vc = VC[s].get();
        if (gw) {
          T *dm = DM[s].get(), *du = DU[s].get();
          to_winograd(x + n0 * C * HW, cnt, C, p, vc, ld, SC[s].get());
          gradient_to_winograd(gyc, cnt, O, p, dm, ld, SC[s].get());
          for (int k = 0; k < 16; ++k)
            gemm(false, true, O, C, ld, T(1), dm + k * kstride(O, ld), ld, vc + k * kstride(C, ld), ld, first ? T(0) : T(1),
                 du + k * O * C, C);
        }
        if (gx) {
          T* vg = VG[s].get();
          to_winograd(gyc, cnt, O, p, vg, ld, SC[s].get());
          for (int k = 0; k < 16; ++k)  // U'[k] (C, O) = U[flip(k)]^T
            gemm(true, false, C, ld, O, T(1), U.get() + kFlip[k] * O * C, C, vg + k * kstride(O, ld), ld, T(0),
                 vc + k * kstride(C, ld), ld);
          from_winograd(vc, ld, cnt, C, static_cast<const T*>(nullptr), p, gx + n0 * C * HW, SC[s].get());
        }
        first = false;
      }
    }
  });
  if (gw) {  // every slot has at least one chunk, so every accumulator is written
    T* du = DU[0].get();
    for (int64_t s = 1; s < p.slots; ++s)
      for (int64_t i = 0; i < 16 * O * C; ++i) du[i] += DU[s][i];
    weight_gradient_transform(du, O, C, gw);
  }
  if (gb) {
    std::fill(gb, gb + O, T(0));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        const T* r = gy + (n * O + o) * HW;
        T acc = 0;
        for (int64_t l = 0; l < HW; ++l) acc += r[l];
        gb[o] += acc;
      }
  }
}

template void winograd_conv_forward<float>(const float*, const float*, const float*, float*, int64_t, int64_t,
                                           const Window2d&);
template void winograd_conv_forward<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                            const Window2d&);
template void winograd_conv_backward<float>(const float*, const float*, const float*, float*, float*, float*,
                                            int64_t, int64_t, const Window2d&);
template void winograd_conv_backward<double>(const double*, const double*, const double*, double*, double*, double*,
                                             int64_t, int64_t, const Window2d&);

}  // namespace tt::ops
