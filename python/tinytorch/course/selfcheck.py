"""For lesson authors: `python -m tinytorch.course.selfcheck NN [WRONG.py]`.

Runs module NN's reference lesson in this process (cells one by one, as a
notebook would), grades it (every check must pass), then grades the
stripped student copy (every check must fail), and, given a wrong-solution
file (tests/course/wrong_solutions/NN_slug.py with REPLACE = [(old, new),
...]), the lesson with those replacements (at least one check must fail).
The real grading path runs notebooks in a Jupyter kernel (runner.py); this
one is the quick loop while writing a lesson.
"""
import importlib
import io
import contextlib
import runpy
import sys

from .lessons import lesson_source, strip_solutions
from .requirements import module


def cells(source):
    """The code cells of a percent-format file (markdown cells dropped)."""
    chunks, current, is_code = [], [], True
    for line in source.splitlines(keepends=True):
        if line.startswith("# %%"):
            if current and is_code:
                chunks.append("".join(current))
            current, is_code = [], "[markdown]" not in line
            continue
        current.append(line)
    if current and is_code:
        chunks.append("".join(current))
    return chunks


def run_in_process(source):
    """Executes the code cells in one fresh namespace; returns (namespace, [errors])."""
    ns = {"__name__": "__main__"}
    errors = []
    for i, cell in enumerate(cells(source)):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell, f"<cell {i}>", "exec"), ns)
        except Exception as e:
            errors.append(f"cell {i}: {type(e).__name__}: {e}")
    return ns, errors


def apply_replacements(source, replacements, name):
    for old, new in replacements:
        if source.count(old) != 1:
            raise ValueError(f"{name}: replacement text must occur exactly once in the lesson, "
                             f"found {source.count(old)} times: {old[:60]!r}")
        source = source.replace(old, new)
    return source


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    m = module(argv[0])
    grader = importlib.import_module(m.grader).grader
    declared = set(m.exercises)
    needed = {n for c in grader.checks for n in c.needs}
    ok = True
    if needed != declared:
        print(f"grader needs {sorted(needed)} but the requirements table lists {sorted(declared)}")
        ok = False
    src = lesson_source(m.number)
    variants = [("reference", src, "all")]
    variants.append(("student copy", strip_solutions(src, m.name), "none"))
    if len(argv) > 1:
        wrong = runpy.run_path(argv[1])["REPLACE"]
        variants.append(("wrong solution", apply_replacements(src, wrong, argv[1]), "some-fail"))
    for label, source, expect in variants:
        ns, errors = run_in_process(source)
        results = grader.run(ns)
        passed = sum(r.passed for r in results)
        print(f"== {label}: {passed}/{len(results)} checks pass, {len(errors)} cells raised")
        for e in errors[:5]:
            print("   ", e)
        for r in results:
            print(f"   {'PASS' if r.passed else 'FAIL'} {r.check.name} ({r.check.points} pts) {r.message}")
        good = {"all": passed == len(results) and not errors, "none": passed == 0,
                "some-fail": passed < len(results)}[expect]
        if not good:
            print(f"!! {label}: expected {expect}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
