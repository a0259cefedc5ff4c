"""Module 07: checkpoints that cannot lie (issue 9).

* the training metadata (learning rate, step counts, generator positions) is
  covered by the header checksum: one flipped bit fails the load;
* every value is validated before anything changes, even in a file whose
  checksums are valid (a hand-edited or hostile file): numpy's generator
  position, integers beyond int64, NaN hyper-parameters, absurd nesting;
* load_checkpoint raises only CheckpointError, and a failed load leaves the
  model, the optimizer and all three generators exactly as they were;
* a save killed mid-write leaves no orphaned temporary file once the next save
  to that path succeeds;
* fuzzing: every truncation and every header bit of a small checkpoint either
  raises CheckpointError or loads the identical state.
"""
import json
import os
import random
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.optimizers import Adam, SGD
from tinytorch.core.safetensors_io import load_file, save_file

pytestmark = pytest.mark.module07


def snapshot(model, opt):
    """Every parameter, the optimizer's state dict and the three generators."""
    sd = opt.state_dict()
    return ([p.numpy().copy() for p in model.parameters()], json.dumps(sd, default=lambda a: a.tolist()),
            tt._C._get_rng_state(), np.random.get_state()[1].copy(), np.random.get_state()[2], random.getstate())


def assert_same(a, b):
    for x, y in zip(a[0], b[0]):
        np.testing.assert_array_equal(x, y)
    assert a[1] == b[1] and a[2] == b[2] and a[4] == b[4] and a[5] == b[5]
    np.testing.assert_array_equal(a[3], b[3])


@pytest.fixture
def saved(tmp_path):
    tt.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    model = Sequential(Linear(2, 3))
    opt = Adam(model.parameters(), lr=0.01)
    for p in model.parameters():
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    path = tmp_path / "good.safetensors"
    save_checkpoint(path, model, opt, step=5, epoch=2)
    tt.manual_seed(1)
    target = Sequential(Linear(2, 3))
    target_opt = Adam(target.parameters(), lr=0.5)
    np.random.seed(77)  # the generators are elsewhere: a load must not move them on failure
    random.seed(77)
    return path, target, target_opt


def rewrite(path, target, edit):
    """A copy of the checkpoint with edited metadata and fresh, valid checksums (a hostile file)."""
    tensors, metadata = load_file(path)
    edit(tensors, metadata)
    save_file(tensors, target, metadata=metadata)
    return target


def edit_json(key, change):
    def edit(tensors, metadata):
        value = json.loads(metadata[key])
        change(value)
        metadata[key] = json.dumps(value)
    return edit


def expect_refused(path, model, opt, match):
    before = snapshot(model, opt)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path, model, opt)
    assert_same(snapshot(model, opt), before)


# ---- the metadata is covered by the integrity check ----

def test_flipped_bit_in_the_learning_rate_fails_the_load(saved, tmp_path):
    path, model, opt = saved
    raw = bytearray(path.read_bytes())
    at = raw.index(b'\\"lr\\": 0.01') + len(b'\\"lr\\": 0.0')
    assert raw[at:at + 1] == b"1"
    raw[at] ^= 0x02  # "0.01" -> "0.03": still valid JSON, a plausible learning rate
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(raw))
    expect_refused(bad, model, opt, r"the header \(tensor names, shapes, dtypes or metadata\) does not match the "
                                    r"checksum saved with it")
    assert opt.lr == 0.5
    load_checkpoint(path, model, opt)
    assert opt.lr == 0.01 and opt.step_count == 1


def test_version_2_checkpoint_without_its_digests_is_refused(saved, tmp_path):
    path, model, opt = saved
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    del header["__metadata__"]["tinytorch.header_sha256"]  # as a flipped bit in the key's name would
    encoded = json.dumps(header).encode()
    bad = tmp_path / "stripped.safetensors"
    bad.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + n:])
    expect_refused(bad, model, opt, "lacks the header or tensor checksums every version-2 checkpoint carries")


# ---- every value is validated, even under valid checksums ----

HOSTILE = {
    "numpy position 625": ("rng", lambda v: v["numpy"].update(pos=625), r"numpy position must be an int in 0\.\.624"),
    "numpy position -1": ("rng", lambda v: v["numpy"].update(pos=-1), r"numpy position must be an int in 0\.\.624"),
    "numpy position float": ("rng", lambda v: v["numpy"].update(pos=3.5), "numpy position must be an int"),
    "numpy algorithm": ("rng", lambda v: v["numpy"].update(algorithm="PCG64"), "numpy algorithm must be 'MT19937'"),
    "numpy has_gauss": ("rng", lambda v: v["numpy"].update(has_gauss=2), "numpy has_gauss must be 0 or 1"),
    "python version": ("rng", lambda v: v["python"].update(version=2), "Python random version must be 3"),
    "python gauss": ("rng", lambda v: v["python"].update(gauss_next="x"), "gauss_next must be None or a finite"),
    "rng not an object": ("rng", lambda v: v.clear(), "must hold 'numpy' and 'python' objects"),
    "step count 2**70": ("optimizer", lambda v: v.update(step_count=2 ** 70), r"integer 1180591620717411303424, outside int64"),
    "param step 2**64": ("optimizer", lambda v: v["state"][0].update(step=2 ** 64), "outside int64"),
    "lr NaN": ("optimizer", lambda v: v["hyperparameters"].update(lr=float("nan")), "every number must be finite"),
    "lr string": ("optimizer", lambda v: v["hyperparameters"].update(lr="fast"), "cannot restore the optimizer"),
    "lr negative": ("optimizer", lambda v: v["hyperparameters"].update(lr=-1.0), "cannot restore the optimizer"),
    "state not a list": ("optimizer", lambda v: v.update(state=5), "optimizer state is malformed|cannot restore"),
    "hyper a list": ("optimizer", lambda v: v.update(hyperparameters=[1, 2]), "cannot restore the optimizer|malformed"),
    "type an int": ("optimizer", lambda v: v.update(type=3), "cannot restore the optimizer"),
    "step 2**70": ("training", lambda v: v.update(step=2 ** 70), "must hold int64 step and epoch"),
    "epoch a float": ("training", lambda v: v.update(epoch=1.5), "must hold int64 step and epoch"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_metadata_is_refused_before_anything_changes(saved, tmp_path, case):
    path, model, opt = saved
    key, change, match = HOSTILE[case]
    bad = rewrite(path, tmp_path / "hostile.safetensors", edit_json(key, change))
    expect_refused(bad, model, opt, match)
    np.random.standard_normal(3)  # numpy's generator still works (a bad position used to crash it)


def test_deep_nesting_and_wrong_generator_arrays_raise_checkpoint_error(saved, tmp_path):
    path, model, opt = saved

    def nest(tensors, metadata):
        metadata["optimizer"] = "[" * 100000 + "]" * 100000  # RecursionError inside json
    expect_refused(rewrite(path, tmp_path / "deep.safetensors", nest), model, opt, "is not valid JSON")

    def shallow_nest(tensors, metadata):
        opt_info = json.loads(metadata["optimizer"])
        opt_info["extra_junk"] = json.loads("[" * 200 + "]" * 200)
        metadata["optimizer"] = json.dumps(opt_info)
    expect_refused(rewrite(path, tmp_path / "nest.safetensors", shallow_nest), model, opt, "nested too deeply")

    def wrong_dtype(tensors, metadata):
        tensors["rng/numpy"] = tensors["rng/numpy"].astype(np.float64)
    expect_refused(rewrite(path, tmp_path / "dtype.safetensors", wrong_dtype), model, opt,
                   r"'rng/numpy' must be a 1-D uint32 array of 624 values")

    def python_position(tensors, metadata):
        tensors["rng/python"][-1] = 10 ** 6
    expect_refused(rewrite(path, tmp_path / "pypos.safetensors", python_position), model, opt,
                   r"Python random position must be in 0\.\.624")


def test_failed_apply_rolls_everything_back(saved, tmp_path, monkeypatch):
    """A failure after the generators were already restored still leaves nothing changed."""
    path, model, opt = saved
    before = snapshot(model, opt)

    real = type(opt)._set_param_steps
    calls = []

    def boom(self, steps):  # fails while applying the file; the rollback's own call then works
        calls.append(steps)
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        real(self, steps)
    monkeypatch.setattr(type(opt), "_set_param_steps", boom)
    with pytest.raises(CheckpointError, match=r"applying the checkpoint failed \(RuntimeError: disk on fire\)"):
        load_checkpoint(path, model, opt)
    assert_same(snapshot(model, opt), before)


def test_only_checkpoint_error_escapes_for_a_foreign_optimizer(saved, tmp_path):
    path, model, _ = saved

    class Foreign:
        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            raise OverflowError("int too large to convert")
    with pytest.raises(CheckpointError, match="OverflowError: int too large"):
        load_checkpoint(path, model, Foreign())


# ---- no orphaned temporary files ----

def test_save_killed_mid_write_leaves_no_orphan_after_the_next_save(saved, tmp_path):
    path, model, opt = saved
    original = path.read_bytes()
    code = textwrap.dedent(f"""
        import os
        import numpy as np
        from tinytorch.core import safetensors_io
        real_fdopen = os.fdopen
        class Dying:
            def __init__(self, f): self.f = f
            def __enter__(self): return self
            def __exit__(self, *a): return False
            def write(self, b):
                self.f.write(b[:3]); self.f.flush()
                os._exit(9)                         # killed mid-write
        safetensors_io.os.fdopen = lambda fd, mode: Dying(real_fdopen(fd, mode))
        safetensors_io.save_file({{"x": np.ones(1000)}}, {str(path)!r})
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr
    assert path.read_bytes() == original  # the old file is intact
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".good.safetensors.")
    live = tmp_path / f".good.safetensors.{os.getpid()}.abcdefabcdef.tmp"  # a live writer's file
    live.write_bytes(b"in progress")
    save_checkpoint(path, model, opt)
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith(".tmp")) == [live.name]
    load_checkpoint(path, model, opt)


# ---- fuzzing a small checkpoint ----

def small_checkpoint(tmp_path):
    tt.manual_seed(3)
    model = Sequential(Linear(1, 1))
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    path = tmp_path / "small.safetensors"
    save_checkpoint(path, model, opt, step=1, include_rng=False)
    return path, model, opt


def fuzz_loads(path, model, opt, variants):
    """Each variant (bytes) must raise CheckpointError with nothing changed, or load the identical state."""
    good = snapshot(model, opt)
    load_checkpoint(path, model, opt, restore_rng=False)
    expected = snapshot(model, opt)
    bad = path.with_name("fuzz.safetensors")
    outcomes = {"refused": 0, "identical": 0}
    for data in variants:
        bad.write_bytes(data)
        before = snapshot(model, opt)
        try:
            load_checkpoint(bad, model, opt, restore_rng=False)
        except CheckpointError:
            assert_same(snapshot(model, opt), before)
            outcomes["refused"] += 1
        else:
            assert_same(snapshot(model, opt), expected)
            outcomes["identical"] += 1
    del good
    return outcomes


def test_every_truncation_fails_cleanly(tmp_path):
    path, model, opt = small_checkpoint(tmp_path)
    raw = path.read_bytes()
    outcomes = fuzz_loads(path, model, opt, (raw[:n] for n in range(len(raw))))
    assert outcomes == {"refused": len(raw), "identical": 0}


def test_every_header_bit_and_random_data_bits(tmp_path):
    path, model, opt = small_checkpoint(tmp_path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])

    def flipped():
        for i in range(8 + n):
            for bit in range(8):
                data = bytearray(raw)
                data[i] ^= 1 << bit
                yield bytes(data)
        rng = np.random.default_rng(9)
        for i in rng.integers(8 + n, len(raw), 200):
            data = bytearray(raw)
            data[i] ^= 1 << int(rng.integers(8))
            yield bytes(data)
    outcomes = fuzz_loads(path, model, opt, flipped())
    # Flips inside the trailing padding spaces can only make the JSON invalid; nothing loads changed.
    assert outcomes["refused"] + outcomes["identical"] == (8 + n) * 8 + 200
    assert outcomes["identical"] == 0
