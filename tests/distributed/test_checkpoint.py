"""A distributed run saves (rank 0 writes) and every rank resumes from the file, to the same losses."""
import numpy as np
import pytest

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_ranks import WORKERS, check_ok, run_ranks  # noqa: E402

sys.path.insert(0, WORKERS)
from ddp_cases import mlp  # noqa: E402

pytestmark = pytest.mark.integration


def test_save_then_resume_on_every_rank_continues_the_run(tmp_path):
    check_ok(run_ranks(2, "checkpoint_worker.py", tmp_path))
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    for r in ranks:
        np.testing.assert_array_equal(r["loaded"], r["at_save"])       # each rank read the complete file
        np.testing.assert_array_equal(r["resumed"][3:], r["straight"][3:])  # the resumed steps are the straight run's
        np.testing.assert_array_equal(r["resumed"][:3], ranks[0]["straight"][:3])  # history: rank 0 wrote it
        np.testing.assert_array_equal(r["final_b"], r["final_a"])
        assert str(r["failed"]).startswith("save_checkpoint: rank 0 could not write")
    # one file, written by rank 0, that a single process loads (no "module." prefix from the wrapper)
    from tinytorch.core.checkpoint import load_checkpoint
    model = mlp(seed=5)
    info = load_checkpoint(str(tmp_path / "run.safetensors"), model)
    assert info["step"] == 3
    np.testing.assert_array_equal(np.concatenate([np.array(p).ravel() for p in model.parameters()]),
                                  ranks[0]["at_save"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".safetensors") == ["run.safetensors"]
