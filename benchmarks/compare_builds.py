"""Two builds of tinytorch, each installed in its own environment, compared on
the same workloads: e.g. the scipy-openblas32 build against a TT_BLAS=system
build (Debian's OpenBLAS), or the wheel (kernels for x86-64-v3) against a
-march=native build.

    python benchmarks/compare_builds.py PYTHON_A PYTHON_B [--rounds 5] [--labels A B]

PYTHON_A/B are the interpreters of the two environments. Each round runs,
for A then B, the next for B then A (so the machine's load falls on both alike), in a fresh process:
tinytorch.matmul on the shapes of benchmarks/bench_matmul.py (best of 5 per
shape), and the two GPT training configurations of benchmarks/bench_gpt.py
(its --worker mode: median step). The table shows each side's median over
the rounds and B/A. docs/distribution.md has the figures and what they decided.
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
out = {"blas": tt._BLAS, "march": tt._MARCH, "core": tt._C._build_info()["blas_core"]}
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


def run(python, args):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)  # each build sets what it needs (tinytorch/_blas_setup.py)
    out = subprocess.run([python] + args, capture_output=True, text=True, check=True, env=env, cwd="/")
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_round(python):
    r = run(python, ["-c", MATMUL_CHILD])
    for config, steps in (("milestone", 150), ("medium", 10)):
        g = run(python, [os.path.join(HERE, "bench_gpt.py"), "--worker", "tinytorch", config, "--steps", str(steps)])
        r[f"gpt {config} steps/s"] = g["steps_per_s"]
    return r


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
