"""One class per node name.

Every autograd node class in tinytorch._C and its submodules has a name no
other class has (there used to be two LayerNormBackward classes, one in a
`_C.nn_nodes` submodule), and every node a GPT step records is an instance
of the class `_C.<its name()>`, so `type(t.grad_fn).__name__`, the engine's
`name()` (what the profiler and anomaly mode report) and the class users can
import agree.
"""
import inspect
from collections import Counter

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformer import GPT

pytestmark = pytest.mark.module05


def node_classes(module, seen=None):
    """[(dotted path, class)] for every Node subclass in `module` and its submodules."""
    seen = set() if seen is None else seen
    seen.add(module.__name__)
    found = []
    for attr in dir(module):
        obj = getattr(module, attr)
        if inspect.ismodule(obj) and obj.__name__.startswith(_C.__name__) and obj.__name__ not in seen:
            found += node_classes(obj, seen)
        elif inspect.isclass(obj) and issubclass(obj, _C.Node) and obj is not _C.Node:
            found.append((f"{module.__name__}.{attr}", obj))
    return found


def test_every_node_class_name_is_unique_across_C_and_its_submodules():
    found = node_classes(_C)
    assert len(found) > 50  # the walk does see the node classes
    by_name = {}
    for path, cls in found:
        assert path.rsplit(".", 1)[1] == cls.__name__, f"{path} is bound under another name than {cls.__name__}"
        by_name.setdefault(cls.__name__, set()).add(cls)
    twice = {name: classes for name, classes in by_name.items() if len(classes) > 1}
    assert not twice, f"node names bound to more than one class: {twice}"
    assert all(path.count(".") == 2 for path, _ in found), "node classes live in tinytorch._C itself"


def test_the_fused_nodes_are_classes_of_C():
    for name in ("LinearBackward", "LinearGeluBackward", "LayerNormBackward", "AttentionBackward"):
        assert issubclass(getattr(_C, name), _C.Node)
    assert issubclass(_C.LinearGeluBackward, _C.LinearBackward)
    assert not hasattr(_C, "nn_nodes")
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    w, b = Tensor(np.ones((3, 4)), requires_grad=True), Tensor(np.zeros(4), requires_grad=True)
    assert type(_C._nn_linear(x, w, b).grad_fn) is _C.LinearBackward
    assert type(_C._nn_linear_gelu(x, w, b).grad_fn) is _C.LinearGeluBackward
    assert type(tt.layer_norm(x, tt.ones(3), tt.zeros(3), 1e-5).grad_fn) is _C.LayerNormBackward


def graph_nodes(root):
    """Every node reachable from root through next_functions."""
    seen, todo = {}, [root]
    while todo:
        n = todo.pop()
        if n is None or id(n) in seen:
            continue
        seen[id(n)] = n
        todo += [fn for fn, _ in n.next_functions]
    return list(seen.values())


def test_gpt_nodes_are_named_as_the_engine_names_them():
    tt.manual_seed(0)
    model = GPT(vocab_size=11, embed_dim=8, num_layers=2, num_heads=2, max_seq_len=6)
    tokens = Tensor(np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]), dtype=np.int64)
    targets = Tensor(np.array([[2, 3, 4, 5, 6], [4, 3, 2, 1, 0]]), dtype=np.int64)
    logits = model(tokens)
    loss = tt.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))
    nodes = graph_nodes(loss.grad_fn)
    for n in nodes:
        assert type(n).__name__ == n.name(), f"a {type(n).__name__} node calls itself {n.name()}"
        assert getattr(_C, n.name()) is type(n)
    counts = Counter(n.name() for n in nodes)
    # Per block: packed QKV and output projection, the MLP's two layers, two LayerNorms, one attention.
    assert counts["LinearBackward"] == 2 * 2 + 2 + 1  # + lm_head
    assert counts["LinearGeluBackward"] == 2
    assert counts["LayerNormBackward"] == 2 * 2 + 1  # + ln_f
    assert counts["AttentionBackward"] == 2
    assert counts["EmbeddingBackward"] == 1 and counts["CrossEntropyBackward"] == 1
    assert counts["AccumulateGrad"] == len(model.parameters())
