"""Regression tests for issue 9's crash classes: one test per class, each run in
a child process where a crash would be a failure (not a dead test runner), each
asserting the exact value or the exact error the fix defines.

These are the tests `make sanitize` runs under AddressSanitizer and
UndefinedBehaviorSanitizer: a use-after-free that happens to read the right
bytes, or a wrapped size that happens not to crash, is reported there.
"""
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C

pytestmark = pytest.mark.regression


def run_child(code):
    """Run `code` in a fresh interpreter; return (returncode, stdout, stderr)."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def assert_child_ok(code):
    rc, out, err = run_child(code)
    assert rc == 0, f"child exited with {rc}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    return out


# ---- exports own the storage they view (use-after-free after `t.data = ...`) ----

EXPORTS = {
    "numpy": "t.numpy()",
    "data": "t.data",
    "asarray": "np.asarray(t)",
    "memoryview": "memoryview(t)",
    "dlpack": "np.from_dlpack(t)",
}


@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_export_keeps_its_storage_after_data_is_replaced(kind):
    out = assert_child_ok(f"""
        import gc
        import numpy as np, tinytorch as tt
        t = tt.Tensor(np.arange(4, dtype=np.float32))
        v = {EXPORTS[kind]}
        t.data = np.zeros(7, np.float32)          # swaps t's storage: the export must keep the old one
        gc.collect()
        others = [tt.Tensor(np.full(4, 9.0, np.float32)) for _ in range(50)]  # would reuse freed memory
        raw = np.asarray(v).tobytes()  # a memcpy: under make sanitize, ASan reports a read of freed memory
        print(np.frombuffer(raw, np.float32).tolist())
        print(t.numpy().tolist())
    """)
    assert out.split("\n")[:2] == ["[0.0, 1.0, 2.0, 3.0]", "[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]"]


def test_exports_still_share_memory_with_the_tensor():
    t = tt.Tensor(np.arange(4, dtype=np.float32))
    for view in (t.numpy(), t.data, np.asarray(t), np.from_dlpack(t)):
        view[1] = 42.0
        assert t.numpy()[1] == 42.0
    m = memoryview(t)
    m[2] = 7.0
    assert list(t.numpy()) == [0.0, 42.0, 7.0, 3.0]
    assert m.format == "f" and m.shape == (4,) and m.strides == (4,)
    strided = tt.Tensor(np.arange(12, dtype=np.float64).reshape(3, 4), dtype=np.float64).T
    mv = memoryview(strided)
    assert mv.shape == (4, 3) and mv.strides == (8, 32)
    np.testing.assert_array_equal(np.asarray(mv), np.arange(12.0).reshape(3, 4).T)


# ---- window ops: geometry overflow and division by zero ----

def test_conv_pool_geometry_overflow_is_a_value_error():
    from tinytorch.core.spatial import Conv2d, MaxPool2d
    x = tt.zeros(1, 1, 1, 4)
    # Conv2d runs the fused op (csrc/ops/conv.cpp), which checks the same geometry; the layer names itself
    with pytest.raises(ValueError, match="^Conv2d: kernel .* needs more columns than fit in 64 bits"):
        Conv2d(1, 1, 1, padding=(2 ** 61, 0))(x)
    with pytest.raises(ValueError, match="im2col: kernel .* needs more columns than fit in 64 bits"):
        _C.im2col(x, (1, 1), (1, 1), (2 ** 61, 0))
    with pytest.raises(ValueError, match=r"im2col: padding \(4611686018427387904, 0\) is too large"):
        _C.im2col(x, (1, 1), (1, 1), (2 ** 62, 0))
    with pytest.raises(ValueError, match="im2col: .* too many elements"):
        _C.im2col(x, (1, 1), (1, 1), (2 ** 40, 2 ** 20))
    with pytest.raises(ValueError, match=r"MaxPool2d: stride must be >= 1, got \(0, 0\)"):
        MaxPool2d(1, stride=0)(x)
    with pytest.raises(ValueError, match=r"im2col: stride must be >= 1, got \(0, 1\)"):
        _C.im2col(x, (1, 1), (0, 1))
    # a legal huge stride (no ceil overflow inside the kernel): one output column
    np.testing.assert_array_equal(_C.im2col(tt.Tensor(np.arange(4.0).reshape(1, 1, 1, 4)), (1, 1), (1, 2 ** 62 - 1),
                                            (0, 0)).numpy(), [[[0.0]]])


def test_col2im_zero_stride_and_wrapping_kernel_are_value_errors():
    cols = tt.zeros(1, 1, 4)
    with pytest.raises(ValueError, match=r"col2im: stride must be >= 1, got \(0, 0\)"):
        _C.col2im(cols, (2, 2), (1, 1), (0, 0))
    with pytest.raises(ValueError, match="col2im: columns must be"):
        _C.col2im(cols, (2, 2), (2 ** 32, 2 ** 32))  # kh*kw wrapped to 0 and was divided by
    with pytest.raises(ValueError, match="col2im: padding .* too large"):
        _C.col2im(cols, (1, 4), (1, 1), (1, 1), (2 ** 62, 0))
    # and the legal case still inverts im2col's layout exactly
    x = tt.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    back = _C.col2im(_C.im2col(x, (2, 2), (2, 2)), (4, 4), (2, 2), (2, 2))
    np.testing.assert_array_equal(back.numpy(), x.numpy())


def test_sizes_from_user_numbers_are_checked_before_allocation():
    with pytest.raises(ValueError, match="too many elements"):
        tt.zeros(2 ** 32, 2 ** 32)
    with pytest.raises(ValueError, match="reshape: .* overflow 64 bits"):
        tt.zeros(4).reshape(2 ** 62, 2 ** 2, 0 + 1)
    with pytest.raises(ValueError, match="too many elements"):
        tt.eye(2 ** 32)
    a = tt.zeros(1, 1).expand(2 ** 31, 1)  # a view: no memory, but BLAS would truncate its row count
    with pytest.raises(ValueError, match=r"matmul: .* above 2\*\*31-1"):
        a @ tt.zeros(1, 1)
    with pytest.raises(ValueError, match="too many elements|overflow"):
        tt.zeros(2 ** 32, 1, 1).expand(2 ** 32, 2 ** 32, 1) @ tt.zeros(2 ** 32, 1, 1)
    x = tt.Tensor([1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="var/std: ddof -9223372036854775808 is out of range"):
        x.var(ddof=-(2 ** 63))
    assert x.var(ddof=1).item() == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1))
    assert math.isinf(x.var(ddof=3).item())  # numpy's convention for ddof >= n


# ---- thread count ----

def test_set_num_threads_is_bounded():
    before = tt.get_num_threads()
    limit = _C._max_threads()
    assert 4 <= limit <= 256
    for bad in (0, -1, limit + 1, 100000, 2 ** 40):
        with pytest.raises(ValueError, match=f"set_num_threads: the thread count must be between 1 and {limit}"):
            tt.set_num_threads(bad)
    assert tt.get_num_threads() == before
    try:
        tt.set_num_threads(limit)
        a = np.random.default_rng(0).standard_normal((300, 300)).astype(np.float32)
        np.testing.assert_allclose((tt.Tensor(a) @ tt.Tensor(a)).numpy(), a @ a, rtol=1e-4, atol=1e-3)
    finally:
        tt.set_num_threads(before)


# ---- float -> int writes and signed overflow ----

@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 2.0 ** 63, -(2.0 ** 64)])
def test_nan_and_out_of_range_floats_into_int64_raise(value):
    t = tt.Tensor(np.arange(3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"full: cannot store .* in an int64 tensor"):
        tt.full((3,), value, dtype=np.int64)
    with pytest.raises(ValueError, match=r"fill_: cannot store .* in an int64 tensor"):
        t.fill_(value)
    with pytest.raises(ValueError, match=r"masked_fill: cannot store .* in an int64 tensor"):
        t.masked_fill(tt.Tensor([True, False, True]), value)
    with pytest.raises(ValueError, match=r"linspace: cannot store .* in an int64 tensor"):
        tt.linspace(0, value, 3, dtype=np.int64)
    assert list(t.numpy()) == [0, 1, 2]  # nothing was written
    # the edges that do fit are exact
    assert tt.full((1,), -(2.0 ** 63), dtype=np.int64).item() == -(2 ** 63)


def test_clip_with_a_nan_bound():
    x = np.array([-1.0, 0.5, 3.0], np.float32)
    np.testing.assert_array_equal(tt.Tensor(x).clip(0.0, math.nan).numpy(), np.clip(x, 0.0, np.nan))
    np.testing.assert_array_equal(tt.Tensor(x).clip(math.nan, 1.0).numpy(), np.clip(x, np.nan, 1.0))
    with pytest.raises(ValueError, match="clip: a NaN bound cannot clip an integer tensor"):
        tt.Tensor(np.arange(3), dtype=np.int64).clip(0, math.nan)


def test_int64_arithmetic_wraps_as_numpy_instead_of_overflowing():
    big = np.array([2 ** 63 - 1, -(2 ** 63)], np.int64)
    t = tt.Tensor(big, dtype=np.int64)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal((t + 1).numpy(), big + 1)
        np.testing.assert_array_equal((t * 3).numpy(), big * 3)
        np.testing.assert_array_equal((-t).numpy(), -big)
        np.testing.assert_array_equal((~t).numpy(), ~big)
        a = np.array([[2 ** 62, 3], [-(2 ** 63), 2 ** 40]], np.int64)  # products overflow: matmul wrapped via UB
        np.testing.assert_array_equal((tt.Tensor(a, dtype=np.int64) @ tt.Tensor(a, dtype=np.int64)).numpy(), a @ a)
        np.testing.assert_array_equal(tt.Tensor(big, dtype=np.int64).sum().item(), big.sum())
