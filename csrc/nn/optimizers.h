// Fused optimizer steps: one call updates every parameter of a model.
//
// A Python loop over parameters costs a few microseconds per parameter per
// elementwise op; Adam needs about ten of them. Here one C++ call walks the
// parameter list and updates each parameter, its gradient-derived state and
// its step count in a single pass over memory.
//
// The update formulas are PyTorch's (torch.optim SGD / Adam / AdamW, the
// single-tensor CPU path), in the same operation order and in the
// parameter's own precision, so results agree with PyTorch step for step:
//
//   SGD:   g = grad + wd * p
//          buf = g                                   (first step)
//          buf = momentum * buf + (1 - dampening) * g (later steps)
//          g = nesterov ? g + momentum * buf : buf   (when momentum != 0)
//          p = p - lr * g
//   Adam:  t += 1
//          g = grad + wd * p                         (Adam: L2 penalty in the gradient)
//          p = p * (1 - lr * wd)                     (AdamW: decoupled weight decay instead)
//          m = m + (1 - beta1) * (g - m)
//          v = beta2 * v + (1 - beta2) * g * g
//          p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// Parameters whose .grad is undefined are skipped (their state and step
// count do not change). State buffers passed undefined are created on the
// parameter's first update. Everything is validated before anything is
// written, so an error leaves parameters and state untouched.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace tt::nn {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// momentum_buffers has one entry per parameter (ignored when momentum == 0).
void sgd_step(const std::vector<Tensor>& params, std::vector<Tensor>& momentum_buffers, const SgdOptions& opt);

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // true: AdamW
};

// exp_avgs / exp_avg_sqs / steps: one entry per parameter; steps[i] is
// parameter i's own update count (as PyTorch keeps it), incremented here.
void adam_step(const std::vector<Tensor>& params, std::vector<Tensor>& exp_avgs, std::vector<Tensor>& exp_avg_sqs,
               std::vector<int64_t>& steps, const AdamOptions& opt);

}  // namespace tt::nn
