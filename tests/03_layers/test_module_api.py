"""The Module base class: parameter discovery, modes, state dicts, repr."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Dropout, Layer, Linear, Module, Parameter, Sequential
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformer import GPT

pytestmark = pytest.mark.module03


class TwoLayer(Module):
    def __init__(self):
        super().__init__()
        self.first = Linear(3, 4)
        self.act = ReLU()
        self.second = Linear(4, 2, bias=False)
        self.scale = Parameter(np.ones(2))
        self.not_a_param = Tensor(np.zeros(2))  # no grad: a plain attribute
        self.note = "hello"

    def forward(self, x):
        return self.second(self.act(self.first(x))) * self.scale


class NoSuperInit(Module):
    """Course-style layer that never calls Module.__init__."""

    def __init__(self):
        self.w = Tensor(np.ones((2, 2)), requires_grad=True)
        self.blocks = []
        self.blocks.append(Linear(2, 2))  # filled after assignment, as TinyTorch's GPT does

    def forward(self, x):
        return self.blocks[0](x @ self.w)


def test_parameters_in_assignment_order_with_qualified_names():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["first.weight", "first.bias", "second.weight", "scale"]
    params = m.parameters()
    assert isinstance(params, list) and len(params) == 4
    assert params[0] is m.first.weight and params[3] is m.scale
    assert all(isinstance(p, Tensor) and p.requires_grad for p in params)
    assert m.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2


def test_lists_of_modules_and_modules_without_super_init():
    m = NoSuperInit()
    assert [n for n, _ in m.named_parameters()] == ["w", "blocks.0.weight", "blocks.0.bias"]
    assert m.training is True
    m.eval()
    assert m.training is False and m.blocks[0].training is False
    y = m(Tensor(np.ones((1, 2))))
    assert y.shape == (1, 2)


def test_shared_parameters_are_listed_once_and_modules_once():
    a = Linear(2, 2)
    seq = Sequential(a, ReLU(), a)
    assert len(seq.parameters()) == 2
    assert len([m for m in seq.modules() if m is a]) == 1
    assert [type(m).__name__ for m in seq.modules()] == ["Sequential", "Linear", "ReLU"]
    assert [type(c).__name__ for c in seq.children()] == ["Linear", "ReLU"]


def test_frozen_parameter_keeps_its_place():
    m = TwoLayer()
    m.scale.requires_grad = False
    assert [n for n, _ in m.named_parameters()][-1] == "scale"
    assert "scale" in m.state_dict()


def test_train_eval_are_recursive_and_drive_dropout():
    model = Sequential(Linear(4, 4), Dropout(0.5))
    x = Tensor(np.ones((64, 4)))
    assert all(mod.training for mod in model.modules())
    assert model.eval() is model
    assert not any(mod.training for mod in model.modules())
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model.layers[0](x)))
    model.train()
    out = np.asarray(model.layers[1](x))
    assert set(np.unique(out)) <= {0.0, 2.0} and 0 < (out == 0).mean() < 1


def test_zero_grad_sets_none():
    m = TwoLayer()
    m(Tensor(np.ones((5, 3)))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_is_a_copy():
    tt.manual_seed(0)
    a = GPT(11, 8, 2, 2, max_seq_len=16)
    tt.manual_seed(1)
    b = GPT(11, 8, 2, 2, max_seq_len=16)
    sd = a.state_dict()
    assert list(sd) == [n for n, _ in a.named_parameters()]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["ln_f.gamma"][:] = 123  # a copy: the model is untouched
    assert not np.any(np.asarray(a.ln_f.gamma) == 123)
    sd = a.state_dict()
    weight_before = b.lm_head.weight
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.lm_head.weight is weight_before  # loaded in place: optimizers keep their references
    for name, p in b.named_parameters():
        np.testing.assert_array_equal(np.asarray(p), sd[name])
    tokens = Tensor(np.arange(6).reshape(1, 6))
    np.testing.assert_array_equal(np.asarray(a(tokens)), np.asarray(b(tokens)))


def _snapshot(model):
    return {n: np.array(p.data) for n, p in model.named_parameters()}


def test_load_state_dict_strict_errors_name_keys_and_change_nothing():
    m = TwoLayer()
    before = _snapshot(m)
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    del sd["first.bias"]
    sd["extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"missing key\(s\): first\.bias.*unexpected key\(s\): extra\.weight"):
        m.load_state_dict(sd)
    for name, value in _snapshot(m).items():
        np.testing.assert_array_equal(value, before[name])
    # non-strict loads what matches and reports the rest
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["first.bias"] and result.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(np.asarray(m.first.weight), before["first.weight"] + 1)
    np.testing.assert_array_equal(np.asarray(m.first.bias), before["first.bias"])


def test_load_state_dict_shape_mismatch_names_parameter_and_changes_nothing():
    m = TwoLayer()
    before = _snapshot(m)
    sd = {k: v * 0 for k, v in m.state_dict().items()}
    sd["second.weight"] = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"second\.weight.*\(2, 4\).*\(4, 2\)"):
        m.load_state_dict(sd, strict=False)
    for name, value in _snapshot(m).items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_accepts_tensors_and_casts_dtype():
    m = Linear(2, 3)
    m.load_state_dict({"weight": Tensor(np.arange(6.0).reshape(2, 3), dtype=np.float64), "bias": [1, 2, 3]})
    assert m.weight.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(m.weight), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(np.asarray(m.bias), [1, 2, 3])


def test_repr_is_nested_and_readable():
    text = repr(TwoLayer())
    assert text.splitlines()[0] == "TwoLayer("
    assert "  (first): Linear(in_features=3, out_features=4, bias=True)" in text
    assert "  (second): Linear(in_features=4, out_features=2, bias=False)" in text
    assert "  (act): ReLU()" in text and text.endswith(")")
    assert repr(Dropout(0.25)) == "Dropout(p=0.25)"
    gpt = repr(GPT(5, 4, 1, 2, max_seq_len=8))
    assert "(blocks.0): TransformerBlock(embed_dim=4, num_heads=2" in gpt
    assert "      (q_proj): Linear(in_features=4, out_features=4, bias=True)" in gpt


def test_call_runs_forward_and_base_forward_raises():
    class Doubler(Module):
        def forward(self, x, factor=2):
            return x * factor

    np.testing.assert_array_equal(np.asarray(Doubler()(Tensor([1.0]), factor=3)), [3.0])
    with pytest.raises(NotImplementedError, match="Module must implement forward"):
        Module()(Tensor([1.0]))
    assert Layer is Module


def test_to_double_converts_parameters():
    m = TwoLayer().double()
    assert all(p.dtype == np.float64 and p.requires_grad for p in m.parameters())
    assert m.not_a_param.dtype == np.float32  # plain tensors are left alone
    out = m(Tensor(np.ones((2, 3)), dtype=np.float64))
    assert out.dtype == np.float64
    assert tt.autograd.gradcheck(lambda w: (m.second(m.act(m.first(Tensor(np.ones((2, 3)), dtype=np.float64))))
                                            * w).sum(), (m.scale,))
