"""The capstone's parts against independent computations: held-out quality against PyTorch's
cross-entropy, the model file's int8 and sparse encodings against numpy, stored bytes, the schema's
messages, the corpus."""
import json

import numpy as np
import pytest

from conftest import torch_or_skip
from tinytorch.capstone import measure, model_io, pipeline, schema
from tinytorch.capstone.corpus import corpus_sha256, corpus_text
from tinytorch.core.safetensors_io import CheckpointError, load_file

pytestmark = pytest.mark.module20


def small_gpt(seed=0):
    import tinytorch as tt
    tt.manual_seed(seed)
    return model_io.build_gpt({"vocab_size": 11, "embed_dim": 8, "num_layers": 1, "num_heads": 2, "max_seq_len": 16})


def test_corpus_is_fixed_and_splits_differ():
    train, held = corpus_text("train"), corpus_text("heldout")
    assert corpus_text("heldout") == held and len(held.splitlines()) >= 60
    assert corpus_sha256(held) == corpus_sha256(corpus_text("heldout")) != corpus_sha256(train)
    assert set(held) <= set(train)                  # no character the tokenizer has never seen
    assert len(set(held.splitlines()) - set(train.splitlines())) > 10   # held-out lines the model never saw
    with pytest.raises(ValueError, match="corpus_text: split must be one of"):
        corpus_text("test")


def test_quality_matches_pytorch_cross_entropy():
    torch = torch_or_skip()
    model = small_gpt()
    ids = np.random.default_rng(1).integers(0, 11, size=50)
    got = measure.quality(model, ids, seq_len=7)
    x, y = ids[:49].reshape(7, 7), ids[1:50].reshape(7, 7)
    logits = torch.tensor(np.asarray(model(x)), dtype=torch.float64)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), torch.tensor(y.reshape(-1)))
    assert got["val_loss"] == pytest.approx(loss.item(), rel=1e-12)
    assert got["next_token_accuracy"] == (logits.argmax(-1).numpy() == y).mean()
    with pytest.raises(ValueError, match="quality: the text has 5 tokens, fewer than seq_len"):
        measure.quality(model, ids[:5], seq_len=7)


def test_int8_per_column_quantization_by_hand():
    w = np.array([[1.0, -0.5], [-2.54, 0.25], [0.0, 0.0]], dtype=np.float32)
    q, scale = model_io.quantize_per_column(w)
    np.testing.assert_allclose(scale, [2.54 / 127, 0.5 / 127], rtol=1e-6)
    np.testing.assert_array_equal(q, [[50, -127], [-127, 64], [0, 0]])
    assert q.dtype == np.int8
    q0, s0 = model_io.quantize_per_column(np.zeros((2, 3), dtype=np.float32))   # an all-zero column keeps scale 1
    np.testing.assert_array_equal(s0, [1, 1, 1])
    np.testing.assert_array_equal(q0, 0)


def test_optimized_file_round_trips_sparse_and_int8_exactly(tmp_path):
    model = small_gpt(3)
    params = dict(model.named_parameters())
    w = np.asarray(params["lm_head.weight"].data)
    w[np.abs(w) < np.quantile(np.abs(w), 0.75)] = 0          # 75% zeros: the sparse encoding wins
    path = tmp_path / "opt.safetensors"
    enc = model_io.save_optimized(path, model, int8=True)
    assert enc["lm_head.weight"] == "sparse-int8" and enc["token_embedding.weight"] == "float32"
    assert enc["blocks.0.attention.q_proj.weight"] == "int8"
    tensors, _ = load_file(path)
    q, scale = model_io.quantize_per_column(w)
    nnz = int(np.count_nonzero(q))
    assert tensors["model/lm_head.weight.values"].size == nnz
    assert tensors["model/lm_head.weight.mask"].nbytes == -(-w.size // 8)
    # stored bytes: exactly the tensors listed, added up by hand
    assert measure.stored_bytes(path) == sum(v.nbytes for v in tensors.values())
    loaded, _, codes = model_io.load_optimized(path, model_io.gpt_config(model))
    np.testing.assert_array_equal(codes["lm_head.weight"], q)
    got = dict(loaded.named_parameters())
    np.testing.assert_array_equal(np.asarray(got["lm_head.weight"].data), q.astype(np.float32) * scale)
    np.testing.assert_array_equal(np.asarray(got["token_embedding.weight"].data),
                                  np.asarray(params["token_embedding.weight"].data))
    # float32 without int8: the sparse weight comes back bit for bit
    enc = model_io.save_optimized(path, model, int8=False)
    assert enc["lm_head.weight"] == "sparse-float32"
    loaded, _, codes = model_io.load_optimized(path, model_io.gpt_config(model))
    assert codes == {}
    np.testing.assert_array_equal(np.asarray(dict(loaded.named_parameters())["lm_head.weight"].data), w)


def test_optimized_file_refuses_another_config_and_bad_contents(tmp_path):
    model = small_gpt()
    path = tmp_path / "opt.safetensors"
    model_io.save_optimized(path, model, int8=True)
    other = dict(model_io.gpt_config(model), embed_dim=16)
    with pytest.raises(CheckpointError, match="was saved with config"):
        model_io.load_optimized(path, other)
    tensors, meta = load_file(path)
    tensors["model/lm_head.weight.scale"] = -tensors["model/lm_head.weight.scale"]
    from tinytorch.core.safetensors_io import save_file
    save_file(tensors, path, metadata=meta)
    with pytest.raises(CheckpointError, match="lm_head.weight.scale must be .* finite positive"):
        model_io.load_optimized(path, model_io.gpt_config(model))
    with pytest.raises(TypeError, match="save_optimized: expected a GPT"):
        model_io.save_optimized(path, object())


def test_sparsity_counts_weights_with_two_dims_like_module_17():
    model = small_gpt()
    weights = [p for _, p in model.named_parameters() if p.ndim >= 2]
    np.asarray(weights[0].data)[:2] = 0
    expected = sum(int((np.asarray(p.data) == 0).sum()) for p in weights) / sum(p.size for p in weights)
    assert pipeline.sparsity_of(model) == expected
    from tinytorch.perf.compression import measure_sparsity
    assert measure_sparsity(model) == expected


def test_schema_names_every_problem():
    good = {"optimized": {"optimizations": [{"name": "int8"}]}}
    probs = schema.validate(good)
    assert "report.model: missing" in probs and "report.baseline: missing" in probs
    bad = {"schema": "x", "schema_version": 7, "model": {"type": "GPT", "config": {"vocab_size": 0}, "vocab": "ab"},
           "optimized": {"checkpoint": 3, "sha256": "s", "optimizations": [{"name": "int4"}, {"name": "magnitude_prune",
                                                                                              "sparsity": 1.0}],
                         "measurements": {"tokens_per_s": float("nan"), "next_token_accuracy": 1.5}}}
    probs = schema.validate(json.loads(json.dumps(bad)))
    text = "\n".join(probs)
    for expected in ("schema: expected 'tinytorch-capstone-submission'", "schema_version: this checker reads version 1",
                     "model.config.vocab_size: must be >= 1", "model.config.embed_dim: missing",
                     "optimized.checkpoint: expected str", "unknown optimization 'int4'",
                     "sparsity: 1.0 removes every weight", "tokens_per_s: expected number, got nan",
                     "next_token_accuracy: 1.5 is out of range"):
        assert expected in text, expected
    assert schema.validate([]) == ["report: expected a JSON object, got list"]


def test_write_submission_refuses_unknown_optimizations(tmp_path):
    model, tok, _ = pipeline.train_gpt(steps=1)
    with pytest.raises(ValueError, match="write_submission: .*unknown optimization 'fp4'"):
        pipeline.write_submission(str(tmp_path), model, tok, [{"name": "fp4"}])
    with pytest.raises(TypeError, match="write_submission: baseline_model must be a float32 GPT"):
        pipeline.write_submission(str(tmp_path), object(), tok, [{"name": "int8"}])


def test_module_16_layers_run_exactly_the_stored_int8_codes(tmp_path):
    from tinytorch.perf.quantization import quantize_model
    model = small_gpt(5)
    path = tmp_path / "opt.safetensors"
    model_io.save_optimized(path, model, int8=True)
    loaded, _, codes = model_io.load_optimized(path, model_io.gpt_config(model))
    assert len(codes) == len(model_io.int8_weight_names(model)) == 7   # q, k, v, out, 2 MLP layers, lm_head
    quantize_model(loaded)
    model_io.check_int8_codes(loaded, codes, path)                   # module 16 re-derives the same codes
    codes["lm_head.weight"] = codes["lm_head.weight"].copy()
    codes["lm_head.weight"][0, 0] += 1
    with pytest.raises(CheckpointError, match="the int8 layer lm_head does not hold the int8 codes"):
        model_io.check_int8_codes(loaded, codes, path)


def test_timing_interleaves_the_candidates_round_by_round():
    calls = []
    times = measure.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3,
                                     warmup=1, min_round_s=0)
    # one calibration pass, one warm-up round, then 3 timed rounds: always a then b, never a run of a's
    assert calls == ["a", "b"] * 5
    assert sorted(times) == ["a", "b"] and all(len(v) == 3 and min(v) >= 0 for v in times.values())
    summary = measure.summarize_times([0.001, 0.002, 0.004])
    assert summary == {"median_ms": 2.0, "iqr_ms": 1.5, "min_ms": 1.0, "max_ms": 4.0, "rounds": 3}
    with pytest.raises(ValueError, match="time_interleaved: rounds must be a positive integer"):
        measure.time_interleaved({"a": lambda: None}, rounds=0)
