"""The distribution's metadata agrees with the package (docs/distribution.md)."""
import importlib.metadata
import pathlib
import re

import pytest

import tinytorch

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_distribution_name_and_version():
    project = pyproject()["project"]
    # `tinytorch` on the package index is an unrelated project: ours is tinytorch-cpp
    assert project["name"] == "tinytorch-cpp"
    assert project["version"] == tinytorch.__version__


def test_installed_metadata_matches_the_package():
    try:
        version = importlib.metadata.version("tinytorch-cpp")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("tinytorch is imported from the source tree, not installed")
    assert version == tinytorch.__version__


def test_the_blas_wheel_is_needed_to_build_and_to_run():
    # The extension links scipy-openblas32's library: it must be there at build time (headers,
    # library) and at run time (the library _C loads), with the same lower bound.
    data = pyproject()
    spec = re.compile(r"^scipy-openblas32>=([0-9.]+)$")
    build = [m.group(1) for r in data["build-system"]["requires"] if (m := spec.match(r))]
    run = [m.group(1) for r in data["project"]["dependencies"] if (m := spec.match(r))]
    assert build and build == run
