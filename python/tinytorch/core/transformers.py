"""Alias of tinytorch.core.transformer (the name some course editions import).

One of the alias modules listed in tinytorch/compat.py (MODULE_ALIASES).
"""
from .transformer import *  # noqa: F401,F403
from .transformer import GPT, MLP, LayerNorm, TransformerBlock, __all__  # noqa: F401
