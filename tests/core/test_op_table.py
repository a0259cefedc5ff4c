"""The op table (csrc/autograd/ops.def) is the one list of unary ops: every line must have its
function and Tensor method bound, stubbed in _C.pyi and exported by tinytorch, its node class bound
and defined in csrc/autograd/backward.h, and the op must record exactly that node."""
import ast
import pathlib

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C

pytestmark = pytest.mark.core

STUB = pathlib.Path(tt.__file__).with_name("_C.pyi")
BACKWARD_H = pathlib.Path(__file__).resolve().parents[2] / "csrc" / "autograd" / "backward.h"
OPS = dict(_C._unary_ops)


def test_the_table_is_read():
    assert {"exp", "log", "relu", "erf", "sign", "neg"} <= set(OPS)
    assert OPS["exp"] == "ExpBackward" and OPS["sign"] == "StepBackward"


def stubbed():
    tree = ast.parse(STUB.read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    return functions, methods


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_table_op_is_bound_stubbed_exported_and_records_its_node(name):
    functions, methods = stubbed()
    assert name in functions, f"add `def {name}(x: _Operand) -> Tensor: ...` to _C.pyi"
    assert name in methods, f"add `def {name}(self) -> \"Tensor\": ...` to class Tensor in _C.pyi"
    assert getattr(tt, name) is getattr(_C, name), f"export {name} from tinytorch/__init__.py"
    node = OPS[name]
    assert hasattr(_C, node), f"{node} is not bound"
    if BACKWARD_H.exists():  # a source checkout: the rule is written where the table says
        assert f"struct {node} " in BACKWARD_H.read_text(), f"{node} has no struct in csrc/autograd/backward.h"
    x = tt.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    for y in (getattr(tt, name)(x), getattr(x, name)()):
        assert type(y.grad_fn).__name__ == node
