"""Reference cycles that pass through the C++ graph, which Python's cycle
collector cannot see (so they would never be freed):

- a custom Function keeping its output on ctx inside a list/tuple/dict
  (stored detached) or inside another object (reported to the collector):
  apply() stores those outputs detached, so the graph is freed as soon as
  the last tensor goes (checked with the collector disabled);
- a hook whose closure references its own tensor: the Tensor type's
  tp_traverse reports the hook to the collector while the wrapper alone owns
  the chain to it (csrc/python/hook_gc.h), so gc.collect() frees it; a hook
  still needed by a live graph is not reported and keeps working."""
import gc
import weakref
from collections import namedtuple

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import autograd

pytestmark = pytest.mark.module05

Pair = namedtuple("Pair", "out scale")


@pytest.fixture
def no_cycle_collector():
    """Whatever is freed here is freed by reference counting alone."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def _function_keeping(store):
    class Keep(autograd.Function):
        ctx_refs = []

        @staticmethod
        def forward(ctx, a):
            Keep.ctx_refs.append(weakref.ref(ctx))
            y = a * 2.0
            store(ctx, y)
            return y

        @staticmethod
        def backward(ctx, g):
            kept = ctx.kept
            y = {list: lambda k: k[0], tuple: lambda k: k[0][0], dict: lambda k: k["y"],
                 Pair: lambda k: k.out}[type(kept)](kept)
            assert not y.requires_grad  # stored detached: a value, not a graph link
            return g * y  # d/da of a*2 scaled by the kept value: g * 2a
    return Keep


STORES = {
    "list": lambda ctx, y: setattr(ctx, "kept", [y]),
    "nested_tuple": lambda ctx, y: setattr(ctx, "kept", ((y, 1.0),)),
    "dict": lambda ctx, y: setattr(ctx, "kept", {"y": y, "n": 3}),
    "namedtuple": lambda ctx, y: setattr(ctx, "kept", Pair(y, 2.0)),
}


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("run_backward", [True, False], ids=["backward", "no_backward"])
def test_output_kept_in_a_container_on_ctx_is_freed(store, run_backward, no_cycle_collector):
    Keep = _function_keeping(STORES[store])
    x = tt.Tensor(np.array([1.0, 3.0]), requires_grad=True, dtype=tt.float64)
    y = Keep.apply(x)
    y_ref = weakref.ref(y)
    if run_backward:
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 6.0])
    del y
    assert Keep.ctx_refs[0]() is None and y_ref() is None


def test_containers_without_outputs_are_kept_as_they_are():
    mine = [1, 2]

    class Plain(autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.mine = mine
            ctx.inp = [a]  # an input, not an output: no cycle, left alone
            Plain.ctx = ctx
            return a * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0
    x = tt.Tensor(np.ones(2), requires_grad=True)
    Plain.apply(x)
    assert Plain.ctx.mine is mine and Plain.ctx.inp[0] is x


def test_hook_capturing_its_tensor_detached_is_freed(no_cycle_collector):
    x = tt.Tensor(np.ones(3), requires_grad=True)

    def make():
        y = x * 2.0
        y_value = y.detach()  # the workaround: capture the value, not the graph node's output
        y.register_hook(lambda g: g + 0.0 * y_value)
        y.sum().backward()
        return weakref.ref(y)
    ref = make()
    assert ref() is None
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_hook_capturing_its_own_tensor_is_freed_by_the_collector(no_cycle_collector):
    # closure -> y -> node -> hook -> closure: the Tensor type reports the hook to the collector
    x = tt.Tensor(np.ones(3), requires_grad=True)

    def make():
        y = x * 2.0
        y.register_hook(lambda g: g + 0.0 * y.detach())
        y.sum().backward()
        return weakref.ref(y)
    ref = make()
    assert ref() is not None  # a cycle: plain reference counting cannot free it
    gc.enable()
    gc.collect()
    assert ref() is None


def test_leaf_hook_capturing_its_leaf_is_freed_by_the_collector(no_cycle_collector):
    def make():
        z = tt.Tensor(np.ones(3), requires_grad=True)
        z.register_hook(lambda g: g + 0.0 * z.detach())
        (z * 3.0).sum().backward()
        return weakref.ref(z)
    ref = make()
    assert ref() is not None
    gc.enable()
    gc.collect()
    assert ref() is None


def test_a_hook_still_needed_by_a_live_graph_survives_collection():
    # The node is shared with the graph of `loss`: the hook must not be reported, or the collector
    # would clear it while backward still needs it.
    x = tt.Tensor(np.ones(3), requires_grad=True)

    def build():
        y = x * 2.0
        y.register_hook(lambda g: g * 3.0 + 0.0 * y.detach())
        return y.sum(), weakref.ref(y)
    loss, ref = build()
    gc.collect()
    assert ref() is not None
    loss.backward(retain_graph=True)
    gc.collect()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [12.0, 12.0, 12.0])  # 2 * 3, twice
    del loss
    gc.collect()
    assert ref() is None


class _Box:
    def __init__(self, value):
        self.value = value


class _KeepInBox(autograd.Function):
    @staticmethod
    def forward(ctx, a):
        y = a * 2.0
        ctx.state = _Box(y)  # not a list/tuple/dict: kept as it is, a cycle through the node
        return y

    @staticmethod
    def backward(ctx, g):
        return g * 2.0


@pytest.mark.parametrize("run_backward", [False, True])
def test_output_hidden_in_an_object_on_ctx_is_freed_by_the_collector(run_backward, no_cycle_collector):
    x = tt.Tensor(np.ones(3), requires_grad=True)

    def make():
        y = _KeepInBox.apply(x)
        if run_backward:
            y.sum().backward()
        return weakref.ref(y)
    ref = make()
    assert ref() is not None  # reference counting alone cannot free the cycle
    gc.enable()
    gc.collect()
    assert ref() is None
    if run_backward:
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
