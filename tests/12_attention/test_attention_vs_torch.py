"""scaled_dot_product_attention against PyTorch: the output, the attention
weights and the gradients of Q, K and V, for every mask convention.

torch.nn.functional.scaled_dot_product_attention is the oracle for the output
(it returns no weights); the weights and all gradients come from the same
formula written in torch ops, softmax(Q K^T / sqrt(d) + mask) V.
"""
import math

import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip
from tinytorch.core.attention import MASK_VALUE, scaled_dot_product_attention

pytestmark = pytest.mark.module12

PRECISIONS = [pytest.param((np.float64, 1e-10, 1e-12), id="float64"),
              pytest.param((np.float32, 1e-4, 1e-5), id="float32")]
B, H, TQ, TK, D, DV = 2, 3, 5, 6, 4, 3


def masks(rng):
    """name -> (tinytorch mask, torch attn_mask for F.sdpa or 'causal', the additive form for the weights)."""
    keep = (rng.random((TQ, TK)) < 0.6).astype(np.float32)
    keep[:, 0] = 1  # no fully blocked row: torch's F.sdpa gives NaN there, tinytorch a uniform row
    additive = np.where(rng.random((B, 1, TQ, TK)) < 0.5, -np.inf, 0.0)
    additive[..., 1] = 0.0
    causal_keep = np.tril(np.ones((TQ, TQ), dtype=np.float32))
    causal_add = np.triu(np.full((TQ, TQ), -np.inf), 1)
    return {
        "none": (None, None, None),
        "keep_1_0": (keep, keep.astype(bool), np.where(keep == 0, MASK_VALUE, 0.0)),
        "additive_inf": (additive, additive, additive),
        "causal_keep": (causal_keep, "causal", causal_add),
        "causal_additive": (causal_add, "causal", causal_add),
    }


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("mask_name", ["none", "keep_1_0", "additive_inf", "causal_keep", "causal_additive"])
def test_sdpa_output_weights_and_gradients_match_torch(precision, mask_name):
    torch = torch_or_skip()
    dtype, rtol, atol = precision
    td = torch.float64 if dtype == np.float64 else torch.float32
    rng = np.random.default_rng(3)
    tk = TQ if mask_name.startswith("causal") else TK
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((B, H, TQ, D), (B, H, tk, D), (B, H, tk, DV)))
    grad_out = rng.standard_normal((B, H, TQ, DV)).astype(dtype)
    grad_w = rng.standard_normal((B, H, TQ, tk)).astype(dtype)
    mask, torch_mask, additive = masks(rng)[mask_name]

    Q, K, V = (tt.Tensor(a, requires_grad=True, dtype=dtype) for a in (q, k, v))
    out, weights = scaled_dot_product_attention(Q, K, V, mask)
    ((out * tt.Tensor(grad_out, dtype=dtype)).sum() + (weights * tt.Tensor(grad_w, dtype=dtype)).sum()).backward()

    Qt, Kt, Vt = (torch.tensor(a, dtype=td, requires_grad=True) for a in (q, k, v))
    scores = Qt @ Kt.transpose(-1, -2) / math.sqrt(D)
    if additive is not None:
        scores = scores + torch.tensor(additive, dtype=td)
    weights_t = torch.softmax(scores, dim=-1)
    out_t = weights_t @ Vt
    ((out_t * torch.tensor(grad_out)).sum() + (weights_t * torch.tensor(grad_w)).sum()).backward()

    F = torch.nn.functional
    with torch.no_grad():
        if torch_mask is None:
            oracle = F.scaled_dot_product_attention(Qt, Kt, Vt)
        elif isinstance(torch_mask, str):
            oracle = F.scaled_dot_product_attention(Qt, Kt, Vt, is_causal=True)
        else:
            oracle = F.scaled_dot_product_attention(Qt, Kt, Vt, attn_mask=torch.tensor(torch_mask).to(
                torch.bool if torch_mask.dtype == bool else td))
    np.testing.assert_allclose(out_t.detach().numpy(), oracle.numpy(), rtol=rtol, atol=atol)  # formula == torch op

    np.testing.assert_allclose(np.asarray(out), oracle.numpy(), rtol=rtol, atol=atol, err_msg="output")
    np.testing.assert_allclose(np.asarray(weights), weights_t.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg="weights")
    if additive is not None:  # blocked keys get exactly zero weight
        assert np.all(np.asarray(weights)[np.broadcast_to(np.isneginf(additive) | (additive == MASK_VALUE),
                                                          weights.shape)] == 0)
    for name, mine, theirs in (("Q", Q, Qt), ("K", K, Kt), ("V", V, Vt)):
        np.testing.assert_allclose(np.asarray(mine.grad), theirs.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name}")
