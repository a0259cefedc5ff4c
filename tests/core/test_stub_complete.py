"""_C.pyi names every public function and class of tinytorch._C (so editors and type checkers see them all)."""
import ast
import inspect
import pathlib

import pytest

import tinytorch
from tinytorch import _C

pytestmark = pytest.mark.core

STUB = pathlib.Path(tinytorch.__file__).with_name("_C.pyi")


def stub_tree():
    return ast.parse(STUB.read_text())


def test_stub_names_every_public_module_attribute():
    tree = stub_tree()
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stubbed |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    public = {n for n in dir(_C) if not n.startswith("_") and not inspect.ismodule(getattr(_C, n))}
    missing = sorted(public - stubbed)
    assert not missing, f"add these to python/tinytorch/_C.pyi: {missing}"


def test_stub_names_every_public_tensor_method():
    tree = stub_tree()
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    stubbed = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    stubbed |= {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}
    public = {n for n in vars(_C.Tensor) if not n.startswith("_")}
    missing = sorted(public - stubbed)
    assert not missing, f"add these Tensor members to python/tinytorch/_C.pyi: {missing}"
