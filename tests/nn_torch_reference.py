"""PyTorch versions of tinytorch's layers, written out by hand (torch.nn.functional
and tensor ops), reading the SAME weights from a tinytorch module.

tinytorch's Linear.weight is (in, out), so the reference computes x @ W + b.
Each function returns the torch output and a dict name -> torch leaf tensor,
so a test can compare gradients parameter by parameter.
"""
import math

import numpy as np


def leaves(torch, module, dtype):
    """name -> torch leaf (requires_grad) holding a copy of the tinytorch parameter."""
    return {name: torch.tensor(np.array(p.data), dtype=dtype, requires_grad=True)
            for name, p in module.named_parameters()}


def linear(torch, x, p, prefix):
    y = x @ p[prefix + "weight"]
    bias = p.get(prefix + "bias")
    return y if bias is None else y + bias


def layer_norm(torch, x, p, prefix, eps=1e-5):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), p[prefix + "gamma"], p[prefix + "beta"], eps)


def attention(torch, x, p, prefix, num_heads, mask=None, mask_kind="none"):
    """Multi-head self-attention; mask_kind 'causal', 'keep' (0 blocks, replaced by -1e9) or 'additive'."""
    B, T, D = x.shape
    hd = D // num_heads

    def heads(t):
        return t.reshape(B, T, num_heads, hd).permute(0, 2, 1, 3)

    q, k, v = (heads(linear(torch, x, p, prefix + n + "_proj.")) for n in ("q", "k", "v"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    if mask_kind == "causal":
        scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    elif mask_kind in ("keep", "additive"):
        m = torch.as_tensor(np.asarray(mask))
        if m.ndim == 3:
            m = m.unsqueeze(1)
        if mask_kind == "keep":
            scores = scores.masked_fill(m == 0, -1e9)
        else:
            scores = scores + m.to(scores.dtype)
    out = (torch.softmax(scores, -1) @ v).permute(0, 2, 1, 3).reshape(B, T, D)
    return linear(torch, out, p, prefix + "out_proj.")


def mlp(torch, x, p, prefix):
    h = torch.nn.functional.gelu(linear(torch, x, p, prefix + "linear1."), approximate="tanh")
    return linear(torch, h, p, prefix + "linear2.")


def block(torch, x, p, prefix, num_heads, mask=None, mask_kind="none"):
    x = x + attention(torch, layer_norm(torch, x, p, prefix + "ln1."), p, prefix + "attention.", num_heads,
                      mask, mask_kind)
    return x + mlp(torch, layer_norm(torch, x, p, prefix + "ln2."), p, prefix + "mlp.")


def gpt(torch, tokens, p, num_layers, num_heads):
    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    T = tokens.shape[1]
    x = p["token_embedding.weight"][tokens] + p["position_embedding.weight"][:T]
    for i in range(num_layers):
        x = block(torch, x, p, f"blocks.{i}.", num_heads, mask_kind="causal")
    return linear(torch, layer_norm(torch, x, p, "ln_f."), p, "lm_head.")
