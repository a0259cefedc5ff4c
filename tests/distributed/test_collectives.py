"""all_reduce, broadcast and all_gather on 2 ranks give exact results, in place and without copies."""
import numpy as np
import pytest

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_ranks import check_ok, run_ranks  # noqa: E402

pytestmark = pytest.mark.integration
WORLD = 2


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("collectives")
    check_ok(run_ranks(WORLD, "collectives_worker.py", out))
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(WORLD)]


def rank_input(rank, dtype):
    return (np.arange(7) * (rank + 1) + 10 * rank).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_all_reduce_sums_exactly_in_place_without_a_copy(ranks, dtype):
    name = np.dtype(dtype).name
    expected = sum(rank_input(r, dtype) for r in range(WORLD))
    for r in ranks:
        assert r[f"sum_{name}"].dtype == dtype
        np.testing.assert_array_equal(r[f"sum_{name}"], expected)
        assert r[f"sum_{name}_same_storage"].tolist() == [True, True, True]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_reduce_mean(ranks, dtype):
    expected = sum((np.arange(5) + r * 3).astype(dtype) for r in range(WORLD)) / WORLD
    for r in ranks:
        np.testing.assert_array_equal(r[f"mean_{np.dtype(dtype).name}"], expected.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_broadcast_copies_the_source_rank(ranks, dtype):
    for r in ranks:
        np.testing.assert_array_equal(r[f"bcast_{np.dtype(dtype).name}"], np.full(4, WORLD - 1 + 100, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_all_gather_stacks_every_rank(ranks, dtype):
    name = np.dtype(dtype).name
    expected = np.stack([(np.arange(6).reshape(2, 3) + 100 * r).astype(dtype) for r in range(WORLD)])
    for r in ranks:
        np.testing.assert_array_equal(r[f"gather_{name}"], expected)
        assert str(r[f"gather_{name}_dtype"]) == name


def test_a_strided_view_is_reduced_in_place_and_the_rest_is_untouched(ranks):
    for rank, r in enumerate(ranks):
        expected = (np.arange(12.0).reshape(3, 4) + rank).astype(np.float32)
        expected[:, ::2] = sum(np.arange(12.0).reshape(3, 4)[:, ::2] + k for k in range(WORLD))
        np.testing.assert_array_equal(r["strided_base"], expected)


def test_bad_arguments_raise_errors_naming_the_call(ranks):
    for r in ranks:
        errors = r["errors"].tolist()
        assert errors[0].startswith("ValueError: all_reduce: op must be one of")
        assert errors[1].startswith("TypeError: all_reduce: op='mean' needs a floating-point tensor")
        assert errors[2].startswith("ValueError: broadcast: src must be a rank in [0, 2)")
        assert errors[3].startswith("TypeError: all_reduce: expected a tinytorch Tensor")


def test_rank_and_world_size(ranks):
    assert [r["rank_world"].tolist() for r in ranks] == [[0, 2], [1, 2]]


def test_a_rank_that_raises_aborts_every_rank_instead_of_hanging():
    # rank 0 waits in an all_reduce that rank 1 never joins; without MPI Abort the run would hang until
    # the timeout, and run_ranks would raise subprocess.TimeoutExpired (failing this test).
    proc = run_ranks(WORLD, "abort_worker.py", timeout=120)
    assert proc.returncode != 0
    assert "ValueError: rank 1 failed on purpose" in proc.stderr
    assert "rank 0 finished the all_reduce" not in proc.stdout


def test_init_without_mpi4py_names_the_package(tmp_path):
    # a Python where mpi4py cannot be imported: the error must say what to install
    import subprocess
    import sys
    from mpi_ranks import rank_env
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import tinytorch.distributed as d\n"
            "try:\n    d.init()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=rank_env(), timeout=120)
    assert out.stdout.startswith("init: tinytorch.distributed needs the mpi4py package")
    assert "pip install mpi4py mpich" in out.stdout
