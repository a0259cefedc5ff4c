"""The capstone checker accepts an honest submission and refuses each kind of forgery with a message
saying what: a claim changed in the JSON (size, quality, speed), a missing field, a tampered
checkpoint, a quality regression beyond the rules' tolerance."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tinytorch.capstone import checker, pipeline

pytestmark = pytest.mark.module20

VALID = [{"name": "magnitude_prune", "sparsity": 0.1}, {"name": "int8"}]


@pytest.fixture(scope="module")
def trained():
    model, tok, losses = pipeline.train_gpt(steps=200)
    assert losses[-1] < 0.6 * losses[0]
    return model, tok


@pytest.fixture(scope="module")
def honest(trained, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("honest"))
    pipeline.write_submission(folder, *trained, VALID, rounds=3)
    return folder


@pytest.fixture
def copy(honest, tmp_path):
    """A fresh copy of the honest submission, with helpers to edit its report."""
    folder = str(tmp_path / "sub")
    shutil.copytree(honest, folder)
    return folder


def edit(folder, change):
    path = os.path.join(folder, "submission.json")
    with open(path) as f:
        report = json.load(f)
    change(report)
    with open(path, "w") as f:
        json.dump(report, f)
    return report


def failures(folder, **kw):
    card = checker.check_submission(folder, measure_speed=kw.pop("measure_speed", False), **kw)
    return card, {name: msg for name, ok, msg in card.checks if not ok}


def test_honest_submission_passes_and_remeasures_the_same_figures(honest):
    card, failed = failures(honest)   # speed is re-measured in test_forged_speed_fails_naming_it
    assert failed == {} and card.passed
    with open(os.path.join(honest, "submission.json")) as f:
        report = json.load(f)
    opt = report["optimized"]["measurements"]
    # every row of the scorecard shows claimed == measured for the deterministic figures
    rows = {row[0]: row[1:] for row in card.table}
    for key in ("size_bytes", "val_loss", "next_token_accuracy", "sparsity"):
        assert rows[key][0] == rows[key][2] and rows[key][1] == rows[key][3], key
    assert card.improvements["compression_ratio"] == pytest.approx(
        report["baseline"]["measurements"]["size_bytes"] / opt["size_bytes"], rel=1e-12)
    # int8 Linear weights: 1 byte instead of 4, plus a scale per column; the embeddings stay float32
    assert 2 < card.improvements["compression_ratio"] < 4


def test_forged_size_fails_naming_it(copy):
    edit(copy, lambda r: r["optimized"]["measurements"].update(size_bytes=1000))
    card, failed = failures(copy)
    assert not card.passed
    assert "optimized size" in failed and "claims 1,000 bytes, the file stores" in failed["optimized size"]


def test_forged_quality_fails_naming_it(copy):
    def better(r):
        r["optimized"]["measurements"]["val_loss"] -= 0.05
        r["optimized"]["measurements"]["next_token_accuracy"] += 0.01
    edit(copy, better)
    card, failed = failures(copy)
    assert set(failed) >= {"optimized loss", "optimized accuracy"}
    assert "claims held-out loss" in failed["optimized loss"] and "measured" in failed["optimized loss"]


def test_forged_speed_fails_naming_it(copy):
    def faster(r):
        m = r["optimized"]["measurements"]
        m["tokens_per_s"] *= 100
        for k in ("median_ms", "min_ms", "max_ms", "iqr_ms"):
            m["latency_ms"][k] /= 100
        r["improvements"]["speedup"] *= 100          # keep the report self-consistent: only speed is forged
    edit(copy, faster)
    card, failed = failures(copy, measure_speed=True, rounds=3)
    assert set(failed) == {"speedup claim"}
    assert "measured" in failed["speedup claim"]
    assert "more than 50% above even that best case" in failed["speedup claim"]


def test_inconsistent_improvements_fail(copy):
    edit(copy, lambda r: r["improvements"].update(compression_ratio=r["improvements"]["compression_ratio"] * 2))
    _, failed = failures(copy)
    assert set(failed) == {"improvements"} and "compression_ratio says" in failed["improvements"]


def test_missing_field_fails_the_schema(copy):
    edit(copy, lambda r: r["baseline"]["measurements"].pop("size_bytes"))
    card, failed = failures(copy)
    assert not card.passed and not card.readable
    assert "baseline.measurements.size_bytes: missing" in failed["schema"]


def test_tampered_checkpoint_fails_on_its_hash(copy):
    path = os.path.join(copy, "optimized.safetensors")
    data = bytearray(open(path, "rb").read())
    data[-3] ^= 0x01                               # one bit of the last tensor's data
    open(path, "wb").write(bytes(data))
    _, failed = failures(copy)
    assert "optimized file" in failed and "SHA-256" in failed["optimized file"]
    # a forger who also rewrites the report's hash meets the file's own per-tensor checksums
    edit(copy, lambda r: r["optimized"].update(sha256=pipeline.file_sha256(path)))
    _, failed = failures(copy)
    assert set(failed) == {"load"} and "optimized.safetensors" in failed["load"]


def test_quality_regression_beyond_tolerance_fails_the_rules(trained, tmp_path):
    folder = str(tmp_path / "overpruned")
    pipeline.write_submission(folder, *trained, [{"name": "magnitude_prune", "sparsity": 0.7}], rounds=1)
    card, failed = failures(folder)
    assert f"more than the {checker.MAX_ACCURACY_DROP} allowed" in failed["rule: accuracy"]
    # the claims themselves are honest: only the rules fail
    assert not any(name.startswith(("optimized ", "baseline ")) for name in failed)


def test_evaluation_on_another_text_fails(copy):
    edit(copy, lambda r: r["eval"].update(sha256="0" * 64))
    _, failed = failures(copy)
    assert "eval text" in failed and "this checker measures on" in failed["eval text"]


@pytest.mark.parametrize("argv", [[sys.executable, "-m", "tinytorch.capstone", "check"],
                                  [sys.executable, "-m", "tinytorch.cli", "capstone", "check"]])
def test_command_line_exit_status(argv, copy):
    ok = subprocess.run(argv + [copy, "--no-speed"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "submission passes" in ok.stdout and "PASS  rule: accuracy" in ok.stdout
    edit(copy, lambda r: r["optimized"]["measurements"].update(size_bytes=1000))
    bad = subprocess.run(argv + [os.path.join(copy, "submission.json"), "--no-speed"], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 1 and "FAIL  optimized size" in bad.stdout
    with open(os.path.join(copy, "submission.json"), "w") as f:
        f.write("{not json")
    broken = subprocess.run(argv + [copy, "--no-speed"], capture_output=True, text=True, timeout=300)
    assert broken.returncode == 2 and "cannot read" in broken.stdout


def test_report_cannot_point_outside_its_folder_or_inflate_the_model(copy):
    edit(copy, lambda r: r["baseline"].update(checkpoint="../baseline.safetensors"))
    _, failed = failures(copy)
    assert "baseline.checkpoint: '../baseline.safetensors' must be a file name inside the submission folder" \
        in failed["schema"]


def test_config_that_does_not_fit_the_file_fails_before_building(copy):
    edit(copy, lambda r: r["model"]["config"].update(embed_dim=1 << 20, num_heads=4))
    _, failed = failures(copy)
    assert set(failed) == {"load"} and "does not fit the report's model config" in failed["load"]
    assert "token_embedding.weight is (" in failed["load"]


def test_listed_pruning_must_be_in_the_weights(copy):
    edit(copy, lambda r: r["optimized"]["optimizations"][0].update(sparsity=0.6))
    _, failed = failures(copy)
    assert set(failed) == {"optimizations"}
    assert "lists magnitude_prune at sparsity 0.6, but only 0.1" in failed["optimizations"]


def test_vocabulary_must_cover_the_heldout_text(trained, tmp_path):
    from tinytorch.capstone.corpus import corpus_text
    model, tok = trained
    held = set(corpus_text("heldout"))
    dropped = next(c for c in tok.vocab[1:] if c in held and c.isdigit())
    small = pipeline.make_tokenizer("".join(c for c in tok.vocab[1:] if c != dropped))
    from tinytorch.capstone import model_io
    shrunk = model_io.build_gpt(dict(model_io.gpt_config(model), vocab_size=small.vocab_size))
    folder = str(tmp_path / "smallvocab")
    pipeline.write_submission(folder, shrunk, small, [{"name": "int8"}], rounds=1)
    _, failed = failures(folder)
    assert "vocab" in failed and f"lacks 1 character(s) of the held-out text ({dropped!r})" in failed["vocab"]


def test_float64_baseline_cannot_inflate_the_compression(copy):
    from tinytorch.core.safetensors_io import load_file, save_file
    path = os.path.join(copy, "baseline.safetensors")
    tensors, meta = load_file(path)
    save_file({k: v.astype("float64") if k.startswith("model/") else v for k, v in tensors.items()}, path,
              metadata=meta)
    edit(copy, lambda r: r["baseline"].update(sha256=pipeline.file_sha256(path)))
    _, failed = failures(copy)
    assert set(failed) == {"load"} and "token_embedding.weight is stored as float64, not float32" in failed["load"]
