// int8 GEMM and the fused quantized linear layer (see qgemm.h).
//
// The kernel is the classic register-blocked GEMM: B is packed once into
// panels of 16 columns with k grouped by 4 (64 bytes per group, one zmm); a
// tile of rows x panels of C stays in registers over the whole K, then goes
// to an epilogue (store int32, or convert to float with scales and bias).
// Tiles are split over the thread pool by row blocks, or by column blocks
// when there are few rows (a batch of one sample is a single row).
//
// Three kernels, all exact:
// - AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes, 4 per lane,
//   into int32. A is signed, so we feed a + 128 (a xor 0x80) and start each
//   accumulator at -128 * (column sum of B): sum (a + 128) b - 128 sum b =
//   sum a b, every step modulo 2^32, so even overflow wraps like numpy.
// - AVX2: vpmaddwd on int8 sign-extended to int16 (products and pair sums fit
//   int32 exactly); the two partial sums per column are added at the end.
//   (vpmaddubsw would do twice the work but saturates at int16: not exact.)
// - scalar: the reference, uint32 arithmetic so wrap-around is defined.
#include "ops/qgemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "ops/ops.h"
#include "ops/parallel.h"

#if defined(__AVX512VNNI__) && defined(__AVX512F__)
#define TT_QGEMM_VNNI 1
#endif
#if defined(__AVX2__)
#define TT_QGEMM_AVX2 1
#endif

namespace tt::ops {
namespace {

constexpr int kTileCols = 64;     // widest tile the dispatch allows: 4 panels
constexpr int kMaxTileRows = 8;
constexpr int64_t kGroupBytes = kQPanel * kQGroup;  // 64

// A's 4 bytes of group g of one row, zero past k (the packed B is zero there too).
inline uint32_t a_group_tail(const int8_t* row, int64_t g, int64_t k) {
  unsigned char bytes[4] = {0, 0, 0, 0};
  for (int64_t t = 0; t < 4 && g * 4 + t < k; ++t) bytes[t] = static_cast<unsigned char>(row[g * 4 + t]);
  uint32_t v;
  std::memcpy(&v, bytes, 4);
  return v;
}
inline uint32_t a_group(const int8_t* row, int64_t g) {
  uint32_t v;
  std::memcpy(&v, row + g * 4, 4);
  return v;
}

// ---- scalar reference kernel ----
void tile_scalar(const int8_t* a, int64_t lda, int rows, int64_t k, const PackedInt8Matrix& b, int64_t panel0,
                 int panels, int32_t* out) {
  for (int r = 0; r < rows; ++r) {
    const int8_t* arow = a + r * lda;
    for (int p = 0; p < panels; ++p) {
      const int8_t* bp = b.data.data() + (panel0 + p) * b.panel_stride();
      uint32_t acc[kQPanel] = {};
      for (int64_t g = 0; g < b.k_groups; ++g)
        for (int64_t t = 0; t < kQGroup && g * kQGroup + t < k; ++t) {
          const int32_t av = arow[g * kQGroup + t];
          for (int j = 0; j < kQPanel; ++j)
            acc[j] += static_cast<uint32_t>(av * static_cast<int32_t>(bp[g * kGroupBytes + j * kQGroup + t]));
        }
      for (int j = 0; j < kQPanel; ++j) out[r * kTileCols + p * kQPanel + j] = static_cast<int32_t>(acc[j]);
    }
  }
}

#ifdef TT_QGEMM_VNNI
// ---- AVX-512 VNNI: ROWS x (16 * PANELS) tile. `a` here is A + 128 as unsigned
// bytes, zero-padded to whole groups (flip_and_pad_rows), so the inner loop is
// one broadcast load per row and one vpdpbusd per row and panel. ----
template <int ROWS, int PANELS>
void tile_vnni(const int8_t* a, int64_t lda, int64_t k, const PackedInt8Matrix& b, int64_t panel0, int32_t* out) {
  (void)k;
  __m512i acc[ROWS][PANELS];
  const int8_t* bp[PANELS];
  for (int p = 0; p < PANELS; ++p) {
    bp[p] = b.data.data() + (panel0 + p) * b.panel_stride();
    const __m512i sums = _mm512_loadu_si512(b.col_sums.data() + (panel0 + p) * kQPanel);
    const __m512i init = _mm512_mullo_epi32(sums, _mm512_set1_epi32(-128));
    for (int r = 0; r < ROWS; ++r) acc[r][p] = init;
  }
  for (int64_t g = 0; g < b.k_groups; ++g) {
    __m512i bv[PANELS];
    for (int p = 0; p < PANELS; ++p) bv[p] = _mm512_loadu_si512(bp[p] + g * kGroupBytes);
    for (int r = 0; r < ROWS; ++r) {
      int32_t bytes;
      std::memcpy(&bytes, a + r * lda + g * kQGroup, 4);
      const __m512i av = _mm512_set1_epi32(bytes);
      for (int p = 0; p < PANELS; ++p) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], av, bv[p]);
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int p = 0; p < PANELS; ++p) _mm512_storeu_si512(out + r * kTileCols + p * kQPanel, acc[r][p]);
}

template <int PANELS>
void tile_vnni_rows(const int8_t* a, int64_t lda, int rows, int64_t k, const PackedInt8Matrix& b, int64_t panel0,
                    int32_t* out) {
  switch (rows) {
    case 1: return tile_vnni<1, PANELS>(a, lda, k, b, panel0, out);
    case 2: return tile_vnni<2, PANELS>(a, lda, k, b, panel0, out);
    case 3: return tile_vnni<3, PANELS>(a, lda, k, b, panel0, out);
    case 4: return tile_vnni<4, PANELS>(a, lda, k, b, panel0, out);
    case 5: return tile_vnni<5, PANELS>(a, lda, k, b, panel0, out);
    case 6: return tile_vnni<6, PANELS>(a, lda, k, b, panel0, out);
    case 7: return tile_vnni<7, PANELS>(a, lda, k, b, panel0, out);
    default: return tile_vnni<8, PANELS>(a, lda, k, b, panel0, out);
  }
}
#endif

#ifdef TT_QGEMM_AVX2
// ---- AVX2: ROWS x 16 tile. A 16-byte quarter of a group holds 4 columns x 4 k;
// sign-extended to 16 int16 and multiplied pairwise (vpmaddwd) against the row's
// 4 values repeated, it gives 2 partial sums per column, added at the end. ----
template <int ROWS>
void tile_avx2(const int8_t* a, int64_t lda, int64_t k, const PackedInt8Matrix& b, int64_t panel0, int32_t* out) {
  __m256i acc[ROWS][4];
  for (int r = 0; r < ROWS; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm256_setzero_si256();
  const int8_t* bp = b.data.data() + panel0 * b.panel_stride();
  const int64_t full = k / kQGroup;
  for (int64_t g = 0; g < b.k_groups; ++g) {
    __m256i av[ROWS];
    for (int r = 0; r < ROWS; ++r) {
      const uint32_t bytes = g < full ? a_group(a + r * lda, g) : a_group_tail(a + r * lda, g, k);
      const __m128i a16 = _mm_cvtepi8_epi16(_mm_cvtsi32_si128(static_cast<int32_t>(bytes)));
      av[r] = _mm256_broadcastq_epi64(a16);
    }
    for (int c = 0; c < 4; ++c) {
      const __m256i w = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(bp + g * kGroupBytes + 16 * c)));
      for (int r = 0; r < ROWS; ++r) acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(w, av[r]));
    }
  }
  for (int r = 0; r < ROWS; ++r) {
    // hadd pairs the two partials of each column; the permute puts columns back in order.
    const __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][0], acc[r][1]), 0xD8);
    const __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][2], acc[r][3]), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * kTileCols), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * kTileCols + 8), hi);
  }
}
#endif

QGemmPath resolve(QGemmPath path) {
  if (path != QGemmPath::Auto) return path;
#ifdef TT_QGEMM_VNNI
  return QGemmPath::Vnni512;
#elif defined(TT_QGEMM_AVX2)
  return QGemmPath::Avx2;
#else
  return QGemmPath::Scalar;
#endif
}

struct TileShape {
  int rows, panels;
};
TileShape tile_shape(QGemmPath path) {
  switch (path) {
    // 16 zmm accumulators; 6 x 4 and 8 x 3 tiles spilled registers (GCC 12) and measured slower
    case QGemmPath::Vnni512: return {8, 2};
    case QGemmPath::Avx2: return {2, 1};     // 8 ymm accumulators of the 16
    default: return {4, 2};
  }
}

// One tile of rows x panels into out (row stride kTileCols).
void run_tile(QGemmPath path, const int8_t* a, int64_t lda, int rows, int64_t k, const PackedInt8Matrix& b,
              int64_t panel0, int panels, int32_t* out) {
  switch (path) {
#ifdef TT_QGEMM_VNNI
    case QGemmPath::Vnni512:
      switch (panels) {
        case 4: return tile_vnni_rows<4>(a, lda, rows, k, b, panel0, out);
        case 3: return tile_vnni_rows<3>(a, lda, rows, k, b, panel0, out);
        case 2: return tile_vnni_rows<2>(a, lda, rows, k, b, panel0, out);
        default: return tile_vnni_rows<1>(a, lda, rows, k, b, panel0, out);
      }
#endif
#ifdef TT_QGEMM_AVX2
    case QGemmPath::Avx2:
      if (rows == 2) return tile_avx2<2>(a, lda, k, b, panel0, out);
      return tile_avx2<1>(a, lda, k, b, panel0, out);
#endif
    default: return tile_scalar(a, lda, rows, k, b, panel0, panels, out);
  }
}

// Runs every tile of A @ B and hands each to epilogue(row0, rows, col0, cols, tile).
template <class Epilogue>
void run_gemm(const int8_t* a, int64_t m, int64_t lda, const PackedInt8Matrix& b, QGemmPath path,
              const Epilogue& epilogue) {
  if (m == 0 || b.n == 0) return;
  path = resolve(path);
  const TileShape ts = tile_shape(path);
  std::vector<int8_t> flipped;
  if (path == QGemmPath::Vnni512) {  // A + 128 as unsigned bytes, rows padded to whole groups of 4
    const int64_t padded = b.k_groups * kQGroup;
    flipped.assign(static_cast<size_t>(m * padded), 0);
    parallel_for(m, static_cast<double>(m) * static_cast<double>(padded), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < b.k; ++c)
          flipped[static_cast<size_t>(r * padded + c)] =
              static_cast<int8_t>(static_cast<uint8_t>(a[r * lda + c]) ^ 0x80u);
    });
    a = flipped.data();
    lda = padded;
  }
  const int64_t row_blocks = (m + ts.rows - 1) / ts.rows;
  const int64_t col_blocks = (b.panels + ts.panels - 1) / ts.panels;
  // Rows are taken in chunks of about 192 KiB of A, which stay in L2 while every column block
  // passes over them, instead of all of A streaming from memory once per column block (on this
  // shared machine the gain was within the noise of the measurement; the reasoning stands).
  const int64_t chunk = std::max<int64_t>(1, (192 << 10) / (ts.rows * std::max<int64_t>(lda, 1)));
  auto work = [&](int64_t rb0, int64_t rb1, int64_t cb0, int64_t cb1) {
    alignas(64) int32_t tile[kMaxTileRows * kTileCols];
    for (int64_t rc = rb0; rc < rb1; rc += chunk) {
      const int64_t rc_end = std::min(rb1, rc + chunk);
      for (int64_t cb = cb0; cb < cb1; ++cb) {  // B's panels stay in L1 across the chunk's row blocks
        const int64_t panel0 = cb * ts.panels;
        const int panels = static_cast<int>(std::min<int64_t>(ts.panels, b.panels - panel0));
        const int64_t col0 = panel0 * kQPanel;
        const int cols = static_cast<int>(std::min<int64_t>(panels * kQPanel, b.n - col0));
        for (int64_t rb = rc; rb < rc_end; ++rb) {
          const int64_t row0 = rb * ts.rows;
          const int rows = static_cast<int>(std::min<int64_t>(ts.rows, m - row0));
          run_tile(path, a + row0 * lda, lda, rows, b.k, b, panel0, panels, tile);
          epilogue(row0, rows, col0, cols, static_cast<const int32_t*>(tile));
        }
      }
    }
  };
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(b.n) * static_cast<double>(b.k);
  if (row_blocks >= 2 * static_cast<int64_t>(num_threads()) || row_blocks >= col_blocks)
    parallel_for(row_blocks, flops, [&](int64_t lo, int64_t hi) { work(lo, hi, 0, col_blocks); });
  else
    parallel_for(col_blocks, flops, [&](int64_t lo, int64_t hi) { work(0, row_blocks, lo, hi); });
}

// NaN -> -128 as well (comparisons with NaN are false); callers reject NaN input anyway.
inline int8_t saturate_int8(float v) {
  v = v > 127.0f ? 127.0f : v;
  v = v >= -128.0f ? v : -128.0f;
  return static_cast<int8_t>(v);
}

// One row's range (0 always included) and whether it is all finite. The AVX-512 loop gives the same
// min and max as the scalar one (zero-filled tail lanes cannot move a range that contains 0).
void row_range(const float* row, int64_t cols, float& lo, float& hi, bool& finite) {
  float mn = 0.0f, mx = 0.0f, bad = 0.0f;
  int64_t c = 0;
#ifdef __AVX512F__
  __m512 vmn = _mm512_setzero_ps(), vmx = _mm512_setzero_ps(), vbad = _mm512_setzero_ps();
  for (; c < cols; c += 16) {
    const __mmask16 mask = cols - c >= 16 ? static_cast<__mmask16>(0xFFFF)
                                          : static_cast<__mmask16>((1u << (cols - c)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(mask, row + c);
    vmn = _mm512_min_ps(vmn, v);
    vmx = _mm512_max_ps(vmx, v);
    vbad = _mm512_add_ps(vbad, _mm512_sub_ps(v, v));  // 0 for finite values, NaN for NaN or Inf
  }
  mn = _mm512_reduce_min_ps(vmn);
  mx = _mm512_reduce_max_ps(vmx);
  bad = _mm512_reduce_add_ps(vbad);
#endif
  for (; c < cols; ++c) {
    mn = std::min(mn, row[c]);
    mx = std::max(mx, row[c]);
    bad += row[c] - row[c];
  }
  lo = mn;
  hi = mx;
  finite = bad == 0.0f;
}

// q = saturate(round_half_even(x / s) + z) for one row; returns the sum of the codes. The AVX-512
// loop does the same IEEE float32 operations as the scalar one, so the codes are identical.
int32_t quantize_row(const float* row, int64_t cols, float s, float z, int8_t* q) {
  int64_t c = 0;
  int32_t sum = 0;
#ifdef __AVX512F__
  const __m512 vs = _mm512_set1_ps(s), vz = _mm512_set1_ps(z);
  const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
  __m512i vsum = _mm512_setzero_si512();
  for (; c + 16 <= cols; c += 16) {
    __m512 v = _mm512_div_ps(_mm512_loadu_ps(row + c), vs);
    v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
    const __m512i codes = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c), _mm512_cvtepi32_epi8(codes));
    vsum = _mm512_add_epi32(vsum, codes);
  }
  sum = _mm512_reduce_add_epi32(vsum);
#endif
  for (; c < cols; ++c) {
    q[c] = saturate_int8(std::nearbyint(row[c] / s) + z);
    sum += q[c];
  }
  return sum;
}

}  // namespace

PackedInt8Matrix pack_int8_matrix(const int8_t* b, int64_t k, int64_t n, int64_t ldb) {
  PackedInt8Matrix p;
  p.k = k;
  p.n = n;
  p.k_groups = (k + kQGroup - 1) / kQGroup;
  p.panels = (n + kQPanel - 1) / kQPanel;
  p.data.assign(static_cast<size_t>(p.panels * p.panel_stride()), 0);
  p.col_sums.assign(static_cast<size_t>(p.panels * kQPanel), 0);
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t nn = 0; nn < n; ++nn) {
      const int8_t v = b[kk * ldb + nn];
      const int64_t panel = nn / kQPanel, j = nn % kQPanel, g = kk / kQGroup, t = kk % kQGroup;
      p.data[static_cast<size_t>(panel * p.panel_stride() + g * kGroupBytes + j * kQGroup + t)] = v;
      p.col_sums[static_cast<size_t>(nn)] += v;
    }
  return p;
}

std::vector<int8_t> unpack_int8_matrix(const PackedInt8Matrix& p) {
  std::vector<int8_t> b(static_cast<size_t>(p.k * p.n));
  for (int64_t kk = 0; kk < p.k; ++kk)
    for (int64_t nn = 0; nn < p.n; ++nn)
      b[static_cast<size_t>(kk * p.n + nn)] =
          p.data[static_cast<size_t>((nn / kQPanel) * p.panel_stride() + (kk / kQGroup) * kGroupBytes +
                                     (nn % kQPanel) * kQGroup + kk % kQGroup)];
  return b;
}

std::vector<std::string> qgemm_paths() {
  std::vector<std::string> paths;
#ifdef TT_QGEMM_VNNI
  paths.push_back("avx512_vnni");
#endif
#ifdef TT_QGEMM_AVX2
  paths.push_back("avx2");
#endif
  paths.push_back("scalar");
  return paths;
}

QGemmPath qgemm_path_from_name(const std::string& name, const char* op) {
  const auto have = qgemm_paths();
  if (name == "auto") return QGemmPath::Auto;
  if (std::find(have.begin(), have.end(), name) != have.end()) {
    if (name == "avx512_vnni") return QGemmPath::Vnni512;
    if (name == "avx2") return QGemmPath::Avx2;
    return QGemmPath::Scalar;
  }
  std::string choices = "auto";
  for (const auto& h : have) choices += ", " + h;
  fail<ValueError>(op, ": unknown or not compiled kernel path '", name, "'; this build has: ", choices);
}

void int8_gemm(const int8_t* a, int64_t m, int64_t lda, const PackedInt8Matrix& b, int32_t* c, int64_t ldc,
               QGemmPath path) {
  run_gemm(a, m, lda, b, path, [&](int64_t row0, int rows, int64_t col0, int cols, const int32_t* tile) {
    for (int r = 0; r < rows; ++r)
      std::memcpy(c + (row0 + r) * ldc + col0, tile + r * kTileCols, static_cast<size_t>(cols) * sizeof(int32_t));
  });
}

bool quantize_rows_int8(const float* x, int64_t rows, int64_t cols, bool per_row, std::optional<float> static_scale,
                        std::optional<int32_t> static_zero_point, QuantizedRows& out) {
  out.q.resize(static_cast<size_t>(rows * cols));
  out.scale.assign(static_cast<size_t>(rows), 1.0f);
  out.zero_point.assign(static_cast<size_t>(rows), 0);
  out.row_sums.assign(static_cast<size_t>(rows), 0);
  std::vector<float> lo(static_cast<size_t>(rows), 0.0f), hi(static_cast<size_t>(rows), 0.0f);
  std::atomic<bool> finite{true};
  const double pass_flops = 2.0 * static_cast<double>(rows) * static_cast<double>(cols);
  // Pass 1: each row's range (always including 0, so 0 is exactly representable) and finiteness.
  parallel_for(rows, pass_flops, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      bool ok;
      row_range(x + r * cols, cols, lo[r], hi[r], ok);
      if (!ok) finite.store(false, std::memory_order_relaxed);
    }
  });
  if (!finite.load()) return false;
  auto params = [](float mn, float mx, float& scale, int32_t& zero) {
    scale = (mx - mn) / 255.0f;
    if (!(scale > 0.0f) || !std::isfinite(scale)) {
      scale = 1.0f;
      zero = 0;
      return;
    }
    const float z = std::nearbyint(-128.0f - mn / scale);
    zero = static_cast<int32_t>(std::min(127.0f, std::max(-128.0f, z)));
  };
  if (static_scale) {
    std::fill(out.scale.begin(), out.scale.end(), *static_scale);
    std::fill(out.zero_point.begin(), out.zero_point.end(), static_zero_point.value_or(0));
  } else if (per_row) {
    for (int64_t r = 0; r < rows; ++r) params(lo[r], hi[r], out.scale[r], out.zero_point[r]);
  } else {
    float mn = 0.0f, mx = 0.0f, s;
    int32_t z;
    for (int64_t r = 0; r < rows; ++r) mn = std::min(mn, lo[r]), mx = std::max(mx, hi[r]);
    params(mn, mx, s, z);
    std::fill(out.scale.begin(), out.scale.end(), s);
    std::fill(out.zero_point.begin(), out.zero_point.end(), z);
  }
  // Pass 2: the codes and their row sums.
  parallel_for(rows, pass_flops, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      out.row_sums[r] = quantize_row(x + r * cols, cols, out.scale[r], static_cast<float>(out.zero_point[r]),
                                     out.q.data() + r * cols);
  });
  return true;
}

Tensor quantized_linear(const Tensor& x, const PackedInt8Matrix& w, const std::vector<float>& w_scale,
                        const std::vector<int32_t>& w_zero_point, const Tensor& bias, bool per_row_input,
                        std::optional<float> input_scale, std::optional<int32_t> input_zero_point) {
  const char* op = "quantized_linear";
  if (!x.defined()) fail<TypeError>(op, ": x is None; pass a float32 Tensor of shape (..., in_features)");
  if (!is_floating(x.dtype()))
    fail<TypeError>(op, ": x must be a float32 tensor, got ", dtype_name(x.dtype()),
                    "; convert it with x.astype(np.float32) (integer inputs are quantized from floats)");
  if (x.dim() < 1) fail<ValueError>(op, ": x must have shape (..., in_features), got a 0-d tensor");
  const int64_t k = x.shape().back(), n = w.n;
  if (k != w.k)
    fail<ValueError>(op, ": x has ", k, " features in its last dimension but the weight has in_features = ", w.k,
                     "; pass x of shape (..., ", w.k, ")");
  if (k > kQLinearMaxK)
    fail<ValueError>(op, ": in_features = ", k, " is above ", kQLinearMaxK,
                     ", where int32 accumulation could overflow; split the layer");
  auto check_size = [&](size_t size, const char* what) {
    if (size != 1 && static_cast<int64_t>(size) != n)
      fail<ValueError>(op, ": ", what, " must have 1 value (per tensor) or out_features = ", n,
                       " values (per channel), got ", size);
  };
  check_size(w_scale.size(), "weight_scale");
  check_size(w_zero_point.size(), "weight_zero_point");
  for (float s : w_scale)
    if (!(s > 0.0f) || !std::isfinite(s)) fail<ValueError>(op, ": every weight scale must be finite and > 0, got ", s);
  for (int32_t z : w_zero_point)
    if (z < -128 || z > 127) fail<ValueError>(op, ": weight zero points must be in [-128, 127], got ", z);
  if (input_scale.has_value() != input_zero_point.has_value())
    fail<ValueError>(op, ": give both input_scale and input_zero_point (static quantization) or neither (dynamic)");
  if (input_scale && (!(*input_scale > 0.0f) || !std::isfinite(*input_scale)))
    fail<ValueError>(op, ": input_scale must be finite and > 0, got ", *input_scale);
  if (input_zero_point && (*input_zero_point < -128 || *input_zero_point > 127))
    fail<ValueError>(op, ": input_zero_point must be in [-128, 127], got ", *input_zero_point);
  Tensor b;
  if (bias.defined()) {
    if (!is_floating(bias.dtype()))
      fail<TypeError>(op, ": bias must be a float tensor, got ", dtype_name(bias.dtype()));
    if (bias.dim() != 1 || bias.shape()[0] != n)
      fail<ValueError>(op, ": bias must have shape (", n, ",), got ", bias.dim(), "-d with ", bias.numel(),
                       " elements");
    b = contiguous(astype(bias, DType::Float32));
  }
  const Tensor xc = contiguous(astype(x, DType::Float32));
  const int64_t m = k == 0 ? numel(Shape(x.shape().begin(), x.shape().end() - 1)) : xc.numel() / k;

  QuantizedRows qx;
  if (!quantize_rows_int8(xc.data<float>(), m, k, per_row_input, input_scale, input_zero_point, qx))
    fail<ValueError>(op, ": x contains NaN or Inf, which have no int8 code; check the layer's input");

  Shape out_shape = x.shape();
  out_shape.back() = n;
  Tensor y = Tensor::empty(out_shape, DType::Float32);
  float* yp = y.data<float>();
  const float* bp = b.defined() ? b.data<float>() : nullptr;
  const bool per_channel_scale = w_scale.size() > 1, per_channel_zero = w_zero_point.size() > 1;
  const uint32_t ku = static_cast<uint32_t>(k);
  // Epilogue: sum (qx - zx)(qw - zw) = acc - zx colsum_w - zw rowsum_x + K zx zw, modulo 2^32
  // (exact: kQLinearMaxK keeps the true value inside int32), then scale and bias.
  run_gemm(qx.q.data(), m, k, w, QGemmPath::Auto,
           [&](int64_t row0, int rows, int64_t col0, int cols, const int32_t* tile) {
             for (int r = 0; r < rows; ++r) {
               const int64_t i = row0 + r;
               const uint32_t zx = static_cast<uint32_t>(qx.zero_point[i]);
               const uint32_t rs = static_cast<uint32_t>(qx.row_sums[i]);
               const float sx = qx.scale[i];
               float* yrow = yp + i * n;
               for (int c = 0; c < cols; ++c) {
                 const int64_t j = col0 + c;
                 const uint32_t zw = static_cast<uint32_t>(w_zero_point[per_channel_zero ? j : 0]);
                 const uint32_t v = static_cast<uint32_t>(tile[r * kTileCols + c]) -
                                    zx * static_cast<uint32_t>(w.col_sums[j]) - zw * rs + ku * zx * zw;
                 const float acc = static_cast<float>(static_cast<int32_t>(v));
                 yrow[j] = acc * (sx * w_scale[per_channel_scale ? j : 0]) + (bp ? bp[j] : 0.0f);
               }
             }
           });
  return y;
}

}  // namespace tt::ops
