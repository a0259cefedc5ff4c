"""The capstone's text: small Python-like programs the package writes itself.

A submission's quality is measured on a *fixed held-out* text, so every
student, the checker and the milestone see exactly the same characters:
`corpus_text("train")` and `corpus_text("heldout")` are generated from fixed
seeds by the templates below (never downloaded, never read from files that
differ between Python versions), and `corpus_sha256` pins them.

The lines have structure a small character model can learn in a few hundred
steps (keywords, indentation, matching names), and the held-out split uses
different numbers and name combinations than the training split, so a low
held-out loss means the model learned the patterns, not the lines.
"""
import hashlib

import numpy as np

__all__ = ["corpus_text", "corpus_sha256", "CORPUS_NAME", "SPLITS"]

CORPUS_NAME = "tinytorch-capstone-programs-v1"
SPLITS = {"train": 2017, "heldout": 2018}     # split -> generator seed
_NAMES = ("x", "y", "total", "count", "value", "size", "n", "step")
_FUNCS = ("add", "scale", "clip", "area", "mean")


def _line(rng):
    kind = rng.integers(0, 4)
    a, b = (str(v) for v in rng.integers(0, 100, size=2))
    v, w = (_NAMES[i] for i in rng.choice(len(_NAMES), size=2, replace=False))
    if kind == 0:
        return f"{v} = {a} + {b}\n"
    if kind == 1:
        return f"{v} = {w} * {a}\n"
    if kind == 2:
        return f"if {v} > {a}:\n    {v} = {w}\n"
    f = _FUNCS[rng.integers(0, len(_FUNCS))]
    return f"def {f}({v}, {w}):\n    return {v} + {w}\n"


def corpus_text(split="train", lines=None):
    """The `split` ("train" or "heldout") text: `lines` generated lines (default 400 for train, 60 for heldout)."""
    if split not in SPLITS:
        raise ValueError(f"corpus_text: split must be one of {sorted(SPLITS)}, got {split!r}")
    if lines is None:
        lines = 400 if split == "train" else 60
    if isinstance(lines, bool) or not isinstance(lines, (int, np.integer)) or lines < 1:
        raise ValueError(f"corpus_text: lines must be a positive integer, got {lines!r}")
    rng = np.random.default_rng(SPLITS[split])
    return "".join(_line(rng) for _ in range(int(lines)))


def corpus_sha256(text):
    """Hex SHA-256 of the UTF-8 text: what a report records to name its evaluation text exactly."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
