"""One regression test per bug the layer fuzz tests (test_fuzz_layers.py, issue 9) found.

Each test failed before its fix; the fuzz test would find the bug again, but
these name it and run in milliseconds.
"""
import math

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.attention import MultiHeadAttention, scaled_dot_product_attention
from tinytorch.core.layers import Linear
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss
from tinytorch.core.spatial import Conv2d, MaxPool2d
from tinytorch.core.transformer import GPT, LayerNorm

pytestmark = pytest.mark.regression

INT64_MAX, INT64_MIN = 2 ** 63 - 1, -2 ** 63


def ints(values):
    return tt.Tensor(np.asarray(values, dtype=np.int64), dtype=np.int64)


# ---- a layer's error names the layer the user called, not the op inside it ----

def test_linear_too_large_names_linear_and_the_op():
    with pytest.raises(ValueError, match=r"^Linear: randn: shape \(2147483648, 2147483648\) has too many elements"):
        Linear(2 ** 31, 2 ** 31)  # was "randn: shape ..."


def test_conv2d_layer_error_names_the_layer():
    with pytest.raises(ValueError, match=r"^Conv2d: kernel size \(3, 3\) is larger than the padded input"):
        Conv2d(1, 1, 3)(tt.zeros(1, 1, 2, 2))  # was "conv2d: ..."


def test_pool_layer_error_names_the_layer():
    with pytest.raises(ValueError, match=r"^MaxPool2d: expected a 4-D input"):
        MaxPool2d(2)(tt.zeros(1, 4, 4))  # was "max_pool2d: ..."


def test_cross_entropy_loss_out_of_range_target_names_the_loss():
    with pytest.raises(IndexError, match=r"^CrossEntropyLoss: target 5 at position 1 is out of range for 3 classes"):
        CrossEntropyLoss()(tt.ones(2, 3), ints([0, 5]))  # was "cross_entropy: ..."


def test_bce_loss_shape_error_names_the_loss():
    with pytest.raises(ValueError, match=r"^BinaryCrossEntropyLoss: "):
        BinaryCrossEntropyLoss()(tt.ones(2, 3) * 0.5, tt.ones(2, 4))  # was "binary_cross_entropy: ..."


def test_multi_head_attention_divisibility_error_names_the_layer():
    with pytest.raises(ValueError, match=r"^MultiHeadAttention: embed_dim \(5\) must be divisible by num_heads \(2\)"):
        MultiHeadAttention(5, 2)  # was "embed_dim (5) must be ..."


def test_sdpa_bad_mask_names_the_function():
    q = tt.ones(2, 3)
    with pytest.raises(TypeError, match=r"^scaled_dot_product_attention: "):
        scaled_dot_product_attention(q, q, q, np.array([["a"]]))  # was "Tensor: cannot make a tensor ..."


def test_layer_error_keeps_its_type_and_traceback():
    with pytest.raises(IndexError) as info:
        CrossEntropyLoss()(tt.ones(1, 2), ints([7]))
    assert type(info.value) is IndexError
    assert info.value.__suppress_context__  # re-raised from the op's error, which is not shown twice
    assert any(frame.name == "forward" for frame in info.traceback)  # where it happened is still visible


# ---- wrong values ----

def test_cross_entropy_of_large_equal_logits_is_ln2_in_float32():
    # log(sum exp(x - max)) + max - x[target]: adding max (2**41) before subtracting x[target] rounded
    # the sum to the ulp of 2**41 (2**-11) in double: 0.693359 instead of ln 2 = 0.693147
    logits = tt.Tensor(np.full((1, 2), 2.0 ** 41, np.float32))
    loss = CrossEntropyLoss()(logits, ints([0]))
    assert abs(float(loss.item()) - math.log(2)) < 1e-7


def test_zero_d_integer_array_index_drops_the_axis_like_numpy():
    x = tt.Tensor(np.arange(6.0).reshape(2, 3))
    assert x[np.array(1)].shape == (3,)  # was (1, 3): np.ascontiguousarray made the 0-d index 1-d
    np.testing.assert_array_equal(np.asarray(x[np.array(1)]), [3.0, 4.0, 5.0])
    assert tt.Tensor([1.0, 2.0, 3.0])[np.array(2)].shape == ()


def test_layer_norm_over_two_dims_with_an_empty_batch():
    ln = LayerNorm((1, 1))
    out = ln(tt.zeros(0, 1, 1))  # was "reshape: cannot reshape ... into (0, -1)"
    assert out.shape == (0, 1, 1)


# ---- integers: defined results, no silent truncation ----

@pytest.mark.parametrize("op", ["scatter_add", "index_add"])
def test_int64_accumulation_wraps_like_numpy(op):
    # was a signed overflow in accumulate() (undefined behaviour; make sanitize aborts on it)
    x = ints([INT64_MAX, 5])
    got = tt.scatter_add(x, 0, ints([0]), ints([1])) if op == "scatter_add" else \
        tt.index_add(x, 0, ints([0]), ints([1]))
    want = np.array([INT64_MAX, 5], np.int64)
    np.add.at(want, [0], np.int64(1))
    np.testing.assert_array_equal(np.asarray(got), want)
    assert np.asarray(got)[0] == INT64_MIN


@pytest.mark.parametrize("op", ["scatter_add", "index_add"])
@pytest.mark.parametrize("value", [0.5, float("nan"), 1e30])
def test_float_source_into_int_tensor_is_refused(op, value):
    # was: 0.5 + 0.5 silently added as 0 + 0, NaN as INT64_MIN
    x, i, src = ints([1, 2]), ints([0, 0]), tt.Tensor([value, value], dtype=np.float64)
    with pytest.raises(TypeError, match=f"^{op}: cannot add a float64 source into a int64 tensor"):
        tt.scatter_add(x, 0, i, src) if op == "scatter_add" else tt.index_add(x, 0, i, src)


def test_int_source_into_float_tensor_still_adds():
    got = tt.scatter_add(tt.zeros(2), 0, ints([1, 1]), ints([3, 4]))
    np.testing.assert_array_equal(np.asarray(got), np.array([0, 7], np.float32))


def test_masked_fill_nan_into_empty_int_tensor_raises_like_full():
    with pytest.raises(ValueError, match="^masked_fill: cannot store nan in an int64 tensor"):
        tt.masked_fill(ints(np.zeros(0, np.int64)), tt.Tensor(np.zeros(0, bool)), float("nan"))


# ---- arguments checked ----

def test_cat_with_none_item_names_cat_and_the_item():
    with pytest.raises(TypeError, match=r"^cat: item 1 is not a tensor \(cannot make a tensor from NoneType"):
        tt.cat([tt.ones(2), None])


def test_gpt_checks_divisibility_even_without_layers():
    with pytest.raises(ValueError, match=r"^GPT: embed_dim \(3\) must be divisible by num_heads \(2\)"):
        GPT(vocab_size=4, embed_dim=3, num_layers=0, num_heads=2)


@pytest.mark.parametrize("dims", [(1, 0), (0, 5), (5, 0)])
def test_flatten_of_a_scalar_checks_its_dims_like_pytorch(dims):
    with pytest.raises(IndexError, match="^flatten: "):
        tt.Tensor(1.0).flatten(*dims)  # was accepted: any dims gave (1,)


@pytest.mark.parametrize("dims", [(0, 0), (-1, -1), (0, -1)])
def test_flatten_of_a_scalar_with_valid_dims(dims):
    assert tt.Tensor(1.0).flatten(*dims).shape == (1,)


@pytest.mark.parametrize("pool", ["MaxPool2d", "AvgPool2d"])
def test_pooling_an_empty_image_is_refused_like_pytorch(pool):
    from tinytorch.core import spatial
    # was: with padding, windows lying entirely in the padding gave -inf (max) or 0 (avg)
    with pytest.raises(ValueError, match=f"^{pool}: the input's height and width must be at least 1"):
        getattr(spatial, pool)(2, padding=1)(tt.zeros(1, 1, 0, 2))
