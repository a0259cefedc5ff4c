"""The early milestone scripts (01 perceptron, 02 XOR, 03 MLP, 04 CNN) end to end, in a subprocess,
with their default settings: each must reach its historic result, read from its summary."""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PERCEPTRON = os.path.join(ROOT, "milestones", "01_1957_perceptron", "rosenblatt_perceptron.py")
XOR = os.path.join(ROOT, "milestones", "02_1969_xor", "minsky_xor.py")
MLP = os.path.join(ROOT, "milestones", "03_1986_mlp", "rumelhart_mlp.py")
CNN = os.path.join(ROOT, "milestones", "04_1998_cnn", "lecun_cnn.py")
SCRIPTS = [PERCEPTRON, XOR, MLP, CNN]
SCRIPT_IDS = ["perceptron", "xor", "mlp", "cnn"]


def run_script(script, *args, timeout=60):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def field(output, name):
    """The number after `name :` on a summary line (a trailing % is dropped)."""
    match = re.search(rf"^\s*{re.escape(name)}\s*:\s*([-+\d.,eE]+)", output, re.MULTILINE)
    assert match, f"summary line {name!r} missing from:\n{output}"
    return float(match.group(1).replace(",", ""))


def run_quiet(script):
    result = run_script(script, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Training summary" in result.stdout
    assert "step/s" not in result.stderr  # --quiet: no progress bar
    assert field(result.stdout, "wall time") > 0
    return result.stdout


def test_perceptron_separates_the_blobs():
    out = run_quiet(PERCEPTRON)
    assert field(out, "steps") == 100
    assert field(out, "accuracy") == 100.0
    initial, final = field(out, "initial loss"), field(out, "final loss")
    assert 0 < final < initial
    assert re.search(r"decision line : [-+]\d+\.\d{3} x1 [-+]\d+\.\d{3} x2 [-+]\d+\.\d{3} = 0", out)


def test_xor_single_layer_fails_and_mlp_solves_it():
    out = run_quiet(XOR)
    assert field(out, "single-layer accuracy") <= 75.0
    assert field(out, "MLP accuracy") == 100.0
    assert 0 < field(out, "MLP final loss") < field(out, "MLP initial loss")
    # the best a single layer can do under cross-entropy is p = 0.5 everywhere: loss ln 2
    assert field(out, "single-layer final loss") == pytest.approx(0.6931, abs=0.01)
    assert re.search(r"targets\s*:\s*single layer <= 75% ✓\s+MLP 100% ✓", out)
    assert len(re.findall(r"^\s+[01]\s+[01] \|", out, re.MULTILINE)) == 8  # two 4-row truth tables


def test_mlp_generalizes_on_the_spirals():
    out = run_quiet(MLP)
    assert field(out, "steps") == 1000
    assert field(out, "test accuracy") >= 95.0
    assert field(out, "train accuracy") >= 95.0
    initial, final = field(out, "initial loss"), field(out, "final loss")
    assert 0 < final < initial
    assert re.search(r"240 train / 60 test points", out)


def test_cnn_reads_the_noisy_strokes():
    out = run_quiet(CNN)
    assert field(out, "steps") == 1000
    assert field(out, "test accuracy") >= 95.0
    assert field(out, "train accuracy") >= 95.0
    initial, final = field(out, "initial loss"), field(out, "final loss")
    assert initial == pytest.approx(1.7918, abs=0.1)  # ln 6: the untrained network guesses uniformly
    assert 0 < final < 0.1 * initial
    assert re.search(r"3840 train / 960 test images", out)
    assert re.search(r"Linear\(256, 6\), 2,790 parameters", out)
    per_class = re.search(r"per class\s*:(.*)", out).group(1)
    assert len(re.findall(r"\d+%", per_class)) == 6
    assert re.search(r"target\s*: test accuracy >= 95% ✓", out)


def test_cnn_same_seed_same_numbers_and_bad_batch_size():
    first, again = run_script(CNN, "--quiet", "--steps", "20"), run_script(CNN, "--quiet", "--steps", "20")
    other = run_script(CNN, "--quiet", "--steps", "20", "--seed", "1")
    strip = lambda out: re.sub(r"(speed|wall time) .*", "", out)  # noqa: E731  (timings vary)
    assert first.returncode == 0, first.stderr
    assert strip(first.stdout) == strip(again.stdout)
    assert field(first.stdout, "initial loss") != field(other.stdout, "initial loss")
    result = run_script(CNN, "--batch-size", "0")
    assert result.returncode == 2
    assert "error: --batch-size must be >= 1, got 0" in result.stderr and result.stdout == ""


def test_progress_bar_when_not_quiet():
    result = run_script(PERCEPTRON, "--steps", "20")
    assert result.returncode == 0, result.stderr
    assert "step/s" in result.stderr and "loss=" in result.stderr  # tqdm writes to stderr
    assert field(result.stdout, "steps") == 20


def test_same_seed_same_numbers_other_seed_other_numbers():
    first, again = run_script(MLP, "--quiet", "--steps", "50"), run_script(MLP, "--quiet", "--steps", "50")
    other = run_script(MLP, "--quiet", "--steps", "50", "--seed", "1")
    strip = lambda out: re.sub(r"(speed|wall time) .*", "", out)  # noqa: E731  (timings vary)
    assert strip(first.stdout) == strip(again.stdout)
    assert field(first.stdout, "initial loss") != field(other.stdout, "initial loss")


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_steps_zero_is_an_argparse_error(script):
    result = run_script(script, "--steps", "0")
    assert result.returncode == 2
    assert "usage:" in result.stderr and "error: --steps must be >= 1, got 0" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
@pytest.mark.parametrize("lr", ["0", "-0.1", "nan", "inf"])
def test_bad_learning_rate_is_an_argparse_error(script, lr):
    result = run_script(script, f"--lr={lr}")
    assert result.returncode == 2
    assert "error: --lr must be a finite number > 0" in result.stderr
