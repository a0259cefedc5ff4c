"""Hooks that change the hook list while backward runs them, and code that
re-enters the engine from a hook or a custom backward.

The engine runs the hooks present when a node starts (a snapshot, as
PyTorch does): a hook removed meanwhile still runs this time, one
registered meanwhile runs from the next backward on. Mutating the live
list used to segfault (a later hook removed) or raise bad_function_call
(a hook removing itself), so those run in a subprocess. Expected values
were checked against torch 2.13 (test_hook_mutation_matches_torch)."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import autograd

from autograd_testing import run_isolated
from conftest import torch_or_skip

pytestmark = pytest.mark.module05

# Each setup registers hooks on t (a leaf, or x*1); x = [1, 2], loss = (t*t).sum().
SETUPS = {
    "remove_later": "hs = []\n"
                    "hs.append(t.register_hook(lambda g: (hs[1].remove(), g * 2)[1]))\n"
                    "hs.append(t.register_hook(lambda g: g + 1))\n",
    "remove_self": "hs = []\n"
                   "hs.append(t.register_hook(lambda g: (hs[0].remove(), g * 2)[1]))\n"
                   "hs.append(t.register_hook(lambda g: g + 1))\n",
    "remove_earlier": "hs = []\n"
                      "hs.append(t.register_hook(lambda g: g + 1))\n"
                      "hs.append(t.register_hook(lambda g: (hs[0].remove(), g * 2)[1]))\n",
    "register_inside": "def h(g):\n"
                       "    t.register_hook(lambda g: g * 10)\n"
                       "    return g\n"
                       "t.register_hook(h)\n",
}
# (first backward, second backward on the leaf): torch 2.13's values.
EXPECTED = {
    "remove_later": ([5.0, 9.0], [4.0, 8.0]),
    "remove_self": ([5.0, 9.0], [3.0, 5.0]),
    "remove_earlier": ([6.0, 10.0], [4.0, 8.0]),
    "register_inside": ([2.0, 4.0], [20.0, 40.0]),
}


def _program(lib, setup, leaf):
    """Source printing the gradient after one backward (and a second one for a leaf)."""
    new = "torch.tensor([1.0, 2.0], requires_grad=True)" if lib == "torch" else \
        "tt.Tensor([1.0, 2.0], requires_grad=True)"
    return (f"import {'torch' if lib == 'torch' else 'tinytorch as tt'}\n"
            f"x = {new}\n"
            f"t = {'x' if leaf else 'x * 1'}\n" + SETUPS[setup] +
            "(t * t).sum().backward()\n"
            "print(x.grad.tolist())\n"
            "x.grad = None\n"
            f"{'(t * t).sum().backward()' if leaf else '(x * x).sum().backward()'}\n"
            "print(x.grad.tolist())\n")


@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "nonleaf"])
@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_hooks_mutating_the_hook_list(setup, leaf):
    out = run_isolated(_program("tt", setup, leaf)).strip().splitlines()
    first, second = EXPECTED[setup]
    assert [float(v) for v in out[0].strip("[]").split(",")] == first
    if leaf:
        assert [float(v) for v in out[1].strip("[]").split(",")] == second
    else:  # a fresh graph through x*x: t's hooks are not on it
        assert [float(v) for v in out[1].strip("[]").split(",")] == [2.0, 4.0]


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_hook_mutation_matches_torch(setup):
    torch_or_skip()
    for leaf in (True, False):
        ours = run_isolated(_program("tt", setup, leaf)).splitlines()[0]
        theirs = run_isolated(_program("torch", setup, leaf)).splitlines()[0]
        assert [float(v) for v in ours.strip("[]").split(",")] == \
            [float(v) for v in theirs.strip("[]").split(",")], (setup, leaf)


def test_backward_inside_a_hook_matches_torch():
    torch = torch_or_skip()

    def run(lib, new):
        x = new([1.0, 2.0])
        w = new([3.0, -1.0])
        other = (w * w).sum()  # built outside: grad mode is off while hooks run (as in torch)
        seen = []

        def hook(g):
            other.backward()  # a second, independent backward from inside the first
            seen.append(w.grad.tolist())
            return g * 3
        y = x * 2
        y.register_hook(hook)
        (y * y).sum().backward()
        return x.grad.tolist(), seen

    ours = run("tt", lambda v: tt.Tensor(v, requires_grad=True, dtype=tt.float64))
    theirs = run("torch", lambda v: torch.tensor(v, requires_grad=True, dtype=torch.float64))
    assert ours == theirs == ([24.0, 48.0], [[6.0, -2.0]])


def test_backward_inside_a_custom_backward_matches_torch():
    torch = torch_or_skip()

    def run(Function, new):
        w = new([3.0, -1.0])
        other = (w * w * w).sum()

        class Square(Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(a)
                return a * a

            @staticmethod
            def backward(ctx, g):
                (a,) = ctx.saved_tensors
                other.backward()  # re-enters the engine while it runs this node
                return g * 2 * a
        x = new([1.0, 2.0])
        Square.apply(x).sum().backward()
        return x.grad.tolist(), w.grad.tolist()

    ours = run(autograd.Function, lambda v: tt.Tensor(v, requires_grad=True, dtype=tt.float64))
    theirs = run(torch.autograd.Function, lambda v: torch.tensor(v, requires_grad=True, dtype=torch.float64))
    assert ours == theirs == ([2.0, 4.0], [27.0, 3.0])


def test_keyboard_interrupt_from_a_hook_propagates_unchanged():
    x = tt.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    interrupt = KeyboardInterrupt("stop here")

    def hook(g):
        raise interrupt
    y.register_hook(hook)
    with pytest.raises(KeyboardInterrupt) as info:
        y.sum().backward()
    assert info.value is interrupt
    # The engine is usable afterwards (nothing left half-run).
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_removable_handle_is_a_context_manager():
    x = tt.Tensor([1.0, 2.0], requires_grad=True)
    with x.register_hook(lambda g: g * 10) as handle:
        (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [20.0, 40.0])  # 2x * 10 while registered
    assert handle is not None
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # removed on leaving the block
