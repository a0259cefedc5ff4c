"""Grader for module 03: the student's Linear, Dropout and Sequential against the engine's layers: shapes,
initial scale, values and gradients with the same weights (float32, float64 + gradcheck), dropout's statistics,
modes and edge cases, parameter discovery, and a small network trained step by step next to the engine's."""
import numpy as np

import tinytorch as tt
from tinytorch.autograd import gradcheck
from tinytorch.core import layers as engine
from tinytorch.core.activations import ReLU, Tanh
from tinytorch.core.module import Parameter
from tinytorch.core.optimizers import SGD
from tinytorch.course.grading import Grader, GradingError, as_array, close, expect_error

grader = Grader("03")


def _copy_into_engine(lin, bias=True):
    ref = engine.Linear(lin.in_features, lin.out_features, bias=bias)
    np.asarray(ref.weight)[...] = as_array(lin.weight, "weight")
    if bias:
        np.asarray(ref.bias)[...] = as_array(lin.bias, "bias")
    return ref


@grader.check(points=2, needs=["Linear"],
              hint="weight: Parameter of shape (in, out) from N(0, 1/in); bias: zero Parameter (out,) or None")
def linear_parameters_and_init(ns):
    Linear = ns["Linear"]
    tt.manual_seed(30)
    lin = Linear(3, 2)
    if tuple(lin.weight.shape) != (3, 2):
        raise GradingError(f"Linear(3, 2).weight has shape {tuple(lin.weight.shape)}, expected (3, 2) = (in, out)")
    if lin.bias is None or tuple(lin.bias.shape) != (2,) or np.any(as_array(lin.bias, "bias") != 0):
        raise GradingError("Linear(3, 2).bias must be zeros of shape (2,)")
    if not (lin.weight.requires_grad and lin.bias.requires_grad):
        raise GradingError("Linear's weight and bias must have requires_grad=True (use Parameter)")
    names = [n for n, _ in lin.named_parameters()]
    if names != ["weight", "bias"]:
        raise GradingError(f"Linear(3, 2).named_parameters() gives {names}, expected ['weight', 'bias']")
    nb = Linear(4, 5, bias=False)
    if nb.bias is not None or len(nb.parameters()) != 1:
        raise GradingError("Linear(4, 5, bias=False) must have bias None and one parameter")
    if (nb.in_features, nb.out_features) != (4, 5):
        raise GradingError("Linear(4, 5) must store in_features=4 and out_features=5")
    for fan_in, fan_out in [(1000, 400), (50, 2000)]:
        w = as_array(Linear(fan_in, fan_out).weight, "weight").astype(np.float64)
        want = 1 / np.sqrt(fan_in)
        if not (abs(w.std() - want) < 0.03 * want and abs(w.mean()) < 0.05 * want):
            raise GradingError(f"Linear({fan_in}, {fan_out}).weight has mean {w.mean():.4f} and std {w.std():.4f}; "
                               f"expected mean 0 and std 1/sqrt(in_features) = {want:.4f}")
    a, b = as_array(Linear(20, 20).weight, "weight"), as_array(Linear(20, 20).weight, "weight")
    if np.array_equal(a, b):
        raise GradingError("two Linear(20, 20) layers got identical weights: draw them at random")


@grader.check(points=3, needs=["Linear"],
              hint="forward: x @ self.weight + self.bias for x of shape (..., in); build it from tinytorch ops")
def linear_matches_engine(ns):
    Linear = ns["Linear"]
    rng = np.random.default_rng(31)
    for i, o, shape, bias in [(3, 2, (4, 3), True), (5, 4, (2, 6, 5), True), (4, 3, (4,), True), (6, 1, (7, 6), False)]:
        tt.manual_seed(31)
        lin = Linear(i, o, bias=bias)
        if bias:
            lin.bias = Parameter(rng.standard_normal(o).astype(np.float32))
        ref = _copy_into_engine(lin, bias)
        x = rng.standard_normal(shape).astype(np.float32)
        xm, xr = tt.Tensor(x, requires_grad=True), tt.Tensor(x, requires_grad=True)
        ym, yr = lin(xm), ref(xr)
        close(ym, yr, f"Linear({i}, {o}, bias={bias}) on input {shape}", rtol=1e-5, atol=1e-6)
        close(lin(x), yr, f"Linear({i}, {o}) on a numpy input {shape}", rtol=1e-5, atol=1e-6)
        g = tt.Tensor(rng.standard_normal(tuple(yr.shape)).astype(np.float32))
        (ym * g).sum().backward()
        (yr * g).sum().backward()
        if lin.weight.grad is None:
            raise GradingError("no gradient reached Linear.weight: compute the forward with tinytorch ops")
        close(lin.weight.grad, ref.weight.grad, f"d weight of Linear({i}, {o}) on {shape}", rtol=1e-4, atol=1e-5)
        close(xm.grad, xr.grad, f"d input of Linear({i}, {o}) on {shape}", rtol=1e-4, atol=1e-5)
        if bias:
            close(lin.bias.grad, ref.bias.grad, f"d bias of Linear({i}, {o}) on {shape}", rtol=1e-4, atol=1e-5)
    # float64 parameters, finite differences through the student's forward
    lin = Linear(3, 2)
    lin.weight = Parameter(rng.standard_normal((3, 2)), dtype=tt.float64)
    lin.bias = Parameter(rng.standard_normal(2), dtype=tt.float64)
    x = tt.Tensor(rng.standard_normal((4, 3)), dtype=tt.float64, requires_grad=True)
    if not gradcheck(lambda t, w, b: lin(t), [x, lin.weight, lin.bias]):
        raise GradingError("Linear: finite differences disagree with the gradients of your forward")


@grader.check(points=1, needs=["Linear"], hint="raise ValueError unless both sizes are positive ints (not bool)")
def linear_rejects_bad_sizes(ns):
    Linear = ns["Linear"]
    for args in [(0, 2), (3, -1), (2.0, 3), (True, 3), (3, "4")]:
        expect_error(lambda: Linear(*args), ValueError, f"Linear{args}")


@grader.check(points=3, needs=["Dropout"],
              hint="keep each entry with probability 1 - p, drawn with tt.rand; scale kept entries by 1 / (1 - p)")
def dropout_training_statistics(ns):
    Dropout = ns["Dropout"]
    rng = np.random.default_rng(32)
    n = 200_000
    x_np = rng.uniform(0.5, 2.0, n).astype(np.float32)
    x = tt.Tensor(x_np)
    for p in (0.1, 0.5, 0.9):
        layer = Dropout(p)
        tt.manual_seed(32)
        out = as_array(layer(x), f"Dropout({p})(x)")
        if out.shape != (n,):
            raise GradingError(f"Dropout({p}) changed the shape to {out.shape}")
        zeroed = float(np.mean(out == 0))
        if abs(zeroed - p) > 0.01:
            raise GradingError(f"Dropout({p}) in training zeroed {zeroed:.3f} of the entries; expected about {p}")
        kept = out != 0
        close(out[kept], x_np[kept] / (1 - p), f"the entries Dropout({p}) kept (x / (1 - p))", rtol=1e-5)
        tt.manual_seed(32)
        again = as_array(layer(x), f"Dropout({p})(x)")
        if not np.array_equal(again, out):
            raise GradingError(f"Dropout({p}) after the same tt.manual_seed gave a different mask: draw it with "
                               "tt.rand so the seed makes it reproducible")
        if np.array_equal(as_array(layer(x), "Dropout"), out):
            raise GradingError(f"two calls of Dropout({p}) gave the same mask: draw a new one each call")
    # the gradient is the mask, scaled
    xg = tt.Tensor(np.ones(1000), dtype=tt.float64, requires_grad=True)
    y = Dropout(0.3)(xg)
    y.sum().backward()
    if xg.grad is None:
        raise GradingError("no gradient reached Dropout's input: return x * mask with tinytorch ops")
    close(xg.grad, as_array(y, "Dropout(0.3)(ones)"), "d input of Dropout(0.3) (the scaled mask)", rtol=1e-12)
    if as_array(y, "y").dtype != np.float64:
        raise GradingError("Dropout on a float64 input must return float64")


@grader.check(points=2, needs=["Dropout"],
              hint="training=None follows self.training; eval or p == 0 returns x; p == 1 returns zeros")
def dropout_modes_and_edges(ns):
    Dropout = ns["Dropout"]
    x = tt.Tensor(np.arange(1.0, 101.0, dtype=np.float32))
    layer = Dropout(0.5)
    layer.eval()
    close(layer(x), x, "Dropout(0.5) in eval mode (the identity)")
    if np.all(as_array(layer(x, training=True), "Dropout(x, training=True)") != 0):
        raise GradingError("Dropout(0.5)(x, training=True) in eval mode zeroed nothing: training=True overrides the mode")
    layer.train()
    close(layer(x, training=False), x, "Dropout(0.5)(x, training=False) in train mode")
    close(Dropout(0.0)(x), x, "Dropout(0.0) in training (the identity)")
    zeros = as_array(Dropout(1.0)(x), "Dropout(1.0)(x)")
    if not (np.all(np.isfinite(zeros)) and np.all(zeros == 0)):
        raise GradingError(f"Dropout(1.0) must return zeros, got {zeros[:5].tolist()}...")
    for bad in (-0.1, 1.5, True, "0.5", None):
        expect_error(lambda: Dropout(bad), ValueError, f"Dropout({bad!r})")


@grader.check(points=2, needs=["Sequential"],
              hint="self.layers = list(layers) (a single list argument unpacked); forward calls each in order")
def sequential_composes_engine_layers(ns):
    Sequential = ns["Sequential"]
    tt.manual_seed(33)
    l1, l2 = engine.Linear(3, 4), engine.Linear(4, 2)
    net = Sequential(l1, ReLU(), engine.Dropout(0.5), l2)
    names = [n for n, _ in net.named_parameters()]
    if names != ["layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias"]:
        raise GradingError(f"Sequential(Linear, ReLU, Dropout, Linear).named_parameters() gives {names}; store the "
                           "layers as a list in self.layers")
    if len(net) != 4 or net[0] is not l1 or net[3] is not l2:
        raise GradingError("len(net) and net[i] must give the number of layers and layer i")
    net.eval()
    x = tt.Tensor(np.random.default_rng(33).standard_normal((5, 3)).astype(np.float32))
    close(net(x), l2(tt.relu(l1(x))), "Sequential(l1, ReLU, Dropout (eval), l2)(x)", rtol=1e-6)
    if net[2].training:
        raise GradingError("net.eval() did not reach the Dropout inside the Sequential")
    listed = Sequential([l1, Tanh()])
    if len(listed) != 2:
        raise GradingError("Sequential([l1, l2]) (one list argument) must hold 2 layers")
    close(listed(x), tt.tanh(l1(x)), "Sequential([l1, Tanh()])(x)", rtol=1e-6)
    close(Sequential()(x), x, "Sequential() (no layers) is the identity")
    expect_error(lambda: Sequential(l1, 3), TypeError, "Sequential(Linear, 3)")


@grader.check(points=2, needs=["Linear", "Sequential"],
              hint="each layer is checked alone above: fix the first one that fails there")
def network_trains_like_the_engine(ns):
    """A 2-layer regression network of the student's layers and the engine's, same initial weights, 20 SGD steps:
    the losses must agree step by step."""
    Linear, Sequential = ns["Linear"], ns["Sequential"]
    rng = np.random.default_rng(34)
    x = tt.Tensor(rng.standard_normal((32, 4)).astype(np.float32))
    y = tt.Tensor(rng.standard_normal((32, 1)).astype(np.float32))
    mine = Sequential(Linear(4, 8), ReLU(), Linear(8, 1))
    ref = engine.Sequential(_copy_into_engine(mine[0]), ReLU(), _copy_into_engine(mine[2]))
    opt_m, opt_r = SGD(mine.parameters(), lr=0.05), SGD(ref.parameters(), lr=0.05)
    if len(mine.parameters()) != 4:
        raise GradingError(f"Sequential(Linear, ReLU, Linear).parameters() has {len(mine.parameters())} tensors, "
                           "expected 4")
    for step in range(20):
        losses = []
        for net, opt in ((mine, opt_m), (ref, opt_r)):
            opt.zero_grad()
            diff = net(x) - y
            loss = (diff * diff).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        if not np.isclose(losses[0], losses[1], rtol=1e-4, atol=1e-6):
            raise GradingError(f"training step {step}: your network's loss {losses[0]:.6f} vs the engine's "
                               f"{losses[1]:.6f} with the same initial weights")
