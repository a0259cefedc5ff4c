"""The `tinytorch` command (python/tinytorch/cli.py), run as users run it, from the checkout."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(*args):
    return subprocess.run([sys.executable, "-m", "tinytorch.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_info_reports_the_blas_core_and_threads():
    r = cli("info")
    assert r.returncode == 0 and "BLAS core" in r.stdout and "BLAS threads" in r.stdout


def test_milestones_lists_every_milestone_of_the_requirements_table():
    from tinytorch.course.requirements import MILESTONES
    r = cli("milestone", "list")
    assert r.returncode == 0 and r.stdout == cli("milestones").stdout
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == [m.folder for m in MILESTONES]
    folders = sorted(d for d in os.listdir(os.path.join(ROOT, "milestones")) if d[:2].isdigit())
    written = [line.split(":")[0] for line in r.stdout.splitlines() if "not written yet" not in line]
    assert written == folders


def test_milestone_runs_a_script_with_its_flags():
    r = cli("milestone", "01", "--quiet", "--steps", "5")
    assert r.returncode == 0 and "steps         : 5" in r.stdout
    r = cli("milestone", "run", "01", "--quiet", "--steps", "7")
    assert r.returncode == 0 and "steps         : 7" in r.stdout


def test_unknown_benchmark_and_milestone_are_clear_errors():
    r = cli("bench", "nope")
    assert r.returncode == 2 and "no benchmark nope; choose from" in r.stderr and "gpt" in r.stderr
    r = cli("milestone", "99")
    assert r.returncode == 2 and "no milestone 99" in r.stderr
