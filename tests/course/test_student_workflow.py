"""A student's whole loop through the CLI, in a folder outside the checkout:
start -> test (fails) -> fill in -> test (passes) -> complete -> status; reset keeps a backup."""
import json
import os

import nbformat
import pytest
from conftest import NOTEBOOKS_UNDER_ASAN

from tinytorch.course.lessons import lesson_source
from tinytorch.course.requirements import MODULES
from tinytorch.course.runner import notebook_from_source
from course_helpers import WRITTEN, tinytorch_cli

pytestmark = pytest.mark.course


def fill_in(path, number):
    """What a diligent student does: write each exercise (here: the reference solution) into their copy."""
    nb = nbformat.read(path, as_version=4)
    ref = notebook_from_source(lesson_source(number))
    assert len(nb.cells) == len(ref.cells)
    for mine, theirs in zip(nb.cells, ref.cells):
        mine.source = theirs.source
    nbformat.write(nb, path)


@pytest.mark.not_under_sanitizer(reason=NOTEBOOKS_UNDER_ASAN)
def test_module_06_from_start_to_complete(tmp_path):
    r = tinytorch_cli("module", "start", "06", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    nb_path = tmp_path / "tinytorch-course" / "06_optimizers" / "06_optimizers.ipynb"
    assert nb_path.is_file()
    text = nb_path.read_text()
    assert "### BEGIN SOLUTION" not in text and "NotImplementedError" in text

    r = tinytorch_cli("module", "test", "06", cwd=tmp_path)
    assert r.returncode == 1 and "FAIL 0/" in r.stdout and "NotImplementedError" in r.stdout
    assert "not passing yet" in r.stdout

    r = tinytorch_cli("module", "complete", "06", cwd=tmp_path)
    assert r.returncode == 1 and "not complete" in r.stderr

    fill_in(str(nb_path), "06")
    r = tinytorch_cli("module", "test", "06", cwd=tmp_path)
    assert r.returncode == 0 and "all checks pass" in r.stdout and "FAIL" not in r.stdout

    r = tinytorch_cli("module", "complete", "06", cwd=tmp_path)
    assert r.returncode == 0 and "module 06 completed" in r.stdout
    progress = json.loads((tmp_path / "tinytorch-course" / "progress.json").read_text())
    assert progress["modules"]["06"]["completed"] and progress["modules"]["06"]["score"] > 0

    r = tinytorch_cli("module", "status", cwd=tmp_path)
    lines = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines() if line[:2].isdigit()}
    assert lines["06_optimizers"] == "done" and lines["07_training"] == "unlocked"
    assert lines["09_spatial"] == "locked" and lines["01_1957_perceptron"] == "locked"


def test_start_never_overwrites_and_reset_keeps_a_backup(tmp_path):
    assert tinytorch_cli("module", "start", "11", "--dir", "course", cwd=tmp_path).returncode == 0
    nb_path = tmp_path / "course" / "11_embeddings" / "11_embeddings.ipynb"
    nb_path.write_text(nb_path.read_text().replace("NotImplementedError", "NotImplementedError", 1) + " ")
    mine = nb_path.read_text()
    r = tinytorch_cli("module", "start", "11", "--dir", "course", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr and "module reset 11" in r.stderr
    assert nb_path.read_text() == mine
    r = tinytorch_cli("module", "reset", "11", "--dir", "course", cwd=tmp_path)
    assert r.returncode == 0 and "kept as" in r.stdout
    backups = [f for f in os.listdir(nb_path.parent) if ".bak-" in f]
    assert len(backups) == 1 and (nb_path.parent / backups[0]).read_text() == mine
    assert nb_path.read_text() != mine


# A module whose lesson is not written yet (the systems modules land one by one), if any is left.
UNWRITTEN = [m for m in MODULES if m not in WRITTEN]


@pytest.mark.parametrize("args, message", [
    (("module", "start", "99"), "no module 99"),
    pytest.param(("module", "start", UNWRITTEN[-1].number if UNWRITTEN else "20"), "has no lesson in this version yet",
                 marks=pytest.mark.skipif(not UNWRITTEN, reason="every module has its lesson")),
    (("module", "test", "09"), "`tinytorch module start 09` writes it"),
    (("milestone", "run", "99"), "no milestone 99"),
])
def test_typical_mistakes_are_clear_errors(tmp_path, args, message):
    r = tinytorch_cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr


def test_module_list_shows_all_twenty_with_their_status(tmp_path):
    r = tinytorch_cli("module", "list", cwd=tmp_path)
    rows = [line.split()[:2] for line in r.stdout.splitlines()[1:]]
    assert len(rows) == 20 and rows[0] == ["01_tensor", "unlocked"]
    assert all(rows[int(m.number) - 1] == [m.name, "not"] for m in UNWRITTEN)  # "not written"
    # fresh folder, nothing done: a written module is locked exactly when it requires a written module
    for m in WRITTEN:
        expected = "locked" if any(r in {w.number for w in WRITTEN} for r in m.requires) else "unlocked"
        assert rows[int(m.number) - 1] == [m.name, expected]


@pytest.mark.not_under_sanitizer(reason=NOTEBOOKS_UNDER_ASAN)
def test_a_python_file_beside_the_notebook_is_graded_when_there_is_no_notebook(tmp_path):
    folder = tmp_path / "tinytorch-course" / "11_embeddings"
    folder.mkdir(parents=True)
    (folder / "11_embeddings.py").write_text(lesson_source("11"))
    r = tinytorch_cli("module", "test", "11", cwd=tmp_path)
    assert r.returncode == 0 and "11_embeddings.py" in r.stdout


def test_without_the_course_tools_the_cli_says_what_to_install(tmp_path, monkeypatch, capsys):
    """Installed without the `course` extra: one line naming the missing tool and the install
    command, exit code 2, no traceback and no half-written notebook."""
    import sys

    from tinytorch import cli

    monkeypatch.setitem(sys.modules, "nbformat", None)  # `import nbformat` now raises ImportError
    monkeypatch.setitem(sys.modules, "jupytext", None)
    rc = cli.main(["module", "start", "02", "--dir", str(tmp_path / "course")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.splitlines()[-1].startswith("tinytorch course: `") and "is missing" in err and "pip install" in err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.ipynb"))
