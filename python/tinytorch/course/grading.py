"""The grader API: a module's checks, each taking the student's namespace.

A grader file (graders/mNN_slug.py) declares its checks:

    from tinytorch.course.grading import Grader, close
    grader = Grader("02")

    @grader.check(points=2, needs=["relu"], hint="max(x, 0) elementwise")
    def relu_matches_engine(ns):
        x = ...
        close(ns["relu"](tt.Tensor(x)), tt.relu(tt.Tensor(x)), "relu(x)")

`ns` is the dict of names the student's notebook defined after it ran.
Before a check runs, every name in `needs` must be there (else the check fails
saying which exercise is missing); a check that meets NotImplementedError
fails saying the exercise is not written yet. A check passes only by
returning without an exception, so an empty notebook, an untouched student
copy and a wrong answer all fail.
"""
import signal
import traceback
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Grader", "Check", "CheckResult", "close", "as_array", "expect_error", "GradingError"]


class GradingError(AssertionError):
    """A check failed for a reason the student should read (the message says what to fix)."""


class _CheckTimeout(BaseException):
    # BaseException: a student's `except Exception:` cannot swallow the time limit.
    pass


@dataclass
class Check:
    name: str
    points: int
    needs: tuple
    hint: str
    func: object

    def run(self, ns, timeout=None):
        missing = [n for n in self.needs if n not in ns]
        if missing:
            names = ", ".join(f"`{n}`" for n in missing)
            return CheckResult(self, False, f"{names} not defined: write the exercise and run its cell "
                                            "(the grader runs every cell of your notebook top to bottom)")
        try:
            with _time_limit(timeout, self.name):
                self.func(ns)
        except NotImplementedError as e:
            detail = f" ({e})" if str(e) else ""
            return CheckResult(self, False, f"not written yet: {', '.join(self.needs) or self.name} still raises "
                                            f"NotImplementedError{detail}")
        except _CheckTimeout:
            return CheckResult(self, False, f"took longer than {timeout} s (an endless loop?)")
        except GradingError as e:
            return CheckResult(self, False, str(e))
        except Exception as e:  # the student's code raised: report where
            tb = traceback.extract_tb(e.__traceback__)
            where = f" at line {tb[-1].lineno} of {tb[-1].name}" if tb else ""
            return CheckResult(self, False, f"{type(e).__name__}: {e}{where}")
        return CheckResult(self, True, "")


@dataclass
class CheckResult:
    check: Check
    passed: bool
    message: str

    @property
    def score(self):
        return self.check.points if self.passed else 0

    def as_dict(self):
        return {"name": self.check.name, "points": self.check.points, "score": self.score,
                "passed": self.passed, "message": self.message, "hint": self.check.hint}


class _time_limit:
    """SIGALRM-based per-check limit (main thread on POSIX only; elsewhere no limit)."""

    def __init__(self, seconds, name):
        self.seconds, self.name, self.old = seconds, name, None

    def _fire(self, *_):
        raise _CheckTimeout(self.name)

    def __enter__(self):
        if self.seconds and hasattr(signal, "SIGALRM"):
            try:
                self.old = signal.signal(signal.SIGALRM, self._fire)
            except ValueError:  # not the main thread
                return self
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False


@dataclass
class Grader:
    """The checks of one course module, in the order they are reported."""
    module: str
    checks: list = field(default_factory=list)

    def check(self, points=1, needs=(), hint=""):
        def register(func):
            if any(c.name == func.__name__ for c in self.checks):
                raise ValueError(f"grader {self.module}: two checks named {func.__name__}")
            self.checks.append(Check(func.__name__, int(points), tuple(needs), hint, func))
            return func
        return register

    @property
    def total_points(self):
        return sum(c.points for c in self.checks)

    def run(self, ns, timeout=30):
        """Runs every check on namespace `ns`; one failing never stops the others."""
        return [c.run(ns, timeout) for c in self.checks]


def as_array(value, what):
    """numpy view of a student's result (Tensor, ndarray, list or number), or a GradingError saying what came back."""
    if value is None:
        raise GradingError(f"{what} returned None: did you forget `return`?")
    try:
        return np.asarray(value, dtype=np.float64)
    except Exception:
        raise GradingError(f"{what} returned {type(value).__name__}, expected a Tensor or array of numbers")


def close(actual, expected, what, rtol=1e-5, atol=1e-6):
    """Fails with shapes and the largest difference unless `actual` matches `expected` elementwise."""
    a = as_array(actual, what)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise GradingError(f"{what}: shape {a.shape}, expected {e.shape}")
    if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        diff = np.abs(a - e)
        diff = np.where(np.isnan(diff), np.inf, diff)
        i = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        raise GradingError(f"{what}: differs from the engine's value; at index {tuple(int(j) for j in i)} "
                           f"got {a[i]!r}, expected {e[i]!r}")


def expect_error(call, error, what):
    """Fails unless `call()` raises `error` (a class or a tuple of classes), naming what it raised instead.

    NotImplementedError passes through, so an unwritten exercise is reported as "not written yet".
    """
    try:
        call()
    except error:
        return
    except NotImplementedError:
        raise
    except Exception as e:  # the wrong exception type is a mistake too
        names = " or ".join(k.__name__ for k in (error if isinstance(error, tuple) else (error,)))
        raise GradingError(f"{what} raised {type(e).__name__}: {e}; raise {names} instead")
    names = " or ".join(k.__name__ for k in (error if isinstance(error, tuple) else (error,)))
    raise GradingError(f"{what} did not raise {names}")
