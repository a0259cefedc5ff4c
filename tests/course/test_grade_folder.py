"""`tinytorch grade`: a class's folder scored per check, one bad submission never takes the run down."""
import csv
import json

import nbformat
import pytest
from conftest import NOTEBOOKS_UNDER_ASAN

from tinytorch.course.lessons import lesson_source, strip_solutions
from tinytorch.course.runner import notebook_from_source
from course_helpers import WRITTEN, tinytorch_cli, wrong_solution

pytestmark = [pytest.mark.course, pytest.mark.not_under_sanitizer(reason=NOTEBOOKS_UNDER_ASAN)]
M = [m for m in WRITTEN if m.number == "11"][0]


def save(path, source):
    nbformat.write(notebook_from_source(source), str(path))


def test_solved_empty_wrong_and_hanging_submissions(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    save(subs / "ada.ipynb", lesson_source(M.number))
    nbformat.write(nbformat.v4.new_notebook(), str(subs / "bob.ipynb"))
    save(subs / "cy.ipynb", wrong_solution(M)[0])
    (subs / "dee").mkdir()
    save(subs / "dee" / "homework.ipynb", "# %%\nimport os\nos._exit(3)\n")
    save(subs / "eve.ipynb", "# %%\nimport time\nwhile True:\n    time.sleep(1)\n")
    r = tinytorch_cli("grade", M.number, str(subs), "--out", "results.csv", "--gradescope", "gs.json",
                      "--timeout", "45", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["student"]: row for row in csv.DictReader(open(tmp_path / "results.csv"))}
    assert set(rows) == {"ada", "bob", "cy", "dee", "eve"}
    total = int(rows["ada"]["total"])
    assert int(rows["ada"]["score"]) == total > 0
    assert int(rows["bob"]["score"]) == 0
    assert 0 <= int(rows["cy"]["score"]) < total
    assert int(rows["dee"]["score"]) == 0
    assert int(rows["eve"]["score"]) == 0 and rows["eve"]["error"] == "timed out after 45 s"
    gs = json.loads((tmp_path / "gs.json").read_text())
    assert gs["ada"]["score"] == gs["ada"]["max_score"] == total
    assert all(t["status"] == "failed" and t["score"] == 0 for t in gs["bob"]["tests"])
    assert {t["name"] for t in gs["cy"]["tests"] if t["status"] == "failed"} >= set(wrong_solution(M)[1])


def test_a_single_submission_writes_gradescope_results_json(tmp_path):
    subs = tmp_path / "one"
    subs.mkdir()
    save(subs / "student.ipynb", strip_solutions(lesson_source(M.number)))
    r = tinytorch_cli("grade", M.number, str(subs), "--gradescope", "results.json", cwd=tmp_path)
    assert r.returncode == 0
    gs = json.loads((tmp_path / "results.json").read_text())
    assert gs["score"] == 0 and gs["max_score"] > 0 and gs["tests"]
    assert all("NotImplementedError" in t["output"] for t in gs["tests"])
