"""Datasets that work offline (shipped inside the package, no downloads)."""

from .code_snippets import CODE_SNIPPETS, END_OF_TEXT, snippet_batch
from .digits import load_tiny_digits, make_digits
from .loader import DataLoader, Dataset, TensorDataset

__all__ = ["CODE_SNIPPETS", "END_OF_TEXT", "snippet_batch", "make_digits", "load_tiny_digits",
           "Dataset", "TensorDataset", "DataLoader"]
