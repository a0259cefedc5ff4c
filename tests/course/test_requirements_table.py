"""The one requirements table agrees with the lessons and graders that exist."""
import importlib
import os

import pytest

from tinytorch.course import requirements as req
from tinytorch.course.lessons import lesson_path, lesson_source, lessons_root, strip_solutions
from course_helpers import WRITTEN

pytestmark = pytest.mark.course


def test_twenty_modules_in_course_order_and_seven_milestones():
    assert [m.number for m in req.MODULES] == [f"{i:02d}" for i in range(1, 21)]
    assert [m.number for m in req.MILESTONES] == [f"{i:02d}" for i in range(1, 8)]
    assert req.module(5).slug == "autograd" and req.module("tensor").number == "01"
    with pytest.raises(KeyError, match="no module 42; choose one of 01"):
        req.module("42")


def test_modules_with_new_lessons_have_graders():
    # every module 01-13 has its exercise lesson; 14-20 follow in their own issue
    assert {f"{n:02d}" for n in range(1, 14)} <= {m.number for m in WRITTEN}
    for m in req.MODULES:
        if m in WRITTEN:
            assert os.path.isfile(lesson_path(m.number))
        else:
            with pytest.raises(FileNotFoundError, match="has no lesson yet"):
                lesson_path(m.number)


@pytest.mark.parametrize("m", WRITTEN, ids=lambda m: m.name)
def test_grader_checks_exactly_the_exercises_of_the_table(m):
    grader = importlib.import_module(m.grader).grader
    assert grader.module == m.number
    needed = {n for c in grader.checks for n in c.needs}
    assert needed == set(m.exercises)
    assert all(c.needs for c in grader.checks), "every check must call the student's code"
    assert all(1 <= c.points <= 5 for c in grader.checks)


@pytest.mark.parametrize("m", WRITTEN, ids=lambda m: m.name)
def test_lesson_defines_every_exercise_inside_solution_markers(m):
    src = lesson_source(m.number)
    student = strip_solutions(src, m.name)
    compile(student, m.name, "exec")               # the student copy still parses
    assert "### BEGIN SOLUTION" not in student and "### END SOLUTION" not in student
    for name in m.exercises:
        assert f"def {name}(" in src or f"class {name}" in src, name
    assert student.count("raise NotImplementedError(") >= len(m.exercises)


@pytest.mark.parametrize("m", WRITTEN, ids=lambda m: m.name)
def test_lesson_has_the_course_sections(m):
    src = lesson_source(m.number).lower()
    assert "systems" in src                         # the closing measurement section
    assert "csrc/" in src                           # where the engine does the same work
    assert len(src.splitlines()) >= 180             # a lesson, not a demo


def test_lessons_point_at_engine_files_that_exist():
    import re
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isdir(os.path.join(root, "csrc")):
        pytest.skip("not a source checkout")
    for m in WRITTEN:
        for path in set(re.findall(r"csrc/[A-Za-z_/]+\.(?:cpp|h)", lesson_source(m.number))):
            assert os.path.isfile(os.path.join(root, path)), f"{m.name} points at missing {path}"


def test_lessons_ship_inside_an_installed_package():
    import tinytorch
    root = lessons_root()
    pkg = os.path.dirname(tinytorch.__file__)
    if not root.startswith(pkg):  # an editable install reads the checkout's modules/
        pytest.skip("editable install: lessons are read from the checkout")
    assert os.path.isfile(os.path.join(root, "01_tensor", "01_tensor.py"))
