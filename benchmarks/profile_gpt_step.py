"""Where a tinytorch GPT training step goes: the engine profiler's table, grouped.

    python benchmarks/profile_gpt_step.py [--config medium] [--steps 5]
    python benchmarks/profile_gpt_step.py --no-profiler --steps 20   # to run under `perf record`

The step is bench_gpt.py's (forward, cross-entropy, zero_grad, backward, Adam), on the same
model and data. With the profiler on (tinytorch.perf.profiling.Profiler), every forward kernel
and backward node is timed; the self times are grouped into GEMM (matmul, and the GEMMs inside
the fused linear/attention rows), attention, LayerNorm, GELU, softmax/cross-entropy, Adam,
elementwise and the rest, and the wall time not covered by any timed row is reported as
"Python, engine bookkeeping and allocation". See docs/performance.md for the findings.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gpt import CONFIGS, make_data, tinytorch_step_fn  # noqa: E402

# (group, predicate on the row's name): the first match wins
GROUPS = [
    ("GEMM (matmul)", lambda n: "matmul" in n),
    ("attention (softmax, masking; its GEMMs counted above)", lambda n: "attention" in n.lower()),
    ("linear/GELU epilogues (bias, GELU; GEMMs above)", lambda n: "linear" in n.lower() or "gelu" in n.lower()),
    ("LayerNorm", lambda n: "layer_norm" in n.lower() or "layernorm" in n.lower()),
    ("cross-entropy / softmax", lambda n: "cross_entropy" in n.lower() or "softmax" in n.lower()
     or "crossentropy" in n.lower()),
    ("Adam", lambda n: "adam" in n.lower()),
    ("embedding", lambda n: "embedding" in n.lower() or "index" in n.lower()),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="medium", choices=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--no-profiler", action="store_true", help="just run the steps (for perf record)")
    parser.add_argument("--rows", type=int, default=30)
    args = parser.parse_args()
    import tinytorch as tt
    from tinytorch.perf.profiling import Profiler
    cfg = CONFIGS[args.config]
    step, _ = tinytorch_step_fn(cfg, *make_data(cfg))
    for _ in range(3):
        step()
    if args.no_profiler:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            step()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{args.steps} steps, {wall / args.steps * 1e3:.1f} ms per step, {cpu / args.steps * 1e3:.1f} CPU-ms "
              f"per step (all threads; {tt.get_num_threads()} threads)")
        return
    prof = Profiler()
    t0 = time.perf_counter()
    with prof:
        for _ in range(args.steps):
            step()
    wall_ms = (time.perf_counter() - t0) * 1e3 / args.steps
    rows = prof.summary()
    print(prof.table(row_limit=args.rows))
    groups = {name: 0.0 for name, _ in GROUPS}
    groups["other kernels and nodes"] = 0.0
    for r in rows:
        if r["kind"] == "forward":  # counted, not timed
            continue
        for name, match in GROUPS:
            if match(r["name"]):
                groups[name] += r["self_ms"] / args.steps
                break
        else:
            groups["other kernels and nodes"] += r["self_ms"] / args.steps
    timed = sum(groups.values())
    groups["Python, engine bookkeeping and allocation (wall minus timed)"] = max(0.0, wall_ms - timed)
    print(f"\n## {args.config}: {wall_ms:.1f} ms per step with the profiler on ({tt.get_num_threads()} threads)")
    print("| where | ms per step | share |")
    print("|---|---|---|")
    for name, ms in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {ms:.1f} | {100 * ms / wall_ms:.0f}% |")


if __name__ == "__main__":
    main()
