"""Shared helpers of the module-05 tests: float64 leaves in chosen memory
layouts and hypothesis strategies for shapes, axes and well-separated values.

Values come from a numpy generator seeded by hypothesis (not from
hypothesis' own float strategy): finite differences need values that are
neither tied nor within eps of a kink (|x| at 0, max with a near-tie, clip
near a bound), and random draws are so with probability ~1, while hypothesis
still chooses the shapes, axes, layouts and seeds and shrinks failures.
"""
import numpy as np
from hypothesis import strategies as st
import hypothesis.extra.numpy as hnp

import tinytorch as tt

LAYOUTS = ("contiguous", "transposed", "stepped")
SEEDS = st.integers(0, 2**32 - 1)


def values(seed, shape, low=-2.0, high=2.0, away_from_zero=0.0):
    """Uniform float64 values in [low, high]; with away_from_zero=d, |v| >= d."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(low, high, size=shape)
    if away_from_zero:
        v = np.where(np.abs(v) < away_from_zero, np.copysign(away_from_zero, v) + v, v)
    return v


def leaf(v, layout="contiguous", requires_grad=True):
    """A float64 leaf tensor equal to `v`, stored contiguous, transposed or as a stepped slice.

    The non-contiguous ones are views of a larger buffer created without
    grad, so they are leaves whose gradient must come back in their own shape.
    """
    v = np.asarray(v, dtype=np.float64)
    if layout == "transposed" and v.ndim >= 2:
        t = tt.Tensor(np.ascontiguousarray(np.swapaxes(v, -1, -2)), dtype=tt.float64).transpose(-1, -2)
    elif layout == "stepped" and v.ndim >= 1:
        big = np.zeros((2 * v.shape[0],) + v.shape[1:])
        big[::2] = v
        t = tt.Tensor(big, dtype=tt.float64)[::2]
    else:
        t = tt.Tensor(v.copy(), dtype=tt.float64)
    np.testing.assert_array_equal(t.numpy(), v)
    t.requires_grad = requires_grad
    return t


def shapes(min_dims=1, max_dims=3, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def broadcast_pair(max_dims=3, max_side=3):
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=max_side)


@st.composite
def axes_for(draw, ndim):
    """None, one axis (maybe negative) or a tuple of distinct axes."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or ndim == 0:
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


def reduced_count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def grad_fn_name(t):
    return type(t.grad_fn).__name__


def run_isolated(code, timeout=300):
    """Run `code` in a fresh interpreter and return its stdout. Used for
    reproductions that once crashed the interpreter: a regression then shows
    as this test failing (exit code -11 = SIGSEGV), not as a dead pytest."""
    import subprocess
    import sys
    import textwrap

    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, (f"subprocess exited with {r.returncode} (negative: killed by that signal)\n"
                               f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r.stdout
