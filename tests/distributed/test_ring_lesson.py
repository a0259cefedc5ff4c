"""The optional module 21 (ring all-reduce): registered in the table, and its grader proves itself on real
notebooks like every other module's: the reference passes, the untouched student copy fails every check,
a wrong solution fails the checks aimed at it. Its MPI check needs mpiexec (skipped without, with the reason).
Also the simulated world the lesson and grader run on."""
import importlib
import os
import re
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_ranks import require_mpi  # noqa: E402

from tinytorch.course import requirements as req  # noqa: E402
from tinytorch.course.lessons import lesson_source, strip_solutions  # noqa: E402
from tinytorch.distributed.simulated import run_simulated  # noqa: E402

pytestmark = pytest.mark.course
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
M = req.module("21")


def test_registered_as_an_optional_module_after_the_twenty():
    assert M in req.OPTIONAL_MODULES and M not in req.MODULES and M.slug == "distributed"
    assert req.module("distributed") is M and req.module("21_distributed") is M
    assert [m.number for m in req.MODULES] == [f"{i:02d}" for i in range(1, 21)]
    assert all("21" not in ms.requires for ms in req.MILESTONES)


def test_grader_checks_exactly_the_exercises_and_the_lesson_defines_them():
    grader = importlib.import_module(M.grader).grader
    assert grader.module == "21"
    assert {n for c in grader.checks for n in c.needs} == set(M.exercises)
    src = lesson_source("21")
    student = strip_solutions(src, M.name)
    compile(student, M.name, "exec")
    assert student.count("raise NotImplementedError(") >= len(M.exercises)
    for name in M.exercises:
        assert f"def {name}(" in src
    assert "systems" in src.lower() and len(src.splitlines()) >= 180
    for path in set(re.findall(r"csrc/[A-Za-z_/]+\.(?:cpp|h)", src)):
        assert os.path.isfile(os.path.join(ROOT, path)), path


def grade(tmp_path, source):
    import nbformat
    from tinytorch.course.runner import grade_notebook, notebook_from_source
    path = tmp_path / f"{M.name}.ipynb"
    nbformat.write(notebook_from_source(source), str(path))
    return grade_notebook("21", str(path))


def test_reference_lesson_passes_its_grader(tmp_path):
    require_mpi()
    report = grade(tmp_path, lesson_source("21"))
    assert report.cell_errors == [] and report.error == ""
    failed = [(c["name"], c["message"]) for c in report.checks if not c["passed"]]
    assert failed == [] and report.passed and report.score == report.total > 0


def test_untouched_student_copy_fails_every_check(tmp_path):
    report = grade(tmp_path, strip_solutions(lesson_source("21")))
    assert not report.passed and report.score == 0
    assert all("NotImplementedError" in c["message"] or "not defined" in c["message"] for c in report.checks)


def test_wrong_solution_fails_the_checks_aimed_at_it(tmp_path):
    require_mpi()
    sys.path.insert(0, os.path.join(ROOT, "tests", "course"))
    from course_helpers import wrong_solution
    source, expect_fail = wrong_solution(M)
    report = grade(tmp_path, source)
    failed = {c["name"] for c in report.checks if not c["passed"]}
    assert not report.passed and set(expect_fail) <= failed, (expect_fail, failed)


def test_simulated_world_delivers_in_place_and_counts_bytes():
    def swap(comm):
        mine = np.full(3, comm.Get_rank(), dtype=np.int64)
        got = np.zeros(3, dtype=np.int64)
        comm.Sendrecv(mine, dest=1 - comm.Get_rank(), recvbuf=got, source=1 - comm.Get_rank())
        return got.tolist()
    results, comms = run_simulated(2, swap)
    assert results == [[1, 1, 1], [0, 0, 0]]
    assert comms[0].sent == [(1, 24)] and comms[1].sent == [(0, 24)]


def test_simulated_world_reports_a_deadlock_and_the_failing_rank():
    def wait_for_nobody(comm):
        comm.Sendrecv(np.zeros(1), dest=comm.Get_rank(), recvbuf=np.zeros(1), source=(comm.Get_rank() + 1) % 2) \
            if comm.Get_rank() == 0 else None
    with pytest.raises(TimeoutError, match="rank 0 of 2: Sendrecv: rank 0 waited 0.3 s for a message from rank 1"):
        run_simulated(2, wait_for_nobody, timeout=0.3)

    def one_fails(comm):
        if comm.Get_rank() == 1:
            raise KeyError("boom")
        comm.Sendrecv(np.zeros(1), dest=1, recvbuf=np.zeros(1), source=1)
    with pytest.raises(KeyError, match="rank 1 of 3"):
        run_simulated(3, one_fails, timeout=5)
    with pytest.raises(ValueError, match="^rank 0 of 1: Sendrecv: dest must be a rank in"):
        run_simulated(1, lambda comm: comm.Sendrecv(np.zeros(1), dest=1, recvbuf=np.zeros(1), source=0))
