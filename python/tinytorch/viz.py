"""Draw the autograd graph behind a tensor: `draw_graph(loss, params=model)`.

The graph is the one `loss.backward()` will walk: one box per backward node
(named `type(grad_fn).__name__`, as `grad_fn` reports it), one per leaf
(`AccumulateGrad`, labelled with the parameter's name and shape), and edges
from the node that produced an input to the node that consumed it, so the
drawing reads in the forward direction, leaves at the top, the loss at the
bottom. Each backward node carries the step at which the engine will run it.

That step is computed the way the engine (csrc/autograd/engine.cpp) does
it, not guessed: count, for every reachable node, how many edges point at
it; start from the output's node; among the nodes whose gradients have all
arrived, always run the one created last (highest sequence number). So
`graph.order` is exactly the sequence the engine's profiler records during
`loss.backward()` (tests/05_autograd/test_viz.py checks that on a GPT).

Output needs nothing beyond the package: `graph.to_dot()` (also
`graph.source`) is Graphviz DOT text and `str(graph)` a text listing.
Pictures need the Graphviz `dot` program: in Jupyter the graph shows as
SVG when `dot` is on the PATH (as an HTML listing otherwise), and
`graph.render("graph.png")` writes PNG or SVG through the `graphviz`
Python package (`pip install graphviz`, `apt-get install graphviz`).

Saved tensors: the engine's C++ nodes keep them as private fields and do
not hand them to Python, so `show_saved=True` shows what is known, whether
a node still holds its saved tensors or a backward without
`retain_graph=True` has already freed them.
"""
import heapq
import html
import shutil
import subprocess
from dataclasses import dataclass, field

from . import _C

__all__ = ["draw_graph", "AutogradGraph", "GraphNode"]


@dataclass
class GraphNode:
    """One node of the backward graph.

    Attributes:
        id: a key unique in this graph (the engine's sequence number, `n<seq>`).
        name: `type(grad_fn).__name__`, e.g. `"MulBackward"` or `"AccumulateGrad"`.
        engine_name: the name the engine (and its profiler) uses; differs from
            `name` only for Python `Function`s, whose node type is `PyFunctionBackward`.
        is_leaf: True for a leaf's `AccumulateGrad` sink.
        leaf_name: the parameter's name from `params` (None when not given or not found).
        shape: the leaf tensor's shape (None for other nodes).
        step: position in the engine's run order, from 1 (the output's node).
        saved: with `show_saved=True`, "held" or "freed" (None for leaves and otherwise).
        inputs: ids of the nodes this one sends gradients to, one per forward input
            that requires grad, in argument order.
    """
    id: str
    name: str
    engine_name: str
    is_leaf: bool
    leaf_name: str = None
    shape: tuple = None
    step: int = 0
    saved: str = None
    inputs: list = field(default_factory=list)

    @property
    def label(self):
        """The text drawn in the node's box."""
        if self.is_leaf:
            head = self.leaf_name if self.leaf_name is not None else "leaf"
            return f"{head}\n{_shape_str(self.shape)}\nstep {self.step}"
        head = self.name if self.engine_name == self.name else f"{self.name} ({self.engine_name})"
        text = f"{head}\nstep {self.step}"
        if self.saved is not None:
            text += f"\nsaved: {self.saved}"
        return text


def _shape_str(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _param_names(params):
    """id(tensor) -> name, from a dict name -> Tensor or an object with named_parameters()."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        items = list(params.named_parameters())
    elif isinstance(params, dict):
        items = list(params.items())
    else:
        raise TypeError("draw_graph: params must be a dict name -> Tensor or a module with named_parameters(), "
                        f"got {type(params).__name__}")
    names = {}
    for name, tensor in items:
        if not isinstance(tensor, _C.Tensor):
            raise TypeError(f"draw_graph: params[{name!r}] is a {type(tensor).__name__}, not a Tensor")
        names.setdefault(id(tensor), str(name))
    return names


class AutogradGraph:
    """The backward graph of one output, as returned by `draw_graph`.

    Attributes:
        nodes: every node the engine will run, in the engine's run order (`GraphNode`s).
        edges: (producer id, consumer id) pairs: the producer made an input of the
            consumer, so the consumer sends it a gradient. An input used twice gives two edges.
        order: the nodes' names in run order (what the engine's profiler records).
        output_shape: the shape of the tensor the graph was drawn for.
    """

    def __init__(self, nodes, edges, output_shape):
        self.nodes = nodes
        self.edges = edges
        self.output_shape = tuple(output_shape)
        self._by_id = {n.id: n for n in nodes}

    @property
    def order(self):
        return [n.engine_name for n in self.nodes]

    @property
    def leaves(self):
        """The leaf nodes (AccumulateGrad sinks) in run order."""
        return [n for n in self.nodes if n.is_leaf]

    def node(self, node_id):
        """The GraphNode with this id."""
        return self._by_id[node_id]

    # ---- output with no dependency ----
    def to_dot(self):
        """Graphviz DOT text of the graph (needs nothing installed)."""
        def q(text):
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

        lines = ["digraph autograd {",
                 '  graph [rankdir=TB, fontname="Helvetica"];',
                 '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];']
        for n in self.nodes:
            color = "lightblue" if n.is_leaf else "lightgrey"
            lines.append(f"  {n.id} [label={q(n.label)}, fillcolor={color}];")
        lines.append(f"  output [label={q('output ' + _shape_str(self.output_shape))}, fillcolor=darkolivegreen1];")
        for producer, consumer in self.edges:
            lines.append(f"  {producer} -> {consumer};")
        if self.nodes:
            lines.append(f"  {self.nodes[0].id} -> output;")
        lines.append("}")
        return "\n".join(lines) + "\n"

    @property
    def source(self):
        """The DOT text, as the graphviz package's objects name it."""
        return self.to_dot()

    def __str__(self):
        lines = [f"autograd graph of an output of shape {_shape_str(self.output_shape)}: "
                 f"{len(self.nodes)} nodes, {len(self.leaves)} leaves; run order:"]
        for n in self.nodes:
            head, *rest = [part for part in n.label.split("\n") if not part.startswith("step ")]
            sends = ", ".join(self._by_id[i].label.split("\n")[0] for i in n.inputs)
            lines.append(f"  {n.step:>3}. {' '.join([head] + rest)}" + (f"  -> sends to {sends}" if sends else ""))
        return "\n".join(lines)

    def __repr__(self):
        return f"<AutogradGraph: {len(self.nodes)} nodes, {len(self.leaves)} leaves>"

    # ---- pictures (need Graphviz's dot) ----
    def _repr_svg_(self):
        """Jupyter's SVG view, when the `dot` program is installed (None otherwise)."""
        dot = shutil.which("dot")
        if dot is None:
            return None
        done = subprocess.run([dot, "-Tsvg"], input=self.to_dot().encode(), capture_output=True, timeout=120)
        return done.stdout.decode() if done.returncode == 0 else None

    def _repr_html_(self):
        """Jupyter's fallback view when `dot` is missing: the text listing."""
        if shutil.which("dot") is not None:
            return None  # the SVG view is used instead
        note = ("<p><i>Install Graphviz (<code>apt-get install graphviz</code>) to see this graph drawn; "
                "<code>.to_dot()</code> gives its DOT text.</i></p>")
        return f"<pre>{html.escape(str(self))}</pre>{note}"

    def render(self, path, format=None):
        """Write the picture to `path` (PNG or SVG, from the suffix unless `format` is given); returns the path.

        Needs the `graphviz` Python package and Graphviz's `dot` program.
        """
        path = str(path)
        fmt = format or (path.rsplit(".", 1)[-1].lower() if "." in path else "")
        if fmt not in ("png", "svg"):
            raise ValueError(f"draw_graph: render writes png or svg; got {fmt or 'no suffix'!r} for {path!r} "
                             "(end the path in .png or .svg, or pass format=)")
        try:
            import graphviz
        except ImportError:
            raise ImportError("draw_graph: rendering pictures needs the graphviz Python package "
                              "(pip install graphviz); .to_dot() gives the DOT text without it") from None
        if shutil.which("dot") is None:
            raise RuntimeError("draw_graph: rendering pictures needs Graphviz's `dot` program, which is not on "
                               "the PATH (apt-get install graphviz); .to_dot() gives the DOT text without it")
        data = graphviz.Source(self.to_dot()).pipe(format=fmt)
        with open(path, "wb") as f:
            f.write(data)
        return path


def _discover(root):
    """Every node reachable from root, keyed by sequence number, without recursion."""
    found = {root._sequence_nr: root}
    stack = [root]
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is not None and child._sequence_nr not in found:
                found[child._sequence_nr] = child
                stack.append(child)
    return found


def _engine_order(root, found):
    """The engine's run order: dependency counts, then a ready queue on the highest sequence number."""
    deps = dict.fromkeys(found, 0)
    for node in found.values():
        for child, _ in node.next_functions:
            if child is not None:
                deps[child._sequence_nr] += 1
    ready = [-root._sequence_nr]
    order = []
    while ready:
        seq = -heapq.heappop(ready)
        order.append(seq)
        for child, _ in found[seq].next_functions:
            if child is None:
                continue
            c = child._sequence_nr
            deps[c] -= 1
            if deps[c] == 0:
                heapq.heappush(ready, -c)
    return order


def draw_graph(output, params=None, show_saved=False):
    """The backward graph of `output`, ready to show in Jupyter, print, or write as DOT, PNG or SVG.

    Args:
        output: the Tensor whose `backward()` you want to see (usually the loss).
        params: names for the leaves: a dict name -> Tensor, or a module (its
            `named_parameters()` are used). Leaves not found there are labelled "leaf".
        show_saved: also show, for each backward node, whether it still holds the
            tensors it saved for backward ("held") or a backward has freed them ("freed").
            The C++ nodes do not expose the saved tensors themselves.

    Returns:
        An `AutogradGraph`: `.nodes` in the engine's run order, `.edges`, `.order`,
        `.leaves`, `.to_dot()`, `.render(path)`, and Jupyter display.

    Example:
        >>> import tinytorch as tt
        >>> from tinytorch.viz import draw_graph
        >>> w = tt.Tensor([1.0, 2.0], requires_grad=True)
        >>> g = draw_graph((w * w).sum(), params={"w": w})
        >>> g.order
        ['SumBackward', 'MulBackward', 'AccumulateGrad']
    """
    if not isinstance(output, _C.Tensor):
        raise TypeError(f"draw_graph: output must be a tinytorch Tensor, got {type(output).__name__}")
    names = _param_names(params)
    root = output.grad_fn
    if root is None:
        if not output.requires_grad:
            raise ValueError("draw_graph: output does not require grad, so it has no graph; compute it from "
                             "tensors created with requires_grad=True (and outside no_grad())")
        leaf = GraphNode(id="n0", name="AccumulateGrad", engine_name="AccumulateGrad", is_leaf=True,
                         leaf_name=names.get(id(output)), shape=tuple(output.shape), step=1)
        return AutogradGraph([leaf], [], output.shape)

    found = _discover(root)
    order = _engine_order(root, found)
    nodes = {}
    for step, seq in enumerate(order, 1):
        fn = found[seq]
        is_leaf = isinstance(fn, _C.AccumulateGrad)
        node = GraphNode(id=f"n{seq}", name=type(fn).__name__, engine_name=fn.name(), is_leaf=is_leaf, step=step,
                         inputs=[f"n{c._sequence_nr}" for c, _ in fn.next_functions if c is not None])
        if is_leaf:
            variable = fn.variable
            node.leaf_name, node.shape = names.get(id(variable)), tuple(variable.shape)
        elif show_saved:
            node.saved = "freed" if fn._released else "held"
        nodes[seq] = node
    edges = [(child, n.id) for n in nodes.values() for child in n.inputs]
    return AutogradGraph(list(nodes.values()), edges, output.shape)
