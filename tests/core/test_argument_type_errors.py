"""Every public Tensor method and tinytorch / tinytorch._C function, called with wrong-typed
arguments, raises a TypeError or ValueError whose message starts with the name that was called
-- never pybind11's "incompatible function arguments" signature dump or "Unable to cast".

The callables are found with dir(), so a new binding is checked the day it is added. Each
parameter (read from the signature) gets, in turn, a string, None (where None is not its
default), a float where the default is an int, a list of strings and a plain object, while the
other required parameters get plausible values.
"""
import inspect
import re

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C

pytestmark = pytest.mark.core

PYBIND_TEXT = ("incompatible function arguments", "Unable to cast", "Invoked with")

# Parameters that legitimately take anything (or any of the bad values below), with why.
TAKES_ANYTHING = {
    "Tensor.to": "device moves are no-ops: t.to('cuda'), t.to(None) return t as PyTorch-style code expects",
    "Tensor.backward": "retain_graph/create_graph are truthiness flags, as in PyTorch; gradient= and inputs= "
                       "are checked by tests/05_autograd",
    "clip_grad_norm": "error_if_nonfinite is a truthiness flag, as in torch.nn.utils.clip_grad_norm_",
    "show_config": "prints the build to `file`, any object with write()",
    # Known gaps, not "anything goes": these Python functions pass bad data on to Tensor(...), so the
    # message says "Tensor: cannot make a tensor from str data" instead of their own name.
    "tensor": "torch.tensor's spelling of Tensor(data): the message names Tensor",
    "scaled_dot_product_attention": "core/attention.py converts q/k/v with Tensor(...): the message names Tensor",
}
# Methods whose every argument is data-like (an operand: numbers, lists, arrays all valid), so a
# float or list is not wrong for them; strings and objects still are.
OPERAND_PARAMS = {"other", "b", "a", "x", "value", "src", "mask", "data", "fill_value", "start", "stop", "step",
                  "min", "max", "p", "eps", "alpha", "gradient", "tensors", "t", "target", "pred", "cond"}


def signature_of(fn):
    """[(name, default or inspect._empty)] of fn's parameters, self excluded."""
    try:
        sig = inspect.signature(fn)
        return [(p.name, p.default) for p in sig.parameters.values()
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        pass
    doc = (fn.__doc__ or "").split("\n", 1)[0]
    m = re.match(r"\w+\((.*)\) ->", doc)
    if not m:
        return []
    params, depth, cur = [], 0, ""
    for c in m.group(1) + ",":
        depth += c in "[(" and 1 or 0
        depth -= c in "])" and 1 or 0
        if c == "," and depth == 0:
            cur = cur.strip()
            if cur and cur not in ("*", "/") and not cur.startswith("*"):
                name = cur.split(":")[0].split("=")[0].strip()
                default = cur.split(" = ", 1)[1] if " = " in cur else inspect._empty
                if name != "self":
                    params.append((name, default))
            cur = ""
        else:
            cur += c
    return params


def plausible(name):
    if name in ("index", "indices", "idx", "targets"):
        return tt.Tensor(np.array([0, 1]), dtype=tt.int64)
    if name in ("dim", "axis", "dim0", "dim1", "n", "num", "num_classes", "low", "high", "start_dim", "end_dim"):
        return 1
    if name in ("shape", "size", "output_size", "kernel_size"):
        return (2, 2)
    return tt.ones(2, 2)


def bad_values(default):
    yield "a"
    if default is inspect._empty or default not in (None, "None"):
        yield None
    if isinstance(default, int) and not isinstance(default, bool) or (isinstance(default, str) and re.fullmatch(r"-?\d+", default)):
        yield 1.5
    yield ["x"]
    yield object()


def check_call(label, fn, args, kwargs, bad):
    try:
        fn(*args, **kwargs)
    except (TypeError, ValueError, IndexError) as e:
        msg = str(e)
        assert not any(s in msg for s in PYBIND_TEXT), f"{label}: pybind11's message leaked: {msg}"
        short = label.split(".")[-1]
        assert msg.startswith((label + ":", short + ":", "Tensor:" if short == "Tensor" else short + ":")), \
            f"{label} with {bad!r}: the message does not start with the called name: {msg!r}"
        return True
    except Exception as e:  # noqa: BLE001  (any other type is itself the failure)
        pytest.fail(f"{label} with {bad!r}: {type(e).__name__} instead of TypeError/ValueError: {e}")
    return False


def exercise(label, fn, accept_data_like=False):
    params = signature_of(fn)
    required = [(n, d) for n, d in params if d is inspect._empty]
    silently_accepted = []
    for i, (name, default) in enumerate(params):
        for bad in bad_values(default):
            if name in OPERAND_PARAMS and (bad is None or isinstance(bad, float)) and accept_data_like:
                continue
            args = [plausible(n) for n, _ in required]
            kwargs = {}
            if default is inspect._empty:
                args[[n for n, _ in required].index(name)] = bad
            else:
                kwargs[name] = bad
            if not check_call(label, fn, args, kwargs, bad) and not isinstance(bad, float) and bad is not None:
                silently_accepted.append((name, bad))
    return silently_accepted


def public_functions():
    seen = {}
    for mod in (tt, _C):
        for name in dir(mod):
            obj = getattr(mod, name)
            if name.startswith("_") or inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
                continue
            seen.setdefault(name, obj)
    return sorted(seen.items())


def public_methods():
    t = tt.ones(2, 2)
    names = [n for n in dir(tt.Tensor) if not n.startswith("_") and callable(getattr(t, n, None))]
    return [(n, getattr(t, n)) for n in names]


@pytest.mark.parametrize("name,fn", public_functions(), ids=lambda v: v if isinstance(v, str) else "")
def test_functions_name_themselves_on_wrong_types(name, fn):
    if name in TAKES_ANYTHING:
        pytest.skip(TAKES_ANYTHING[name])
    accepted = exercise(getattr(fn, "__name__", name), fn, accept_data_like=True)  # an alias reports its target
    operands = [(n, b) for n, b in accepted if n in OPERAND_PARAMS and isinstance(b, list)]
    assert not [a for a in accepted if a not in operands], f"{name} silently accepted {accepted}"


@pytest.mark.parametrize("name,method", public_methods(), ids=lambda v: v if isinstance(v, str) else "")
def test_tensor_methods_name_themselves_on_wrong_types(name, method):
    if f"Tensor.{name}" in TAKES_ANYTHING:
        pytest.skip(TAKES_ANYTHING[f"Tensor.{name}"])
    accepted = exercise(name, method, accept_data_like=True)
    operands = [(n, b) for n, b in accepted if n in OPERAND_PARAMS and isinstance(b, list)]
    assert not [a for a in accepted if a not in operands], f"Tensor.{name} silently accepted {accepted}"


def test_the_walk_finds_the_bindings():
    """Guards the test itself: dir() really reaches the C++ functions and methods."""
    fns = dict(public_functions())
    assert {"softmax", "matmul", "embedding", "zeros", "gather", "cross_entropy"} <= set(fns)
    assert len(public_methods()) > 60


@pytest.mark.parametrize("call,expected", [
    (lambda: tt.ones(3).softmax(axis="a"), "softmax: axis must be an int, got str 'a'"),
    (lambda: tt.ones(3).unsqueeze(1.5), "unsqueeze: dim must be an int, got float 1.5"),
    (lambda: tt.dropout(tt.ones(3), "a"), "dropout: p must be a number, got str 'a'"),
    (lambda: tt.Tensor([1.0], requires_grad="yes"), "Tensor: requires_grad must be True or False, got str 'yes'"),
    (lambda: tt.where(tt.ones(2) > 0, ["x"], tt.ones(2)), "where: cannot make a tensor from str"),
])
def test_exact_messages(call, expected):
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value).startswith(expected)
