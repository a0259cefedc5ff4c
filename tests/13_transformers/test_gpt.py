"""Module 13: the GPT model: structure, the fused C++ forward against the
module-by-module one, LayerNorm/MLP/TransformerBlock contracts, generate()."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.autograd import gradcheck
from tinytorch.core.layers import Linear
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformer import GPT, MLP, LayerNorm, TransformerBlock

pytestmark = pytest.mark.module13


def small_gpt(seed=0, **kw):
    tt.manual_seed(seed)
    args = dict(vocab_size=13, embed_dim=16, num_layers=2, num_heads=4, max_seq_len=10)
    args.update(kw)
    return GPT(**args)


def tokens(shape, vocab=13, seed=1):
    return np.random.default_rng(seed).integers(0, vocab, shape)


def test_structure_and_names():
    m = small_gpt()
    assert len(m.blocks) == 2 and all(type(b) is TransformerBlock for b in m.blocks)
    assert m.lm_head.bias is None and m.lm_head.weight.shape == (16, 13)
    assert m.position_embedding.weight.shape == (10, 16)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["token_embedding.weight", "position_embedding.weight", "blocks.0.attention.q_proj.weight",
                         "blocks.0.attention.q_proj.bias"]
    assert names[-3:] == ["ln_f.gamma", "ln_f.beta", "lm_head.weight"]
    import tinytorch.core.transformers as alias_a
    import tinytorch.models.transformer as alias_b
    assert alias_a.GPT is GPT and alias_b.GPT is GPT and alias_b.MultiHeadAttention is not None


def _composed(model):
    """Forces the module-by-module path (what a model with user-replaced parts runs)."""
    model._fusable = lambda: False
    for b in model.blocks:
        b._fusable = lambda: False
        b.mlp._fusable = lambda: False
        b.attention._fusable = lambda: False
    return model


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 1e-4)])
def test_fused_forward_equals_module_by_module_forward(dtype, rtol):
    fused, composed = small_gpt(3).to(dtype), _composed(small_gpt(3).to(dtype))
    x = tokens((3, 7))
    a, b = fused(x), composed(x)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=rtol)
    t = Tensor(tokens((3, 7), seed=2))
    tt.cross_entropy(a, t).backward()
    tt.cross_entropy(b, t).backward()
    for (name, p), q in zip(fused.named_parameters(), composed.parameters()):
        np.testing.assert_allclose(np.asarray(p.grad), np.asarray(q.grad), rtol=10 * rtol, atol=10 * rtol,
                                   err_msg=name)


def test_gpt_gradcheck_on_a_tiny_model():
    m = small_gpt(4, vocab_size=5, embed_dim=4, num_layers=1, num_heads=2, max_seq_len=4).double()
    x = Tensor(tokens((2, 3), vocab=5))
    some = [m.blocks[0].attention.q_proj.weight, m.blocks[0].mlp.linear1.bias, m.ln_f.gamma, m.token_embedding.weight]
    assert gradcheck(lambda *ps: m(x), some)


def test_forward_errors():
    m = small_gpt()
    with pytest.raises(ValueError, match="sequence length 11 exceeds max_seq_len=10"):
        m(tokens((1, 11)))
    with pytest.raises(ValueError, match=r"tokens must have shape \(batch, seq_len\)"):
        m(tokens((11,)))
    with pytest.raises(IndexError, match="index 13 is out of range for vocab_size 13"):
        m(np.array([[1, 13]]))
    with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
        GPT(0, 8, 1, 2)


def test_causality_of_the_whole_model():
    m = small_gpt(5)
    x = tokens((1, 8))
    y = x.copy()
    y[0, 5:] = (y[0, 5:] + 1) % 13  # change the future
    a, b = np.asarray(m(x)), np.asarray(m(y))
    np.testing.assert_array_equal(a[:, :5], b[:, :5])
    assert not np.allclose(a[:, 5:], b[:, 5:])


def test_dropout_in_blocks_follows_train_eval():
    m = small_gpt(6, dropout_prob=0.5)
    x = tokens((2, 6))
    m.eval()
    np.testing.assert_array_equal(np.asarray(m(x)), np.asarray(m(x)))
    m.train()
    assert not np.array_equal(np.asarray(m(x)), np.asarray(m(x)))


def test_layer_norm_module():
    ln = LayerNorm(6, eps=1e-3)
    assert len(ln.parameters()) == 2 and ln.eps == 1e-3
    x = np.random.default_rng(7).standard_normal((2, 3, 6)) * 4 + 2
    y = np.asarray(ln(Tensor(x, dtype=np.float64)))
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    ln2 = LayerNorm((3, 6)).double()  # several trailing dims
    flat = x.reshape(2, 18)
    np.testing.assert_allclose(np.asarray(ln2(Tensor(x, dtype=np.float64))),
                               ((flat - flat.mean(-1, keepdims=True)) / np.sqrt(flat.var(-1, keepdims=True) + 1e-5))
                               .reshape(2, 3, 6), rtol=1e-10)
    with pytest.raises(ValueError, match=r"does not end with normalized_shape \(6,\)"):
        ln(Tensor(np.ones((2, 5))))


def test_mlp_and_block_respect_replaced_submodules():
    tt.manual_seed(8)
    mlp = MLP(4, 8, dropout_prob=0.0).double()
    x = Tensor(np.random.default_rng(9).standard_normal((2, 3, 4)), dtype=np.float64)
    before = np.asarray(mlp(x))

    class Doubled(Linear):
        def forward(self, x):
            return super().forward(x) * 2.0

    new = Doubled(8, 4)
    new.weight, new.bias = mlp.linear2.weight, mlp.linear2.bias
    mlp.linear2 = new
    np.testing.assert_allclose(np.asarray(mlp(x)), 2 * before, rtol=1e-12)

    block = TransformerBlock(4, 2, dropout_prob=0.0).double()
    plain = np.asarray(block(x))
    block.mlp = mlp  # now a non-stock MLP: the block must call it
    h = np.asarray(block.attention(block.ln1(x)))
    x1 = np.asarray(x) + h
    np.testing.assert_allclose(np.asarray(block(x)), x1 + np.asarray(mlp(block.ln2(Tensor(x1, dtype=np.float64)))),
                               rtol=1e-10)
    assert not np.allclose(plain, np.asarray(block(x)))


# ---- generate ----

def test_generate_greedy_is_deterministic_and_is_the_argmax():
    m = small_gpt(10)
    prompt = [1, 2, 3]
    out = m.generate(prompt, max_new_tokens=5, temperature=0)
    assert isinstance(out, list) and len(out) == 8 and out[:3] == prompt
    assert m.generate(prompt, max_new_tokens=5, temperature=0) == out
    seq = list(prompt)
    for _ in range(5):
        seq.append(int(np.asarray(m(np.array([seq])))[0, -1].argmax()))
    assert seq == out


def test_generate_keeps_the_prompt_kind_and_shape():
    m = small_gpt(11)
    t = m.generate(Tensor([[1, 2], [3, 4]]), max_new_tokens=3, temperature=0)
    assert isinstance(t, Tensor) and t.shape == (2, 5) and t.dtype == np.int64
    np.testing.assert_array_equal(np.asarray(t)[:, :2], [[1, 2], [3, 4]])
    a = m.generate(np.array([5, 6]), max_new_tokens=2, temperature=0)
    assert isinstance(a, np.ndarray) and a.shape == (4,)
    assert m.generate([5, 6], max_new_tokens=0) == [5, 6]
    # batch rows are generated independently
    np.testing.assert_array_equal(np.asarray(t)[1], m.generate([3, 4], max_new_tokens=3, temperature=0))


def test_generate_sampling_is_reproducible_and_top_k_one_is_greedy():
    m = small_gpt(12)
    tt.manual_seed(5)
    a = m.generate([1], max_new_tokens=8, temperature=1.5)
    tt.manual_seed(5)
    b = m.generate([1], max_new_tokens=8, temperature=1.5)
    assert a == b and all(0 <= t < 13 for t in a)
    assert m.generate([1], max_new_tokens=8, temperature=2.0, top_k=1) == m.generate([1], max_new_tokens=8,
                                                                                     temperature=0)
    # top_k=3: every sampled token is among the 3 most likely at its step
    tt.manual_seed(6)
    seq = m.generate([1, 2], max_new_tokens=6, temperature=1.0, top_k=3)
    for i in range(2, len(seq)):
        logits = np.asarray(m(np.array([seq[:i]])))[0, -1]
        assert seq[i] in np.argsort(logits)[-3:]


def test_generate_crops_context_and_leaves_no_graph():
    m = small_gpt(13)  # max_seq_len = 10
    out = m.generate(list(range(9)), max_new_tokens=6, temperature=0)
    assert len(out) == 15
    # each new token is predicted from the last 10 tokens only
    nxt = int(np.asarray(m(np.array([out[4:14]])))[0, -1].argmax())
    assert out[14] == nxt
    assert all(p.grad is None for p in m.parameters())
    assert m.training  # mode restored


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=-0.5), "temperature must be a finite number >= 0"),
    (dict(temperature=float("nan")), "temperature must be a finite number >= 0"),
    (dict(top_k=0), "top_k must be None or an integer >= 1"),
    (dict(top_k=2.5), "top_k must be None or an integer >= 1"),
    (dict(max_new_tokens=-1), "max_new_tokens must be a non-negative integer"),
])
def test_generate_rejects_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_gpt().generate([1, 2], **kwargs)


@pytest.mark.parametrize("bad, shown", [([[1.5, 2.0]], "1.5"), ([[float("nan"), 1.0]], "nan"),
                                        ([[1.0, -0.5]], "-0.5")])
def test_forward_rejects_non_integer_float_tokens(bad, shown):
    m = small_gpt()
    with pytest.raises(ValueError, match=rf"GPT: indices must be integer token ids, got {shown}"):
        m(Tensor(bad))
    # whole-number floats are token ids
    np.testing.assert_array_equal(np.asarray(m(Tensor([[1.0, 2.0]]))), np.asarray(m(Tensor([[1, 2]]))))


def test_generate_subnormal_temperature_is_greedy():
    """1/1e-320 overflows float64: the softmax is one-hot on the argmax, so the result
    must be the greedy one, with no NaN probabilities or numpy warnings."""
    m = small_gpt(14)
    greedy = m.generate([1, 2], max_new_tokens=6, temperature=0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is expected
        for t in (1e-320, 5e-324, 1e-309):
            tt.manual_seed(0)
            assert m.generate([1, 2], max_new_tokens=6, temperature=t) == greedy
    logits = np.array([[0.0, 3.0, -2.0], [7.0, 1e30, -1e30]])
    np.testing.assert_array_equal(GPT._pick(logits, 1e-320, None), [1, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # tiny sampling T: -inf, never NaN
        np.testing.assert_array_equal(GPT._pick(logits, 1e-300, None), [1, 1])


def test_generate_rejects_bad_prompts():
    m = small_gpt()
    with pytest.raises(ValueError, match="non-empty"):
        m.generate([], max_new_tokens=1)
    with pytest.raises(ValueError, match="integer token ids"):
        m.generate([0.5, 1.0], max_new_tokens=1)
    with pytest.raises(IndexError, match="token id 13 is out of range for vocab_size 13"):
        m.generate([1, 13], max_new_tokens=1)
