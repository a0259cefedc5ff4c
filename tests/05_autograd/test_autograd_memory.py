"""No leaks: a training-style loop of 10,000 forward/backward steps keeps
the resident set flat, and graphs that reference Python objects (hooks,
custom Functions and their ctx) are freed as soon as the last tensor of the
graph goes away, without relying on Python's cycle collector (the C++
graph is invisible to it).

(Named test_autograd_memory.py, not test_memory.py: tests/01_tensor has a
test_memory.py, and pytest's default import mode needs unique basenames.)
"""
import gc
import weakref

import numpy as np
import pytest
from conftest import RSS_UNDER_ASAN

import tinytorch as tt
from tinytorch import autograd

pytestmark = pytest.mark.module05

PAGE = 4096


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@pytest.mark.not_under_sanitizer(reason=RSS_UNDER_ASAN)
def test_training_loop_keeps_rss_flat():
    rng = np.random.default_rng(0)
    W1 = tt.Tensor(rng.standard_normal((8, 16)) * 0.3, requires_grad=True)
    b1 = tt.Tensor(np.zeros(16), requires_grad=True)
    W2 = tt.Tensor(rng.standard_normal((16, 3)) * 0.3, requires_grad=True)
    params = [W1, b1, W2]
    x = tt.Tensor(rng.standard_normal((4, 8)))
    targets = tt.Tensor(np.array([0, 2, 1, 0]), dtype=tt.int64)
    hook_calls = [0]

    def step():
        h = tt.gelu(x @ W1 + b1)
        h.register_hook(lambda g: hook_calls.__setitem__(0, hook_calls[0] + 1))
        logits = tt.dropout(h, 0.1, True) @ W2
        loss = tt.cross_entropy(logits, targets) + (tt.softmax(logits, -1) * 0.01).sum()
        loss.backward()
        with tt.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-0.01)
                p.grad = None
        return loss.item()

    for _ in range(1000):  # warm up: allocator caches, hypothesis-free steady state
        step()
    gc.collect()
    before = rss_bytes()
    first = step()
    for _ in range(9000):
        last = step()
    gc.collect()
    grown = rss_bytes() - before
    assert grown < 4 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over 9,000 steps"
    assert hook_calls[0] == 10_001 and last < first  # it really trained


class Hook:
    """A callable with a weak reference we can watch."""

    def __call__(self, g):
        return g * 2.0


def test_hook_on_non_leaf_is_freed_with_its_graph():
    x = tt.Tensor(np.ones(3), requires_grad=True)
    y = x * 3.0
    hook = Hook()
    ref = weakref.ref(hook)
    y.register_hook(hook)
    del hook
    z = y.sum()
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0, 6.0])
    assert ref() is not None  # the graph (y, z) is still alive
    del y, z
    assert ref() is None


def test_hook_on_leaf_is_freed_with_the_leaf_or_on_remove():
    x = tt.Tensor(np.ones(3), requires_grad=True)
    hook = Hook()
    ref = weakref.ref(hook)
    handle = x.register_hook(hook)
    del hook
    (x * 1.0).sum().backward()
    assert ref() is not None
    handle.remove()
    assert ref() is None
    hook2 = Hook()
    ref2 = weakref.ref(hook2)
    x.register_hook(hook2)
    del hook2, x
    assert ref2() is None


class Cube(autograd.Function):
    ctx_refs = []

    @staticmethod
    def forward(ctx, x):
        Cube.ctx_refs.append(weakref.ref(ctx))
        out = x * x * x
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return g * 3.0 * out / x


@pytest.mark.parametrize("backward", ["none", "backward", "failing"])
def test_custom_function_graph_is_freed(backward):
    Cube.ctx_refs.clear()
    x = tt.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = Cube.apply(x)
    out_ref = weakref.ref(y)
    z = (y * 2.0).sum()
    if backward == "backward":
        z.backward()
        np.testing.assert_allclose(x.grad.numpy(), [6.0, 24.0], rtol=1e-6)
    elif backward == "failing":
        y.register_hook(lambda g: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            z.backward()
    del y, z
    assert Cube.ctx_refs[0]() is None and out_ref() is None


def test_many_custom_function_graphs_do_not_accumulate():
    x = tt.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    Cube.ctx_refs.clear()
    for _ in range(200):
        Cube.apply(x).sum().backward()
    assert all(r() is None for r in Cube.ctx_refs)
