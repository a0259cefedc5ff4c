"""Module 15: the KV cache (tinytorch.perf.memoization, csrc/nn/kv_decode.cpp).

The cached decode step must give the logits of the full forward at every step
(float tolerance), and generate() with the cache the same token ids as without
it, greedy and seeded sampling, for batches, long prompts and past max_seq_len.
"""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core import overrides
from tinytorch.core.transformer import GPT, TransformerBlock
from tinytorch.perf import memoization
from tinytorch.perf.memoization import KVCache, disable_kv_cache, enable_kv_cache

pytestmark = pytest.mark.module15


def make_model(seed=0, vocab=40, embed=32, layers=2, heads=4, max_len=24):
    tt.manual_seed(seed)
    m = GPT(vocab, embed, layers, heads, max_seq_len=max_len)
    rng = np.random.default_rng(seed)
    for p in m.parameters():  # larger weights than the init: logits far apart, a wrong key shows
        p.data[...] = rng.normal(0, 0.3, p.shape)
    return m


def full_logits(model, seq):
    with tt.no_grad():
        return np.asarray(model.forward(tt.Tensor(seq, dtype=np.int64)))


def new_cache(model, batch):
    return KVCache(batch, model.max_seq_len, model.num_layers, model.num_heads, model.embed_dim // model.num_heads,
                   dtype=model.lm_head.weight.dtype)


@pytest.mark.parametrize("batch, prompt_len", [(1, 1), (1, 5), (3, 4)])
def test_cached_step_logits_equal_full_forward_at_every_step(batch, prompt_len):
    model = make_model(1)
    rng = np.random.default_rng(2)
    seq = rng.integers(0, model.vocab_size, (batch, model.max_seq_len))
    cache = new_cache(model, batch)
    dec = memoization.make_decoder(model, cache)
    got = np.asarray(dec.step(tt.Tensor(seq[:, :prompt_len], dtype=np.int64), 0))
    np.testing.assert_allclose(got, full_logits(model, seq[:, :prompt_len]), rtol=1e-4, atol=1e-4)
    for t in range(prompt_len, model.max_seq_len):
        step = np.asarray(dec.step(tt.Tensor(seq[:, t:t + 1], dtype=np.int64), t))
        assert step.shape == (batch, 1, model.vocab_size)
        np.testing.assert_allclose(step[:, 0], full_logits(model, seq[:, :t + 1])[:, -1], rtol=1e-4, atol=1e-4)


def test_cached_step_writes_the_projected_keys_and_values_into_the_cache():
    model = make_model(3, layers=1)
    seq = np.array([[3, 1, 4, 1, 5]])
    cache = new_cache(model, 1)
    memoization.make_decoder(model, cache).step(tt.Tensor(seq, dtype=np.int64), 0)
    # layer 0's keys by hand: ln1(token + position embedding) @ wk + bk, split into heads
    b = model.blocks[0]
    x = np.asarray(model.token_embedding.weight)[seq[0]] + np.asarray(model.position_embedding.weight)[:5]
    h = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + b.ln1.eps)
    h = h * np.asarray(b.ln1.gamma) + np.asarray(b.ln1.beta)
    for proj, stored in ((b.attention.k_proj, cache.caches[0][0]), (b.attention.v_proj, cache.caches[0][1])):
        want = (h @ np.asarray(proj.weight) + np.asarray(proj.bias)).reshape(5, model.num_heads, -1).transpose(1, 0, 2)
        np.testing.assert_allclose(np.asarray(stored)[0, :, :5], want, rtol=1e-4, atol=1e-5)
        assert not np.asarray(stored)[0, :, 5:].any()  # rows past the written ones untouched


@pytest.mark.parametrize("batch", [1, 3])
def test_greedy_generation_ids_identical(batch):
    model = make_model(4)
    prompt = np.random.default_rng(5).integers(0, model.vocab_size, (batch, 6))
    a = model.generate(prompt, 15, temperature=0, use_cache=False)
    b = model.generate(prompt, 15, temperature=0, use_cache=True)
    np.testing.assert_array_equal(a, b)
    assert b.shape == (batch, 21)


def test_seeded_sampling_ids_identical():
    model = make_model(6)
    prompt = [[1, 2, 3], [4, 5, 6]]
    tt.manual_seed(11)
    a = model.generate(prompt, 15, temperature=0.8, top_k=8, use_cache=False)
    tt.manual_seed(11)
    b = model.generate(prompt, 15, temperature=0.8, top_k=8, use_cache=True)
    assert a == b
    tt.manual_seed(12)
    c = model.generate(prompt, 15, temperature=0.8, top_k=8, use_cache=True)
    assert c != b  # the seed matters: the test above is not vacuous


def test_past_max_seq_len_crops_like_the_uncached_path():
    model = make_model(7, max_len=8)
    prompt = [1, 2, 3, 4, 5]
    a = model.generate(prompt, 20, temperature=0, use_cache=False)
    b = model.generate(prompt, 20, temperature=0, use_cache=True)
    assert a == b and len(b) == 25
    # a prompt longer than max_seq_len is cropped to its last max_seq_len tokens, as without the cache
    long = list(np.random.default_rng(0).integers(0, 40, 13))
    assert model.generate(long, 5, temperature=0, use_cache=True) == model.generate(long, 5, temperature=0,
                                                                                      use_cache=False)


def test_enable_kv_cache_is_used_by_default_reset_and_reused_between_calls():
    model = make_model(8)
    want1 = model.generate([1, 2], 10, temperature=0, use_cache=False)
    want2 = model.generate([[7, 8, 9]] * 2, 6, temperature=0, use_cache=False)
    cache = enable_kv_cache(model)
    assert model._cache_enabled and model._kv_cache is cache
    calls = []
    original = memoization.cached_generate
    memoization.cached_generate = lambda *a, **k: calls.append(a[-1]) or original(*a, **k)
    try:
        assert model.generate([1, 2], 10, temperature=0) == want1
        assert cache.seq_pos == 11  # prompt 2 + 9 fed back (the last token is not run)
        assert model.generate([1, 2], 10, temperature=0) == want1  # reused: reset, not appended to
        np.testing.assert_array_equal(model.generate(np.array([[7, 8, 9]] * 2), 6, temperature=0), want2)
        assert cache.batch_size == 2 and cache.caches[0][0].shape == (2, 4, 24, 8)  # reallocated in place
        assert calls == [cache, cache, cache]
        model.generate([1, 2], 3, temperature=0, use_cache=False)
        assert len(calls) == 3  # use_cache=False overrides the attached cache
        disable_kv_cache(model)
        model.generate([1, 2], 3, temperature=0)
        assert len(calls) == 3 and not hasattr(model, "_kv_cache")
    finally:
        memoization.cached_generate = original


def test_unfusable_model_falls_back_to_the_uncached_path():
    model = make_model(9)

    class LoudBlock(TransformerBlock):
        pass

    want = model.generate([3, 4], 6, temperature=0, use_cache=False)
    loud = LoudBlock(model.embed_dim, model.num_heads, dropout_prob=0.0)
    for name in ("attention", "ln1", "ln2", "mlp", "dropout"):
        setattr(loud, name, getattr(model.blocks[0], name))
    model.blocks[0] = loud
    assert not memoization.cache_usable(model)
    assert model.generate([3, 4], 6, temperature=0, use_cache=True) == want
    model.blocks[0] = loud.__class__.__bases__[0].__new__(TransformerBlock)
    model.blocks[0].__dict__.update(loud.__dict__)
    overrides.install("sub", lambda a, b: None)
    try:
        assert not memoization.cache_usable(model)
    finally:
        overrides.remove("sub")
    assert memoization.cache_usable(model)


def test_kv_cache_update_get_against_numpy():
    rng = np.random.default_rng(0)
    cache = KVCache(batch_size=2, max_seq_len=6, num_layers=3, num_heads=2, head_dim=4)
    assert cache.seq_pos == 0 and len(cache.caches) == 3 and cache.caches[1][0].shape == (2, 2, 6, 4)
    ref_k, ref_v = np.zeros((3, 2, 2, 6, 4), np.float32), np.zeros((3, 2, 2, 6, 4), np.float32)
    pos = 0
    for n in (2, 1, 3):
        for layer in range(3):
            k, v = rng.normal(size=(2, 2, n, 4)), rng.normal(size=(2, 2, n, 4))
            cache.update(layer, tt.Tensor(k.astype(np.float32)), v.astype(np.float32))
            ref_k[layer, :, :, pos:pos + n], ref_v[layer, :, :, pos:pos + n] = k, v
        assert cache.seq_pos == pos  # update does not move the position
        cache.advance(n)
        pos += n
        for layer in range(3):
            gk, gv = cache.get(layer)
            assert gk.shape == (2, 2, pos, 4)
            np.testing.assert_array_equal(np.asarray(gk), ref_k[layer, :, :, :pos])
            np.testing.assert_array_equal(np.asarray(gv), ref_v[layer, :, :, :pos])
    assert cache.nbytes() == 2 * 3 * 2 * 2 * 6 * 4 * 4
    assert cache.get_memory_usage()["total_elements"] == 2 * 3 * 2 * 2 * 6 * 4
    cache.reset()
    assert cache.seq_pos == 0 and cache.get(0)[0].shape == (2, 2, 0, 4)
    assert not any(np.asarray(t).any() for pair in cache.caches for t in pair)  # zeroed, as TinyTorch's reset


def test_kv_cache_bad_arguments():
    with pytest.raises(ValueError, match="KVCache: max_seq_len"):
        KVCache(1, 0, 1, 1, 1)
    with pytest.raises(TypeError, match="KVCache: dtype"):
        KVCache(1, 4, 1, 1, 1, dtype=np.int64)
    cache = KVCache(1, 4, 2, 2, 3)
    with pytest.raises(IndexError, match="KVCache.update: layer_idx 2"):
        cache.update(2, np.zeros((1, 2, 1, 3)), np.zeros((1, 2, 1, 3)))
    with pytest.raises(IndexError, match="KVCache.get: layer_idx -1"):
        cache.get(-1)
    with pytest.raises(ValueError, match="KVCache.update: key must have shape"):
        cache.update(0, np.zeros((1, 3, 1, 3)), np.zeros((1, 3, 1, 3)))
    with pytest.raises(ValueError, match="same shape"):
        cache.update(0, np.zeros((1, 2, 1, 3)), np.zeros((1, 2, 2, 3)))
    with pytest.raises(ValueError, match="overflows max_seq_len=4"):
        cache.update(0, np.zeros((1, 2, 5, 3)), np.zeros((1, 2, 5, 3)))
    cache.advance(4)
    with pytest.raises(ValueError, match="KVCache.advance"):
        cache.advance()
    with pytest.raises(TypeError, match="enable_kv_cache: expected a GPT-style model"):
        enable_kv_cache(object())
    model = make_model(0)
    with pytest.raises(TypeError, match="generate: use_cache"):
        model.generate([1], 2, use_cache="yes")


def test_decoder_step_rejects_bad_positions_and_batches():
    model = make_model(0, max_len=6)
    cache = new_cache(model, 2)
    dec = memoization.make_decoder(model, cache)
    with pytest.raises(ValueError, match=r"positions \[5, 7\) do not fit the cache's 6"):
        dec.step(tt.Tensor(np.zeros((2, 2)), dtype=np.int64), 5)
    with pytest.raises(ValueError, match="batch_size=2"):
        dec.step(tt.Tensor(np.zeros((3, 1)), dtype=np.int64), 0)
    with pytest.raises(IndexError):
        dec.step(tt.Tensor(np.full((2, 1), 99)), 0)
    wrong = KVCache(1, 6, model.num_layers, model.num_heads, 4)
    with pytest.raises(ValueError, match="KVCache: layer 0 key cache"):
        memoization.make_decoder(model, wrong)


def test_cache_of_a_float64_model_matches_forward():
    model = make_model(2)
    for mod in [model.token_embedding, model.position_embedding, model.ln_f, model.lm_head] + \
            [sub for b in model.blocks for sub in (b.ln1, b.ln2, b.attention.q_proj, b.attention.k_proj,
                                                    b.attention.v_proj, b.attention.out_proj, b.mlp.linear1,
                                                    b.mlp.linear2)]:
        for name, val in list(vars(mod).items()):
            if isinstance(val, tt.Tensor) and val.requires_grad:
                setattr(mod, name, tt.Tensor(np.asarray(val, np.float64), dtype=np.float64, requires_grad=True))
    assert memoization.cache_usable(model) and model.lm_head.weight.dtype == np.float64
    prompt = [[5, 9, 2, 7]]
    assert model.generate(prompt, 12, temperature=0, use_cache=True) == \
        model.generate(prompt, 12, temperature=0, use_cache=False)
    cache = enable_kv_cache(model)
    assert cache.dtype == np.float64 and cache.caches[0][0].dtype == np.float64
    model.generate(prompt, 3, temperature=0)
    seq = np.array(model.generate(prompt, 3, temperature=0))
    k0 = np.asarray(cache.caches[0][0])
    assert k0.dtype == np.float64 and np.abs(k0[:, :, :6]).sum() > 0
    np.testing.assert_allclose(full_logits(model, seq[:, :6])[:, -1],
                               np.asarray(memoization.make_decoder(model, new_cache(model, 1)).step(
                                   tt.Tensor(seq[:, :6], dtype=np.int64), 0))[:, -1], rtol=1e-4)


def test_decode_step_records_no_graph_and_tinytorch_path_reexports():
    model = make_model(10)
    assert all(p.requires_grad for p in model.parameters())
    logits = memoization.make_decoder(model, new_cache(model, 1)).step(tt.Tensor(np.array([[1, 2]]),
                                                                                 dtype=np.int64), 0)
    assert not logits.requires_grad and logits.grad_fn is None
    from tinytorch.generation import kv_cache
    assert kv_cache.KVCache is KVCache and kv_cache.enable_kv_cache is enable_kv_cache
    assert kv_cache.disable_kv_cache is disable_kv_cache


@pytest.mark.parametrize("seed", range(5))
def test_sampling_ids_identical_over_seeds(seed):
    model = make_model(20 + seed, max_len=16)
    prompt = np.random.default_rng(seed).integers(0, model.vocab_size, (2, 3))
    tt.manual_seed(seed)
    a = model.generate(prompt, 20, temperature=1.0, use_cache=False)   # crosses max_seq_len=16 too
    tt.manual_seed(seed)
    b = model.generate(prompt, 20, temperature=1.0, use_cache=True)
    np.testing.assert_array_equal(a, b)


def torch_gpt_logits(torch, model, seq):
    """The same GPT written with torch.nn.functional (full causal forward), weights from `model`."""
    F = torch.nn.functional
    w = lambda t: torch.tensor(np.asarray(t), dtype=torch.float64)  # noqa: E731
    B, T = seq.shape
    H, D = model.num_heads, model.embed_dim
    x = w(model.token_embedding.weight)[torch.tensor(seq)] + w(model.position_embedding.weight)[:T]
    ln = lambda x, m: F.layer_norm(x, (D,), w(m.gamma), w(m.beta), m.eps)  # noqa: E731
    lin = lambda x, m: x @ w(m.weight) + (0 if m.bias is None else w(m.bias))  # noqa: E731
    for b in model.blocks:
        a = b.attention
        h = ln(x, b.ln1)
        q, k, v = (lin(h, p).view(B, T, H, D // H).transpose(1, 2) for p in (a.q_proj, a.k_proj, a.v_proj))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D)
        x = x + lin(y, a.out_proj)
        x = x + lin(F.gelu(lin(ln(x, b.ln2), b.mlp.linear1), approximate="tanh"), b.mlp.linear2)
    return lin(ln(x, model.ln_f), model.lm_head).numpy()


def test_cached_steps_match_pytorch():
    from conftest import torch_or_skip
    torch = torch_or_skip()
    model = make_model(30, layers=3)
    seq = np.random.default_rng(30).integers(0, model.vocab_size, (2, 12))
    want = torch_gpt_logits(torch, model, seq)
    dec = memoization.make_decoder(model, new_cache(model, 2))
    got = [np.asarray(dec.step(tt.Tensor(seq[:, :4], dtype=np.int64), 0))]
    got += [np.asarray(dec.step(tt.Tensor(seq[:, t:t + 1], dtype=np.int64), t)) for t in range(4, 12)]
    np.testing.assert_allclose(np.concatenate(got, axis=1), want, rtol=1e-4, atol=1e-4)
