"""Shapes whose element count overflows int64, or with more than 64 dims, are refused
before any kernel runs (a wrapped count once passed the reshape size check and crashed)."""
import subprocess
import sys

import pytest

import tinytorch as tt
from tinytorch import _C

pytestmark = pytest.mark.core

BIG = 4611686018427387905  # (2**62 + 1) * (2**62 + 3) * 2 wraps to 6 modulo 2**64


def test_reshape_whose_count_wraps_to_numel_is_refused():
    x = tt.arange(6.0)
    with pytest.raises(ValueError, match="reshape: .*overflow 64 bits"):
        x.reshape(BIG, BIG + 2, 2)
    with pytest.raises(ValueError, match="overflow"):
        x.view(BIG, BIG + 2, 2)
    with pytest.raises(ValueError, match="overflow"):
        _C._shape.infer_reshape([BIG, BIG + 2, 2], 6)


def test_overflowing_reshape_does_not_crash_the_interpreter():
    code = ("import tinytorch as tt\n"
            "try:\n    tt.arange(6.0).reshape(%d, %d, 2).sum()\n"
            "except ValueError:\n    print('refused')\n" % (BIG, BIG + 2))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "refused", out.stderr


@pytest.mark.parametrize("make", [
    lambda: tt.zeros(2**40, 2**40),
    lambda: tt.ones(2**31, 2**31, 2**31),
    lambda: tt.empty(2**62, 4),
    lambda: tt.full((2**62, 2**3), 1.0),
    lambda: tt.rand(2**40, 2**40),
    lambda: tt.ones(1, 1).expand(2**40, 2**40),
    lambda: tt.ones(1).broadcast_to(2**62, 2**62),
])
def test_factories_and_expand_refuse_overflowing_shapes(make):
    with pytest.raises(ValueError, match="too many elements|overflow"):
        make()


def test_more_than_64_dims_is_refused():
    with pytest.raises(ValueError, match="ones: a tensor can have at most 64 dimensions, got 200"):
        tt.ones(*[1] * 200)
    with pytest.raises(ValueError, match="at most 64 dimensions, got 65"):
        tt.ones(1).reshape(*[1] * 65)
    with pytest.raises(ValueError, match="at most 64 dimensions"):
        tt.ones(1).expand(*[1] * 65)
    with pytest.raises(ValueError, match="at most 64 dimensions"):
        tt.ones(*[1] * 64)[(None,)]
    assert tt.ones(*[1] * 64).sum().item() == 1.0  # 64 is fine, as in numpy


def test_huge_slice_steps_do_not_overflow():
    t = tt.arange(5.0)
    assert t[:: 2**62].tolist() == [0.0]
    assert t[:: -(2**62)].tolist() == [4.0]
    assert t[::2**80].tolist() == [0.0]
