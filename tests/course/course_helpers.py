"""Shared by the course tests: the modules that have lessons, and their wrong-solution variants."""
import os
import runpy
import subprocess
import sys

from tinytorch.course.lessons import lesson_source
from tinytorch.course.requirements import MODULES
from tinytorch.course.selfcheck import apply_replacements

HERE = os.path.dirname(os.path.abspath(__file__))
def _has_lesson(m):
    try:
        lesson_source(m.number)
        return True
    except FileNotFoundError:
        return False


WRITTEN = [m for m in MODULES if _has_lesson(m)]   # the modules with lessons in this version


def wrong_solution(m):
    """(lesson text with the deliberate mistakes, names of the checks that must fail)."""
    spec = runpy.run_path(os.path.join(HERE, "wrong_solutions", m.name + ".py"))
    return apply_replacements(lesson_source(m.number), spec["REPLACE"], m.name), list(spec["EXPECT_FAIL"])


def tinytorch_cli(*args, cwd, timeout=600):
    return subprocess.run([sys.executable, "-m", "tinytorch.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
