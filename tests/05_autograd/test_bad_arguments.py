"""Bad arguments to the autograd API give a clear Python exception, never a
crash: None among outputs/inputs/seeds, a short seed list to the private
_C._run_backward, .grad assignments of the wrong dtype or layout, custom
Function backwards returning junk, non-callable hooks.

The None cases once segfaulted, so they run in a subprocess (run_isolated):
a regression fails this test instead of killing pytest."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import autograd

from autograd_testing import run_isolated

pytestmark = pytest.mark.module05


def f64(v, requires_grad=True):
    return tt.Tensor(np.asarray(v, dtype=np.float64), requires_grad=requires_grad, dtype=tt.float64)


def test_none_outputs_inputs_and_short_seeds_raise_instead_of_crashing():
    out = run_isolated('''
        import tinytorch as tt
        from tinytorch import _C
        x = tt.Tensor([1.0, 2.0], requires_grad=True)
        cases = [
            lambda: tt.autograd.grad((x * 2).sum(), [x, None], allow_unused=True),
            lambda: tt.autograd.grad((x * 2).sum(), [None]),
            lambda: tt.autograd.grad([(x * 2).sum(), None], [x]),
            lambda: tt.autograd.backward([(x * 2).sum()], inputs=[None]),
            lambda: tt.autograd.backward([None]),
            # the private entry points, bypassing the Python checks
            lambda: _C._run_backward([(x * 2).sum()], [None], False, False, [None], True),
            lambda: _C._run_backward([None], [None], False, False, [], False),
            lambda: _C._run_backward([(x * 2).sum(), (x * 3).sum()], [], False, False, [], False),
            lambda: _C._register_hook(None, print),
            lambda: _C._remove_hook(None, 0),
        ]
        for f in cases:
            try:
                f()
                print("no error")
            except Exception as e:
                print(type(e).__name__, "|", str(e).splitlines()[0])  # pybind's messages span lines
    ''')
    lines = out.strip().splitlines()
    assert len(lines) == 10, out
    for line in lines[:5]:
        assert line.startswith("TypeError |") and "NoneType, not a Tensor" in line, line
    # None never reaches C++ as a Tensor: the caster refuses it (pybind's TypeError)
    assert lines[5].startswith("TypeError |") and "_run_backward" in lines[5]
    assert lines[6].startswith("TypeError |") and "_run_backward" in lines[6]
    assert lines[7].startswith("ValueError |") and "got 0 gradients for 2 outputs" in lines[7]
    assert lines[8].startswith("TypeError |") and "register_hook" in lines[8]  # None is refused by the Tensor caster
    assert lines[9].startswith("TypeError |") and "remove_hook" in lines[9]


def test_seed_with_none_entries_is_a_type_error_not_nan():
    x = f64([1.0, 2.0])
    y = x * 3.0
    with pytest.raises(TypeError, match=r"backward: gradient \[None, None\] contains non-numbers"):
        y.backward([None, None])
    with pytest.raises(TypeError, match=r"grad: gradient .* contains non-numbers"):
        autograd.grad(y, x, grad_outputs=[[1.0, None]])
    with pytest.raises(TypeError, match=r"backward: gradient must be a Tensor, a number .* got str"):
        y.backward("ones")
    assert x.grad is None  # nothing was accumulated by the failed calls
    y.backward([1.0, 2.0])  # plain numbers still work
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])


def test_grad_assignment_checks_dtype_and_shape():
    x = f64([1.0, 2.0])
    with pytest.raises(TypeError, match=r"assigned grad has data of a different type \(float32\) than the "
                                         r"tensor \(float64\)"):
        x.grad = tt.ones(2)
    with pytest.raises(ValueError, match=r"assigned gradient has shape \(3,\) but the tensor has shape \(2,\)"):
        x.grad = tt.Tensor(np.ones(3), dtype=tt.float64)
    assert x.grad is None
    x.grad = np.array([1.0, 1.0])  # array-likes are converted to the tensor's dtype
    assert x.grad.dtype == np.float64


def test_expanded_grad_assignment_is_copied_not_aliased():
    # x.grad = ones(1).expand(2): both elements share one memory cell, so an
    # in-place accumulation used to add both contributions into it ([7, 7]).
    x = f64([1.0, 2.0])
    x.grad = tt.Tensor(np.ones(1), dtype=tt.float64).expand(2)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])
    # A transposed (non-contiguous) gradient keeps its values.
    w = tt.Tensor(np.zeros((2, 3)), requires_grad=True, dtype=tt.float64)
    g = tt.Tensor(np.arange(6.0).reshape(3, 2), dtype=tt.float64).transpose(0, 1)
    w.grad = g
    w.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.arange(6.0).reshape(3, 2).T + 1)
    np.testing.assert_array_equal(g.numpy(), np.arange(6.0).reshape(3, 2).T)  # the source is untouched


class _Twice(autograd.Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2.0


def test_custom_backward_returning_a_string_names_the_function_and_position():
    class Bad(_Twice):
        @staticmethod
        def backward(ctx, g):
            return "oops"

    x = f64([1.0, 2.0])
    with pytest.raises(TypeError, match=r"Bad\.backward returned a str as gradient 0; return a Tensor"):
        Bad.apply(x).sum().backward()


def test_custom_backward_may_return_extra_trailing_nones():
    class ExtraNones(_Twice):
        @staticmethod
        def backward(ctx, g):
            return g * 2.0, None, None

    class ExtraTensor(_Twice):
        @staticmethod
        def backward(ctx, g):
            return g * 2.0, g

    x = f64([1.0, 2.0])
    ExtraNones.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(RuntimeError, match=r"ExtraTensorBackward: backward returned 2 gradients, but forward "
                                           r"took 1 arguments"):
        ExtraTensor.apply(x).sum().backward()


def test_register_hook_requires_a_callable():
    x = f64([1.0])
    with pytest.raises(TypeError, match=r"register_hook: hook must be callable .*got int"):
        x.register_hook(5)
    with pytest.raises(TypeError, match=r"hook must be callable"):
        (x * 2.0).register_hook(None)
    (x * 2.0).sum().backward()  # nothing half-registered
    np.testing.assert_array_equal(x.grad.numpy(), [2.0])
