// Tensors made from nothing: constants, ranges, identity matrices and random
// numbers.
//
// Random numbers come from one global std::mt19937_64, seeded from
// std::random_device at startup and reseeded by manual_seed, so a seeded
// program draws the same numbers on every run and platform. The conversions
// from raw 64-bit draws to uniform / normal / integer values are written out
// here rather than left to std::*_distribution, whose algorithms differ
// between standard libraries (and whose uniform_real_distribution<float> can
// return 1.0).
#include <cmath>
#include <limits>
#include <mutex>
#include <random>

#include "core/profiler.h"
#include "ops/ops.h"
#include "ops/random.h"

namespace tt::ops {
namespace {

// A factory's value in the tensor's dtype; NaN or out-of-range values for an
// integer tensor raise (core/dtype.h: int64_from_double) instead of the
// undefined behaviour of a plain cast.
template <class T>
T cast_value(double v, const char* op) {
  if constexpr (std::is_same_v<T, uint8_t>)
    return v != 0.0;
  else if constexpr (std::is_same_v<T, int64_t>)
    return int64_from_double(v, op);
  else
    return static_cast<T>(v);
}

struct GlobalRng {
  std::mutex mutex;  // the glue may run kernels without the GIL
  std::mt19937_64 engine{std::random_device{}()};
};

GlobalRng& rng() {
  static GlobalRng g;
  return g;
}

// U[0, 1) from the top 53 bits (every double in [0, 1) on a 2^-53 grid).
double uniform01(std::mt19937_64& e) { return static_cast<double>(e() >> 11) * 0x1.0p-53; }

// Fills n values, drawing under the lock so concurrent callers never share a state.
template <class T, class Draw>
void fill_random(T* dst, int64_t n, Draw&& draw) {
  std::lock_guard<std::mutex> lock(rng().mutex);
  std::mt19937_64& e = rng().engine;
  for (int64_t i = 0; i < n; ++i) dst[i] = draw(e);
}

}  // namespace

Tensor full(const Shape& shape, double value, DType dtype) {
  check_shape(shape, "full");
  Tensor out = Tensor::empty(shape, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    const T v = cast_value<T>(value, "full");
    for (int64_t i = 0, n = out.numel(); i < n; ++i) p[i] = v;
  });
  return out;
}

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0.0) fail<ValueError>("arange: step must be nonzero");
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
    fail<ValueError>("arange: start, stop and step must be finite, got start=", start, ", stop=", stop,
                     ", step=", step);
  const double count = std::ceil((stop - start) / step);
  if (count > 1e15)
    fail<ValueError>("arange: [", start, ", ", stop, ") with step ", step, " has too many elements (",
                     count, ")");
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor out = Tensor::empty({n}, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = cast_value<T>(start + static_cast<double>(i) * step, "arange");
  });
  return out;
}

Tensor linspace(double start, double stop, int64_t num, DType dtype) {
  if (num < 0) fail<ValueError>("linspace: num must be >= 0, got ", num);
  check_shape({num}, "linspace");
  Tensor out = Tensor::empty({num}, dtype);
  // numpy's formula (start + i * step, last point exactly stop), so results match it bit for bit.
  const double step = num > 1 ? (stop - start) / static_cast<double>(num - 1) : 0.0;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    for (int64_t i = 0; i < num; ++i) p[i] = cast_value<T>(start + static_cast<double>(i) * step, "linspace");
    if (num > 1) p[num - 1] = cast_value<T>(stop, "linspace");
  });
  return out;
}

Tensor eye(int64_t n, std::optional<int64_t> m_opt, DType dtype) {
  const int64_t m = m_opt.value_or(n);
  if (n < 0 || m < 0) fail<ValueError>("eye: sizes must be >= 0, got n=", n, ", m=", m);
  Tensor out = full({n, m}, 0.0, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = cast_value<T>(1.0, "eye");
  });
  return out;
}

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(rng().mutex);
  rng().engine.seed(seed);
}

Tensor rand(const Shape& shape, DType dtype) {
  prof::KernelTimer timer("rand");  // forward kernel time when profiling; a flag test when off
  check_shape(shape, "rand");
  Tensor out = Tensor::empty(shape, dtype);
  dispatch_float(dtype, "rand", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)  // 24 bits: every float on the 2^-24 grid, never 1.0
      fill_random(out.data<float>(), out.numel(),
                  [](std::mt19937_64& e) { return static_cast<float>(e() >> 40) * 0x1.0p-24f; });
    else
      fill_random(out.data<double>(), out.numel(), uniform01);
  });
  return out;
}

Tensor randn(const Shape& shape, DType dtype) {
  prof::KernelTimer timer("randn");
  check_shape(shape, "randn");
  Tensor out = Tensor::empty(shape, dtype);
  dispatch_float(dtype, "randn", [&](auto tag) {
    using T = decltype(tag);
    // Box-Muller: two uniforms give two independent normals; 1 - u keeps log away from 0.
    bool have_spare = false;
    double spare = 0.0;
    fill_random(out.data<T>(), out.numel(), [&](std::mt19937_64& e) {
      if (have_spare) {
        have_spare = false;
        return static_cast<T>(spare);
      }
      const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform01(e)));
      const double angle = 2.0 * M_PI * uniform01(e);
      spare = radius * std::sin(angle);
      have_spare = true;
      return static_cast<T>(radius * std::cos(angle));
    });
  });
  return out;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape) {
  prof::KernelTimer timer("randint");
  if (low >= high)
    fail<ValueError>("randint: low must be < high, got low=", low, ", high=", high,
                     " (values are drawn from [low, high))");
  check_shape(shape, "randint");
  Tensor out = Tensor::empty(shape, DType::Int64);
  // Unsigned arithmetic handles ranges wider than INT64_MAX; rejecting draws
  // below 2^64 mod range removes the modulo bias.
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  const uint64_t threshold = (0 - range) % range;
  fill_random(out.data<int64_t>(), out.numel(), [&](std::mt19937_64& e) {
    uint64_t r = e();
    while (r < threshold) r = e();
    return static_cast<int64_t>(static_cast<uint64_t>(low) + r % range);
  });
  return out;
}

Tensor bernoulli_mask(const Shape& shape, double keep_prob, DType dtype) {
  prof::KernelTimer timer("dropout_mask");
  if (!(keep_prob > 0.0 && keep_prob <= 1.0))
    fail<ValueError>("bernoulli_mask: keep_prob must be in (0, 1], got ", keep_prob,
                     " (dropout p must be in [0, 1))");
  check_shape(shape, "bernoulli_mask");
  Tensor out = Tensor::empty(shape, dtype);
  dispatch_float(dtype, "bernoulli_mask", [&](auto tag) {
    using T = decltype(tag);
    const T scale = static_cast<T>(1.0 / keep_prob);
    fill_random(out.data<T>(), out.numel(),
                [&](std::mt19937_64& e) { return uniform01(e) < keep_prob ? scale : T(0); });
  });
  return out;
}

}  // namespace tt::ops

// ---- generator state (declared in ops/random.h; checkpoints save and restore it) ----
namespace tt::ops {

std::string rng_state() {
  std::ostringstream os;
  std::lock_guard<std::mutex> lock(rng().mutex);
  os << rng().engine;
  return os.str();
}

void set_rng_state(const std::string& state) {
  std::istringstream is(state);
  std::mt19937_64 parsed;
  is >> parsed;
  if (is.fail() || !(is >> std::ws).eof())
    fail<ValueError>("set_rng_state: not a generator state (expected the text produced by get_rng_state, got ",
                     state.size(), " bytes)");
  std::lock_guard<std::mutex> lock(rng().mutex);
  rng().engine = parsed;
}

}  // namespace tt::ops
