"""The `tinytorch` command: system info, milestones and benchmarks from a checkout.

    tinytorch info                 # version, BLAS core, threads, SIMD level
    tinytorch milestones           # list the historic training scripts
    tinytorch milestone 05 [args]  # run one (from a source checkout)
    tinytorch bench [NAME ...]     # run benchmarks/bench_NAME.py (all of them by default)
"""
import argparse
import os
import subprocess
import sys


def _repo_root():
    """The source checkout containing milestones/ and benchmarks/ (cwd or its parents)."""
    d = os.getcwd()
    while True:
        if os.path.isdir(os.path.join(d, "milestones")) and os.path.isdir(os.path.join(d, "benchmarks")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _milestones(root):
    base = os.path.join(root, "milestones")
    out = []
    for name in sorted(os.listdir(base)):
        folder = os.path.join(base, name)
        if os.path.isdir(folder):
            scripts = sorted(f for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))
            out.append((name, [os.path.join(folder, s) for s in scripts]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tinytorch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info", help="print version, BLAS core, threads and SIMD level")
    sub.add_parser("milestones", help="list the milestone scripts")
    run = sub.add_parser("milestone", help="run a milestone script, e.g. `tinytorch milestone 05`")
    run.add_argument("number")
    run.add_argument("args", nargs=argparse.REMAINDER)
    bench = sub.add_parser("bench", help="run the benchmarks (tensor, autograd, matmul, gpt; all by default)")
    bench.add_argument("names", nargs="*", help="which ones, e.g. `tinytorch bench gpt matmul`")
    args = parser.parse_args(argv)

    if args.cmd == "info":
        import tinytorch
        tinytorch.show_config()
        return 0
    root = _repo_root()
    if root is None:
        print("tinytorch: run this inside a tinytorch source checkout (milestones/ and benchmarks/ live there)",
              file=sys.stderr)
        return 2
    if args.cmd == "milestones":
        for name, scripts in _milestones(root):
            print(f"{name}: " + ", ".join(os.path.relpath(s, root) for s in scripts))
        return 0
    if args.cmd == "milestone":
        for name, scripts in _milestones(root):
            if name.startswith(args.number.zfill(2)) and scripts:
                return subprocess.call([sys.executable, scripts[0], *args.args])
        print(f"tinytorch: no milestone {args.number}; see `tinytorch milestones`", file=sys.stderr)
        return 2
    if args.cmd == "bench":
        available = sorted(f[len("bench_"):-len(".py")] for f in os.listdir(os.path.join(root, "benchmarks"))
                           if f.startswith("bench_") and f.endswith(".py"))
        unknown = [n for n in args.names if n not in available]
        if unknown:
            print(f"tinytorch: no benchmark {', '.join(unknown)}; choose from {', '.join(available)}", file=sys.stderr)
            return 2
        status = 0
        for name in args.names or available:
            print(f"== benchmarks/bench_{name}.py", flush=True)
            status = status or subprocess.call([sys.executable, os.path.join(root, "benchmarks", f"bench_{name}.py")])
        return status
    return 2


if __name__ == "__main__":
    sys.exit(main())
