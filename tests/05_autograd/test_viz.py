"""tinytorch.viz.draw_graph: the graph it draws is the one the engine runs.

The engine's own profiler records every backward node it applies, in order
(csrc/autograd/engine.cpp, call_function). So the node count and the run
order `draw_graph` predicts are checked against a real backward, on a small
MLP (exact names and edges too), a graph with shared inputs and a Python
Function, and the milestone-05 GPT (every parameter a named leaf).
"""
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.autograd import Function
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.perf.profiling import Profiler
from tinytorch.viz import AutogradGraph, draw_graph

pytestmark = pytest.mark.module05

ROOT = pathlib.Path(__file__).resolve().parents[2]
NEED_DOT = os.environ.get("TINYTORCH_REQUIRE_DOT") == "1"  # .ci/docs.sh installs Graphviz and sets it


def engine_run(loss):
    """Names of the backward nodes the engine applies during loss.backward(), in order."""
    with Profiler() as prof:
        loss.backward()
    events = sorted((e for e in prof.events() if e[1] == "backward"), key=lambda e: e[2])
    return [e[0] for e in events]


def mlp():
    tt.manual_seed(0)
    model = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    return model, model(tt.randn(5, 4)).sum()


def test_small_mlp_exact_nodes_edges_and_order():
    model, loss = mlp()
    g = draw_graph(loss, params=model)
    assert isinstance(g, AutogradGraph)
    assert g.order == ["SumBackward", "LinearBackward", "AccumulateGrad", "AccumulateGrad", "ReLUBackward",
                       "LinearBackward", "AccumulateGrad", "AccumulateGrad"]
    by_label = {n.id: (n.leaf_name or n.name) for n in g.nodes}
    # the second LinearBackward (step 2) consumes ReLU's output and layers.2's weight and bias
    edges = sorted((by_label[a], by_label[b], g.node(b).step) for a, b in g.edges)
    assert edges == sorted([
        ("LinearBackward", "SumBackward", 1),
        ("ReLUBackward", "LinearBackward", 2), ("layers.2.weight", "LinearBackward", 2),
        ("layers.2.bias", "LinearBackward", 2),
        ("LinearBackward", "ReLUBackward", 5),
        ("layers.0.weight", "LinearBackward", 6), ("layers.0.bias", "LinearBackward", 6),
    ])
    shapes = {n.leaf_name: n.shape for n in g.leaves}
    assert shapes == {"layers.0.weight": (4, 8), "layers.0.bias": (8,), "layers.2.weight": (8, 3),
                      "layers.2.bias": (3,)}
    assert [n.step for n in g.nodes] == list(range(1, 9))
    assert g.order == engine_run(loss)


def test_params_as_dict_and_unnamed_leaves():
    a = tt.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = tt.Tensor([4.0, 5.0, 6.0], requires_grad=True)
    g = draw_graph((a * b + a).sum(), params={"a": a})
    leaves = {n.leaf_name: n.shape for n in g.leaves}
    assert leaves == {"a": (3,), None: (3,)}
    assert "leaf\n(3,)" in [n.label.rsplit("\n", 1)[0] for n in g.leaves]


def test_shared_input_gives_one_leaf_two_edges_and_engine_order():
    x = tt.Tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x * x - x / 2).sum()
    g = draw_graph(y, params={"x": x})
    assert [n.leaf_name for n in g.leaves] == ["x"]
    leaf = g.leaves[0].id
    consumers = sorted(g.node(b).name for a, b in g.edges if a == leaf)
    assert consumers == ["DivBackward", "MulBackward", "MulBackward"]  # x * x: two edges to the same leaf
    assert len(g.nodes) == 5
    assert g.order == engine_run(y)


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


def test_python_function_node_and_branches_follow_the_engine():
    tt.manual_seed(1)
    w = tt.randn(3, 3, requires_grad=True)
    x = tt.randn(4, 3, requires_grad=True)
    h = tt.gelu(x @ w)
    y = (Cube.apply(h).mean() + (h * 2).sum() + tt.exp(w).sum())
    g = draw_graph(y, params={"w": w, "x": x})
    node = next(n for n in g.nodes if n.name == "PyFunctionBackward")
    assert node.engine_name != node.name and node.engine_name in g.order
    assert node.engine_name in node.label
    run = engine_run(y)
    assert g.order == run and len(g.nodes) == len(run)


def test_show_saved_reports_held_then_freed():
    model, loss = mlp()
    before = draw_graph(loss, show_saved=True)
    assert {n.saved for n in before.nodes if not n.is_leaf} == {"held"}
    assert all(n.saved is None for n in before.leaves)
    assert "saved: held" in before.to_dot()
    loss.backward()
    after = draw_graph(loss, show_saved=True)
    assert {n.saved for n in after.nodes if not n.is_leaf} == {"freed"}
    assert "saved" not in draw_graph(loss).to_dot()


def load_milestone_05():
    path = ROOT / "milestones" / "05_2017_transformer" / "vaswani_copilot.py"
    spec = importlib.util.spec_from_file_location("vaswani_copilot_for_viz", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("layers", [1, 2])
def test_milestone_gpt_every_parameter_is_a_leaf_and_count_matches_engine(layers):
    milestone = load_milestone_05()
    args = milestone.parse_args(["--layers", str(layers)])
    _, inputs, targets, model, _, loss_fn = milestone.build(args)
    loss = loss_fn(model(inputs), targets)
    g = draw_graph(loss, params=model)
    params = dict(model.named_parameters())
    assert len(params) > 10
    named = {n.leaf_name: n.shape for n in g.leaves}
    assert named == {name: tuple(p.shape) for name, p in params.items()}  # every parameter, each once, no stranger
    run = engine_run(loss)
    assert len(g.nodes) == len(run)
    assert g.order == run
    assert run.count("AccumulateGrad") == len(params)


def test_leaf_output_and_no_graph():
    w = tt.Tensor([1.0, 2.0], requires_grad=True)
    g = draw_graph(w, params={"w": w})
    assert g.order == ["AccumulateGrad"] and g.leaves[0].leaf_name == "w"
    with pytest.raises(ValueError, match=r"^draw_graph: output does not require grad"):
        draw_graph(tt.Tensor([1.0, 2.0]))
    with tt.no_grad():
        y = w * 2
    with pytest.raises(ValueError, match=r"^draw_graph: "):
        draw_graph(y)


@pytest.mark.parametrize("bad", [np.ones(3), [1.0, 2.0], 3.0, None])
def test_non_tensor_output_is_a_type_error(bad):
    with pytest.raises(TypeError, match=r"^draw_graph: output must be a tinytorch Tensor, got "):
        draw_graph(bad)


def test_bad_params():
    model, loss = mlp()
    with pytest.raises(TypeError, match=r"^draw_graph: params must be"):
        draw_graph(loss, params=[1, 2])
    with pytest.raises(TypeError, match=r"^draw_graph: params\['w'\] is a ndarray, not a Tensor"):
        draw_graph(loss, params={"w": np.ones(2)})


# ---- DOT text: a small grammar check that needs no Graphviz, and Graphviz itself when present ----
_ID = r'(?:[A-Za-z_][A-Za-z_0-9]*)'
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ATTRS = rf'\[(?:\s*{_ID}\s*=\s*(?:{_QUOTED}|{_ID}|[0-9.]+)\s*,?)*\s*\]'
_STATEMENT = re.compile(rf'^\s*(?:(?:graph|node)\s*{_ATTRS}|{_ID}\s*{_ATTRS}|{_ID}\s*->\s*{_ID})\s*;\s*$')


def test_dot_text_is_well_formed():
    model, loss = mlp()
    g = draw_graph(loss, params=model, show_saved=True)
    lines = g.to_dot().strip().splitlines()
    assert lines[0] == "digraph autograd {" and lines[-1] == "}"
    for line in lines[1:-1]:
        assert _STATEMENT.match(line), line
    declared = {re.match(rf"^\s*({_ID})\s*\[", l).group(1) for l in lines[1:-1] if re.match(rf"^\s*{_ID}\s*\[", l)}
    declared -= {"graph", "node"}
    arrows = [re.findall(_ID, l) for l in lines[1:-1] if "->" in l]
    assert all(a in declared and b in declared for a, b in arrows)
    assert len(arrows) == len(g.edges) + 1  # + the root node -> output
    assert g.source == g.to_dot()
    assert 'label="layers.0.weight\\n(4, 8)\\nstep 8"' in g.to_dot()


def test_text_and_html_fallbacks_list_the_run_order():
    model, loss = mlp()
    g = draw_graph(loss, params=model)
    text = str(g).splitlines()
    assert text[0].startswith("autograd graph of an output of shape (): 8 nodes, 4 leaves")
    assert text[1].split() == ["1.", "SumBackward", "->", "sends", "to", "LinearBackward"]
    assert text[-1].split() == ["8.", "layers.0.weight", "(4,", "8)"]
    if shutil.which("dot") is None:
        assert "SumBackward" in g._repr_html_() and g._repr_svg_() is None
    else:
        assert g._repr_html_() is None


@pytest.mark.skipif(shutil.which("dot") is None and not NEED_DOT, reason="Graphviz's dot is not installed")
def test_dot_renders_with_graphviz(tmp_path):
    model, loss = mlp()
    g = draw_graph(loss, params=model)
    svg = g._repr_svg_()
    assert svg is not None and "<svg" in svg
    for text in ("SumBackward", "ReLUBackward", "layers.0.weight", "layers.2.bias"):
        assert text in svg
    done = subprocess.run(["dot", "-Tplain"], input=g.to_dot().encode(), capture_output=True)
    assert done.returncode == 0, done.stderr
    nodes = [l for l in done.stdout.decode().splitlines() if l.startswith("node ")]
    assert len(nodes) == len(g.nodes) + 1
    try:
        import graphviz  # noqa: F401
    except ImportError:
        if NEED_DOT:
            raise
        return
    png = g.render(tmp_path / "g.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in open(g.render(tmp_path / "g.svg")).read()


def test_render_errors_name_draw_graph(tmp_path, monkeypatch):
    model, loss = mlp()
    g = draw_graph(loss)
    with pytest.raises(ValueError, match=r"^draw_graph: render writes png or svg"):
        g.render(tmp_path / "g.pdf")
    monkeypatch.setattr(shutil, "which", lambda name: None)  # as on a machine without Graphviz
    assert g._repr_svg_() is None and "<pre>" in g._repr_html_()
    try:
        import graphviz  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"^draw_graph: rendering pictures needs the graphviz Python package"):
            g.render(tmp_path / "g.png")
        return
    with pytest.raises(RuntimeError, match=r"^draw_graph: rendering pictures needs Graphviz's `dot` program"):
        g.render(tmp_path / "g.png")


def test_shows_itself_in_a_jupyter_notebook():
    """The done-when of issue 12: the graph of a small MLP and of the milestone GPT renders in a notebook."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    setup = ("import importlib.util\nimport tinytorch as tt\nfrom tinytorch.viz import draw_graph\n"
             "from tinytorch.core.layers import Linear, Sequential\nfrom tinytorch.core.activations import ReLU\n"
             "tt.manual_seed(0)\nmodel = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))\n"
             "loss = model(tt.randn(5, 4)).sum()\n"
             f"spec = importlib.util.spec_from_file_location('m05', {str(ROOT / 'milestones/05_2017_transformer/vaswani_copilot.py')!r})\n"
             "m05 = importlib.util.module_from_spec(spec); spec.loader.exec_module(m05)\n"
             "_, x, y, gpt, _, loss_fn = m05.build(m05.parse_args([]))\n"
             "gpt_loss = loss_fn(gpt(x), y)\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup),
                                         nbformat.v4.new_code_cell("draw_graph(loss, params=model)"),
                                         nbformat.v4.new_code_cell("draw_graph(gpt_loss, params=gpt)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    for cell, names in ((nb.cells[1], ["SumBackward", "ReLUBackward", "layers.0.weight"]),
                        (nb.cells[2], ["CrossEntropyBackward", "AttentionBackward", "token_embedding.weight"])):
        (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        data = result["data"]
        assert data["text/plain"].startswith("<AutogradGraph: ")
        shown = data.get("image/svg+xml") if shutil.which("dot") else data.get("text/html")
        assert shown is not None, sorted(data)
        for name in names:
            assert name in shown
        if shutil.which("dot"):
            assert "<svg" in shown and "text/html" not in data
