"""Datasets that work offline (shipped inside the package, no downloads)."""

from .code_snippets import CODE_SNIPPETS, END_OF_TEXT, snippet_batch

__all__ = ["CODE_SNIPPETS", "END_OF_TEXT", "snippet_batch"]
