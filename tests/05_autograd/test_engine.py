"""The engine and the autograd state of tensors: dependency counting (fan-out,
diamonds), no recursion (100,000-op chains, also in a thread with a small
stack), retain_graph, seeds, autograd.grad, higher-order derivatives of every
elementwise op against their analytic formulas, .grad as numpy sees it,
hooks, grad modes (thread-local), version counters, anomaly detection,
gradcheck's failure message and the course's enable_autograd()."""
import math
import re
import threading

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import autograd

from autograd_testing import grad_fn_name

pytestmark = pytest.mark.module05


def f64(v, requires_grad=True):
    return tt.Tensor(np.asarray(v, dtype=np.float64), requires_grad=requires_grad, dtype=tt.float64)


# ---- graph structure -------------------------------------------------------------

def test_ops_record_their_node_and_next_functions():
    x = f64([1.0, 2.0])
    w = f64([3.0, 4.0], requires_grad=False)
    y = x * w
    assert y.requires_grad and not y.is_leaf and grad_fn_name(y) == "MulBackward"
    assert y._grad_fn is y.grad_fn or grad_fn_name(y) == type(y._grad_fn).__name__
    (acc, slot), (none, _) = y.grad_fn.next_functions
    assert type(acc).__name__ == "AccumulateGrad" and slot == 0 and none is None
    assert acc.variable is x
    z = (y + 1.0).sum()
    assert type(z.grad_fn.next_functions[0][0]).__name__ == "AddBackward"
    assert not (w * 2.0).requires_grad and (w * 2.0).grad_fn is None


def test_fan_out_sums_the_gradients():
    x = f64([1.0, -2.0, 3.0])
    y = x * 2.0
    z = (y * y + y + tt.exp(y)).sum()  # y used four times
    z.backward()
    yv = 2.0 * np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * (2 * yv + 1 + np.exp(yv)), rtol=1e-14)


def test_diamond_graph():
    #      a
    #    /   \
    #   b     c
    #    \   /
    #      d
    a = f64([0.5, 1.5])
    b = tt.sin(a)
    c = a * a
    d = (b * c).sum()
    d.backward()
    av = np.array([0.5, 1.5])
    np.testing.assert_allclose(a.grad.numpy(), np.cos(av) * av ** 2 + np.sin(av) * 2 * av, rtol=1e-14)


def test_node_runs_once_after_all_its_gradients_arrived():
    """A custom Function in the middle of a diamond sees one, already summed, gradient."""
    calls = []

    class Spy(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            calls.append(g.numpy().copy())
            return g

    x = f64([1.0, 2.0])
    s = Spy.apply(x)
    out = (s * 2.0 + s * 3.0 + tt.exp(s * 0.0)).sum()
    out.backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [5.0, 5.0])
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])


def test_long_chain_has_no_recursion():
    x = f64([1.0])
    h = x
    for _ in range(100_000):
        h = h * 1.0
    h = h + 1.0
    h.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0])
    del h  # freeing the chain must not recurse either


def test_long_chain_in_a_thread_with_a_small_stack():
    """Backward and graph destruction use explicit stacks: 256 KiB of C stack is plenty."""
    errors, result = [], []

    def work():
        try:
            x = f64([2.0])
            h = x
            for _ in range(100_000):
                h = h + 0.0
            (h * 3.0).backward()
            result.append(x.grad.numpy().copy())
            del h
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    old = threading.stack_size(256 * 1024)
    try:
        t = threading.Thread(target=work)
        t.start()
        t.join()
    finally:
        threading.stack_size(old)
    assert not errors
    np.testing.assert_array_equal(result[0], [3.0])


# ---- retain_graph and seeds --------------------------------------------------------

def test_retain_graph_allows_a_second_backward_which_accumulates():
    x = f64([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_second_backward_error_names_the_node():
    x = f64([1.0, 2.0])
    y = tt.exp(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"ExpBackward.*saved tensors were already freed.*retain_graph=True"):
        y.backward()


def test_graph_without_saved_tensors_can_be_run_again():
    """Like PyTorch: only nodes that saved tensors refuse a second pass."""
    x = f64([1.0, 2.0])
    y = (x + 1.0).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_non_scalar_backward_without_seed_says_to_pass_one():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2, 2\).*pass gradient"):
        (x * 2.0).backward()


def test_one_element_output_of_any_shape_seeds_with_one():
    x = f64([[3.0]])
    (x * 2.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0]])


@pytest.mark.parametrize("seed", [
    tt.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), dtype=tt.float64),
    np.array([[1.0, 2.0], [3.0, 4.0]]),
    [[1.0, 2.0], [3.0, 4.0]],
    tt.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)),  # other dtype: cast to the output's
], ids=["tensor", "numpy", "list", "float32_tensor"])
def test_seed_forms(seed):
    x = f64([[1.0, 1.0], [1.0, 1.0]])
    (x * 3.0).backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 6.0], [9.0, 12.0]])
    assert x.grad.dtype == np.float64


def test_scalar_seed():
    x = f64([1.0, 2.0])
    (x * 3.0).backward(0.5)
    np.testing.assert_array_equal(x.grad.numpy(), [1.5, 1.5])
    y = f64(2.0)
    (y * y).backward(tt.Tensor(np.array(2.0), dtype=tt.float64))
    assert y.grad.item() == 8.0


@pytest.mark.parametrize("seed", [np.ones(3), tt.ones(2, 3, dtype=tt.float64), [1.0, 2.0]])
def test_wrong_seed_shape_names_both_shapes(seed):
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match=r"gradient has shape \(\d+(, \d+)?,?\).*output has shape \(2, 2\)"):
        (x * 2.0).backward(seed)


def test_backward_of_tensor_without_grad_explains():
    x = f64([1.0], requires_grad=False)
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2.0).backward()


def test_backward_from_a_leaf():
    x = f64([1.0, 2.0])
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_backward_with_inputs_only_accumulates_those():
    a, b = f64([1.0]), f64([2.0])
    (a * b).backward(inputs=[a])
    np.testing.assert_array_equal(a.grad.numpy(), [2.0])
    assert b.grad is None


def test_backward_with_inputs_accumulates_in_the_engine_like_a_leaf():
    """backward(inputs=...) adds into .grad (twice = double), leaves other leaves alone, reaches a
    non-leaf input, and under create_graph the stored .grad is itself differentiable, as in PyTorch."""
    a, b = f64([1.0, 3.0]), f64([2.0, 5.0])
    h = a * b
    (h * h).sum().backward(inputs=[a, h], retain_graph=True)
    (h * h).sum().backward(inputs=[a])
    np.testing.assert_array_equal(a.grad.numpy(), [2 * 2 * 2.0 * 2.0, 2 * 2 * 15.0 * 5.0])
    np.testing.assert_array_equal(h.grad.numpy(), [4.0, 30.0])
    assert b.grad is None
    x = f64([1.5])
    (x * x * x).sum().backward(inputs=[x], create_graph=True)
    assert x.grad.requires_grad
    (g2,) = autograd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(g2.numpy(), [6 * 1.5])


def test_autograd_backward_several_roots():
    a = f64([1.0, 2.0])
    autograd.backward([(a * 2.0).sum(), a * a], [None, np.array([1.0, 1.0])])
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 6.0])


# ---- autograd.grad -------------------------------------------------------------------

def test_grad_returns_gradients_and_leaves_dot_grad_alone():
    x, y = f64([1.0, 2.0]), f64([3.0, 4.0])
    z = (x * y).sum()
    gx, gy = autograd.grad(z, [x, y])
    np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gy.numpy(), [1.0, 2.0])
    assert x.grad is None and y.grad is None
    (gx_only,) = autograd.grad((x * x).sum(), x)
    np.testing.assert_array_equal(gx_only.numpy(), [2.0, 4.0])


def test_grad_allow_unused():
    x, unused = f64([1.0]), f64([2.0])
    z = (x * 3.0).sum()
    with pytest.raises(RuntimeError, match="not used.*allow_unused=True"):
        autograd.grad(z, [x, unused], retain_graph=True)
    gx, gu = autograd.grad(z, [x, unused], allow_unused=True)
    np.testing.assert_array_equal(gx.numpy(), [3.0])
    assert gu is None


def test_grad_with_respect_to_a_non_leaf():
    x = f64([1.0, 2.0])
    h = x * x
    z = (h * 3.0).sum()
    (gh,) = autograd.grad(z, h)
    np.testing.assert_array_equal(gh.numpy(), [3.0, 3.0])


def test_grad_runs_only_the_part_of_the_graph_it_needs():
    """Like PyTorch: nodes that do not lead to the requested inputs are not run."""
    ran = []

    class Tripwire(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            ran.append(True)
            return g

    a, b = f64([1.0]), f64([2.0])
    z = (Tripwire.apply(a) * b).sum()
    (gb,) = autograd.grad(z, b)
    np.testing.assert_array_equal(gb.numpy(), [1.0])
    assert ran == []


def test_grad_of_input_that_needs_no_grad_explains():
    x = f64([1.0])
    c = f64([1.0], requires_grad=False)
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        autograd.grad((x * c).sum(), c)


def test_grad_outputs_and_several_outputs():
    x = f64([1.0, 2.0])
    (g,) = autograd.grad([x * 2.0, (x * x).sum()], x, grad_outputs=[np.array([1.0, 10.0]), None])
    np.testing.assert_array_equal(g.numpy(), [2.0 + 2.0, 20.0 + 4.0])


# ---- higher order --------------------------------------------------------------------

SQRT_2PI = math.sqrt(2 * math.pi)
K, C = math.sqrt(2 / math.pi), 0.044715


def _gelu_tanh_derivatives(x):
    u = K * (x + C * x ** 3)
    du, ddu = K * (1 + 3 * C * x ** 2), 6 * K * C * x
    t = np.tanh(u)
    sech2 = 1 - t ** 2
    d1 = 0.5 * (1 + t) + 0.5 * x * sech2 * du
    d2 = sech2 * du + 0.5 * x * sech2 * (ddu - 2 * t * du ** 2)
    return d1, d2


def _phi(x):
    return np.exp(-x ** 2 / 2) / SQRT_2PI


def _Phi(x):
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _sig(x):
    return 1 / (1 + np.exp(-x))


# op -> (f, f', f'') on numpy arrays; inputs drawn from (0.3, 1.8) and their negatives where allowed
ELEMENTWISE = {
    "exp": (tt.exp, np.exp, np.exp),
    "log": (tt.log, lambda x: 1 / x, lambda x: -1 / x ** 2),
    "sqrt": (tt.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x ** -1.5),
    "sin": (tt.sin, np.cos, lambda x: -np.sin(x)),
    "cos": (tt.cos, lambda x: -np.sin(x), lambda x: -np.cos(x)),
    "tanh": (tt.tanh, lambda x: 1 - np.tanh(x) ** 2, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    "sigmoid": (tt.sigmoid, lambda x: _sig(x) * (1 - _sig(x)),
                lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x))),
    "relu": (tt.relu, lambda x: (x > 0).astype(float), lambda x: 0 * x),
    "abs": (tt.abs, np.sign, lambda x: 0 * x),
    "neg": (lambda x: -x, lambda x: -np.ones_like(x), lambda x: 0 * x),
    "gelu_erf": (lambda x: tt.gelu(x, approximate="none"), lambda x: _Phi(x) + x * _phi(x),
                 lambda x: _phi(x) * (2 - x ** 2)),
    "gelu_tanh": (lambda x: tt.gelu(x, approximate="tanh"), lambda x: _gelu_tanh_derivatives(x)[0],
                  lambda x: _gelu_tanh_derivatives(x)[1]),
    "erf": (tt.erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x ** 2),
            lambda x: -4 * x / math.sqrt(math.pi) * np.exp(-x ** 2)),
    "clip": (lambda x: tt.clip(x, -1.0, 1.0), lambda x: (np.abs(x) < 1).astype(float), lambda x: 0 * x),
    "square": (lambda x: x * x, lambda x: 2 * x, lambda x: 2 + 0 * x),
    "cube_pow": (lambda x: x ** 3.0, lambda x: 3 * x ** 2, lambda x: 6 * x),
    "reciprocal": (lambda x: 1.0 / x, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3),
    "exp2": (lambda x: 2.0 ** x, lambda x: math.log(2) * 2 ** x, lambda x: math.log(2) ** 2 * 2 ** x),
    "x_minus_square": (lambda x: 3.0 - x * x, lambda x: -2 * x, lambda x: -2 + 0 * x),
}
POSITIVE_ONLY = {"log", "sqrt"}


@pytest.mark.parametrize("op", sorted(ELEMENTWISE))
def test_second_derivative_of_every_elementwise_op(op):
    f, d1, d2 = ELEMENTWISE[op]
    v = np.array([0.3, 0.7, 1.1, 1.8])
    if op not in POSITIVE_ONLY:
        v = np.concatenate([v, -v])
    x = f64(v)
    (g,) = autograd.grad(f(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), d1(v), rtol=1e-12, atol=1e-14)
    if not g.requires_grad:  # f' does not depend on x
        np.testing.assert_array_equal(d2(v), 0)
        return
    (gg,) = autograd.grad(g.sum(), x, allow_unused=True)
    got = np.zeros_like(v) if gg is None else gg.numpy()
    np.testing.assert_allclose(got, d2(v), rtol=1e-11, atol=1e-13)


def test_third_derivative():
    x = f64([0.5, 1.5])
    (g1,) = autograd.grad((x ** 4.0).sum(), x, create_graph=True)
    (g2,) = autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = autograd.grad(g2.sum(), x)
    np.testing.assert_allclose(g3.numpy(), 24 * np.array([0.5, 1.5]), rtol=1e-13)


def test_mixed_second_derivative_of_pow():
    x, y = f64([1.5, 2.0]), f64([2.0, 0.5])
    (gx,) = autograd.grad((x ** y).sum(), x, create_graph=True)  # y x^(y-1)
    (gxy,) = autograd.grad(gx.sum(), y)  # x^(y-1) (1 + y log x)
    xv, yv = np.array([1.5, 2.0]), np.array([2.0, 0.5])
    np.testing.assert_allclose(gxy.numpy(), xv ** (yv - 1) * (1 + yv * np.log(xv)), rtol=1e-13)


def test_create_graph_backward_makes_grad_differentiable():
    x = f64([1.0, 2.0])
    (x ** 3.0).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0])
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])


def test_create_graph_does_not_alias_the_users_seed():
    x = f64([1.0, 2.0])
    seed = tt.Tensor(np.array([1.0, 1.0]), dtype=tt.float64)
    (x + 1.0).backward(seed, create_graph=True)
    (x + 1.0).backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0])


# ---- .grad as users touch it -----------------------------------------------------------

def test_grad_is_accepted_by_numpy():
    p = tt.Tensor(np.array([[1.0, -2.0], [3.0, -4.0]], dtype=np.float32), requires_grad=True)
    (p * p).sum().backward()
    assert isinstance(p.grad, tt.Tensor) and p.grad.dtype == np.float32 and p.grad.shape == (2, 2)
    assert np.allclose(p.grad, [[2.0, -4.0], [6.0, -8.0]])
    assert np.abs(p.grad).max() == 8.0
    np.testing.assert_array_equal(np.asarray(p.grad), [[2.0, -4.0], [6.0, -8.0]])
    assert p.grad is p.grad or np.shares_memory(np.asarray(p.grad), np.asarray(p.grad))


def test_assigning_grad():
    x = f64([1.0, 2.0])
    x.grad = np.array([0.5, 0.25])
    assert isinstance(x.grad, tt.Tensor) and x.grad.dtype == np.float64
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.5, 2.25])
    x.grad = None  # zero_grad, PyTorch style
    assert x.grad is None
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    x.grad = tt.Tensor(np.array([1.0, 1.0]), dtype=tt.float64)
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        x.grad = np.ones(3)


def test_accumulation_writes_into_the_existing_grad_tensor():
    x = f64([1.0, 2.0])
    (x * 2.0).sum().backward()
    g = x.grad
    (x * 3.0).sum().backward()
    assert x.grad is g
    np.testing.assert_array_equal(g.numpy(), [5.0, 5.0])


def test_grad_of_float32_leaf_stays_float32():
    x = tt.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (x.astype(tt.float64) * 3.0).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_retain_grad_on_non_leaf():
    x = f64([1.0, 2.0])
    h = x * 3.0
    assert not h.retains_grad
    h.retain_grad()
    assert h.retains_grad
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])
    np.testing.assert_array_equal(x.grad.numpy(), [18.0, 36.0])
    h2 = x * 1.0
    (h2 * 2.0).sum().backward()
    assert h2.grad is None  # not retained


def test_detach_requires_grad_and_is_leaf():
    x = f64([1.0, 2.0])
    assert x.is_leaf and x.requires_grad
    y = x * 2.0
    assert not y.is_leaf
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    np.testing.assert_array_equal(d.numpy(), [2.0, 4.0])
    assert np.shares_memory(d.numpy(), y.numpy())
    z = tt.Tensor(np.array([1.0]), dtype=tt.float64)
    assert z.requires_grad_() is z and z.requires_grad
    z.requires_grad_(False)
    assert not z.requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    with pytest.raises(TypeError, match="floating"):
        tt.Tensor(np.array([1, 2])).requires_grad_()
    (d * x).sum().backward()  # d is a constant
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# ---- grad modes ----------------------------------------------------------------------------

def test_no_grad_and_enable_grad_as_context_managers():
    x = f64([1.0])
    with tt.no_grad():
        assert not tt.is_grad_enabled()
        y = x * 2.0
        with tt.enable_grad():
            assert tt.is_grad_enabled()
            z = x * 2.0
        assert not tt.is_grad_enabled()
    assert tt.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and grad_fn_name(z) == "MulBackward"


def test_grad_modes_as_decorators():
    x = f64([1.0])

    @tt.no_grad()
    def f():
        return x * 2.0

    @tt.no_grad
    def g():
        return x * 2.0

    @autograd.enable_grad()
    def h():
        return x * 2.0

    assert not f().requires_grad and not g().requires_grad
    with tt.no_grad():
        assert h().requires_grad
    assert tt.is_grad_enabled()
    assert f.__name__ == "f"


def test_no_grad_restores_on_exception():
    with pytest.raises(KeyError):
        with tt.no_grad():
            raise KeyError("x")
    assert tt.is_grad_enabled()


def test_set_grad_enabled():
    x = f64([1.0])
    with tt.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    assert tt.is_grad_enabled()
    tt.set_grad_enabled(False)
    try:
        assert not tt.is_grad_enabled()
    finally:
        tt.set_grad_enabled(True)
    assert (x * 2.0).requires_grad


def test_grad_mode_is_thread_local():
    x = f64([1.0])
    inside_no_grad, other_started, other_result = threading.Event(), threading.Event(), []

    def other():
        inside_no_grad.wait()
        other_result.append((tt.is_grad_enabled(), (x * 2.0).requires_grad))
        other_started.set()

    t = threading.Thread(target=other)
    t.start()
    with tt.no_grad():
        inside_no_grad.set()
        other_started.wait()
        assert not (x * 2.0).requires_grad
    t.join()
    assert other_result == [(True, True)]


# ---- hooks ---------------------------------------------------------------------------------

def test_hook_on_leaf_can_replace_the_gradient_and_be_removed():
    x = f64([1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10.0)
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])
    handle.remove()
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert len(seen) == 1


def test_hook_on_non_leaf_changes_what_flows_upstream():
    x = f64([1.0, 2.0])
    h = x * 2.0
    h.register_hook(lambda g: g + 1.0)
    keep = h.register_hook(lambda g: None)  # returning None keeps the gradient
    (h * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 8.0])  # (3 + 1) * 2
    keep.remove()


def test_hooks_run_in_registration_order_and_see_autograd_grad():
    x = f64([1.0])
    x.register_hook(lambda g: g * 2.0)
    x.register_hook(lambda g: g + 1.0)
    (g,) = autograd.grad((x * 5.0).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [11.0])


def test_hook_returning_wrong_shape_is_an_error():
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: np.ones(3))
    with pytest.raises(ValueError, match=r"hook returned a gradient of shape \(3,\).*\(2,\)"):
        (x * 1.0).sum().backward()


def test_hook_exception_reaches_the_caller():
    x = f64([1.0])

    def bad(g):
        raise ZeroDivisionError("from the hook")
    (x * 2.0).register_hook(bad)
    y = x * 2.0
    y.register_hook(bad)
    with pytest.raises(ZeroDivisionError, match="from the hook"):
        y.sum().backward()


def test_register_hook_needs_requires_grad():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        f64([1.0], requires_grad=False).register_hook(lambda g: g)


# ---- version counters --------------------------------------------------------------------------

def test_inplace_change_of_a_saved_input_is_detected():
    x = f64([1.0, 2.0])
    w = f64([3.0, 4.0])
    y = (x * w).sum()
    with tt.no_grad():
        w[0] = 10.0
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation.*MulBackward.*version 1; "
                                           r"expected version 0"):
        y.backward()


@pytest.mark.parametrize("modify", ["fill_", "add_", "zero_", "setitem", "copy_"])
def test_every_inplace_op_bumps_the_version(modify):
    x = f64([0.5, 2.0])
    c = tt.Tensor(np.array([1.0, 2.0]), dtype=tt.float64)
    y = (tt.log(x) * c).sum()  # LogBackward saves x
    before = x._version
    with tt.no_grad():
        {"fill_": lambda: x.fill_(1.0), "add_": lambda: x.add_(1.0), "zero_": lambda: x.zero_(),
         "setitem": lambda: x.__setitem__(slice(None), 3.0), "copy_": lambda: x.copy_(np.ones(2))}[modify]()
    assert x._version == before + 1
    with pytest.raises(RuntimeError, match=r"LogBackward is at version \d+; expected version \d+"):
        y.backward()


def test_inplace_change_of_a_saved_output_is_detected():
    x = f64([1.0, 2.0])
    y = tt.exp(x)
    z = y.sum()  # only ExpBackward holds y
    with tt.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="ExpBackward"):
        z.backward()


def test_inplace_change_through_a_view_is_detected():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    base = tt.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), dtype=tt.float64)
    y = (x * base).sum()
    base[1][0] = 7.0  # writes through a view share the version counter
    with pytest.raises(RuntimeError, match="MulBackward"):
        y.backward()


def test_data_writes_are_invisible_to_autograd():
    """Like PyTorch's .data: writing through the numpy view is not tracked (use no_grad and in-place ops)."""
    x = f64([1.0, 2.0])
    w = f64([3.0, 4.0])
    y = (x * w).sum()
    w.data[0] = 10.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 4.0])


def test_setitem_on_leaf_requiring_grad_outside_no_grad_is_refused():
    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0] = 5.0


# ---- anomaly detection ------------------------------------------------------------------------

def test_detect_anomaly_names_the_node_and_where_it_was_created():
    x = f64([-1.0, 2.0])
    with autograd.detect_anomaly():
        y = tt.log(tt.log(x))  # log of a negative: NaN, then 1 / NaN in the outer LogBackward
        z = y.sum()
        with pytest.raises(RuntimeError) as info:
            z.backward()
    msg = str(info.value)
    assert "LogBackward" in msg and "nan" in msg
    assert "test_detect_anomaly_names_the_node_and_where_it_was_created" in msg
    assert "tt.log(tt.log(x))" in msg


def test_without_anomaly_mode_nan_gradients_pass_silently():
    x = f64([-1.0, 2.0])
    tt.log(tt.log(x)).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


def test_detect_anomaly_catches_inf():
    x = f64([0.0, 4.0])
    with autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="SqrtBackward' returned nan or inf"):
            tt.sqrt(x).sum().backward()
    assert not tt._C._is_anomaly_enabled()


# ---- gradcheck ---------------------------------------------------------------------------------

class _WrongAtOneElement(autograd.Function):
    """x * y whose gradient for y is off by one at element (0, 1)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gy = (g * x).numpy().copy()
        gy[0, 1] += 1.0
        return g * y, tt.Tensor(gy, dtype=tt.float64)


def test_gradcheck_names_the_input_and_element_that_disagree():
    rng = np.random.default_rng(0)
    x, y = f64(rng.standard_normal((2, 3))), f64(rng.standard_normal((2, 3)))
    with pytest.raises(autograd.GradcheckError, match=r"input 1 at input element \(0, 1\)"):
        autograd.gradcheck(_WrongAtOneElement.apply, (x, y))
    assert autograd.gradcheck(_WrongAtOneElement.apply, (x, y), raise_exception=False) is False
    assert autograd.gradcheck(lambda a, b: a * b, (x, y))


def test_gradcheck_requires_float64():
    with pytest.raises(ValueError, match="float64"):
        autograd.gradcheck(tt.exp, (tt.Tensor(np.ones(2), requires_grad=True),))


def test_gradgradcheck():
    rng = np.random.default_rng(1)
    x = f64(rng.uniform(0.5, 2.0, (2, 3)))
    w = f64(rng.standard_normal((3, 2)))
    assert autograd.gradgradcheck(lambda a, b: tt.tanh(a @ b) * tt.log(a).sum(), (x, w))
    assert autograd.gradgradcheck(lambda a: tt.gelu(a, approximate="none"), (x,))
    assert autograd.gradgradcheck(lambda a: tt.cross_entropy(a, tt.Tensor(np.array([1, 0]), dtype=tt.int64)), (x,))
    assert autograd.gradgradcheck(lambda a: tt.layer_norm(a, w[:, 0], w[:, 1], 1e-5), (x,))


def test_gradgradcheck_catches_a_wrong_double_backward():
    class FrozenSquare(autograd.Function):  # backward correct, but not itself differentiable
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2.0 * x.detach()

    x = f64([0.5, 1.5])
    assert autograd.gradcheck(FrozenSquare.apply, (x,))
    with pytest.raises(autograd.GradcheckError):
        autograd.gradgradcheck(FrozenSquare.apply, (x,))


# ---- course compatibility -------------------------------------------------------------------------

def test_enable_autograd_is_a_harmless_no_op():
    from tinytorch.core import autograd as course_autograd

    x = f64([1.0, 2.0])
    course_autograd.enable_autograd()
    course_autograd.enable_autograd()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert course_autograd.Function is autograd.Function and course_autograd.no_grad is autograd.no_grad
    assert re.search("always", course_autograd.enable_autograd.__doc__)
    assert isinstance((x * x).grad_fn, course_autograd.MulBackward)
    assert isinstance((x - x).grad_fn, course_autograd.Node)


def test_concurrent_backward_in_threads():
    """The engine runs without the GIL; independent graphs in several threads stay correct."""
    results, errors = {}, []

    def work(k):
        try:
            x = f64(np.full(8, float(k)))
            for _ in range(200):
                x.grad = None
                h = x.register_hook(lambda g: g * 1.0)  # Python in the middle of the C++ pass
                (tt.sin(x) * x).sum().backward()
                h.remove()
            results[k] = x.grad.numpy().copy()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        np.testing.assert_allclose(results[k], np.full(8, math.cos(k) * k + math.sin(k)), rtol=1e-14)


# ---- assignment inside a graph ------------------------------------------------------------------

def test_setitem_on_a_non_leaf_is_recorded():
    x = f64([1.0, 2.0, 3.0])
    y = x * 2.0
    y[0] = 5.0
    np.testing.assert_array_equal(y.numpy(), [5.0, 4.0, 6.0])
    (y * y).sum().backward()  # the overwritten element no longer depends on x
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 16.0, 24.0])


def test_setitem_of_a_tensor_that_requires_grad_into_a_buffer():
    x, v = f64([1.0, 2.0, 3.0]), f64([7.0])
    buf = tt.zeros(2, 3, dtype=tt.float64)
    buf[1, ::2] = v * x[:1]  # broadcast into two positions
    assert buf.requires_grad and not buf.is_leaf
    np.testing.assert_array_equal(buf.numpy(), [[0, 0, 0], [7, 0, 7]])
    (buf * tt.Tensor(np.arange(6.0).reshape(2, 3), dtype=tt.float64)).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [8.0])           # (3 + 5) * x0
    np.testing.assert_array_equal(x.grad.numpy(), [56.0, 0.0, 0.0])  # (3 + 5) * v


def test_setitem_with_a_mask_inside_a_graph():
    x = f64([1.0, 2.0, 3.0])
    y = x * x
    y[y > 3.0] = 0.0
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 0.0])


def test_setitem_with_repeated_positions_inside_a_graph_is_refused():
    y = f64([1.0, 2.0]) * 1.0
    with pytest.raises(RuntimeError, match="more than once"):
        y[[0, 0]] = f64([1.0, 2.0])
