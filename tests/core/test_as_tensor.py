"""Array-likes become tensors in one place (tinytorch/core/tensor.py's `_as_tensor`), with one behaviour:
a Tensor passes through, anything else goes through the Tensor constructor, and data it refuses raises
under the name the user called (a layer, a loss, a function), not `Tensor`."""
import ast
import pathlib

import numpy as np
import pytest

import tinytorch as tt
import tinytorch.nn.functional as F
from tinytorch.core.tensor import _as_tensor

pytestmark = pytest.mark.core

PACKAGE = pathlib.Path(tt.__file__).parent


def package_files():
    """The package's own code (an installed package also carries copies of the lessons and milestones)."""
    skipped = ("course/graders/", "course/lessons/", "course/milestones/")
    return [p for p in PACKAGE.rglob("*.py") if not any(s in p.relative_to(PACKAGE).as_posix() for s in skipped)]


def test_defined_once_in_the_tensor_module():
    homes = []
    for path in package_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in ("_as_tensor", "_tensor"):
                homes.append(path.relative_to(PACKAGE).as_posix())
    assert homes == ["core/tensor.py"]
    copies = [p.relative_to(PACKAGE).as_posix() for p in package_files()
              if "isinstance(x, Tensor) else Tensor(x)" in p.read_text(encoding="utf-8")]
    assert copies == [], "call _as_tensor(x, caller) instead of converting inline"


def test_a_tensor_passes_through_and_other_data_follows_the_constructor():
    t = tt.Tensor([1.0, 2.0])
    assert _as_tensor(t, "f") is t
    from_list = _as_tensor([1, 2], "f")
    assert from_list.dtype == np.float32 and from_list.tolist() == [1.0, 2.0]  # as Tensor([1, 2])
    from_ints = _as_tensor(np.array([3, 4]), "f")
    assert from_ints.dtype == np.int64 and from_ints.tolist() == [3, 4]  # numpy arrays keep their dtype


@pytest.mark.parametrize("call, name", [
    (lambda d: tt.ReLU()(d), "ReLU"),
    (lambda d: tt.Linear(2, 1)(d), "Linear"),
    (lambda d: tt.MSELoss()(d, tt.Tensor([1.0])), "MSELoss"),
    (lambda d: tt.LayerNorm(2)(d), "LayerNorm"),
    (lambda d: F.relu(d), "relu"),
    (lambda d: F.softmax(d, -1), "softmax"),
    (lambda d: tt.sum(d), "sum"),
    (lambda d: tt.var(d), "var"),
    (lambda d: tt.TensorDataset(d), "TensorDataset"),
])
def test_refused_data_is_reported_under_the_callers_name(call, name):
    with pytest.raises(TypeError, match=rf"^{name}: cannot make a tensor from "):
        call([["1.0", "x"]])


def test_values_are_unchanged():
    np.testing.assert_array_equal(tt.ReLU()([-1.0, 2.0]).numpy(), np.array([0.0, 2.0], dtype=np.float32))
    assert float(tt.sum([[1, 2], [3, 4]])) == 10.0
    ds = tt.TensorDataset([[0.5, 1.0], [2.0, 3.0]], [0, 1])  # labels given as a list stay int64
    assert ds.tensors[1].dtype == np.int64 and ds.tensors[0].dtype == np.float32
