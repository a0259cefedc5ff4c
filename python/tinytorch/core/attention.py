"""Module 12: attention. Scaled dot-product attention and multi-head self-attention.

Masks: the course uses two conventions and both work everywhere a mask is
accepted. The kind is decided by the mask's content:

* **keep/block** (a bool mask, or a 0/1 float mask with no negative entry):
  nonzero = this query may look at this key, 0 = blocked. A blocked score is
  replaced by MASK_VALUE (-1e9), so it gets ~0 weight. `np.tril(np.ones((T, T)))`
  is the causal mask in this convention.
* **additive** (a float mask with any negative entry): the mask is added to
  the scores; 0 keeps, -inf or -1e9 blocks. `np.triu(np.full((T, T), -np.inf), 1)`
  (TinyTorch's `GPT._create_causal_mask`) is the causal mask in this convention.

So an all-zero float mask blocks everything (keep/block convention). Masks
broadcast against the scores (batch, [heads,] seq_q, seq_k); in multi-head
attention a 3-D mask (batch, seq, seq) is shared by all heads.

`MultiHeadAttention` runs as one C++ call (csrc/nn/attention.cpp): the Q,
K, V projections as one GEMM, the fused attention kernel
(csrc/ops/attention.cpp) with its own backward node
(csrc/autograd/fused_backward.cpp), and the output projection. Masks are
passed to C++ as given and classified there (`mask_kind` reports how); a
(seq, seq) mask that is exactly causal, in either convention, takes the
fused causal path.
"""

import numpy as np

from .. import _C
from . import overrides as _overrides
from ._sizes import positive_int
from .layers import Linear
from .module import Module
from .tensor import Tensor, _as_tensor
from ._errors import names_the_function, names_the_layer

__all__ = ["MASK_VALUE", "scaled_dot_product_attention", "MultiHeadAttention", "causal_mask", "mask_kind"]

MASK_VALUE = -1e9  # what a blocked score becomes in the keep/block convention


def causal_mask(seq_len, additive=True):
    """The (seq_len, seq_len) causal mask: additive (0 / -inf, default) or keep/block (1 / 0, float32)."""
    if additive:
        return Tensor(np.triu(np.full((seq_len, seq_len), -np.inf, dtype=np.float32), k=1))
    return Tensor(np.tril(np.ones((seq_len, seq_len), dtype=np.float32)))


def mask_kind(mask, seq_len=None):
    """(mask tensor or None, kind) with kind 'none', 'keep', 'additive' or 'causal'.

    How the engine reads a mask: the classification is done in C++
    (`classify_mask` in csrc/ops/attention_mask.cpp), the same code every
    attention entry point runs. 'causal' is returned (with no tensor) for a
    (seq_len, seq_len) mask that blocks exactly the future positions, in
    either convention.
    """
    return _C._attention_mask_kind(mask, -1 if seq_len is None else seq_len)


@names_the_function("scaled_dot_product_attention")
def scaled_dot_product_attention(Q, K, V, mask=None):
    """softmax(Q K^T / sqrt(d_k) + mask) V.

    Q (..., seq_q, d_k), K (..., seq_k, d_k), V (..., seq_k, d_v); returns
    (output (..., seq_q, d_v), attention weights (..., seq_q, seq_k)), each
    row of the weights summing to 1. See the module docstring for masks.
    """
    Q, K, V = (_as_tensor(t, "scaled_dot_product_attention") for t in (Q, K, V))
    return _C._nn_sdpa(Q, K, V, mask)


class MultiHeadAttention(Module):
    """Self-attention with num_heads heads of size embed_dim // num_heads.

    q_proj, k_proj, v_proj, out_proj: Linear(embed_dim, embed_dim).
    forward(x (batch, seq_len, embed_dim), mask=None) -> (batch, seq_len, embed_dim).
    """

    @names_the_layer
    def __init__(self, embed_dim, num_heads):
        super().__init__()
        embed_dim = positive_int(embed_dim, "embed_dim", "MultiHeadAttention")  # numpy integers too
        num_heads = positive_int(num_heads, "num_heads", "MultiHeadAttention")
        if embed_dim % num_heads != 0:
            raise ValueError(f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads}); e.g. embed_dim=512 with num_heads=8 gives heads of size 64")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = Linear(embed_dim, embed_dim)
        self.k_proj = Linear(embed_dim, embed_dim)
        self.v_proj = Linear(embed_dim, embed_dim)
        self.out_proj = Linear(embed_dim, embed_dim)

    def _fusable(self):
        return (not _overrides.active() and type(self.q_proj) is Linear and type(self.k_proj) is Linear and type(self.v_proj) is Linear
                and type(self.out_proj) is Linear)

    def _params(self):
        q, k, v, o = self.q_proj, self.k_proj, self.v_proj, self.out_proj
        return (q.weight, q.bias, k.weight, k.bias, v.weight, v.bias, o.weight, o.bias)

    @names_the_layer
    def forward(self, x, mask=None):
        x = _as_tensor(x, "MultiHeadAttention")
        if x.ndim != 3 or x.shape[2] != self.embed_dim:
            raise ValueError(f"MultiHeadAttention: expected input of shape (batch, seq_len, {self.embed_dim}), "
                             f"got {x.shape}")
        if self._fusable():
            return _C._nn_mha(x, self._params(), self.num_heads, mask)
        return self._forward_composed(x, mask)

    def _forward_composed(self, x, mask):
        """The same computation from the (possibly user-replaced) projection modules."""
        B, T, D = x.shape
        H, hd = self.num_heads, self.head_dim

        def heads(t):
            return t.reshape(B, T, H, hd).permute(0, 2, 1, 3)

        student_sdpa = _overrides.get("scaled_dot_product_attention", None)
        if student_sdpa is not None:  # tinytorch.course.use_student(12): the student's attention
            m, kind = mask_kind(mask, T)
            if m is not None and m.ndim == 3:
                m = m.unsqueeze(1)  # (batch, seq, seq): shared by the heads
            out, _ = student_sdpa(heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x)),
                                  causal_mask(T) if kind == "causal" else m)
        else:  # a 3-D mask is shared by the heads there too
            out, _ = _C._nn_sdpa(heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x)), mask)
        return self.out_proj(out.permute(0, 2, 1, 3).reshape(B, T, D))

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
