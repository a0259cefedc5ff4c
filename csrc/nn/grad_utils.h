// What training code does to gradients between backward() and step():
// measure their global norm, clip them, scale them (loss scaling), check
// that they are finite. Each function covers a whole parameter list in one
// call and skips parameters whose .grad is undefined; in-place edits work on
// any gradient layout and bump the gradient's version.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace tt::nn {

// The p-norm of all gradients taken together (as if concatenated), in double
// precision. norm_type: any p > 0, +inf (max |g|), or 0 (count of nonzeros).
// NaN or inf gradients give a NaN or inf norm. No gradients give 0.
double grad_norm(const std::vector<Tensor>& params, double norm_type);

// g *= factor for every gradient.
void scale_grads(const std::vector<Tensor>& params, double factor);

// g = min(max(g, lo), hi) for every gradient (NaN stays NaN).
void clamp_grads(const std::vector<Tensor>& params, double lo, double hi);

// True when no gradient holds a NaN or an infinity.
bool grads_finite(const std::vector<Tensor>& params);

}  // namespace tt::nn
