"""Grader for module 15: the KV cache (update/get), attention over cached keys/values, the cached
decode loop and the cache's memory formula, against numpy and the engine."""
import numpy as np

import tinytorch as tt
from tinytorch.core.attention import causal_mask, scaled_dot_product_attention
from tinytorch.core.transformer import GPT
from tinytorch.course.grading import Grader, GradingError, as_array, close, expect_error
from tinytorch.perf import memoization

grader = Grader("15")


@grader.check(points=3, needs=["KVCache"],
              hint="preallocate (batch, heads, max_seq_len, head_dim) zeros per layer; update writes at "
                   "[seq_pos, seq_pos + n) without moving seq_pos; get returns [:, :, :seq_pos]")
def cache_update_get_match_numpy(ns):
    cls = ns["KVCache"]
    rng = np.random.default_rng(15)
    cache = cls(2, 6, 3, 2, 4)
    if cache.seq_pos != 0 or len(cache.caches) != 3:
        raise GradingError(f"KVCache(2, 6, 3, 2, 4): seq_pos {cache.seq_pos} and {len(cache.caches)} layer caches, "
                           "expected 0 and 3")
    for layer, (k, v) in enumerate(cache.caches):
        for name, t in (("key", k), ("value", v)):
            a = as_array(t, f"caches[{layer}] {name}")
            if a.shape != (2, 2, 6, 4) or a.any():
                raise GradingError(f"KVCache(2, 6, 3, 2, 4).caches[{layer}] {name}: shape {a.shape}, expected "
                                   "zeros of shape (batch 2, heads 2, max_seq_len 6, head_dim 4)")
    ref = np.zeros((3, 2, 2, 2, 6, 4))
    pos = 0
    for n in (1, 2, 3):
        for layer in (2, 0, 1):
            k, v = rng.standard_normal((2, 2, n, 4)), rng.standard_normal((2, 2, n, 4))
            cache.update(layer, tt.Tensor(k.astype(np.float32)), tt.Tensor(v.astype(np.float32)))
            ref[layer, 0, :, :, pos:pos + n], ref[layer, 1, :, :, pos:pos + n] = k, v
        if cache.seq_pos != pos:
            raise GradingError(f"KVCache.update moved seq_pos from {pos} to {cache.seq_pos}: only advance() moves it "
                               "(all layers write at the same positions)")
        cache.advance(n)
        pos += n
        if cache.seq_pos != pos:
            raise GradingError(f"KVCache.advance({n}): seq_pos {cache.seq_pos}, expected {pos}")
        for layer in range(3):
            keys, values = cache.get(layer)
            close(keys, ref[layer, 0, :, :, :pos], f"KVCache.get({layer})[0] after {pos} positions", rtol=1e-6)
            close(values, ref[layer, 1, :, :, :pos], f"KVCache.get({layer})[1] after {pos} positions", rtol=1e-6)
    cache.reset()
    if cache.seq_pos != 0 or as_array(cache.get(0)[0], "get after reset").shape != (2, 2, 0, 4):
        raise GradingError("KVCache.reset(): seq_pos must be 0 and get() empty (batch, heads, 0, head_dim)")


@grader.check(points=1, needs=["KVCache"],
              hint="raise IndexError for layer_idx outside 0..num_layers-1, ValueError when seq_pos + n > max_seq_len")
def cache_rejects_bad_writes(ns):
    cache = ns["KVCache"](1, 3, 2, 1, 2)
    one = np.zeros((1, 1, 1, 2), np.float32)
    expect_error(lambda: cache.update(2, one, one), IndexError, "KVCache(layers=2).update(2, ...)")
    expect_error(lambda: cache.get(5), IndexError, "KVCache(layers=2).get(5)")
    four = np.zeros((1, 1, 4, 2), np.float32)
    expect_error(lambda: cache.update(0, four, four), ValueError, "KVCache(max_seq_len=3).update with 4 positions")
    cache.update(0, np.ones((1, 1, 3, 2), np.float32), np.ones((1, 1, 3, 2), np.float32))  # exactly fills it
    cache.advance(3)
    expect_error(lambda: cache.update(1, one, one), ValueError, "KVCache.update on a full cache")


def _attention_case(rng, B, H, L, d, n):
    Q, K, V = (rng.standard_normal((B, H, L, d)).astype(np.float32) for _ in range(3))
    full, _ = scaled_dot_product_attention(tt.Tensor(Q), tt.Tensor(K), tt.Tensor(V), causal_mask(L))
    return Q[:, :, L - n:], K, V, np.asarray(full)[:, :, L - n:]


@grader.check(points=2, needs=["cached_attention"],
              hint="softmax(q K^T / sqrt(d)) V over all L cached rows: with one new query nothing is masked")
def one_query_matches_full_attention(ns):
    fn = ns["cached_attention"]
    rng = np.random.default_rng(151)
    # by hand: one key -> the output is that key's value
    close(fn(tt.Tensor(np.ones((1, 1, 1, 2), np.float32)), tt.Tensor(np.ones((1, 1, 1, 2), np.float32)),
             tt.Tensor(np.array([[[[3.0, -1.0]]]], np.float32))), [[[[3.0, -1.0]]]], "cached_attention with one key")
    # by hand: equal scores -> the mean of the values
    close(fn(tt.Tensor(np.zeros((1, 1, 1, 4), np.float32)), tt.Tensor(rng.standard_normal((1, 1, 3, 4))
                                                                        .astype(np.float32)),
             tt.Tensor(np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4))), [[[[4, 5, 6, 7]]]],
          "cached_attention with a zero query (equal weights)", rtol=1e-5)
    for B, H, L, d in [(1, 1, 5, 4), (2, 3, 9, 8), (1, 4, 1, 16), (3, 2, 17, 32)]:
        q, K, V, want = _attention_case(rng, B, H, L, d, 1)
        close(fn(tt.Tensor(q), tt.Tensor(K), tt.Tensor(V)), want,
              f"cached_attention(q {q.shape}, keys/values {K.shape})", rtol=1e-4, atol=1e-5)


@grader.check(points=2, needs=["cached_attention"],
              hint="new query i sits at position L - n + i: block keys j > L - n + i (a causal mask shifted by L - n)")
def several_queries_are_causal(ns):
    fn = ns["cached_attention"]
    rng = np.random.default_rng(152)
    for B, H, L, d, n in [(1, 1, 4, 2, 4), (2, 3, 9, 8, 3), (1, 2, 12, 4, 5)]:
        q, K, V, want = _attention_case(rng, B, H, L, d, n)
        close(fn(tt.Tensor(q), tt.Tensor(K), tt.Tensor(V)), want,
              f"cached_attention(q {q.shape} = the last {n} positions, keys/values {K.shape})", rtol=1e-4, atol=1e-5)


def _engine_step(model, batch):
    cache = memoization.KVCache(batch, model.max_seq_len, model.num_layers, model.num_heads,
                                model.embed_dim // model.num_heads)
    decoder = memoization.make_decoder(model, cache)
    calls = []

    def step(new_ids, start):
        ids = np.asarray(new_ids)
        calls.append((ids.shape[1] if ids.ndim == 2 else None, int(start)))
        return decoder.step(tt.Tensor(np.ascontiguousarray(ids, dtype=np.int64), dtype=tt.int64), int(start))
    return step, calls


@grader.check(points=3, needs=["generate_with_cache"],
              hint="step(prompt, 0) once, then per new token: argmax of logits[:, -1], append, "
                   "step(that token as (B, 1), its position); the last new token is not run")
def decode_loop_matches_uncached_engine(ns):
    fn = ns["generate_with_cache"]
    rng = np.random.default_rng(153)
    for seed, (B, T, new) in enumerate([(1, 1, 10), (2, 5, 12), (3, 3, 1), (1, 4, 0)]):
        tt.manual_seed(seed)
        model = GPT(23, 16, 2, 2, max_seq_len=20)
        for p in model.parameters():
            p.data[...] += rng.normal(0, 0.3, p.shape)   # logits far apart: no near-ties between the paths
        prompt = rng.integers(0, 23, size=(B, T))
        step, calls = _engine_step(model, B)
        got = fn(step, prompt, new)
        want = model.generate(prompt, new, temperature=0, use_cache=False)
        a = np.asarray(got)
        if a.shape != want.shape or not np.array_equal(a, want):
            raise GradingError(f"generate_with_cache(prompt {prompt.shape}, {new} new tokens): got {a.tolist()}, "
                               f"the engine's greedy generate gives {want.tolist()}")
        expected_calls = ([(T, 0)] + [(1, T + i) for i in range(new - 1)]) if new else []
        if calls != expected_calls:
            raise GradingError(f"generate_with_cache(prompt of {T} tokens, {new} new) called step with "
                               f"(n_new, start) = {calls[:6]}{'...' if len(calls) > 6 else ''}, expected "
                               f"{expected_calls[:6]}{'...' if len(expected_calls) > 6 else ''}: the prompt once at "
                               "0, then only each new token at its own position")


@grader.check(points=1, needs=["kv_cache_bytes"],
              hint="2 (keys and values) * layers * batch * heads * max_seq_len * head_dim * bytes_per_value")
def memory_formula(ns):
    fn = ns["kv_cache_bytes"]
    for args, want in [((1, 1, 1, 1, 1), 8), ((12, 1, 12, 1024, 64), 75_497_472),
                       ((32, 1, 32, 4096, 128, 2), 2 * 2**30), ((2, 3, 4, 5, 6, 8), 2 * 2 * 3 * 4 * 5 * 6 * 8)]:
        got = fn(*args)
        if not isinstance(got, (int, np.integer)) or got != want:
            raise GradingError(f"kv_cache_bytes{args} = {got!r}, expected {want}")
    engine = memoization.KVCache(3, 10, 2, 4, 8)
    if fn(2, 3, 4, 10, 8) != engine.nbytes():
        raise GradingError(f"kv_cache_bytes(2, 3, 4, 10, 8) = {fn(2, 3, 4, 10, 8)}, the engine's KVCache holds "
                           f"{engine.nbytes()} bytes")
    if fn(1, 1, 1, 1, 1, 2) != 4:
        raise GradingError(f"kv_cache_bytes(1, 1, 1, 1, 1, bytes_per_value=2) = {fn(1, 1, 1, 1, 1, 2)}, expected 4")
