"""Alias of tinytorch.core.tokenization (TinyTorch's `from tinytorch.text.tokenization import CharTokenizer`).

One of the alias modules listed in tinytorch/compat.py (MODULE_ALIASES).
"""
from ..core.tokenization import *  # noqa: F401,F403
from ..core.tokenization import BPETokenizer, CharTokenizer, Tokenizer, __all__  # noqa: F401
