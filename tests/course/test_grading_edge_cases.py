"""Notebooks that must never pass: empty, raising on the first cell, never run, hanging, unreadable."""
import json

import nbformat
import pytest
from conftest import NOTEBOOKS_UNDER_ASAN

from tinytorch.course.lessons import lesson_source
from tinytorch.course.runner import grade_notebook, notebook_from_source

pytestmark = [pytest.mark.course, pytest.mark.not_under_sanitizer(reason=NOTEBOOKS_UNDER_ASAN)]


def write(tmp_path, cells, name="nb"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return str(path)


def test_an_empty_notebook_fails_every_check_naming_what_is_missing(tmp_path):
    report = grade_notebook("11", write(tmp_path, []))
    assert not report.passed and report.score == 0 and report.total > 0
    assert all("not defined" in c["message"] for c in report.checks)
    assert "`embedding_lookup`" in report.checks[0]["message"] or any("`embedding_lookup`" in c["message"] for c in report.checks)


def test_a_notebook_raising_on_its_first_cell_fails(tmp_path):
    cells = ["raise RuntimeError('first cell breaks')"] + [c.source for c in
                                                            notebook_from_source(lesson_source("11")).cells
                                                            if c.cell_type == "code"][:1]
    report = grade_notebook("11", write(tmp_path, cells))
    assert not report.passed and report.score == 0
    assert report.cell_errors[0].startswith("cell 1: RuntimeError: first cell breaks")


def test_a_solved_notebook_that_was_never_run_is_run_by_the_grader(tmp_path):
    nb = notebook_from_source(lesson_source("11"))
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # never executed
    path = tmp_path / "solved.ipynb"
    nbformat.write(nb, str(path))
    assert grade_notebook("11", str(path)).passed


def test_saved_outputs_claiming_success_do_not_count(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("pass")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="<<tinytorch-grade>>" + json.dumps([{"passed": True}]))]
    nb.cells = [cell]
    path = tmp_path / "forged.ipynb"
    nbformat.write(nb, str(path))
    report = grade_notebook("11", str(path))
    assert not report.passed and report.score == 0


def test_a_cell_that_hangs_is_interrupted_and_the_rest_still_graded(tmp_path):
    code = [c.source for c in notebook_from_source(lesson_source("11")).cells if c.cell_type == "code"]
    report = grade_notebook("11", write(tmp_path, ["import time\nwhile True: time.sleep(0.1)"] + code),
                            cell_timeout=3)
    assert report.cell_errors and "cell 1" in report.cell_errors[0]
    assert report.passed  # the hang costs only its own cell


def test_an_unreadable_file_scores_zero_with_a_message(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    report = grade_notebook("11", str(path))
    assert not report.passed and report.score == 0 and "not a readable notebook" in report.error
