// The fused transformer blocks of csrc/nn, as private functions the layers of
// tinytorch.core.{layers, attention, transformer} call: tinytorch._C._nn_*.
// Glue only: argument conversion, no math.
#include "autograd/grad_mode.h"
#include "nn/nn_backward.h"
#include "nn/transformer.h"
#include "python/convert.h"
#include "python/nn_params.h"

namespace ttpy {

namespace {

using tt::nn::AttentionMask;
using tt::nn::MaskKind;

Tensor opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

// Python passes the mask kind as a string decided by tinytorch.core.attention.
AttentionMask mask_from_py(const std::string& kind, const std::optional<Tensor>& mask) {
  AttentionMask m;
  if (kind == "none") m.kind = MaskKind::None;
  else if (kind == "causal") m.kind = MaskKind::Causal;
  else if (kind == "keep") m.kind = MaskKind::Keep;
  else if (kind == "additive") m.kind = MaskKind::Additive;
  else throw tt::ValueError("attention: unknown mask kind '" + kind + "' (expected none, causal, keep or additive)");
  if ((m.kind == MaskKind::Keep || m.kind == MaskKind::Additive) && !mask)
    throw tt::ValueError("attention: mask kind '" + kind + "' needs a mask tensor");
  if (m.kind == MaskKind::Keep || m.kind == MaskKind::Additive) m.mask = *mask;
  return m;
}

// Building a block's graph touches no Python object, so other Python threads may run meanwhile
// (except in anomaly mode, where each node records the Python stack).
template <class F>
Tensor without_gil(F&& f) {
  if (tt::AnomalyMode::is_enabled()) return f();
  py::gil_scoped_release nogil;
  return f();
}

}  // namespace

void bind_nn(py::module_& m) {
  // The fused ops' graph nodes, so type(t.grad_fn).__name__ names them. They live in a
  // submodule: tinytorch._C.LayerNormBackward is already the generic op's node.
  py::module_ nodes = m.def_submodule("nn_nodes", "graph nodes of the fused nn ops");
  py::class_<tt::nn::LinearBackward, tt::Node, std::shared_ptr<tt::nn::LinearBackward>>(nodes, "LinearBackward");
  py::class_<tt::nn::AttentionBackward, tt::Node, std::shared_ptr<tt::nn::AttentionBackward>>(nodes,
                                                                                              "AttentionBackward");
  py::class_<tt::nn::LayerNormBackward, tt::Node, std::shared_ptr<tt::nn::LayerNormBackward>>(nodes,
                                                                                              "LayerNormBackward");

  m.def("_nn_linear", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
    return tt::nn::linear(x, w, opt(b));
  }, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none());

  m.def("_nn_layer_norm", [](const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
    return tt::nn::layer_norm(x, gamma, beta, eps);
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("eps") = 1e-5);

  m.def("_nn_linear_gelu", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
    return tt::nn::linear_gelu(x, w, opt(b));
  }, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none());

  m.def("_nn_linear_packed", [](const Tensor& x, const std::vector<Tensor>& ws,
                                const std::vector<std::optional<Tensor>>& bs) {
    std::vector<Tensor> b;
    for (auto& t : bs) b.push_back(opt(t));
    return tt::nn::linear_packed(x, ws, b);
  });

  m.def("_nn_sdpa", [](const Tensor& q, const Tensor& k, const Tensor& v, const std::optional<Tensor>& mask,
                       const std::string& kind) {
    auto r = tt::nn::scaled_dot_product_attention(q, k, v, mask_from_py(kind, mask));
    return py::make_tuple(r.first, r.second);
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask") = py::none(), py::arg("kind") = "none");

  m.def("_nn_attention_core", [](const Tensor& qkv, int64_t num_heads, const std::optional<Tensor>& mask,
                                 const std::string& kind, bool fused) {
    return tt::nn::attention_core(qkv, num_heads, mask_from_py(kind, mask), fused);
  }, py::arg("qkv"), py::arg("num_heads"), py::arg("mask") = py::none(), py::arg("kind") = "none",
     py::arg("fused") = true);

  m.def("_nn_mha", [](const Tensor& x, const py::sequence& params, int64_t num_heads,
                      const std::optional<Tensor>& mask, const std::string& kind) {
    if (params.size() != 8) throw tt::ValueError("MultiHeadAttention: expected 8 parameters");
    tt::nn::AttentionParams p = attention_from_py(params, 0, "MultiHeadAttention");
    AttentionMask am = mask_from_py(kind, mask);
    return without_gil([&] { return tt::nn::multi_head_attention(x, p, num_heads, am); });
  });

  m.def("_nn_mlp", [](const Tensor& x, const Tensor& w1, const std::optional<Tensor>& b1, const Tensor& w2,
                      const std::optional<Tensor>& b2, double dropout_p, bool training) {
    tt::nn::MLPParams p{w1, opt(b1), w2, opt(b2)};
    return without_gil([&] { return tt::nn::mlp(x, p, dropout_p, training); });
  });

  m.def("_nn_block", [](const Tensor& x, const py::sequence& params, int64_t num_heads,
                        const std::optional<Tensor>& mask, const std::string& kind, double dropout_p, bool training) {
    tt::nn::BlockParams p = block_from_py(params);
    AttentionMask am = mask_from_py(kind, mask);
    return without_gil([&] { return tt::nn::transformer_block(x, p, num_heads, am, dropout_p, training); });
  });

  m.def("_nn_gpt", [](const Tensor& tokens, const Tensor& tok_w, const Tensor& pos_w, const py::sequence& blocks,
                      const Tensor& lnf_g, const Tensor& lnf_b, double lnf_eps, const Tensor& head_w,
                      const std::optional<Tensor>& head_b, int64_t num_heads, double dropout_p, bool training) {
    tt::nn::GPTParams p;
    p.token_embedding = tok_w;
    p.position_embedding = pos_w;
    for (auto b : blocks) p.blocks.push_back(block_from_py(b));
    p.ln_f = {lnf_g, lnf_b, lnf_eps};
    p.lm_head_w = head_w;
    p.lm_head_b = opt(head_b);
    return without_gil([&] { return tt::nn::gpt_forward(tokens, p, num_heads, dropout_p, training); });
  });
}

}  // namespace ttpy
