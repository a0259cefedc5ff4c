"""Running a milestone script, optionally with a student's module inside the engine.

    python -m tinytorch.course.milestone_run SCRIPT [--with-student NN --dir DIR] [script args...]

With a student module the script runs in this process under
`use_student(NN, DIR)`; afterwards the report says whether the loss went
down (the losses are read at each `backward()` call), the first op whose
gradient departed from the engine's, and the student's time per op against
the engine's on the same calls.
"""
import os
import runpy
import sys


def milestones_root():
    """milestones/ of the installed package, else of the source checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "milestones"), os.path.normpath(os.path.join(here, "..", "..", "..",
                                                                                     "milestones"))):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError("tinytorch: the milestone scripts are not installed with this package")


def milestone_script(folder):
    base = os.path.join(milestones_root(), folder)
    if not os.path.isdir(base):
        return None
    scripts = sorted(f for f in os.listdir(base) if f.endswith(".py") and not f.startswith("_"))
    return os.path.join(base, scripts[0]) if scripts else None


def _losses_recorder(override):
    import numpy as np
    from .. import _C
    losses = []
    T = _C.Tensor
    inner = T.backward

    def backward(t, *args, **kw):
        if t._numel == 1:
            losses.append(float(np.asarray(t)))
        return inner(t, *args, **kw)
    override._patch(T, "backward", backward)
    return losses


def run_with_student(script, number, course_dir, args):
    from .overrides import use_student
    override = use_student(number, course_dir)
    losses = _losses_recorder(override)
    sys.argv = [script, *args]
    status = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        override.restore()
    print()
    print(override.report())
    if losses:
        k = max(1, len(losses) // 10)
        first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
        converged = last < 0.5 * first
        print(f"  training: loss {first:.4f} -> {last:.4f} over {len(losses)} steps: "
              f"{'converges' if converged else 'does NOT converge (the loss did not halve)'}")
        if not converged and status == 0:
            status = 1
    return status


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    script = argv.pop(0)
    number, course_dir = None, "tinytorch-course"
    if "--with-student" in argv:
        i = argv.index("--with-student")
        number = argv[i + 1]
        del argv[i:i + 2]
    if "--dir" in argv:
        i = argv.index("--dir")
        course_dir = argv[i + 1]
        del argv[i:i + 2]
    if number is None:
        sys.argv = [script, *argv]
        runpy.run_path(script, run_name="__main__")
        return 0
    return run_with_student(script, number, course_dir, argv)


if __name__ == "__main__":
    sys.exit(main())
