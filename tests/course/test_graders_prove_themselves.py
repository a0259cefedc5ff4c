"""Every grader proves itself on real notebooks run in a Jupyter kernel (nbclient):
the reference lesson passes every check with no cell raising, the untouched
student copy fails every check, and a deliberately wrong solution fails the
checks aimed at its mistakes."""
import nbformat
import pytest
from conftest import NOTEBOOKS_UNDER_ASAN

from tinytorch.course.lessons import lesson_source, strip_solutions
from tinytorch.course.runner import grade_notebook, notebook_from_source
from course_helpers import WRITTEN, wrong_solution

pytestmark = [pytest.mark.course, pytest.mark.not_under_sanitizer(reason=NOTEBOOKS_UNDER_ASAN)]


def as_notebook(tmp_path, source, name):
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook_from_source(source), str(path))
    return str(path)


@pytest.mark.parametrize("m", WRITTEN, ids=lambda m: m.name)
def test_reference_lesson_runs_headless_and_passes_its_grader(m, tmp_path):
    report = grade_notebook(m.number, as_notebook(tmp_path, lesson_source(m.number), m.name))
    assert report.cell_errors == [] and report.error == ""
    failed = [(c["name"], c["message"]) for c in report.checks if not c["passed"]]
    assert failed == [] and report.passed and report.score == report.total > 0


@pytest.mark.parametrize("m", WRITTEN, ids=lambda m: m.name)
def test_untouched_student_copy_fails_every_check(m, tmp_path):
    report = grade_notebook(m.number, as_notebook(tmp_path, strip_solutions(lesson_source(m.number)), m.name))
    assert not report.passed and report.score == 0
    assert all("NotImplementedError" in c["message"] or "not defined" in c["message"] for c in report.checks)


@pytest.mark.parametrize("m", WRITTEN, ids=lambda m: m.name)
def test_wrong_solution_fails_the_checks_aimed_at_it(m, tmp_path):
    source, expect_fail = wrong_solution(m)
    report = grade_notebook(m.number, as_notebook(tmp_path, source, m.name))
    failed = {c["name"] for c in report.checks if not c["passed"]}
    assert not report.passed and set(expect_fail) <= failed, (expect_fail, failed)
