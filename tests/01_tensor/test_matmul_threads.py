"""Products big enough to be split across tinytorch's threads (ops/parallel.h):
by rows, by columns, over a batch, with transposed operands, in attention.
Each is checked against numpy in float64 and against a one-thread run."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C

pytestmark = pytest.mark.module01

# (M, K, N): row split (M >= N), column split (M < N, also with many rows: each thread then packs
# only its columns of B), odd sizes not multiples of 16
SHAPES = [(512, 96, 200), (40, 256, 1000), (300, 72, 1001), (333, 129, 77), (2048, 64, 48)]


@pytest.fixture
def threads():
    before = tt.get_num_threads()
    yield
    tt.set_num_threads(before)


def reference(a, b):
    return np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)


@pytest.mark.parametrize("M,K,N", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_split_products_match_numpy_and_one_thread(M, K, N, ta, tb, threads):
    rng = np.random.default_rng(M + K + N)
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    A, B = tt.Tensor(a), tt.Tensor(b)
    A, B = (A.T if ta else A), (B.T if tb else B)  # transposed views go to BLAS with the flag
    want = reference(a.T if ta else a, b.T if tb else b)
    tt.set_num_threads(2)
    two = np.asarray(tt.matmul(A, B))
    tt.set_num_threads(1)
    one = np.asarray(tt.matmul(A, B))
    np.testing.assert_allclose(two, want, rtol=1e-4, atol=1e-3 * np.sqrt(K))
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-5 * np.sqrt(K))


def test_float64_split_is_exact_to_rounding(threads):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((700, 300)), rng.standard_normal((300, 500))
    tt.set_num_threads(2)
    np.testing.assert_allclose(np.asarray(tt.matmul(tt.Tensor(a, dtype=np.float64), tt.Tensor(b, dtype=np.float64))), a @ b, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("b_shape", [(6, 64, 96), (1, 64, 96), (64, 96)])
def test_batched_products_split_over_the_batch(b_shape, threads):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 128, 64)).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    tt.set_num_threads(2)
    got = np.asarray(tt.matmul(tt.Tensor(a), tt.Tensor(b)))
    np.testing.assert_allclose(got, reference(a, b), rtol=1e-4, atol=1e-3)


def test_broadcast_batch_dims_pick_the_right_matrices(threads):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 1, 96, 64)).astype(np.float32)
    b = rng.standard_normal((1, 4, 64, 80)).astype(np.float32)
    tt.set_num_threads(2)
    got = np.asarray(tt.matmul(tt.Tensor(a), tt.Tensor(b)))
    np.testing.assert_allclose(got, reference(a, b), rtol=1e-4, atol=1e-3)


def test_attention_heads_in_parallel_match_one_thread(threads):
    rng = np.random.default_rng(4)
    qkv = rng.standard_normal((4, 96, 3 * 64)).astype(np.float32)
    outs, grads = [], []
    for n in (2, 1):
        tt.set_num_threads(n)
        x = tt.Tensor(qkv, requires_grad=True)
        out = _C._nn_attention_core(x, 4, np.triu(np.full((96, 96), -np.inf), 1))  # causal
        (out * out).sum().backward()
        outs.append(np.asarray(out))
        grads.append(np.asarray(x.grad))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-5)


def test_set_num_threads_validates():
    with pytest.raises(TypeError, match="set_num_threads"):
        tt.set_num_threads(1.5)
    with pytest.raises(ValueError, match="must be between 1 and"):
        tt.set_num_threads(0)


def test_a_forked_child_gets_its_own_threads():
    # The pool's threads do not survive fork(); the child must start new ones, not wait forever.
    import multiprocessing as mp
    a = tt.Tensor(np.ones((512, 256), np.float32))
    tt.matmul(a, a.T)  # the parent's pool is running
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_child_product)
        assert result.get(timeout=60) == 256.0 * 512 * 512


def _child_product():
    a = tt.Tensor(np.ones((512, 256), np.float32))
    return float(np.asarray(tt.matmul(a, a.T)).sum())


def test_products_from_several_python_threads_at_once():
    # One parallel region at a time: the others run inline on their own thread. All must be right.
    import threading
    rng = np.random.default_rng(5)
    pairs = [(rng.standard_normal((384, 128)).astype(np.float32), rng.standard_normal((128, 256)).astype(np.float32))
             for _ in range(4)]
    results = [None] * 4

    def work(i):
        a, b = pairs[i]
        for _ in range(20):
            results[i] = np.asarray(tt.matmul(tt.Tensor(a), tt.Tensor(b)))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (a, b), got in zip(pairs, results):
        np.testing.assert_allclose(got, reference(a, b), rtol=1e-4, atol=1e-3)
