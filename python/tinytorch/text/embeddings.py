"""Alias of tinytorch.core.embeddings (TinyTorch's `from tinytorch.text.embeddings import Embedding`).

One of the alias modules listed in tinytorch/compat.py (MODULE_ALIASES).
"""
from ..core.embeddings import *  # noqa: F401,F403
from ..core.embeddings import (Embedding, EmbeddingLayer, PositionalEncoding, SinusoidalPositionalEncoding,  # noqa: F401
                               __all__, create_sinusoidal_embeddings)
