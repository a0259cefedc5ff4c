"""The one table of the course: modules, the exercises each asks for, the
grader that checks them, and the milestones they unlock.

The CLI (`tinytorch module ...`, `tinytorch milestone ...`), the grading
tests and the docs all read this table, so the requirements a student sees
can never drift from the ones the grader enforces (TinyTorch keeps three
copies of this map; they disagree).
"""
from dataclasses import dataclass, field

__all__ = ["CourseModule", "Milestone", "MODULES", "OPTIONAL_MODULES", "MILESTONES", "module", "milestone"]


@dataclass(frozen=True)
class CourseModule:
    number: str            # "01"
    slug: str              # "tensor": the folder is modules/01_tensor, the lesson 01_tensor.py
    title: str
    exercises: tuple = ()  # names the student's notebook must define; the grader checks exactly these
    requires: tuple = ()   # modules that must be completed before this one unlocks
    overridable: bool = False  # whether `use_student` can swap these exercises into the engine

    @property
    def name(self):
        return f"{self.number}_{self.slug}"

    @property
    def grader(self):
        """Import path of the grader module (python/tinytorch/course/graders/)."""
        return f"tinytorch.course.graders.m{self.number}_{self.slug}"


@dataclass(frozen=True)
class Milestone:
    number: str
    folder: str            # milestones/<folder>/
    title: str
    requires: tuple = field(default_factory=tuple)


def _m(number, slug, title, exercises=(), requires=None, overridable=False):
    if requires is None:
        requires = () if number == "01" else (f"{int(number) - 1:02d}",)
    return CourseModule(number, slug, title, tuple(exercises), tuple(requires), overridable)


MODULES = (
    _m("01", "tensor", "Tensor: shapes, strides, broadcasting and views",
       ["broadcast_shape", "contiguous_strides", "reshape_view_strides"]),
    _m("02", "activations", "Activations and their derivatives",
       ["relu", "relu_grad", "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "gelu", "gelu_grad",
        "softmax", "softmax_grad"]),
    _m("03", "layers", "Layers: Linear, Dropout, Sequential", ["Linear", "Dropout", "Sequential"]),
    _m("04", "losses", "Losses: MSE, stable cross-entropy, BCE",
       ["mse_loss", "log_softmax", "cross_entropy_loss", "binary_cross_entropy_loss"]),
    _m("05", "autograd", "Autograd: backward rules as Functions",
       ["unbroadcast", "Sub", "Mul", "Div", "Matmul", "Transpose", "Sum", "Embedding"], overridable=True),
    _m("06", "optimizers", "Optimizers: SGD with momentum, Adam, AdamW", ["SGD", "Adam", "AdamW"],
       overridable=True),
    _m("07", "training", "Training: the loop, clipping, loss scaling, schedules",
       ["train_steps", "clip_grad_norm", "clip_grad_value", "scaled_backward", "cosine_schedule"]),
    _m("08", "dataloader", "Data loading: datasets, batches, shuffles", ["TensorDataset", "collate", "DataLoader"]),
    _m("09", "spatial", "Convolution and pooling from im2col", ["im2col", "conv2d", "max_pool2d"],
       requires=("07",)),
    _m("10", "tokenization", "Tokenization: characters and BPE merges",
       ["CharTokenizer", "get_pair_counts", "merge_pair", "train_bpe"]),
    _m("11", "embeddings", "Embeddings and positional encoding",
       ["embedding_lookup", "sinusoidal_positional_encoding"]),
    _m("12", "attention", "Attention: scaled dot-product, causal mask, heads",
       ["causal_mask", "scaled_dot_product_attention", "split_heads", "merge_heads"], overridable=True),
    _m("13", "transformers", "Transformers: LayerNorm, MLP, pre-norm block, GPT forward",
       ["layer_norm", "mlp", "transformer_block", "gpt_forward"]),
    _m("14", "profiling", "Profiling: parameters, FLOPs, allocator bytes, latency, the engine profiler",
       ["count_parameters", "linear_flops", "conv2d_flops", "matmul_flops", "measure_latency",
        "mlp_activation_bytes"]),
    _m("15", "memoization", "Memoization: the KV cache",
       ["KVCache", "cached_attention", "generate_with_cache", "kv_cache_bytes"]),
    _m("16", "quantization", "Quantization: int8 scales, zero points and the integer matmul",
       ["compute_scale_zero_point", "quantize", "dequantize", "per_channel_scales", "int8_matmul_zero_point",
        "quantized_linear_forward"]),
    _m("17", "compression", "Compression: pruning, low rank, distillation",
       ["magnitude_mask", "structured_mask", "low_rank_factors", "distillation_loss"],
       requires=("07", "16")),  # it prunes and fine-tunes a trained model: needs the training loop too
    _m("18", "acceleration", "Acceleration: vectorization, tiling, the roofline, fusion",
       ["naive_matmul", "vectorized_matmul", "tiled_matmul", "matmul_intensity", "add_intensity", "roofline_bound",
        "linear_gelu"]),
    _m("19", "benchmarking", "Benchmarking: warm-up, medians, interleaved rounds, the olympics",
       ["median_and_iqr", "measure", "interleaved_rounds", "bootstrap_speedup", "olympic_scores"]),
    _m("20", "capstone", "Capstone: an optimized TinyGPT submission and its checker",
       ["normalized_improvements", "optimize", "build_report", "check_claims"]),
)

# Optional lessons after the twenty: no milestone needs them, so they sit apart from MODULES (the course's
# twenty, which progress, unlocking and `tinytorch module list` count); `module("21")` finds them, so
# `tinytorch module start/test 21` and `tinytorch grade 21` work like any module.
OPTIONAL_MODULES = (
    _m("21", "distributed", "Distributed (optional): data parallelism and the ring all-reduce over MPI",
       ["chunk_bounds", "ring_all_reduce", "ring_bytes_sent"], requires=("07",)),
)

MILESTONES = (
    Milestone("01", "01_1957_perceptron", "Rosenblatt's perceptron", ("01", "02", "03")),
    Milestone("02", "02_1969_xor", "Minsky and Papert's XOR", ("01", "02", "03", "04")),
    Milestone("03", "03_1986_mlp", "Rumelhart's backprop MLP", ("01", "02", "03", "04", "05", "06", "07")),
    Milestone("04", "04_1998_cnn", "LeCun's CNN", ("01", "02", "03", "04", "05", "06", "07", "09")),
    Milestone("05", "05_2017_transformer", "Vaswani's transformer", tuple(f"{i:02d}" for i in range(1, 14) if i != 8)),
    Milestone("06", "06_2018_mlperf", "MLPerf-style benchmark", tuple(f"{i:02d}" for i in range(1, 20))),
    Milestone("07", "07_2020_tinygpt", "TinyGPT capstone", tuple(f"{i:02d}" for i in range(1, 21))),
)


def _lookup(table, number, what):
    key = str(number).strip()
    if key.isdigit():
        key = key.zfill(2)
    for row in table:
        if row.number == key or getattr(row, "slug", None) == key or getattr(row, "name", None) == key:
            return row
    choices = ", ".join(r.number for r in table)
    raise KeyError(f"no {what} {number}; choose one of {choices}")


def module(number):
    """The CourseModule for "01", 1, "tensor" or "01_tensor" (or an optional one, "21"); KeyError naming the
    choices otherwise."""
    return _lookup(MODULES + OPTIONAL_MODULES, number, "module")


def milestone(number):
    return _lookup(MILESTONES, number, "milestone")
