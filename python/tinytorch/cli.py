"""The `tinytorch` command (also installed as `tito`): the course, milestones, benchmarks, system info.

    tinytorch module list | status [--dir DIR]          # the 20 modules and your progress
    tinytorch module start NN [--dir DIR]               # write your copy: DIR/NN_name/NN_name.ipynb
    tinytorch module test NN [--dir DIR]                # run your notebook and grade it against the engine
    tinytorch module complete NN [--dir DIR]            # test, then record the module as done
    tinytorch module reset NN [--dir DIR]               # a fresh copy (the old one is kept as a backup)
    tinytorch milestone list | run NN [--with-student MM] [--dir DIR] [script args]
    tinytorch grade NN SUBMISSIONS [--out results.csv] [--gradescope results.json]   # instructors
    tinytorch info                                      # version, BLAS core, threads, SIMD level
    tinytorch bench [NAME ...]                          # benchmarks/bench_NAME.py (source checkout)
    tinytorch capstone check SUBMISSION [--no-speed]    # module 20: validate a submission, print its scorecard
"""
import argparse
import os
import subprocess
import sys

from .course import requirements as req

DEFAULT_DIR = "tinytorch-course"


def _repo_root():
    """The source checkout containing benchmarks/ (cwd or its parents)."""
    d = os.getcwd()
    while True:
        if os.path.isdir(os.path.join(d, "milestones")) and os.path.isdir(os.path.join(d, "benchmarks")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _err(message, code=2):
    print(f"tinytorch: {message}", file=sys.stderr)
    return code


def _lookup(fn, number, what):
    try:
        return fn(number)
    except KeyError as e:
        raise SystemExit(_err(e.args[0] + f" (see `tinytorch {what} list`)"))


# ---- modules --------------------------------------------------------------------------------

def _progress(course_dir):
    from .course.student import Progress
    try:
        return Progress(course_dir)
    except ValueError as e:
        raise SystemExit(_err(str(e)))


def cmd_module_list(args):
    from .course.student import module_status
    progress = _progress(args.dir)
    print(f"{'module':<18} {'status':<12} title")
    for m in req.MODULES:
        print(f"{m.name:<18} {module_status(m.number, progress):<12} {m.title}")
    return 0


def cmd_module_status(args):
    from .course.student import milestone_status, missing_modules
    progress = _progress(args.dir)
    cmd_module_list(args)
    print()
    print(f"{'milestone':<24} {'status':<10} needs")
    for ms in req.MILESTONES:
        status = milestone_status(ms, progress)
        missing = missing_modules(ms, progress)
        needs = "all modules done" if not missing else "modules " + " ".join(missing)
        print(f"{ms.folder:<24} {status:<10} {needs}")
    print(f"\nprogress: {os.path.join(args.dir, 'progress.json')}")
    return 0


def cmd_module_start(args):
    from .course.student import lesson_exists, module_status, start_module
    m = _lookup(req.module, args.number, "module")
    if not lesson_exists(m.number):
        return _err(f"module {m.number} ({m.title}) has no lesson in this version yet")
    status = module_status(m.number, _progress(args.dir))
    if status == "locked":
        missing = [r for r in m.requires if not _progress(args.dir).completed(r)]
        print(f"note: module {m.number} builds on module(s) {', '.join(missing)}, not completed yet; "
              "starting anyway", file=sys.stderr)
    try:
        path = start_module(m.number, args.dir)
    except FileExistsError as e:
        return _err(str(e))
    print(f"wrote {path}\nopen it in Jupyter, fill in every NotImplementedError, then run "
          f"`tinytorch module test {m.number}`" + (f" --dir {args.dir}" if args.dir != DEFAULT_DIR else ""))
    return 0


def cmd_module_reset(args):
    from .course.student import lesson_exists, reset_module
    m = _lookup(req.module, args.number, "module")
    if not lesson_exists(m.number):
        return _err(f"module {m.number} ({m.title}) has no lesson in this version yet")
    path, backup = reset_module(m.number, args.dir)
    print(f"wrote a fresh {path}" + (f"\nyour previous copy is kept as {backup}" if backup else ""))
    return 0


def _grade_student(m, course_dir):
    from .course.runner import format_report, grade_notebook
    from .course.student import student_submission
    path = student_submission(m.number, course_dir)
    if path is None:
        raise SystemExit(_err(f"no notebook for module {m.number} in {course_dir}: "
                              f"`tinytorch module start {m.number}` writes it"))
    report = grade_notebook(m.number, path)
    print(format_report(report))
    return report


def cmd_module_test(args):
    m = _lookup(req.module, args.number, "module")
    return 0 if _grade_student(m, args.dir).passed else 1


def cmd_module_complete(args):
    m = _lookup(req.module, args.number, "module")
    report = _grade_student(m, args.dir)
    if not report.passed:
        return _err(f"module {m.number} is not complete: fix the failing checks above and try again", 1)
    progress = _progress(args.dir)
    progress.mark_completed(m.number, report.score, report.total)
    print(f"module {m.number} completed ({report.score}/{report.total})")
    from .course.student import missing_modules
    for ms in req.MILESTONES:
        if m.number in ms.requires and not missing_modules(ms, progress):
            print(f"milestone {ms.number} unlocked: `tinytorch milestone run {ms.number}`")
    return 0


# ---- milestones -----------------------------------------------------------------------------

def cmd_milestone_list(args):
    from .course.milestone_run import milestone_script
    for ms in req.MILESTONES:
        script = milestone_script(ms.folder)
        where = (os.path.relpath(script) if script.startswith(os.getcwd()) else script) if script else "not written yet"
        print(f"{ms.folder}: {where}  (needs modules {' '.join(ms.requires)})")
    return 0


def cmd_milestone_run(args):
    from .course.milestone_run import milestone_script
    from .course.student import missing_modules
    ms = _lookup(req.milestone, args.number, "milestone")
    script = milestone_script(ms.folder)
    if script is None:
        return _err(f"no milestone {args.number} script in this version yet (see `tinytorch milestone list`)")
    progress = _progress(args.dir)
    missing = missing_modules(ms, progress)
    if missing:
        print(f"warning: milestone {ms.number} builds on modules {' '.join(missing)}, which you have not "
              "completed; running it anyway on the engine's implementations", file=sys.stderr)
    cmd = [sys.executable, "-m", "tinytorch.course.milestone_run", script]
    if args.with_student:
        m = _lookup(req.module, args.with_student, "module")
        cmd += ["--with-student", m.number, "--dir", args.dir]
    status = subprocess.call(cmd + list(args.args))
    if os.path.isdir(args.dir):
        progress.mark_milestone(ms.number, status == 0)
    return status


# ---- instructors ----------------------------------------------------------------------------

def cmd_grade(args):
    from .course.batch import grade_folder
    m = _lookup(req.module, args.number, "module")
    if not os.path.isdir(args.submissions):
        return _err(f"grade: {args.submissions} is not a folder of submissions")
    results = grade_folder(m.number, args.submissions, out_csv=args.out, gradescope=args.gradescope,
                           jobs=args.jobs, timeout=args.timeout)
    if not results:
        return _err(f"grade: no notebooks (.ipynb or .py) in {args.submissions}")
    for name, report in results:
        print(f"{name:<30} {report.score:>4}/{report.total}" + (f"  ({report.error})" if report.error else ""))
    if args.out:
        print(f"wrote {args.out}")
    if args.gradescope:
        print(f"wrote {args.gradescope}")
    return 0


# ---- the rest -------------------------------------------------------------------------------

def cmd_bench(args):
    root = _repo_root()
    if root is None:
        return _err("run `bench` inside a tinytorch source checkout (benchmarks/ lives there)")
    available = sorted(f[len("bench_"):-len(".py")] for f in os.listdir(os.path.join(root, "benchmarks"))
                       if f.startswith("bench_") and f.endswith(".py"))
    unknown = [n for n in args.names if n not in available]
    if unknown:
        return _err(f"no benchmark {', '.join(unknown)}; choose from {', '.join(available)}")
    status = 0
    for name in args.names or available:
        print(f"== benchmarks/bench_{name}.py", flush=True)
        status = status or subprocess.call([sys.executable, os.path.join(root, "benchmarks", f"bench_{name}.py")])
    return status


def cmd_capstone_check(args):
    from .capstone.checker import main as capstone_main
    argv = ["check", args.submission, "--rounds", str(args.rounds)]
    return capstone_main(argv + (["--no-speed"] if args.no_speed else []))


def _parser():
    parser = argparse.ArgumentParser(prog="tinytorch", description=__doc__.splitlines()[0],
                                     epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info", help="print version, BLAS core, threads and SIMD level")

    mod = sub.add_parser("module", help="start, test and complete course modules").add_subparsers(dest="action",
                                                                                                   required=True)
    for action, helptext, takes_number in (
            ("list", "the 20 modules and your status in each", False),
            ("status", "modules and milestones: locked / unlocked / done", False),
            ("start", "write your copy of a module's notebook", True),
            ("test", "run your notebook and grade it against the C++ engine", True),
            ("complete", "test, then record the module as done", True),
            ("reset", "a fresh copy; the old one is kept as a backup", True)):
        p = mod.add_parser(action, help=helptext)
        if takes_number:
            p.add_argument("number", help="module number, e.g. 01")
        p.add_argument("--dir", default=DEFAULT_DIR, help=f"your course folder (default ./{DEFAULT_DIR})")
        p.set_defaults(func=globals()[f"cmd_module_{action}"])

    ms = sub.add_parser("milestone", help="historic training scripts (list | run NN)")
    ms_sub = ms.add_subparsers(dest="action", required=True)
    p = ms_sub.add_parser("list", help="the milestones and the modules each needs")
    p.set_defaults(func=cmd_milestone_list)
    p = ms_sub.add_parser("run", help="run a milestone, e.g. `tinytorch milestone run 05`")
    p.add_argument("number")
    p.add_argument("--with-student", metavar="MM", help="swap your module MM (05, 06 or 12) into the engine")
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"your course folder (default ./{DEFAULT_DIR})")
    p.add_argument("args", nargs=argparse.REMAINDER, help="flags passed to the script (e.g. --steps 100)")
    p.set_defaults(func=cmd_milestone_run)
    sub.add_parser("milestones", help="same as `milestone list`").set_defaults(func=cmd_milestone_list)

    g = sub.add_parser("grade", help="instructors: grade a folder of student notebooks")
    g.add_argument("number", help="module number")
    g.add_argument("submissions", help="folder with one notebook (or a folder holding one) per student")
    g.add_argument("--out", help="write per-check scores as CSV")
    g.add_argument("--gradescope", help="write Gradescope's results.json")
    g.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default 2)")
    g.add_argument("--timeout", type=float, default=600, help="seconds per submission before it scores 0")
    g.set_defaults(func=cmd_grade)

    bench = sub.add_parser("bench", help="run the benchmarks (all by default)")
    bench.add_argument("names", nargs="*", help="which ones, e.g. `tinytorch bench gpt matmul`")
    bench.set_defaults(func=cmd_bench)

    cap = sub.add_parser("capstone", help="module 20: check an optimized TinyGPT submission").add_subparsers(
        dest="action", required=True)
    p = cap.add_parser("check", help="validate a submission, re-measure its claims, print its scorecard")
    p.add_argument("submission", help="the submission folder or its submission.json")
    p.add_argument("--rounds", type=int, default=9, help="timed rounds per model (default 9)")
    p.add_argument("--no-speed", action="store_true",
                   help="skip the speed re-measurement (the rules then take the claimed speedup)")
    p.set_defaults(func=cmd_capstone_check)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    # `tinytorch milestone 05 [flags]` (the older form) still runs milestone 05.
    if len(argv) >= 2 and argv[0] == "milestone" and argv[1] not in ("list", "run", "-h", "--help"):
        argv.insert(1, "run")
    # `milestone run NN [--with-student MM --dir D] -- SCRIPT FLAGS`: split at "--" first, because an
    # argparse REMAINDER positional would also swallow --with-student/--dir written before it.
    script_args = None
    if argv[:2] == ["milestone", "run"] and "--" in argv:
        cut = argv.index("--")
        argv, script_args = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    if script_args is not None:
        args.args = list(args.args) + script_args
    if args.cmd == "info":
        import tinytorch
        tinytorch.show_config()
        return 0
    from .course.runner import CourseToolsMissing
    try:
        return args.func(args)
    except CourseToolsMissing as e:  # installed without the `course` extra; the message names the tool
        print(e, file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tinytorch module list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
