"""The transformer test plan runs these files as scripts (`python tests/13_transformers/X.py`)."""
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.module13

HERE = os.path.dirname(os.path.abspath(__file__))


def run_directly(name, *pytest_args):
    return subprocess.run([sys.executable, os.path.join(HERE, name), "-p", "no:cacheprovider", *pytest_args],
                          capture_output=True, text=True, timeout=600, cwd=HERE)


def test_gradient_flow_file_runs_as_a_script():
    result = run_directly("test_transformer_gradient_flow.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\d+ passed", result.stdout) and "failed" not in result.stdout


def test_training_file_runs_as_a_script():
    # collecting is enough to prove the entry point (the training itself runs in the suite)
    result = run_directly("test_training_simple.py", "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_training_simple.py::" in result.stdout
