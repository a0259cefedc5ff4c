// Fused SGD and Adam/AdamW steps (formulas and rationale in optimizers.h).
//
// Each step runs in two phases: first every parameter, gradient and state
// buffer is checked and the work list built (errors here change nothing),
// then the kernels run. The kernels are plain loops over contiguous memory;
// the options they branch on are loop-invariant, so GCC unswitches them and
// vectorizes each variant.
#include "nn/optimizers.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

// GCC 12 reports its own AVX-512 intrinsics (used inside xsimd) as "maybe
// uninitialized"; a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>

#include "core/profiler.h"
#include "ops/ops.h"
#include "ops/parallel.h"

namespace tt::nn {
namespace {

// One parameter's update: contiguous tensors of the parameter's dtype.
struct Work {
  size_t index;
  Tensor param;  // the parameter as the user holds it
  Tensor data;   // what the kernel updates: `param` itself, or a contiguous copy written back after
  Tensor grad;   // contiguous, same dtype as the parameter
};

void check_finite_at_least(const char* opt, const char* name, double value, double lo) {
  if (!std::isfinite(value) || value < lo)
    fail<ValueError>(opt, ": ", name, " must be a finite number >= ", lo, ", got ", value);
}

void check_param(const char* opt, const Tensor& p, size_t i) {
  if (!p.defined()) fail<TypeError>(opt, ": parameter ", i, " is None; pass only tensors to the optimizer");
  if (!is_floating(p.dtype()))
    fail<TypeError>(opt, ": parameter ", i, " has dtype ", dtype_name(p.dtype()),
                    "; only float32 and float64 tensors can be optimized");
}

// The gradient to apply, or an undefined tensor when the parameter has none
// (it is then skipped, as in PyTorch).
Tensor usable_grad(const char* opt, const Tensor& p, size_t i) {
  if (!p.impl->meta || !p.impl->meta->grad) return Tensor();
  Tensor g(p.impl->meta->grad);
  if (g.shape() != p.shape())
    fail<ValueError>(opt, ": parameter ", i, " has shape ", shape_str(p.shape()), " but its .grad has shape ",
                     shape_str(g.shape()), "; a gradient must have its parameter's shape");
  if (!is_floating(g.dtype()))
    fail<TypeError>(opt, ": the .grad of parameter ", i, " has dtype ", dtype_name(g.dtype()),
                    "; gradients must be float32 or float64");
  // A gradient sharing the parameter's memory (p.grad = p) would change under
  // the kernel's feet: work from a copy.
  if (g.impl->storage == p.impl->storage) return ops::clone(ops::astype(g, p.dtype()));
  return ops::contiguous(ops::astype(g, p.dtype()));
}

// A state buffer must match its parameter exactly (a mismatch usually means
// a state_dict from another model was loaded).
void check_buffer(const char* opt, const char* what, const Tensor& buf, const Tensor& p, size_t i) {
  if (!buf.defined()) return;
  if (buf.shape() != p.shape())
    fail<ValueError>(opt, ": ", what, " of parameter ", i, " has shape ", shape_str(buf.shape()),
                     " but the parameter has shape ", shape_str(p.shape()),
                     "; was the optimizer state loaded from a different model?");
  if (buf.dtype() != p.dtype())
    fail<TypeError>(opt, ": ", what, " of parameter ", i, " has dtype ", dtype_name(buf.dtype()),
                    " but the parameter has dtype ", dtype_name(p.dtype()));
  if (!buf.is_contiguous())
    fail<ValueError>(opt, ": ", what, " of parameter ", i, " is not contiguous; assign a contiguous tensor");
  if (buf.impl->storage == p.impl->storage)
    fail<ValueError>(opt, ": ", what, " of parameter ", i, " shares the parameter's memory; "
                     "state buffers must be separate tensors");
}

void check_lengths(const char* opt, size_t n_params, size_t n_state, const char* what) {
  if (n_state != n_params)
    fail<ValueError>(opt, ": got ", n_params, " parameters but ", n_state, " ", what,
                     "; there must be one entry per parameter");
}

// Parameters that have a gradient, checked, with contiguous data to update.
std::vector<Work> collect(const char* opt, const std::vector<Tensor>& params) {
  std::vector<Work> work;
  work.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    check_param(opt, params[i], i);
    Tensor g = usable_grad(opt, params[i], i);
    if (!g.defined()) continue;
    const Tensor& p = params[i];
    work.push_back({i, p, p.is_contiguous() ? p : ops::clone(p), g});
  }
  return work;
}

// A non-contiguous parameter was updated in a copy: write it back. Either
// way the parameter changed in place, which autograd must be able to see.
void finish(const Work& w) {
  if (!w.data.same(w.param))
    ops::copy_(w.param, w.data);  // bumps the version
  else
    w.param.bump_version();
}

Tensor new_buffer_like(const Tensor& p) { return Tensor::empty(p.shape(), p.dtype()); }

// ---------------------------------------------------------------- SGD ----

// std::fma where PyTorch's CPU kernels fuse (add with alpha, lerp, addcmul),
// separate roundings where it runs separate ops (mul_ then add_), so float32
// results match PyTorch's bit for bit rather than only to rounding error.
template <class T>
void sgd_kernel(T* __restrict p, const T* __restrict grad, T* __restrict buf, bool first_step, int64_t n,
                const SgdOptions& o) {
  const T wd = static_cast<T>(o.weight_decay), mom = static_cast<T>(o.momentum);
  const T keep = static_cast<T>(1.0 - o.dampening), neg_lr = static_cast<T>(-o.lr);
  const bool decay = o.weight_decay != 0.0, use_momentum = o.momentum != 0.0, nesterov = o.nesterov;
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (decay) g = std::fma(p[i], wd, g);  // grad.add(p, alpha=wd)
    if (use_momentum) {
      const T b = first_step ? g : std::fma(g, keep, buf[i] * mom);  // buf.mul_(mom).add_(g, alpha=1-dampening)
      buf[i] = b;
      g = nesterov ? std::fma(b, mom, g) : b;  // g.add(buf, alpha=mom)
    }
    p[i] = std::fma(g, neg_lr, p[i]);  // p.add_(g, alpha=-lr)
  }
}

// ---------------------------------------------------------------- Adam ---

// Per-parameter coefficients, in the parameter's precision (as PyTorch casts
// its Python-float scalars to the tensor's dtype).
template <class T>
struct AdamCoefs {
  T wd, decay_factor, lerp_w, lerp_w_complement, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
  bool l2, decoupled, lerp_from_start;
};

template <class T>
AdamCoefs<T> adam_coefs(const AdamOptions& o, int64_t step) {
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  const double w = 1.0 - o.beta1;  // m.lerp_(g, 1 - beta1)
  AdamCoefs<T> c;
  c.l2 = o.weight_decay != 0.0 && !o.decoupled_weight_decay;
  c.decoupled = o.weight_decay != 0.0 && o.decoupled_weight_decay;
  c.wd = static_cast<T>(o.weight_decay);
  c.decay_factor = static_cast<T>(1.0 - o.lr * o.weight_decay);
  // PyTorch's lerp: start + w * (end - start) for |w| < 0.5, else end - (end - start) * (1 - w).
  c.lerp_from_start = std::abs(w) < 0.5;
  c.lerp_w = static_cast<T>(w);
  c.lerp_w_complement = T(1) - c.lerp_w;  // PyTorch computes 1 - w from the cast weight
  c.beta2 = static_cast<T>(o.beta2);
  c.one_minus_beta2 = static_cast<T>(1.0 - o.beta2);
  c.bc2_sqrt = static_cast<T>(std::pow(bc2, 0.5));
  c.eps = static_cast<T>(o.eps);
  c.neg_step_size = static_cast<T>(-(o.lr / bc1));
  return c;
}

// One Adam update on a scalar T or an xsimd batch V of them (same code, same
// roundings; fma and sqrt resolve to std:: for scalars, xsimd:: for batches).
// The decoupled decay of AdamW runs as its own pass first (see adam_loop).
template <bool L2, bool LerpFromStart, class T, class V>
inline void adam_update(V& p, V g, V& m, V& v, const AdamCoefs<T>& c) {
  using std::fma;
  using std::sqrt;
  if constexpr (L2) g = fma(p, V(c.wd), g);  // grad.add(p, alpha=wd)
  if constexpr (LerpFromStart)
    m = fma(V(c.lerp_w), g - m, m);  // m.lerp_(g, w): m + w * (g - m)
  else
    m = fma(g - m, V(-c.lerp_w_complement), g);  // g - (g - m) * (1 - w)
  v = fma(V(c.one_minus_beta2) * g, g, v * V(c.beta2));  // v.mul_(beta2).addcmul_(g, g, 1 - beta2)
  const V denom = sqrt(v) / V(c.bc2_sqrt) + V(c.eps);
  p = p + (V(c.neg_step_size) * m) / denom;  // p.addcdiv_(m, denom, -step_size)
}

// xsimd batches for the body: GCC will not vectorize std::sqrt itself unless
// the whole build uses -fno-math-errno.
template <class T, bool L2, bool LerpFromStart>
void adam_loop(T* p, const T* grad, T* m, T* v, int64_t n, const AdamCoefs<T> c) {
  if (c.decoupled)  // p.mul_(1 - lr * wd), rounded on its own as in PyTorch (a separate
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] * c.decay_factor;  // pass, so it cannot be fused)
  using Batch = xsimd::batch<T>;
  constexpr int64_t width = static_cast<int64_t>(Batch::size);
  int64_t i = 0;
  for (; i + width <= n; i += width) {
    Batch pb = Batch::load_unaligned(p + i), mb = Batch::load_unaligned(m + i), vb = Batch::load_unaligned(v + i);
    adam_update<L2, LerpFromStart>(pb, Batch::load_unaligned(grad + i), mb, vb, c);
    pb.store_unaligned(p + i);
    mb.store_unaligned(m + i);
    vb.store_unaligned(v + i);
  }
  for (; i < n; ++i) adam_update<L2, LerpFromStart>(p[i], grad[i], m[i], v[i], c);
}

// Picks the loop variant, so each one is branch-free and vectorizes.
template <class T>
void adam_kernel(T* p, const T* grad, T* m, T* v, int64_t n, const AdamCoefs<T>& c) {
  if (c.l2)
    c.lerp_from_start ? adam_loop<T, true, true>(p, grad, m, v, n, c) : adam_loop<T, true, false>(p, grad, m, v, n, c);
  else
    c.lerp_from_start ? adam_loop<T, false, true>(p, grad, m, v, n, c) : adam_loop<T, false, false>(p, grad, m, v, n, c);
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, std::vector<Tensor>& momentum_buffers, const SgdOptions& o) {
  const char* opt = "SGD.step";
  check_finite_at_least(opt, "lr", o.lr, 0.0);
  check_finite_at_least(opt, "momentum", o.momentum, 0.0);
  check_finite_at_least(opt, "weight_decay", o.weight_decay, 0.0);
  if (!std::isfinite(o.dampening)) fail<ValueError>(opt, ": dampening must be finite, got ", o.dampening);
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    fail<ValueError>(opt, ": nesterov momentum requires momentum > 0 and dampening = 0");
  const bool use_momentum = o.momentum != 0.0;
  if (use_momentum) check_lengths(opt, params.size(), momentum_buffers.size(), "momentum buffers");

  std::vector<Work> work = collect(opt, params);
  if (use_momentum)
    for (const Work& w : work) check_buffer(opt, "the momentum buffer", momentum_buffers[w.index], w.param, w.index);

  for (const Work& w : work) {
    Tensor buf;
    bool first = false;
    if (use_momentum) {
      buf = momentum_buffers[w.index];
      if (!buf.defined()) {
        buf = momentum_buffers[w.index] = new_buffer_like(w.param);
        first = true;
      }
    }
    dispatch_float(w.param.dtype(), opt, [&](auto tag) {
      using T = decltype(tag);
      sgd_kernel<T>(w.data.data<T>(), w.grad.data<T>(), use_momentum ? buf.data<T>() : nullptr, first,
                    w.param.numel(), o);
    });
    if (use_momentum) buf.bump_version();
    finish(w);
  }
}

void adam_step(const std::vector<Tensor>& params, std::vector<Tensor>& exp_avgs, std::vector<Tensor>& exp_avg_sqs,
               std::vector<int64_t>& steps, const AdamOptions& o) {
  prof::KernelTimer timer("adam_step");  // the profiler's Adam row; a flag test when off
  const char* opt = o.decoupled_weight_decay ? "AdamW.step" : "Adam.step";
  check_finite_at_least(opt, "lr", o.lr, 0.0);
  check_finite_at_least(opt, "eps", o.eps, 0.0);
  check_finite_at_least(opt, "weight_decay", o.weight_decay, 0.0);
  if (!(o.beta1 >= 0.0 && o.beta1 < 1.0) || !(o.beta2 >= 0.0 && o.beta2 < 1.0))
    fail<ValueError>(opt, ": betas must each be in [0, 1), got (", o.beta1, ", ", o.beta2, ")");
  check_lengths(opt, params.size(), exp_avgs.size(), "first-moment buffers (exp_avg)");
  check_lengths(opt, params.size(), exp_avg_sqs.size(), "second-moment buffers (exp_avg_sq)");
  check_lengths(opt, params.size(), steps.size(), "step counts");

  std::vector<Work> work = collect(opt, params);
  for (const Work& w : work) {
    check_buffer(opt, "the first-moment buffer (exp_avg)", exp_avgs[w.index], w.param, w.index);
    check_buffer(opt, "the second-moment buffer (exp_avg_sq)", exp_avg_sqs[w.index], w.param, w.index);
    if (steps[w.index] < 0)
      fail<ValueError>(opt, ": the step count of parameter ", w.index, " is negative (", steps[w.index], ")");
    if (exp_avgs[w.index].defined() != exp_avg_sqs[w.index].defined())
      fail<ValueError>(opt, ": parameter ", w.index, " has only one of its two moment buffers; "
                       "both must be set or both None");
  }

  // Buffers first (serially: allocation), then one parallel region over every
  // parameter's elements cut into equal chunks, so the threads share GPT-2's 38M-row
  // embedding table and its 148 small tensors alike. Adam is elementwise, so the
  // chunking does not change a single rounding: the batch body and the scalar tail
  // are the same formula (adam_update). On a GPT-2-small step (124M parameters,
  // ~2 GB of p, g, m, v read and written) one thread took ~5% of the step.
  struct Chunk {
    const Work* w;
    int64_t begin, end;
  };
  std::vector<Chunk> chunks;
  std::vector<int64_t> step_of(work.size());
  int64_t total = 0;  // elements over all parameters: the parallel region's size
  constexpr int64_t kChunk = int64_t{1} << 16;  // elements: a multiple of every SIMD width
  for (size_t j = 0; j < work.size(); ++j) {
    const Work& w = work[j];
    Tensor& m = exp_avgs[w.index];
    Tensor& v = exp_avg_sqs[w.index];
    if (!m.defined()) {
      m = ops::full(w.param.shape(), 0.0, w.param.dtype());
      v = ops::full(w.param.shape(), 0.0, w.param.dtype());
    }
    step_of[j] = ++steps[w.index];
    for (int64_t b = 0, n = w.param.numel(); b < n; b += kChunk) chunks.push_back({&w, b, std::min(n, b + kChunk)});
    total += w.param.numel();
  }
  const Work* first = work.data();
  // (the real element count: a small model's parameters are many chunks far shorter than kChunk,
  // and waking the workers for them made the milestone's Adam step 187 us instead of ~30)
  parallel_for(static_cast<int64_t>(chunks.size()), 10.0 * static_cast<double>(total),
               [&](int64_t begin, int64_t end) {
                 for (int64_t ci = begin; ci < end; ++ci) {
                   const Chunk& c = chunks[ci];
                   const Work& w = *c.w;
                   const Tensor &m = exp_avgs[w.index], &v = exp_avg_sqs[w.index];
                   dispatch_float(w.param.dtype(), opt, [&](auto tag) {
                     using T = decltype(tag);
                     adam_kernel<T>(w.data.data<T>() + c.begin, w.grad.data<T>() + c.begin,
                                    m.data<T>() + c.begin, v.data<T>() + c.begin, c.end - c.begin,
                                    adam_coefs<T>(o, step_of[c.w - first]));
                   });
                 }
               });
  for (const Work& w : work) {
    exp_avgs[w.index].bump_version();
    exp_avg_sqs[w.index].bump_version();
    finish(w);
  }
}

}  // namespace tt::nn
