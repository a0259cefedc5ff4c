"""What the engine profiler costs: off (the price every program pays) and on.

    python benchmarks/bench_profiler_overhead.py
    python benchmarks/bench_profiler_overhead.py --compare-python /path/to/other/venv/bin/python

The workload is bench_autograd.py's 50-op elementwise chain on 32x32 tensors,
forward + backward: the op- and node-overhead-bound case, where a per-op cost
would show first. Each round runs in a fresh process (the same script, with
--round) and reports the best of 7 repeats of 200 steps (as
benchmarks/timing.py does: the machine is shared, a slowed repeat says
nothing about the code); rounds alternate (A, B, A, B) and the figure is the
median over rounds.

1. Recorder off vs on, this build: on / off is what profiling costs.
2. With --compare-python (a build without the profiler, e.g. the commit
   before it), this build's "off" against that build: the cost of the
   flag tests at the choke points (the ratio should be ~1.00).
3. With --instructions (needs valgrind): instructions per step counted by
   callgrind, (run of 1000 steps - run of 0 steps) / 1000, for the same
   pairs. A count does not move with the machine's load, so it resolves
   differences far below what wall-clock rounds can on a shared machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)


def one_round(mode, count_steps=None):
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

    on = mode == "on"
    if count_steps is not None:  # for --instructions: just the steps, nothing timed
        tt._C._profiler_set_enabled(on)
        for _ in range(count_steps):
            step()
            if on:
                tt._C._profiler_reset()
        return
    if on:
        tt._C._profiler_reset()
        tt._C._profiler_set_enabled(True)
    for _ in range(50):
        step()
    samples = []
    for _ in range(7):
        if on:
            tt._C._profiler_reset()  # keep the event list from growing across repeats
        t0 = time.perf_counter()
        for _ in range(200):
            step()
        samples.append((time.perf_counter() - t0) / 200)
    if on:
        tt._C._profiler_set_enabled(False)
    info = tt._C._build_info()
    print(json.dumps({"us": min(samples) * 1e6, "blas_core": info["blas_core"]}))


def run_round(python, mode):
    out = subprocess.run([python, HERE, "--round", mode], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(HERE)) + "/benchmarks")
    return json.loads(out.stdout.strip().splitlines()[-1])


def instructions(python, mode, steps):
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, HERE,
                          "--round", mode, "--count-steps", str(steps)], capture_output=True, text=True, check=True,
                         env=env, cwd=os.path.dirname(HERE))
    line = next(ln for ln in out.stderr.splitlines() if "Collected :" in ln)
    return int(line.split(":")[-1])


def compare_instructions(label_a, a, label_b, b, steps=1000):
    per = []
    for python, mode in (a, b):
        per.append((instructions(python, mode, steps) - instructions(python, mode, 0)) / steps)
    print(f"  {label_a:<38}{per[0]:12.0f} instructions/step")
    print(f"  {label_b:<38}{per[1]:12.0f} instructions/step")
    print(f"  ratio {label_b} / {label_a}: {per[1] / per[0]:.4f}")


def compare(label_a, a, label_b, b, rounds):
    ta, tb, core = [], [], None
    for _ in range(rounds):
        ra = run_round(*a)
        rb = run_round(*b)
        ta.append(ra["us"])
        tb.append(rb["us"])
        core = ra["blas_core"]
    ma, mb = statistics.median(ta), statistics.median(tb)
    print(f"  {label_a:<38}{ma:9.1f} us   rounds {[round(x, 1) for x in ta]}")
    print(f"  {label_b:<38}{mb:9.1f} us   rounds {[round(x, 1) for x in tb]}")
    print(f"  ratio {label_b} / {label_a}: {mb / ma:.3f}   (OpenBLAS core {core})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--round", choices=["off", "on"], help=argparse.SUPPRESS)
    ap.add_argument("--compare-python", help="python of a build without the profiler")
    ap.add_argument("--count-steps", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--instructions", action="store_true", help="also count instructions with valgrind")
    args = ap.parse_args()
    if args.round:
        one_round(args.round, args.count_steps)
        return
    print("50-op chain 32x32, forward + backward, per step")
    print("1. this build, recorder off vs on")
    compare("recorder off", (sys.executable, "off"), "recorder on", (sys.executable, "on"), args.rounds)
    if args.compare_python:
        print(f"2. this build (recorder off) vs {args.compare_python}")
        compare("without the profiler", (args.compare_python, "off"), "with it, off", (sys.executable, "off"),
                args.rounds)
    if args.instructions:
        print("3. instructions per step (callgrind)")
        compare_instructions("recorder off", (sys.executable, "off"), "recorder on", (sys.executable, "on"))
        if args.compare_python:
            compare_instructions("without the profiler", (args.compare_python, "off"), "with it, off",
                                 (sys.executable, "off"))


if __name__ == "__main__":
    main()
