"""Two builds of tinytorch, each installed in its own environment, compared on
the same workloads: e.g. the scipy-openblas32 build against a TT_BLAS=system
build (Debian's OpenBLAS), or the wheel (kernels for x86-64-v3) against a
-march=native build.

    python benchmarks/compare_builds.py PYTHON_A PYTHON_B [--rounds 5] [--labels A B]

PYTHON_A/B are the interpreters of the two environments. Each round runs,
for A then B, the next for B then A (so the machine's load falls on both alike), in a fresh process:
tinytorch.matmul on the shapes of benchmarks/bench_matmul.py (best of 5 per
shape), the engine's overhead (benchmarks/bench_autograd.py's chain and MLP,
median microseconds: lower is faster), and the two GPT training
configurations of benchmarks/bench_gpt.py (its --worker mode: median step).
The table shows each side's median over the rounds and B/A.
docs/distribution.md has the BLAS figures and what they decided; docs/design.md
the before/after of the engine restructuring (issue 10).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

MATMUL_CHILD = r"""
import json, time, numpy as np, tinytorch as tt
shapes = [(256, 256, 256), (1024, 1024, 1024), (2048, 256, 768), (2048, 1024, 256), (64, 1024, 1024)]
info = tt._C._build_info() if hasattr(tt._C, "_build_info") else {}
# (builds from before tinytorch._BLAS existed linked the system OpenBLAS)
out = {"blas": getattr(tt, "_BLAS", "system"), "march": getattr(tt, "_MARCH", "native"),
       "core": info.get("blas_core", "?")}
for m, k, n in shapes:
    rng = np.random.default_rng(0)
    a, b = tt.Tensor(rng.random((m, k), dtype=np.float32)), tt.Tensor(rng.random((k, n), dtype=np.float32))
    tt.matmul(a, b)
    reps = max(1, int(2e9 / (2 * m * n * k)))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            tt.matmul(a, b)
        times.append(time.perf_counter() - t0)
    out[f"matmul {m}x{k}x{n} GFLOP/s"] = 2 * m * n * k * reps / min(times) / 1e9
print(json.dumps(out))
"""


# The engine's own overhead, where the BLAS hardly matters: the two workloads of
# benchmarks/bench_autograd.py (a 50-op elementwise chain on 32x32, and a small MLP), forward +
# backward, median microseconds. A restructuring of csrc/autograd shows here first.
ENGINE_CHILD = r"""
import json, os, statistics, sys, time, numpy as np, tinytorch as tt
sys.path.insert(0, os.environ["TT_BENCH_DIR"])
from bench_autograd import chain
rng = np.random.default_rng(0)
x = tt.Tensor(rng.standard_normal((32, 32)).astype(np.float32), requires_grad=True)
w = tt.Tensor(rng.standard_normal((32, 32)).astype(np.float32), requires_grad=True)
X = tt.Tensor(rng.standard_normal((64, 784)).astype(np.float32))
y = tt.Tensor(rng.integers(0, 10, 64), dtype=tt.int64)
ps = [tt.Tensor((rng.standard_normal(s) * 0.05).astype(np.float32), requires_grad=True)
      for s in ((784, 256), (256,), (256, 10), (10,))]
def chain_step():
    x.grad = w.grad = None
    chain(tt, x, w).backward()
def mlp_step():
    for p in ps:
        p.grad = None
    tt.cross_entropy(tt.relu(X @ ps[0] + ps[1]) @ ps[2] + ps[3], y).backward()
out = {}
for name, fn, iters in (("autograd 50-op chain us", chain_step, 200), ("autograd MLP us", mlp_step, 50)):
    fn()
    samples = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        samples.append((time.perf_counter() - t0) / iters * 1e6)
    out[name] = statistics.median(samples)
print(json.dumps(out))
"""


def run(python, args, stdin=None):
    """The JSON lines a fresh child process of `python` prints."""
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)  # each build sets what it needs (tinytorch/_blas_setup.py)
    env["TT_BENCH_DIR"] = HERE
    out = subprocess.run([python] + args, input=stdin, capture_output=True, text=True, check=True, env=env,
                         cwd="/")
    return [json.loads(line) for line in out.stdout.strip().splitlines() if line.startswith("{")]


def one_round(python):
    r = run(python, ["-c", MATMUL_CHILD])[-1]
    r.update(run(python, ["-c", ENGINE_CHILD])[-1])
    for config, steps in (("milestone", 150), ("medium", 10)):
        r[f"gpt {config} steps/s"] = 1.0 / statistics.median(gpt_step_times(python, config, steps))
    return r


def gpt_step_times(python, config, steps):
    """bench_gpt.py's worker (it builds and warms the model, then runs steps on "run N")."""
    lines = run(python, [os.path.join(HERE, "bench_gpt.py"), "--worker", "tinytorch", config],
                stdin=f"run {steps}\nquit\n")
    return lines[1]["times"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("python_a")
    parser.add_argument("python_b")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--labels", nargs=2, default=("A", "B"))
    args = parser.parse_args()
    results = {0: [], 1: []}
    for r in range(args.rounds):
        # ABBA order: neither build always runs right after the other (that alone moved ratios by 5%)
        for side in ((0, 1) if r % 2 == 0 else (1, 0)):
            results[side].append(one_round((args.python_a, args.python_b)[side]))
    la, lb = args.labels
    for side, label in enumerate((la, lb)):
        r = results[side][0]
        print(f"# {label}: BLAS {r['blas']}, kernels -march={r['march'] or '(default)'}, core {r['core']}")
    print(f"# {args.rounds} interleaved rounds, medians; load average {os.getloadavg()[0]:.2f} at the end")
    print(f"| workload | {la} | {lb} | {lb} / {la} |")
    print("|---|---|---|---|")
    for key in results[0][0]:
        if key in ("blas", "march", "core"):
            continue
        a = statistics.median(r[key] for r in results[0])
        b = statistics.median(r[key] for r in results[1])
        print(f"| {key} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
