"""What the engine profiler costs: off (the price every program pays) and on.

    python benchmarks/bench_profiler_overhead.py
    python benchmarks/bench_profiler_overhead.py --compare-python /path/to/other/venv/bin/python

The workload is bench_autograd.py's 50-op elementwise chain on 32x32 tensors,
forward + backward: the op- and node-overhead-bound case, where a per-op cost
would show first.

1. Recorder off vs on, this build, in one process: bursts of 10 steps, off
   and on alternating (A, B, A, B), 60 bursts each; the figure is the
   fastest burst of each (on a shared machine most of a long measurement is
   other processes' time slices; the fastest burst is the code's own speed).
2. With --compare-python (a build without the profiler, e.g. the commit
   before it): this build with the recorder off against that build. Two
   builds cannot share a process (both register the same pybind11 types),
   so each round is a fresh process per build, rounds alternate, each round
   reports its fastest burst, and the figure is the median over rounds.

(Instruction counts would be steadier than time, but perf counters are not
available in this VM and valgrind stops at the AVX-512 kernels, SIGILL.)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
BURST, BURSTS = 10, 60


def make_step():
    import numpy as np

    import tinytorch as tt
    sys.path.insert(0, os.path.dirname(HERE))
    from bench_autograd import chain

    rng = np.random.default_rng(0)
    tx = tt.Tensor(rng.standard_normal((32, 32)).astype(np.float32), requires_grad=True)
    tw = tt.Tensor(rng.standard_normal((32, 32)).astype(np.float32), requires_grad=True)

    def step():
        tx.grad = None
        tw.grad = None
        chain(tt, tx, tw).backward()

    return tt, step


def burst(step):
    t0 = time.perf_counter()
    for _ in range(BURST):
        step()
    return (time.perf_counter() - t0) / BURST


def one_round(mode):
    """Prints the fastest burst (us per step) for `off`, or for off and on alternating."""
    tt, step = make_step()
    C = tt._C
    for _ in range(50):
        step()
    best = {"off": float("inf"), "on": float("inf")}
    for _ in range(BURSTS):
        if mode == "off":  # also runs on builds without the profiler: no _profiler_* calls
            best["off"] = min(best["off"], burst(step))
            continue
        for m in ("off", "on"):
            C._profiler_reset()  # keeps the event list short, so "on" measures recording, not a growing list
            C._profiler_set_enabled(m == "on")
            best[m] = min(best[m], burst(step))
            C._profiler_set_enabled(False)
    info = C._build_info()
    print(json.dumps({"off_us": best["off"] * 1e6, "on_us": best["on"] * 1e6, "blas_core": info["blas_core"]}))


def run_round(python, mode):
    out = subprocess.run([python, HERE, "--round", mode], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(HERE))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--round", choices=["off", "alternate"], help=argparse.SUPPRESS)
    ap.add_argument("--compare-python", help="python of a build without the profiler")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    if args.round:
        one_round(args.round)
        return
    print(f"50-op chain 32x32, forward + backward, us per step (fastest burst of {BURST} steps)")
    r = run_round(sys.executable, "alternate")
    print(f"OpenBLAS core {r['blas_core']}")
    print(f"1. this build, in one process:  recorder off {r['off_us']:7.1f}   recorder on {r['on_us']:7.1f}   "
          f"on / off = {r['on_us'] / r['off_us']:.3f}")
    if args.compare_python:
        base, this = [], []
        for _ in range(args.rounds):
            base.append(run_round(args.compare_python, "off")["off_us"])
            this.append(run_round(sys.executable, "off")["off_us"])
        mb, mt = statistics.median(base), statistics.median(this)
        print(f"2. without the profiler {mb:7.1f}   rounds {[round(x, 1) for x in base]}")
        print(f"   with it, off         {mt:7.1f}   rounds {[round(x, 1) for x in this]}")
        print(f"   with / without = {mt / mb:.3f} (median of {args.rounds} alternating rounds)")


if __name__ == "__main__":
    main()
