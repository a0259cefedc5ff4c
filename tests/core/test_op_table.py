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


AUTOGRAD_DIR = BACKWARD_H.parent


@pytest.mark.skipif(not BACKWARD_H.exists(), reason="needs the C++ sources (a source checkout)")
def test_every_node_struct_is_listed_in_the_table_and_bound_as_a_class_of_C():
    """ops.def is the one list of nodes: a rule written anywhere in csrc/autograd (backward.h, the
    fused layers' fused_backward.h, conv.h) without its table line would have no Python class."""
    import re

    table = (AUTOGRAD_DIR / "ops.def").read_text()
    listed = set(re.findall(r"^TT_NODE_CLASS\((\w+), \w+\)", table, re.M))
    listed |= set(re.findall(r"^TT_UNARY_(?:OP|FORM)\([^)]*?(\w+Backward)", table, re.M))
    structs = set()
    for header in AUTOGRAD_DIR.glob("*.h"):
        structs |= set(re.findall(r"^struct (\w+Backward) : (?:public )?\w+", header.read_text(), re.M))
    assert {"LinearBackward", "Conv2dBackward", "MulBackward", "ExpBackward"} <= structs  # the scan sees them
    assert structs - listed == set(), "node structs with no line in csrc/autograd/ops.def"
    assert listed - structs == set(), "table lines naming no node struct"
    for node in structs:
        assert issubclass(getattr(_C, node), _C.Node), node
