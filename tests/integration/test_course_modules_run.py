"""Every course lesson in modules/ runs top to bottom (their cells contain their own checks)."""
import pathlib
import runpy

import pytest

pytestmark = pytest.mark.integration

LESSONS = sorted(pathlib.Path(__file__).resolve().parents[2].joinpath("modules").glob("*/*.py"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.parent.name)
def test_lesson_runs(path, capsys):
    runpy.run_path(str(path), run_name="__main__")
    assert "checks passed" in capsys.readouterr().out
