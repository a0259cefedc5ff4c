"""Finding a module's lesson and making the student's copy of it.

A lesson is a jupytext percent-format file, modules/NN_slug/NN_slug.py. Its
reference solutions sit between nbgrader's markers:

    def relu(x):
        ### HINT: keep the positive part: max(x, 0) elementwise
        ### BEGIN SOLUTION
        return tt.Tensor(np.maximum(np.asarray(x), 0))
        ### END SOLUTION

The student copy replaces each marked block (and the HINT lines just above
it) by `raise NotImplementedError("<hint>")` at the block's indentation, so
the file still parses and every check cell fails until the student writes
the code. Lessons ship inside the package (tinytorch/course/lessons/, put
there by the build) and are read from modules/ in a source checkout.
"""
import os
import re

from .requirements import module as _module

__all__ = ["lesson_path", "lesson_source", "strip_solutions", "SolutionMarkerError", "lessons_root"]

_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")
_HINT = re.compile(r"^\s*### HINT:\s?(.*)$")


class SolutionMarkerError(ValueError):
    """A lesson's solution markers do not pair up."""


def lessons_root():
    """Folder holding NN_slug/NN_slug.py: the installed copy, else the checkout's modules/."""
    here = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(here, "lessons")
    if os.path.isdir(installed):
        return installed
    checkout = os.path.normpath(os.path.join(here, "..", "..", "..", "modules"))
    if os.path.isdir(checkout):
        return checkout
    raise FileNotFoundError("tinytorch: the course lessons are not installed (expected "
                            f"{installed}); reinstall the package: `pip install tinytorch-cpp`")


def lesson_path(number, root=None):
    m = _module(number)
    path = os.path.join(root or lessons_root(), m.name, m.name + ".py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"module {m.number} ({m.title}) has no lesson yet")
    return path


def lesson_source(number, root=None):
    with open(lesson_path(number, root), encoding="utf-8") as f:
        return f.read()


def strip_solutions(source, name="lesson"):
    """The student copy of `source`: every marked solution becomes `raise NotImplementedError(hint)`."""
    out, hints, block_indent, begin_line = [], [], None, 0
    for lineno, line in enumerate(source.splitlines(keepends=True), 1):
        if block_indent is None:
            hint = _HINT.match(line)
            if hint:
                hints.append(hint.group(1).strip())
                continue
            begin = _BEGIN.match(line)
            if begin:
                block_indent, begin_line = begin.group(1), lineno
                continue
            if _END.match(line):
                raise SolutionMarkerError(f"{name}: line {lineno}: END SOLUTION without BEGIN SOLUTION")
            if hints:  # HINT lines belong to the block right below them
                raise SolutionMarkerError(f"{name}: line {lineno - 1}: HINT not followed by BEGIN SOLUTION")
            out.append(line)
        else:
            if _BEGIN.match(line):
                raise SolutionMarkerError(f"{name}: line {lineno}: BEGIN SOLUTION inside the block opened "
                                          f"at line {begin_line}")
            if _END.match(line):
                message = " ".join(hints) or "write your solution here"
                out.append(f"{block_indent}raise NotImplementedError({message!r})\n")
                block_indent, hints = None, []
    if block_indent is not None:
        raise SolutionMarkerError(f"{name}: BEGIN SOLUTION at line {begin_line} is never closed")
    return "".join(out)
