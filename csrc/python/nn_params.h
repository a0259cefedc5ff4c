// Parsing the parameter sequences of the fused blocks (see nn_params.cpp).
#pragma once
#include "nn/transformer.h"
#include "python/convert.h"

namespace ttpy {

// Weights and norms must be Tensors, biases may be None. Eight tensors from s[at]: (wq, bq, wk, bk, wv, bv, wo, bo).
tt::nn::AttentionParams attention_from_py(const py::sequence& s, size_t at, const char* what);
// The 18-tuple of TransformerBlock._params():
// (gamma, beta, eps, wq, bq, wk, bk, wv, bv, wo, bo, gamma2, beta2, eps2, w1, b1, w2, b2)
tt::nn::BlockParams block_from_py(const py::handle& seq, const char* what = "transformer block");

}  // namespace ttpy
