"""Without the system headers, CMake must stop with one message naming the apt packages to install."""
import pathlib
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cmake_names_the_missing_packages(tmp_path):
    # Point every find_path/find_library at an empty root so the headers "are missing".
    result = subprocess.run(
        ["cmake", "-S", str(ROOT), "-B", str(tmp_path / "build"), f"-DCMAKE_FIND_ROOT_PATH={tmp_path}",
         "-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY", "-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY",
         "-DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=ONLY"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "sudo apt-get install libxtensor-dev libxsimd-dev" in out
    assert "XTENSOR_INCLUDE_DIR" in out
