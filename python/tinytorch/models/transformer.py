"""Alias of tinytorch.core.transformer (TinyTorch's `from tinytorch.models.transformer import GPT`).

One of the alias modules listed in tinytorch/compat.py (MODULE_ALIASES).
"""
from ..core.transformer import *  # noqa: F401,F403
from ..core.transformer import GPT, MLP, LayerNorm, TransformerBlock, __all__  # noqa: F401
