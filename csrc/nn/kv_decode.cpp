// One decode step of the GPT over a key/value cache (see kv_decode.h).
//
// The projections, LayerNorms and the MLP reuse the fused ops of
// autograd/fused_ops.h with grad mode off, so they build no graph.
// Attention is written here: the new queries are few (one per sequence while
// decoding), the keys and values are the cache rows [0, start + Tn), read in
// place by BLAS with the cache's own strides. The Q/K/V projections are three
// GEMMs rather than one packed GEMM: packing would concatenate the three
// weight matrices on every step, as many bytes as the product itself reads.
#include "ops/blas.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "nn/kv_decode.h"

#include "autograd/api.h"
#include "autograd/grad_mode.h"
#include "core/profiler.h"
#include "ops/ops.h"
#include "ops/parallel.h"

namespace tt::nn {

namespace {

struct StepShape {
  int64_t B, Tn, D, H, hd, start, max_len;
};

// Copies the new rows of k or v (B, Tn, D), heads side by side, into the cache (B, H, max_len, hd)
// at positions [start, start + Tn).
template <class T>
void write_cache(const T* src, T* cache, const StepShape& s) {
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t t = 0; t < s.Tn; ++t)
        std::memcpy(cache + ((b * s.H + h) * s.max_len + s.start + t) * s.hd, src + (b * s.Tn + t) * s.D + h * s.hd,
                    sizeof(T) * s.hd);
}

// out (B, Tn, D) <- softmax(q K^T / sqrt(hd), causal) V with K, V the cache rows [0, start + Tn).
template <class T>
void cached_attention(const T* q, const T* kc, const T* vc, T* out, const StepShape& s) {
  const int64_t L = s.start + s.Tn;
  const T scale = T(1) / std::sqrt(T(s.hd));
  parallel_for(s.B * s.H, 4.0 * s.B * s.H * s.Tn * L * s.hd, [&](int64_t begin, int64_t end) {
    std::vector<T> scores(static_cast<size_t>(s.Tn * L));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      const T* Q = q + b * s.Tn * s.D + h * s.hd;
      const T* K = kc + bh * s.max_len * s.hd;
      const T* V = vc + bh * s.max_len * s.hd;
      ops::gemm(false, true, s.Tn, L, s.hd, scale, Q, s.D, K, s.hd, T(0), scores.data(), L);  // S = Q K^T / sqrt(hd)
      for (int64_t i = 0; i < s.Tn; ++i) {
        T* row = scores.data() + i * L;
        const int64_t n = s.start + i + 1;  // query i sits at position start + i: it sees keys [0, start + i]
        const T mx = *std::max_element(row, row + n);
        T sum = 0;
        for (int64_t j = 0; j < n; ++j) sum += (row[j] = std::exp(row[j] - mx));
        const T inv = T(1) / sum;
        for (int64_t j = 0; j < n; ++j) row[j] *= inv;
        std::fill(row + n, row + L, T(0));
      }
      ops::gemm(false, false, s.Tn, s.hd, L, T(1), scores.data(), L, V, s.hd, T(0), out + b * s.Tn * s.D + h * s.hd,
                s.D);
    }
  });
}

void check_cache_tensor(const Tensor& t, const Shape& want, DType dt, const char* which, size_t layer) {
  if (t.shape() != want || t.dtype() != dt || !t.is_contiguous())
    fail<ValueError>("KVCache: layer ", layer, " ", which, " cache is ", shape_str(t.shape()), " ",
                     dtype_name(t.dtype()),
                     (t.is_contiguous() ? "" : " (not contiguous)"), ", expected a contiguous ", shape_str(want), " ",
                     dtype_name(dt), " tensor; build the cache with enable_kv_cache(model)");
}

}  // namespace

KVDecoder::KVDecoder(GPTParams p, int64_t heads, std::vector<Tensor> k, std::vector<Tensor> v, int64_t batch_size,
                     int64_t max_len)
    : params(std::move(p)), num_heads(heads), keys(std::move(k)), values(std::move(v)), batch(batch_size) {
  const Tensor& pos = params.position_embedding;
  if (pos.dim() != 2 || params.token_embedding.dim() != 2)
    fail<ValueError>("KVCache: the embedding tables must be 2-D, got ", shape_str(params.token_embedding.shape()),
                     " and ", shape_str(pos.shape()));
  const int64_t D = pos.shape()[1];
  const DType dt = pos.dtype();
  if (num_heads < 1 || D % num_heads != 0)
    fail<ValueError>("KVCache: embed_dim ", D, " is not divisible by num_heads ", num_heads);
  if (!is_floating(dt)) fail<TypeError>("KVCache: the model's weights must be float32 or float64");
  if (keys.size() != params.blocks.size() || values.size() != params.blocks.size())
    fail<ValueError>("KVCache: the cache has ", keys.size(), " layers, the model ", params.blocks.size(),
                     "; build the cache for this model");
  if (batch < 1 || max_len < 1) fail<ValueError>("KVCache: batch_size and max_seq_len must be >= 1");
  const Shape want = {batch, num_heads, max_len, D / num_heads};
  for (size_t l = 0; l < keys.size(); ++l) {
    check_cache_tensor(keys[l], want, dt, "key", l);
    check_cache_tensor(values[l], want, dt, "value", l);
  }
  capacity = std::min(max_len, pos.shape()[0]);
}

Tensor KVDecoder::step(const Tensor& tokens, int64_t start) const {
  prof::KernelTimer timer("kv_decode_step");  // forward kernel time when profiling; a flag test when off
  if (tokens.dim() != 2 || tokens.dtype() != DType::Int64)
    fail<ValueError>("KVCache step: tokens must be an int64 (batch, n_new) tensor, got ", shape_str(tokens.shape()),
                     " ", dtype_name(tokens.dtype()));
  const Tensor& pos = params.position_embedding;
  StepShape s{tokens.shape()[0], tokens.shape()[1], pos.shape()[1], num_heads, pos.shape()[1] / num_heads, start,
              keys.empty() ? capacity : keys[0].shape()[2]};
  if (s.B != batch)
    fail<ValueError>("KVCache step: the cache holds batch_size=", batch, " sequences, got tokens for ", s.B);
  if (s.Tn < 1) fail<ValueError>("KVCache step: no new tokens");
  if (start < 0 || start + s.Tn > capacity)
    fail<ValueError>("KVCache step: positions [", start, ", ", start + s.Tn, ") do not fit the cache's ", capacity,
                     " positions; reset the cache or crop the context");
  GradModeGuard no_grad(false);
  // x = token_embedding[tokens] + position_embedding[start : start + Tn]
  Tensor x = add(embedding(params.token_embedding, tokens), narrow(pos, 0, start, s.Tn));
  for (size_t l = 0; l < params.blocks.size(); ++l) {
    const BlockParams& b = params.blocks[l];
    Tensor h = layer_norm(x, b.ln1.gamma, b.ln1.beta, b.ln1.eps);
    Tensor q = ops::contiguous(linear(h, b.attn.wq, b.attn.bq));
    Tensor k = ops::contiguous(linear(h, b.attn.wk, b.attn.bk));
    Tensor v = ops::contiguous(linear(h, b.attn.wv, b.attn.bv));
    Tensor att = Tensor::empty({s.B, s.Tn, s.D}, q.dtype());
    if (q.dtype() != keys[l].dtype())
      fail<TypeError>("KVCache step: layer ", l, " computes ", dtype_name(q.dtype()), " but its cache is ",
                      dtype_name(keys[l].dtype()), "; keep the model's weights in one dtype");
    dispatch_float(q.dtype(), "KVCache step", [&](auto tag) {
      using T = decltype(tag);
      write_cache<T>(k.data<T>(), keys[l].data<T>(), s);
      write_cache<T>(v.data<T>(), values[l].data<T>(), s);
      cached_attention<T>(q.data<T>(), keys[l].data<T>(), values[l].data<T>(), att.data<T>(), s);
    });
    x = add(x, linear(att, b.attn.wo, b.attn.bo));
    Tensor h2 = layer_norm(x, b.ln2.gamma, b.ln2.beta, b.ln2.eps);
    x = add(x, linear(linear_gelu(h2, b.mlp.w1, b.mlp.b1), b.mlp.w2, b.mlp.b2));
  }
  x = layer_norm(x, params.ln_f.gamma, params.ln_f.beta, params.ln_f.eps);
  return linear(x, params.lm_head_w, params.lm_head_b);
}

}  // namespace tt::nn
