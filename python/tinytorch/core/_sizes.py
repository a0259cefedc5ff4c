"""Layer sizes as PyTorch takes them: any integer, Python's or numpy's.

`Linear(np.prod(image_shape), 10)` passes an `np.int64`; PyTorch accepts it, so
every layer constructor checks its sizes here and stores a plain `int`.
Floats (even 2.0) and bools are refused: a size is a count, and
`Linear(True, 3)` or `Linear(2.5, 3)` is always a bug.
"""
import numbers

__all__ = ["is_int", "positive_int"]


def is_int(value) -> bool:
    """True for Python and numpy integers; False for bools and everything else (np.bool_ is not Integral)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, what: str, owner: str) -> int:
    """`value` as a Python int >= 1, or ValueError naming the layer and the argument."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return int(value)
