// Attention masks: which convention a user's mask follows (decided here
// only, by its content), and the shape helpers the fused kernel and the
// composed attention share.
#include <vector>

#include "core/views.h"
#include "ops/attention.h"
#include "ops/ops.h"

namespace tt::ops {

namespace {

// The mask's values as doubles (masks are small: (T, T) up to (B, H, T, T)).
std::vector<double> values(const Tensor& mask) {
  Tensor c = contiguous(astype(mask, DType::Float64));
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}

// True when the (T, T) mask blocks exactly the keys j > i.
bool blocks_the_future(const std::vector<double>& v, int64_t T, MaskKind kind) {
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) {
      const double x = v[i * T + j];
      const bool future = j > i;
      if (kind == MaskKind::Keep ? (x != 0) == future : future ? !(x <= kMaskValue) : x != 0) return false;
    }
  return true;
}

}  // namespace

AttentionMask classify_mask(const Tensor& mask, int64_t seq_len) {
  if (!mask.defined()) return {};
  AttentionMask m{MaskKind::Keep, mask};
  std::vector<double> v;
  if (mask.dtype() != DType::Bool) {
    v = values(mask);
    for (double x : v)
      if (x < 0) {
        m.kind = MaskKind::Additive;
        break;
      }
  }
  if (seq_len >= 0 && mask.shape() == Shape{seq_len, seq_len} && !mask.requires_grad()) {
    if (v.empty()) v = values(mask);
    if (blocks_the_future(v, seq_len, m.kind)) return {MaskKind::Causal, Tensor()};
  }
  return m;
}

const char* mask_kind_name(MaskKind kind) {
  switch (kind) {
    case MaskKind::None: return "none";
    case MaskKind::Causal: return "causal";
    case MaskKind::Keep: return "keep";
    case MaskKind::Additive: return "additive";
  }
  return "none";
}

Tensor align_mask(const Tensor& mask, int64_t score_dims) {
  if (score_dims == 4 && mask.dim() == 3) return views::unsqueeze(mask, 1);
  return mask;
}

void check_mask_shape(const Tensor& mask, const Shape& scores, const char* op) {
  try {
    Shape b = broadcast_shapes(mask.shape(), scores, op);
    if (b == scores) return;
  } catch (const ValueError&) {
  }
  fail<ValueError>(op, ": a mask of shape ", shape_str(mask.shape()), " does not broadcast to the attention scores of shape ",
                   shape_str(scores), "; use (Tq, Tk), (batch, Tq, Tk) or (batch, heads, Tq, Tk)");
}

Tensor causal_blocked(int64_t tq, int64_t tk) {
  Tensor m = full({tq, tk}, 0.0, DType::Bool);
  uint8_t* p = m.data<uint8_t>();
  for (int64_t i = 0; i < tq; ++i)
    for (int64_t j = i + 1; j < tk; ++j) p[i * tk + j] = 1;
  return m;
}

}  // namespace tt::ops
