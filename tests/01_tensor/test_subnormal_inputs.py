"""Unary math at the edges of the float range, against numpy/libm to the ulp.

xsimd 8.1 (the SIMD library under csrc/ops/elementwise.cpp) gets these wrong:
double log reads a subnormal's exponent before rescaling it (log(1.1e-308)
was -746.1, not -709.1), exp flushes subnormal results to 0 and overflows one
bit early (exp(709.7) was inf), double erf is nan at +-DBL_MAX and ~20 ulps
off for tiny x. Each case runs contiguous and as a strided view (every
other element of a longer buffer, so the SIMD batches mix edge values with
ordinary ones).
"""
import math

import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip

pytestmark = pytest.mark.module01

DTYPES = [np.float32, np.float64]


def edge_values(dt):
    """Subnormals (smallest, mid, largest), zeros, the smallest normal and its neighbours,
    infinities, NaN, the largest finite values and a few ordinary numbers."""
    fi = np.finfo(dt)
    sub = fi.smallest_subnormal
    vals = [sub, 3 * sub, 1000 * sub, fi.tiny / 3, fi.tiny / 2, np.nextafter(fi.tiny, 0, dtype=dt),
            fi.tiny, np.nextafter(fi.tiny, 1, dtype=dt), 2 * fi.tiny, 0.0, -0.0, -sub, -fi.tiny / 2,
            np.inf, -np.inf, np.nan, fi.max, -fi.max, 1.0, 0.5, -2.5, 1e-3]
    vals.append(1e-40 if dt == np.float32 else 1.1e-308)
    return np.array(vals, dtype=dt)


def layouts(a):
    """(numpy array, tinytorch tensor) pairs: contiguous, and a stride-2 view of a buffer whose
    other elements are ordinary numbers."""
    yield a, tt.Tensor(a, dtype=a.dtype)
    buf = np.full(2 * a.size, 0.75, dtype=a.dtype)
    buf[::2] = a
    yield buf[::2], tt.Tensor(buf, dtype=a.dtype)[::2]


def ulps(got, want):
    """Distance in units of the last place of `want` (0 when equal, both NaN, or both the same
    infinity; inf when only one is NaN/inf or zeros differ in sign)."""
    got, want = np.asarray(got), np.asarray(want)
    dt = want.dtype
    out = np.zeros(want.shape)
    both_nan = np.isnan(got) & np.isnan(want)
    equal = (got == want) & (np.signbit(got) == np.signbit(want))
    differ = ~(both_nan | equal)
    with np.errstate(all="ignore"):
        dist = np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.spacing(np.abs(want)).astype(np.float64)
    out[differ] = np.where(np.isfinite(dist[differ]), dist[differ], np.inf)
    return out


def assert_ulps(got, want, max_ulps, what):
    u = ulps(got, want)
    bad = u > max_ulps
    assert not bad.any(), f"{what}: {int(bad.sum())} values off by > {max_ulps} ulps: got {got[bad]!r} want {want[bad]!r}"


def libm(fn, a):
    """Reference computed with Python's math (double) per element, rounded to a's dtype."""
    out = []
    for v in a.astype(np.float64):
        try:
            out.append(fn(v))
        except (ValueError, OverflowError):
            out.append(math.nan)
    return np.array(out).astype(a.dtype)


@pytest.mark.parametrize("dt", DTYPES)
def test_log_of_subnormals_matches_numpy(dt):
    for a, t in layouts(edge_values(dt)):
        with np.errstate(all="ignore"):
            want = np.log(a)
        assert_ulps(tt.log(t).numpy(), want, 1, f"log {np.dtype(dt)}")


def test_the_reported_value():
    got = tt.log(tt.Tensor(np.array([1.1e-308]), dtype=tt.float64)).numpy()[0]
    assert abs(got - (-709.1008984623618)) < 1e-12
    got32 = tt.log(tt.Tensor(np.array([1e-40], dtype=np.float32), dtype=tt.float32)).numpy()[0]
    assert got32 == np.log(np.float32(1e-40))


@pytest.mark.parametrize("dt", DTYPES)
def test_log_of_every_subnormal_scale(dt):
    # one value in each binade of the subnormal range, and random ones: the rescale must be exact
    fi = np.finfo(dt)
    bits = fi.nmant
    a = np.concatenate([fi.smallest_subnormal * (2.0 ** np.arange(bits)),
                        np.random.default_rng(0).uniform(0, 1, 997) * fi.tiny]).astype(dt)
    for x, t in layouts(a):
        assert_ulps(tt.log(t).numpy(), np.log(x), 1, f"log {np.dtype(dt)} subnormal binades")


@pytest.mark.parametrize("dt", DTYPES)
def test_exp_near_underflow_and_overflow_matches_numpy(dt):
    # the bands where exp's result is subnormal or within a few ulps of overflowing
    if dt == np.float32:
        a = np.concatenate([np.linspace(-105, -86, 2001), np.linspace(87.5, 89, 301)]).astype(dt)
    else:
        a = np.concatenate([np.linspace(-746, -707, 2001), np.linspace(708.5, 710.5, 301)]).astype(dt)
    a = np.concatenate([a, edge_values(dt)])
    for x, t in layouts(a):
        with np.errstate(all="ignore"):
            want = np.exp(x)
        assert_ulps(tt.exp(t).numpy(), want, 2, f"exp {np.dtype(dt)}")
    assert tt.exp(tt.Tensor(np.array([-708.5]), dtype=tt.float64)).numpy()[0] > 0  # was flushed to 0
    assert np.isfinite(tt.exp(tt.Tensor(np.array([709.7]), dtype=tt.float64)).numpy()[0])  # was inf


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", ["sqrt", "tanh", "sin", "cos"])
def test_other_unary_ops_on_edge_values_match_numpy(dt, name):
    for a, t in layouts(edge_values(dt)):
        with np.errstate(all="ignore"):
            want = getattr(np, name)(a)
        assert_ulps(getattr(tt, name)(t).numpy(), want, 0 if name == "sqrt" else 2, f"{name} {np.dtype(dt)}")


@pytest.mark.parametrize("dt", DTYPES)
def test_erf_on_edge_values_matches_libm(dt):
    # edges only: between 2**-28 and 6 xsimd's double erf is up to ~70 ulps off (a separate issue)
    a = np.concatenate([edge_values(dt), np.array([1e-20, -1e-20, 1e-9, 3e-9, 6.5, 30, -1e300 if dt == np.float64 else -1e30])
                        .astype(dt)])
    a = a[~((np.abs(a) >= 2.0 ** -28) & (np.abs(a) <= 6))]
    for x, t in layouts(a):
        assert_ulps(tt.erf(t).numpy(), libm(math.erf, x), 1, f"erf {np.dtype(dt)}")


def sigmoid_libm(v):
    if math.isnan(v):
        return math.nan
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@pytest.mark.parametrize("dt", DTYPES)
def test_sigmoid_on_edge_values_matches_libm(dt):
    # torch flushes sigmoid(-100.0f) to 0; the true value 3.8e-44 is a float32 subnormal
    lo = -745.0 if dt == np.float64 else -103.0
    a = np.concatenate([edge_values(dt), np.linspace(lo, lo + 40, 81).astype(dt)])
    for x, t in layouts(a):
        assert_ulps(tt.sigmoid(t).numpy(), libm(sigmoid_libm, x), 2, f"sigmoid {np.dtype(dt)}")
    assert tt.sigmoid(tt.Tensor(np.array([-740.0]), dtype=tt.float64)).numpy()[0] == np.exp(-740.0)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_on_finite_edge_values_matches_torch(dt, approximate):
    # torch's gelu(inf) is nan, a quirk of its formula; infinities are left out, and so are the
    # ordinary values (xsimd's double erf is up to ~70 ulps off there, a separate issue)
    torch = torch_or_skip()
    a = edge_values(dt)
    a = a[np.isnan(a) | (np.abs(a) < 1e-20)]
    for x, t in layouts(a):
        want = torch.nn.functional.gelu(torch.from_numpy(np.ascontiguousarray(x)), approximate=approximate).numpy()
        assert_ulps(tt.gelu(t, approximate=approximate).numpy(), want, 4, f"gelu {approximate} {np.dtype(dt)}")


@pytest.mark.parametrize("dt", DTYPES)
def test_pow_with_subnormal_results_and_bases_matches_numpy(dt):
    fi = np.finfo(dt)
    a = np.concatenate([edge_values(dt), np.array([fi.tiny ** 0.5, fi.tiny ** 0.6], dtype=dt)])
    for x, t in layouts(a):
        for p in (2.0, 0.5, 3.0):
            with np.errstate(all="ignore"):
                want = np.power(x, dt(p))
            assert_ulps(tt.pow(t, p).numpy(), want, 2, f"pow(x, {p}) {np.dtype(dt)}")


@pytest.mark.parametrize("dt", DTYPES)
def test_log_softmax_logsumexp_cross_entropy_with_subnormal_logits(dt):
    torch = torch_or_skip()
    fi = np.finfo(dt)
    lo = -740.0 if dt == np.float64 else -100.0  # exp(lo) is subnormal
    x = np.array([[fi.smallest_subnormal, fi.tiny / 2, 0.0, -fi.tiny],
                  [0.0, lo, 1.0, fi.tiny],
                  [lo, lo, lo, lo]], dtype=dt)
    tx = torch.from_numpy(x)
    t = tt.Tensor(x, dtype=dt)
    assert_ulps(tt.log_softmax(t, axis=-1).numpy(), torch.log_softmax(tx, -1).numpy(), 2, "log_softmax")
    assert_ulps(tt.logsumexp(t, axis=1).numpy(), torch.logsumexp(tx, 1).numpy(), 2, "logsumexp")
    assert_ulps(tt.softmax(t, axis=-1).numpy(), torch.softmax(tx, -1).numpy(), 2, "softmax")
    target = np.array([0, 1, 3])
    want = torch.nn.functional.cross_entropy(tx, torch.from_numpy(target)).numpy()
    assert_ulps(np.asarray(tt.cross_entropy(t, tt.Tensor(target)).numpy()), np.asarray(want), 2, "cross_entropy")


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("axis", [1, 0])
def test_softmax_keeps_subnormal_probabilities(dt, axis):
    # exp(x - max) in the subnormal band used to flush to 0 inside SIMD batches (but not in the
    # scalar tail); reference: the same formula in double with libm, rounded
    lo, hi = (-104.0, -87.0) if dt == np.float32 else (-745.0, -708.0)
    row = np.concatenate([[0.0], np.linspace(lo, hi, 39)]).astype(dt)
    x = np.stack([row, row[::-1], np.zeros_like(row)]).astype(dt)
    x = x if axis == 1 else np.ascontiguousarray(x.T)
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True).astype(np.float64))
    want = (e / e.sum(axis=axis, keepdims=True)).astype(dt)
    got = tt.softmax(tt.Tensor(x, dtype=dt), axis=axis).numpy()
    assert_ulps(got, want, 2, f"softmax axis {axis} {np.dtype(dt)}")
