"""Grading a student's notebook: run every cell in a fresh Jupyter kernel, then
the module's checks against what the cells defined.

The grader never trusts saved outputs: a notebook that was never run is run
here (nbclient, with a per-cell timeout). Cells that raise do not stop the
run (allow_errors), so one broken exercise costs only its own checks. The
checks run inside the same kernel, on its globals(), in a last cell appended
by the grader, which prints the results as one JSON line.

    python -m tinytorch.course.runner NN PATH [--json]   # used by `tinytorch grade` (one process per submission)
"""
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field

from .requirements import module as _module

__all__ = ["load_notebook", "notebook_from_source", "grade_notebook", "GradeReport", "grade_in_kernel", "format_report"]

MARKER = "<<tinytorch-grade>>"


class CourseToolsMissing(ImportError):
    """A Jupyter tool the course needs is not installed (the CLI prints it as one line, no traceback)."""


def _need(name):
    try:
        return __import__(name)
    except ImportError:
        raise CourseToolsMissing(f"tinytorch course: `{name}` is missing; install the course tools with "
                                 f"`pip install jupytext nbformat nbclient ipykernel` (the package's `course` "
                                 f"extra)") from None


def notebook_from_source(source):
    """A percent-format lesson as an nbformat notebook."""
    jupytext = _need("jupytext")
    nb = jupytext.reads(source, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def load_notebook(path):
    """An .ipynb, or a percent-format .py, as a notebook; ValueError naming the file if it is not one."""
    nbformat = _need("nbformat")
    try:
        if path.endswith(".py"):
            with open(path, encoding="utf-8") as f:
                return notebook_from_source(f.read())
        return nbformat.read(path, as_version=4)
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}")
    except Exception as e:  # nbformat raises several types for damaged JSON
        raise ValueError(f"{path} is not a readable notebook ({type(e).__name__}: {e}); "
                         f"`tinytorch module reset` gives a fresh copy (your file is kept as a backup)")


def grade_in_kernel(number, namespace, check_timeout=30):
    """Runs inside the student's kernel: the module's checks on its globals, as a list of dicts."""
    import importlib
    grader = importlib.import_module(_module(number).grader).grader
    return [r.as_dict() for r in grader.run(namespace, timeout=check_timeout)]


@dataclass
class GradeReport:
    module: str
    path: str
    checks: list = field(default_factory=list)   # dicts: name, points, score, passed, message, hint
    cell_errors: list = field(default_factory=list)
    error: str = ""                              # the run itself failed (kernel died, unreadable notebook)

    @property
    def score(self):
        return sum(c["score"] for c in self.checks)

    @property
    def total(self):
        return sum(c["points"] for c in self.checks)

    @property
    def passed(self):
        return not self.error and bool(self.checks) and all(c["passed"] for c in self.checks)

    def as_dict(self):
        return {"module": self.module, "path": self.path, "score": self.score, "total": self.total,
                "passed": self.passed, "checks": self.checks, "cell_errors": self.cell_errors, "error": self.error}

    @classmethod
    def from_dict(cls, d):
        return cls(d["module"], d["path"], d["checks"], d["cell_errors"], d["error"])


def _zero_checks(number, message):
    import importlib
    grader = importlib.import_module(_module(number).grader).grader
    return [{"name": c.name, "points": c.points, "score": 0, "passed": False, "message": message, "hint": c.hint}
            for c in grader.checks]


def _grading_cell(number, check_timeout):
    nbformat = _need("nbformat")
    code = ("import json as _tt_json\n"
            "from tinytorch.course.runner import grade_in_kernel as _tt_grade_in_kernel\n"
            f"print({MARKER!r} + _tt_json.dumps(_tt_grade_in_kernel({number!r}, globals(), {check_timeout!r})))\n")
    return nbformat.v4.new_code_cell(code)


def _cell_errors(nb, upto):
    errors = []
    for i, cell in enumerate(nb.cells[:upto]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"cell {i + 1}: {out.get('ename')}: {out.get('evalue')}")
    return errors


def grade_notebook(number, path, cell_timeout=120, check_timeout=30):
    """Runs the notebook at `path` in a fresh kernel and grades it against module `number`."""
    m = _module(number)
    report = GradeReport(m.number, path)
    try:
        nb = load_notebook(path)
    except ValueError as e:
        report.error = str(e)
        report.checks = _zero_checks(m.number, "the notebook could not be read")
        return report
    nbclient = _need("nbclient")
    nb.cells = [c for c in nb.cells if c.cell_type != "raw"]
    n_student = len(nb.cells)
    nb.cells.append(_grading_cell(m.number, check_timeout))
    from jupyter_client import AsyncKernelManager
    from jupyter_core.utils import run_sync
    with tempfile.TemporaryDirectory(prefix="tinytorch-kernel-") as sockets:
        # IPC sockets in a private folder: no TCP ports, no "unencrypted TCP" warning, nothing left behind.
        # The manager must be the async one: with a blocking KernelManager, nbclient's output poll blocks
        # its event loop and the per-cell timeout never fires (a hanging cell then hangs the grader forever).
        km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel"))
        client = nbclient.NotebookClient(nb, km=km, timeout=cell_timeout, allow_errors=True,
                                         interrupt_on_timeout=True, kernel_name="python3",
                                         resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
        try:
            client.execute()
        except Exception as e:  # DeadKernelError, kernel failing to start, ...
            report.error = f"the notebook's kernel stopped: {type(e).__name__}: {str(e).strip()[:300]}"
        finally:
            # nbclient leaves a kernel it did not create running: stop it, or every grade leaks a process.
            try:
                if run_sync(km.is_alive)():
                    run_sync(km.shutdown_kernel)(now=True)
            except Exception:
                pass
    report.cell_errors = _cell_errors(nb, n_student)
    results = None
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "") if out.get("output_type") == "stream" else ""
        for line in text.splitlines():
            if line.startswith(MARKER):
                results = json.loads(line[len(MARKER):])
    if results is None:
        if not report.error:
            errs = _cell_errors(nb, len(nb.cells))
            report.error = "the grader could not run: " + (errs[-1] if errs else "no result printed")
        report.checks = _zero_checks(m.number, report.error)
    else:
        report.checks = results
    return report


def format_report(report, verbose=True):
    """The lines `tinytorch module test` prints: each check with points, then what to fix."""
    lines = [f"module {report.module}: {os.path.basename(report.path)}"]
    if report.error:
        lines.append(f"  ERROR {report.error}")
    for err in report.cell_errors[:8]:
        lines.append(f"  cell error  {err}")
    if len(report.cell_errors) > 8:
        lines.append(f"  ... {len(report.cell_errors) - 8} more cells raised")
    for c in report.checks:
        mark = "PASS" if c["passed"] else "FAIL"
        lines.append(f"  {mark} {c['score']}/{c['points']}  {c['name']}")
        if not c["passed"] and verbose:
            lines.append(f"        {c['message']}")
            if c["hint"]:
                lines.append(f"        hint: {c['hint']}")
    verdict = "all checks pass" if report.passed else "not passing yet"
    lines.append(f"  score {report.score}/{report.total}: {verdict}")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    args = [a for a in argv if a != "--json"]
    if len(args) != 2:
        print("usage: python -m tinytorch.course.runner NN PATH [--json]", file=sys.stderr)
        return 2
    report = grade_notebook(args[0], args[1])
    print(json.dumps(report.as_dict()) if as_json else format_report(report))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
