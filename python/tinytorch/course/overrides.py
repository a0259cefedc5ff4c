"""The student's code inside the real engine: `use_student(NN, DIR)`.

    from tinytorch.course import use_student
    with use_student("05", "tinytorch-course") as student:
        ...train as usual: a - b, a * b, a / b, a @ b, .transpose, .sum and Embedding layers
        ...now run the student's Functions (their forward and their backward)
    print(student.report())

Module 05 replaces the Tensor operators with the student's `Function`s;
module 06 replaces tinytorch.core.optimizers' SGD/Adam/AdamW with theirs;
module 12 puts their scaled_dot_product_attention inside MultiHeadAttention.
While an override is active the layers take their composed path
(tinytorch.core.overrides), so the student's op is really the one that runs.

With compare=True (the default) every backward of a student op is checked
against the engine's own rule on the same inputs: the report names the first
op whose gradient departs (and at which backward call, i.e. training step),
and the time spent in the student's ops against the engine's doing the same
calls. Inside a student's forward or backward the original operators are
used, so their code may write `a - b` without calling itself.
"""
import threading
import time

import numpy as np

from .. import _C
from ..core.autograd import enable_grad
from ..core import overrides as _registry
from .requirements import module as _module

__all__ = ["use_student", "StudentOverride", "load_student_namespace"]

Tensor = _C.Tensor
_state = threading.local()


def _inside():
    return getattr(_state, "depth", 0) > 0


class _Guard:
    def __enter__(self):
        _state.depth = getattr(_state, "depth", 0) + 1

    def __exit__(self, *exc):
        _state.depth -= 1


def load_student_namespace(number, course_dir):
    """Runs the student's notebook (or .py) code cells in this process and returns what they defined."""
    from .runner import load_notebook
    from .student import student_submission
    m = _module(number)
    path = student_submission(m.number, course_dir)
    if path is None:
        raise FileNotFoundError(f"use_student: no notebook for module {m.number} in {course_dir}; "
                                f"`tinytorch module start {m.number} --dir {course_dir}` creates it")
    nb = load_notebook(path)
    ns = {"__name__": "__student__"}
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        # IPython magics and shell escapes are notebook-only syntax: skip those lines.
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            exec(compile(code, f"{path} cell {i + 1}", "exec"), ns)
        except Exception:
            pass  # a broken cell only loses what it defines; missing names are reported below
    missing = [n for n in m.exercises if n not in ns]
    if missing:
        raise ValueError(f"use_student: module {m.number} notebook {path} does not define {', '.join(missing)}; "
                         f"`tinytorch module test {m.number}` shows what is missing")
    return ns


class _OpStats:
    def __init__(self):
        self.calls = 0
        self.student_s = 0.0
        self.engine_s = 0.0


class StudentOverride:
    """The active override: restores the engine on exit / restore(); `report()` says how the student's code did."""

    def __init__(self, number, ns, compare=True, rtol=1e-3, atol=1e-5):
        self.module = _module(number)
        if not self.module.overridable:
            raise ValueError(f"use_student: module {self.module.number} has nothing to swap into the engine; "
                             "modules 05 (autograd rules), 06 (optimizers) and 12 (attention) do")
        self.ns, self.compare, self.rtol, self.atol = ns, compare, rtol, atol
        self.backward_calls = 0
        self.first_divergence = None   # (op, backward call, max abs difference)
        self.stats = {}
        self._undo = []
        self._install()

    # ---- installing ------------------------------------------------------------------
    def _patch(self, owner, name, value):
        old = owner.__dict__.get(name, getattr(owner, name))
        setattr(owner, name, value)
        self._undo.append((owner, name, old))

    def _install(self):
        n = self.module.number
        if n == "05":
            self._install_autograd()
        elif n == "06":
            import importlib

            from ..compat import ALIASES
            from ..core import optimizers
            for name in ("SGD", "Adam", "AdamW"):
                self._patch(optimizers, name, self.ns[name])
                # the alias paths too (tinytorch.optim.SGD, tinytorch.SGD): one class whichever path
                for module, alias, target in ALIASES:
                    if target == f"tinytorch.core.optimizers:{name}":
                        self._patch(importlib.import_module(module), alias, self.ns[name])
        elif n == "12":
            sdpa = self._timed("scaled_dot_product_attention", self.ns["scaled_dot_product_attention"])
            _registry.install("scaled_dot_product_attention", sdpa)
            self._undo.append((None, "scaled_dot_product_attention", None))
        if not _registry.active():  # modules 05/06: layers must still compose while this override lives
            _registry.install("_student_module", n)
            self._undo.append((None, "_student_module", None))

    def _timed(self, op, fn):
        def call(*args):
            st = self.stats.setdefault(op, _OpStats())
            t0 = time.perf_counter()
            out = fn(*args)
            st.calls += 1
            st.student_s += time.perf_counter() - t0
            return out
        return call

    def _install_autograd(self):
        T = Tensor
        originals = {name: getattr(T, name) for name in
                     ("__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
                      "__matmul__", "__rmatmul__", "transpose", "sum", "backward")}
        wrap = self._wrap_function
        sub = wrap("Sub", lambda a, b: originals["__sub__"](a, b))
        mul = wrap("Mul", lambda a, b: originals["__mul__"](a, b))
        div = wrap("Div", lambda a, b: originals["__truediv__"](a, b))
        matmul = wrap("Matmul", lambda a, b: originals["__matmul__"](a, b))
        transpose = wrap("Transpose", lambda x, d0, d1: originals["transpose"](x, d0, d1))
        total = wrap("Sum", lambda x, axis, keepdims: originals["sum"](x, axis, keepdims))
        embedding = wrap("Embedding", lambda w, idx: _C.embedding(w, idx))

        def binary(fn, name, reflected=False):
            orig = originals[name]

            def op(a, b):
                if _inside() or not isinstance(a, Tensor):
                    return orig(a, b)
                if not isinstance(b, Tensor):
                    if not isinstance(b, (int, float, np.number, np.ndarray, list)):
                        return NotImplemented
                    b = Tensor(np.asarray(b, dtype=np.asarray(a).dtype))
                return fn(b, a) if reflected else fn(a, b)
            return op

        self._patch(T, "__sub__", binary(sub, "__sub__"))
        self._patch(T, "__rsub__", binary(sub, "__rsub__", reflected=True))
        self._patch(T, "__mul__", binary(mul, "__mul__"))
        self._patch(T, "__rmul__", binary(mul, "__rmul__", reflected=True))
        self._patch(T, "__truediv__", binary(div, "__truediv__"))
        self._patch(T, "__rtruediv__", binary(div, "__rtruediv__", reflected=True))
        self._patch(T, "__matmul__", binary(matmul, "__matmul__"))
        self._patch(T, "__rmatmul__", binary(matmul, "__rmatmul__", reflected=True))

        def transpose_method(x, dim0=None, dim1=None):
            if _inside() or dim0 is None or dim1 is None:
                return originals["transpose"](x, dim0, dim1)
            return transpose(x, dim0, dim1)

        def sum_method(x, axis=None, keepdims=False, **kw):
            if _inside() or kw:
                return originals["sum"](x, axis, keepdims, **kw)
            return total(x, tuple(axis) if isinstance(axis, list) else axis, bool(keepdims))

        def backward_method(x, *args, **kw):
            self.backward_calls += 1
            return originals["backward"](x, *args, **kw)

        self._patch(T, "transpose", transpose_method)
        self._patch(T, "sum", sum_method)
        self._patch(T, "backward", backward_method)
        _registry.install("embedding", embedding)
        self._undo.append((None, "embedding", None))

    def _wrap_function(self, name, engine_op):
        """The student's Function `name`, run with the originals inside, timed and checked against `engine_op`."""
        student = self.ns[name]
        override = self

        class Wrapped(student):
            @staticmethod
            def forward(ctx, *args):
                t0 = time.perf_counter()
                with _Guard():
                    out = student.forward(ctx, *args)
                st = override.stats.setdefault(name, _OpStats())
                st.calls += 1
                st.student_s += time.perf_counter() - t0
                if override.compare:
                    ctx._tt_inputs = tuple(a.detach() if isinstance(a, Tensor) else a for a in args)
                return out

            @staticmethod
            def backward(ctx, *grads):
                t0 = time.perf_counter()
                with _Guard():
                    result = student.backward(ctx, *grads)
                override.stats[name].student_s += time.perf_counter() - t0
                if override.compare:
                    with _Guard():
                        override._compare(name, engine_op, ctx, grads, result)
                return result

        Wrapped.__name__ = Wrapped.__qualname__ = student.__name__
        return Wrapped.apply

    def _compare(self, name, engine_op, ctx, grads, result):
        inputs = ctx._tt_inputs
        t0 = time.perf_counter()
        with enable_grad():
            leaves = [self._leaf(a) for a in inputs]
            out = engine_op(*leaves)
            wanted = [x for x in leaves if isinstance(x, Tensor) and x.requires_grad]
            expected = _C_grad(out, wanted, grads[0]) if wanted else []
        self.stats[name].engine_s += time.perf_counter() - t0
        got = result if isinstance(result, tuple) else (result,)
        exp_iter = iter(expected)
        for arg, g in zip(leaves, got):
            if not (isinstance(arg, Tensor) and arg.requires_grad):
                continue
            e = np.asarray(next(exp_iter), dtype=np.float64)
            s = None if g is None else np.asarray(g, dtype=np.float64)
            if s is None or s.shape != e.shape or not np.allclose(s, e, rtol=self.rtol, atol=self.atol):
                diff = float("inf") if s is None or s.shape != e.shape else float(np.max(np.abs(s - e)))
                if self.first_divergence is None:
                    self.first_divergence = (name, self.backward_calls, diff)
                return

    @staticmethod
    def _leaf(a):
        if isinstance(a, Tensor) and np.dtype(a.dtype).kind == "f":
            leaf = a.detach()
            leaf.requires_grad = True
            return leaf
        return a

    # ---- leaving -----------------------------------------------------------------------
    def restore(self):
        while self._undo:
            owner, name, old = self._undo.pop()
            if owner is None:
                _registry.remove(name)
            else:
                setattr(owner, name, old)
        if self.module.number == "05" and hasattr(_C, "_reinstall_number_slots"):
            _C._reinstall_number_slots()  # the direct C++ slots for + - * /, as at import

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore()
        return False

    def report(self):
        lines = [f"student module {self.module.number} ({self.module.title}) ran inside the engine"]
        if self.compare and self.module.number == "05":
            if self.first_divergence is None:
                lines.append("  gradients: every student backward matched the engine's rule")
            else:
                op, step, diff = self.first_divergence
                lines.append(f"  gradients: {op} first departs from the engine at backward call {step} "
                             f"(max |difference| {diff:.3g})")
        for op, st in sorted(self.stats.items()):
            line = f"  {op:<30} {st.calls:>7} calls  student {st.student_s * 1e3:9.1f} ms"
            if st.engine_s:
                line += f"  engine {st.engine_s * 1e3:8.1f} ms  ({st.student_s / st.engine_s:.1f}x the engine's time)"
            lines.append(line)
        return "\n".join(lines)


def _C_grad(out, inputs, grad_output):
    from ..core.autograd import grad
    return grad(out, inputs, grad_outputs=grad_output, allow_unused=True)


def use_student(number, course_dir="tinytorch-course", compare=True, namespace=None):
    """Swaps the student's module `number` into the engine until `.restore()` (or the end of a `with`)."""
    ns = namespace if namespace is not None else load_student_namespace(number, course_dir)
    return StudentOverride(number, ns, compare=compare)
