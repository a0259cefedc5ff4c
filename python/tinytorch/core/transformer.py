"""Module 13: transformers. LayerNorm, MLP, TransformerBlock and GPT.

The stock blocks run in C++ (csrc/nn/transformer.cpp): one call builds a
whole block's graph (LayerNorm -> packed QKV GEMM -> fused causal attention
-> output projection -> residual -> LayerNorm -> Linear+GELU -> Linear ->
residual), and `GPT.forward` is a single call for the whole model; backward
then runs entirely in C++. The parameters are still the ordinary tensors of
the Python modules, and a block whose parts were replaced by user modules
falls back to calling those parts one by one, so subclassing and swapping
layers keep working.
"""
import numpy as np

from .. import _C
from .autograd import no_grad
from . import overrides as _overrides
from .activations import GELU
from .attention import MultiHeadAttention, causal_mask
from .embeddings import Embedding, _token_ids
from .losses import integer_ids
from .layers import Dropout, Linear
from .module import Module
from .tensor import Tensor, _as_tensor
from ._errors import names_the_layer

_SMALLEST_SAMPLING_TEMPERATURE = 1.0 / np.finfo(np.float64).max  # 1 / T overflows below this

__all__ = ["LayerNorm", "MLP", "TransformerBlock", "GPT", "MultiHeadAttention", "Embedding"]


class LayerNorm(Module):
    """Normalizes over the last dims: (x - mean) / sqrt(var + eps) * gamma + beta.

    normalized_shape: int (the last dim, usually embed_dim) or a tuple of the
    trailing dims. gamma starts at ones, beta at zeros. Forward and backward
    are fused C++ kernels (csrc/ops/nn_kernels.cpp; the op is
    tinytorch.layer_norm, its node LayerNormBackward in
    csrc/autograd/fused_backward.cpp).
    """

    @names_the_layer
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        if not isinstance(shape, (tuple, list)) or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape):
            raise TypeError(f"LayerNorm: normalized_shape must be an int or a tuple of ints, got "
                            f"{type(normalized_shape).__name__} {normalized_shape!r}")
        shape = tuple(shape)
        if not shape or any(int(d) < 1 for d in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive sizes, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps = float(eps)
        self.gamma = _C.ones(*self.normalized_shape, requires_grad=True)
        self.beta = _C.zeros(*self.normalized_shape, requires_grad=True)

    @names_the_layer
    def forward(self, x):
        x = _as_tensor(x, "LayerNorm")
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm: input of shape {x.shape} does not end with normalized_shape "
                             f"{self.normalized_shape}")
        if k == 1:
            return _C.layer_norm(x, self.gamma, self.beta, self.eps)
        size = int(np.prod(self.normalized_shape))  # not -1: with a 0-size batch dim it is ambiguous
        flat = x.reshape(*x.shape[:-k], size)
        out = _C.layer_norm(flat, self.gamma.reshape(size), self.beta.reshape(size), self.eps)
        return out.reshape(*x.shape)

    def extra_repr(self):
        shape = self.normalized_shape[0] if len(self.normalized_shape) == 1 else self.normalized_shape
        return f"{shape}, eps={self.eps}"


def _fused_layer_norm(ln):
    return not _overrides.active() and type(ln) is LayerNorm and len(ln.normalized_shape) == 1


class MLP(Module):
    """Feed-forward network of a block: linear1 (embed -> hidden) -> GELU -> linear2 (hidden -> embed) -> dropout.

    hidden_dim defaults to 4 * embed_dim. Dropout (dropout_prob) acts only in training mode.
    """

    @names_the_layer
    def __init__(self, embed_dim, hidden_dim=None, dropout_prob=0.1):
        super().__init__()
        if hidden_dim is None:
            hidden_dim = 4 * embed_dim
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.linear1 = Linear(embed_dim, hidden_dim)
        self.gelu = GELU()
        self.linear2 = Linear(hidden_dim, embed_dim)
        self.dropout = Dropout(dropout_prob)

    def _fusable(self):
        return (not _overrides.active() and type(self.linear1) is Linear and type(self.linear2) is Linear
                and type(self.gelu) is GELU
                and self.gelu.approximate == "tanh" and type(self.dropout) is Dropout)

    @names_the_layer
    def forward(self, x):
        x = _as_tensor(x, "MLP")
        if self._fusable():
            return _C._nn_mlp(x, self.linear1.weight, self.linear1.bias, self.linear2.weight, self.linear2.bias,
                              self.dropout.p, self.dropout.training)
        return self.dropout(self.linear2(self.gelu(self.linear1(x))))

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, hidden_dim={self.hidden_dim}"


class TransformerBlock(Module):
    """Pre-norm transformer block: x + dropout(attention(ln1(x), mask)), then + mlp(ln2(.)).

    attention: MultiHeadAttention(embed_dim, num_heads); ln1, ln2: LayerNorm(embed_dim);
    mlp: MLP(embed_dim, int(embed_dim * mlp_ratio), dropout_prob).
    """

    @names_the_layer
    def __init__(self, embed_dim, num_heads, mlp_ratio=4, dropout_prob=0.1):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.attention = MultiHeadAttention(embed_dim, num_heads)
        self.ln1 = LayerNorm(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.mlp = MLP(embed_dim, int(embed_dim * mlp_ratio), dropout_prob)
        self.dropout = Dropout(dropout_prob)  # on the attention output, before the residual add

    def _fusable(self):
        """True when every part is the stock class, so the C++ block computes exactly what the parts would."""
        mlp, attn = self.mlp, self.attention
        return (type(attn) is MultiHeadAttention and attn._fusable() and _fused_layer_norm(self.ln1)
                and _fused_layer_norm(self.ln2) and type(mlp) is MLP and mlp._fusable()
                and type(self.dropout) is Dropout and self.dropout.p == mlp.dropout.p
                and (self.dropout.p == 0 or self.dropout.training == mlp.dropout.training))

    def _params(self):
        a, m = self.attention, self.mlp
        return (self.ln1.gamma, self.ln1.beta, self.ln1.eps) + a._params() + \
               (self.ln2.gamma, self.ln2.beta, self.ln2.eps,
                m.linear1.weight, m.linear1.bias, m.linear2.weight, m.linear2.bias)

    @names_the_layer
    def forward(self, x, mask=None):
        x = _as_tensor(x, "TransformerBlock")
        if self._fusable():
            if x.ndim != 3:
                raise ValueError(f"TransformerBlock: expected input of shape (batch, seq_len, embed_dim), got {x.shape}")
            return _C._nn_block(x, self._params(), self.attention.num_heads, mask, self.dropout.p,
                                self.dropout.training)
        x = x + self.dropout(self.attention(self.ln1(x), mask))
        return x + self.mlp(self.ln2(x))

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


class GPT(Module):
    """Decoder-only transformer language model.

    token_embedding: Embedding(vocab_size, embed_dim); position_embedding:
    Embedding(max_seq_len, embed_dim) (learned positions); blocks: a list of
    num_layers TransformerBlocks; ln_f: LayerNorm; lm_head: Linear(embed_dim,
    vocab_size, bias=False). forward(tokens (batch, seq_len) ints) -> logits
    (batch, seq_len, vocab_size), each position seeing only itself and the
    past (causal mask).

    dropout_prob (default 0.0, as TinyTorch's GPT has no dropout) is passed
    to every block.
    """

    @names_the_layer
    def __init__(self, vocab_size, embed_dim, num_layers, num_heads, max_seq_len=1024, dropout_prob=0.0):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("num_heads", num_heads),
                        ("max_seq_len", max_seq_len)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"GPT: {name} must be a positive integer, got {v!r}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 0:
            raise ValueError(f"GPT: num_layers must be a non-negative integer, got {num_layers!r}")
        if embed_dim % num_heads:  # checked here too: with num_layers=0 no attention layer would check it
            raise ValueError(f"GPT: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.max_seq_len = max_seq_len
        self.token_embedding = Embedding(vocab_size, embed_dim)
        self.position_embedding = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads, dropout_prob=dropout_prob) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size, bias=False)

    def _fusable(self):
        if not (type(self.token_embedding) is Embedding and type(self.position_embedding) is Embedding
                and _fused_layer_norm(self.ln_f) and type(self.lm_head) is Linear):
            return False
        for b in self.blocks:
            if type(b) is not TransformerBlock or not b._fusable() or b.attention.num_heads != self.num_heads:
                return False
            if b.dropout.p != self.blocks[0].dropout.p or b.dropout.training != self.blocks[0].dropout.training:
                return False
        return True

    @names_the_layer
    def forward(self, tokens):
        tokens = _token_ids(tokens, "GPT")
        if tokens.ndim != 2:
            raise ValueError(f"GPT: tokens must have shape (batch, seq_len), got {tokens.shape}")
        if tokens.shape[1] > self.max_seq_len:
            raise ValueError(f"GPT: sequence length {tokens.shape[1]} exceeds max_seq_len={self.max_seq_len}; "
                             f"crop the input to its last {self.max_seq_len} tokens")
        if self._fusable():
            p = self.blocks[0].dropout if self.blocks else None
            return _C._nn_gpt(tokens, self.token_embedding.weight, self.position_embedding.weight,
                              [b._params() for b in self.blocks], self.ln_f.gamma, self.ln_f.beta, self.ln_f.eps,
                              self.lm_head.weight, self.lm_head.bias, self.num_heads,
                              p.p if p else 0.0, p.training if p else False)
        T = tokens.shape[1]
        positions = Tensor(np.arange(T, dtype=np.int64).reshape(1, T), dtype=np.int64)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        mask = self._create_causal_mask(T)
        for block in self.blocks:
            x = block(x, mask)
        return self.lm_head(self.ln_f(x))

    def _create_causal_mask(self, seq_len):
        """TinyTorch's additive causal mask: 0 on and below the diagonal, -inf above."""
        return causal_mask(seq_len, additive=True)

    def generate(self, prompt_tokens, max_new_tokens=50, temperature=1.0, top_k=None, use_cache=None):
        """Extends the prompt by sampling one token at a time; returns prompt + new tokens.

        prompt_tokens: a list of ids, a (seq,) or (batch, seq) array or Tensor.
        The result has the same kind (list / numpy array / Tensor) and
        dimensionality as the prompt. temperature 0 picks the most likely
        token (greedy, deterministic); higher values flatten the distribution.
        top_k keeps only the k most likely tokens before sampling. Sampling
        uses tinytorch's generator, so tinytorch.manual_seed makes it
        reproducible. The context is cropped to the last max_seq_len tokens.
        Runs without recording gradients and with dropout off.

        use_cache: None uses the KV cache attached by
        tinytorch.perf.memoization.enable_kv_cache(model) if there is one;
        True / False force it on (a temporary cache when none is attached) or
        off. The cached path computes the prompt once and then one token per
        step in C++ (csrc/nn/kv_decode.cpp) and gives the same tokens; a model
        whose parts are not the stock classes (or while a student override is
        active) always takes the uncached path.
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
            raise ValueError(f"generate: max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)) \
                or not np.isfinite(temperature) or temperature < 0:
            raise ValueError(f"generate: temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise ValueError(f"generate: top_k must be None or an integer >= 1, got {top_k!r}")
        if use_cache not in (None, True, False):
            raise TypeError(f"generate: use_cache must be None, True or False, got {use_cache!r}")

        kind = "tensor" if isinstance(prompt_tokens, Tensor) else "list" if isinstance(prompt_tokens, (list, tuple)) \
            else "numpy"
        arr = np.asarray(integer_ids(prompt_tokens, "generate", "prompt_tokens", "token ids"))
        if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
            raise ValueError(f"generate: prompt_tokens must be a non-empty (seq,) or (batch, seq) sequence of "
                             f"token ids, got shape {arr.shape}")
        seq = np.array(arr, dtype=np.int64, ndmin=2)
        if seq.min() < 0 or seq.max() >= self.vocab_size:
            bad = int(seq.min() if seq.min() < 0 else seq.max())
            raise IndexError(f"generate: token id {bad} is out of range for vocab_size {self.vocab_size}")

        was_training = self.training
        self.eval()
        try:
            with no_grad():
                from ..perf import memoization
                attached = self.__dict__.get("_kv_cache") if self.__dict__.get("_cache_enabled") else None
                want_cache = use_cache if use_cache is not None else attached is not None
                if want_cache and max_new_tokens > 0 and memoization.cache_usable(self):
                    seq = memoization.cached_generate(self, seq, max_new_tokens,
                                                      lambda lg: self._pick(lg, temperature, top_k), attached)
                    max_new_tokens = 0
                for _ in range(int(max_new_tokens)):
                    context = seq[:, -self.max_seq_len:]
                    logits = np.asarray(self.forward(Tensor(context, dtype=np.int64)))[:, -1, :].astype(np.float64)
                    seq = np.concatenate([seq, self._pick(logits, temperature, top_k)[:, None]], axis=1)
        finally:
            self.train(was_training)

        out = seq if arr.ndim == 2 else seq[0]
        if kind == "tensor":
            return Tensor(out, dtype=np.int64)
        if kind == "list":
            return out.tolist()
        return out

    @staticmethod
    def _pick(logits, temperature, top_k):
        """Next token per row of (batch, vocab) logits."""
        temperature = float(temperature)
        # Below 1/float64-max (~5.6e-309, e.g. subnormal 1e-320) softmax(logits / T) is
        # one-hot on the largest logit (up to exact ties): pick it greedily, not by dividing.
        if temperature < _SMALLEST_SAMPLING_TEMPERATURE:
            return logits.argmax(axis=-1).astype(np.int64)
        # Shift before dividing: logits - max <= 0, so a tiny T can only push a score to
        # -inf (probability exactly 0), never to +inf (inf - inf = NaN).
        with np.errstate(over="ignore"):
            scaled = (logits - logits.max(axis=-1, keepdims=True)) / temperature
        if top_k is not None and top_k < scaled.shape[-1]:
            kth = np.sort(scaled, axis=-1)[:, -top_k][:, None]
            scaled = np.where(scaled < kth, -np.inf, scaled)
        probs = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        u = np.asarray(_C.rand(probs.shape[0], dtype=np.float64))
        cdf = np.cumsum(probs, axis=-1)
        picks = [min(int(np.searchsorted(c, x * c[-1], side="right")), len(c) - 1) for c, x in zip(cdf, u)]
        return np.array(picks, dtype=np.int64)

    def extra_repr(self):
        return (f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, num_layers={self.num_layers}, "
                f"num_heads={self.num_heads}, max_seq_len={self.max_seq_len}")
