"""Data-parallel training on MPI: steps/s of the medium GPT on 1 and 2 processes, and the share of a step
spent in communication.

    python benchmarks/bench_distributed.py [--rounds 5] [--steps 6]

Model: GPT(vocab 96, embed 256, 4 layers, 8 heads, seq 128), global batch 16, Adam. Three runs, each in
its own process(es), interleaved round by round (medians over rounds):
  1 process x 2 threads   the whole machine to one process (this machine has 2 cores)
  1 process x 1 thread    one core
  2 ranks x 1 thread      mpiexec -n 2, 8 sequences per rank, DistributedDataParallel; one BLAS thread per
                          rank (tt.set_num_threads(1)), since 2 ranks x 2 threads would oversubscribe 2 cores
A step is forward, cross-entropy, zero_grad, backward (with the bucketed gradient all-reduce) and the Adam
step; the 2-rank step time is the slower rank's. "comm" is the time inside MPI calls of the gradient
reduction (starting the Iallreduce of each bucket, progress polls, the final wait) as a share of the step;
"exposed" is the final wait alone, the part not hidden behind backward.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

VOCAB, EMBED, LAYERS, HEADS, SEQ, BATCH = 96, 256, 4, 8, 128, 16


def worker(args):
    """One run: warm-up steps, then timed steps; prints a JSON line (rank 0 only)."""
    import tinytorch as tt
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import Adam
    from tinytorch.core.transformer import GPT
    rank, world, ddp = 0, 1, None
    if args.distributed:
        import tinytorch.distributed as dist
        rank, world = dist.init()
    tt.set_num_threads(args.threads)
    tt.manual_seed(0)
    model = GPT(VOCAB, EMBED, LAYERS, HEADS, max_seq_len=SEQ)
    train = model
    if args.distributed:
        ddp = train = dist.DistributedDataParallel(model)
    opt, loss_fn = Adam(model.parameters(), lr=1e-3), CrossEntropyLoss()
    data = np.random.default_rng(0).integers(0, VOCAB, (BATCH, SEQ + 1))
    rows = np.array_split(np.arange(BATCH), world)[rank]
    x, y = tt.Tensor(data[rows, :-1], dtype=np.int64), tt.Tensor(data[rows, 1:], dtype=np.int64)
    times, comm, wait = [], [], []
    for i in range(args.warmup + args.steps):
        if args.distributed:
            dist.barrier()  # every rank starts the step together, so the slower rank's time is the step's
        c0, w0 = (ddp.comm_seconds, ddp.wait_seconds) if ddp else (0.0, 0.0)
        start = time.perf_counter()
        loss = loss_fn(train(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - start
        if i >= args.warmup:
            times.append(elapsed)
            comm.append((ddp.comm_seconds - c0) if ddp else 0.0)
            wait.append((ddp.wait_seconds - w0) if ddp else 0.0)
    result = {"step": float(np.median(times)), "comm": float(np.median(comm)), "wait": float(np.median(wait))}
    if args.distributed:
        everyone = dist.communicator().gather(result, root=0)
        if rank == 0:
            slow = max(everyone, key=lambda r: r["step"])
            result = {"step": slow["step"], "comm": slow["comm"], "wait": slow["wait"],
                      "buckets": len(ddp.bucket_sizes)}
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def run(kind, steps, warmup):
    from tinytorch.distributed.launch import mpiexec_command
    script = os.path.abspath(__file__)
    flags = ["--worker", "--steps", str(steps), "--warmup", str(warmup)]
    env = dict(os.environ)
    if kind == "1x2":
        cmd, env["OPENBLAS_NUM_THREADS"] = [sys.executable, script, *flags, "--threads", "2"], "2"
    elif kind == "1x1":
        cmd, env["OPENBLAS_NUM_THREADS"] = [sys.executable, script, *flags, "--threads", "1"], "1"
    else:
        cmd = mpiexec_command(2, [script, *flags, "--threads", "1", "--distributed"])
        env["OPENBLAS_NUM_THREADS"] = "1"
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"bench_distributed: {' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run (median taken)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    from tinytorch.distributed.launch import mpi_unavailable_reason
    reason = mpi_unavailable_reason()
    if reason:
        print(f"bench_distributed: skipped, {reason}")
        return
    print(f"medium GPT (vocab {VOCAB}, embed {EMBED}, {LAYERS} layers, {HEADS} heads, seq {SEQ}), global batch "
          f"{BATCH}; {args.rounds} interleaved rounds x {args.steps} timed steps; load: {os.getloadavg()[0]:.2f} "
          f"(1-min average) on {os.cpu_count()} cores", flush=True)
    kinds = ["1x2", "1x1", "2x1"]
    rounds = {k: [] for k in kinds}
    for r in range(args.rounds):
        for k in kinds:
            rounds[k].append(run(k, args.steps, args.warmup))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {1 / rounds[k][-1]['step']:.2f} steps/s" for k in kinds),
              flush=True)
    med = {k: float(np.median([1 / x["step"] for x in rounds[k]])) for k in kinds}
    comm = float(np.median([x["comm"] / x["step"] for x in rounds["2x1"]]))
    wait = float(np.median([x["wait"] / x["step"] for x in rounds["2x1"]]))
    names = {"1x2": "1 process x 2 threads", "1x1": "1 process x 1 thread", "2x1": "2 ranks x 1 thread (MPI)"}
    print(f"\n{'run':<28} {'steps/s':>8} {'vs 1x2':>7} {'vs 1x1':>7}")
    for k in kinds:
        print(f"{names[k]:<28} {med[k]:8.2f} {med[k] / med['1x2']:6.2f}x {med[k] / med['1x1']:6.2f}x")
    print(f"\n2 ranks: communication {100 * comm:.1f}% of a step (median), of which {100 * wait:.1f}% exposed "
          f"(the final wait); {rounds['2x1'][0]['buckets']} buckets of <= 1 MB")


if __name__ == "__main__":
    main()
