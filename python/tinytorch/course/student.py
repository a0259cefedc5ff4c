"""The student's course folder: their notebooks and one progress file.

    tinytorch-course/            (the default folder; --dir chooses another)
      progress.json              started / completed modules, milestone runs
      01_tensor/01_tensor.ipynb  the student copy: solutions replaced by NotImplementedError

Nothing here ever overwrites a student's notebook: `start` refuses when a copy
exists and `reset` moves the old one aside as a timestamped backup first.
"""
import datetime
import json
import os
import tempfile

from .lessons import lesson_source, strip_solutions
from .requirements import module as _module

__all__ = ["DEFAULT_DIR", "Progress", "notebook_path", "start_module", "reset_module", "module_status",
           "milestone_status"]

DEFAULT_DIR = "tinytorch-course"
PROGRESS_FILE = "progress.json"


def _now():
    return datetime.datetime.now().isoformat(timespec="seconds")


def notebook_path(number, course_dir):
    m = _module(number)
    return os.path.join(course_dir, m.name, m.name + ".ipynb")


def student_submission(number, course_dir):
    """The student's notebook, or the .py beside it when there is no notebook; None if neither exists."""
    nb = notebook_path(number, course_dir)
    py = nb[:-len(".ipynb")] + ".py"
    for p in (nb, py):
        if os.path.isfile(p):
            return p
    return None


def _atomic_write(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Progress:
    """progress.json: {"modules": {"01": {"started": t, "completed": t, "score": s, "total": n}},
    "milestones": {"05": {"ran": t, "ok": bool}}}."""

    def __init__(self, course_dir):
        self.path = os.path.join(course_dir, PROGRESS_FILE)
        self.data = {"modules": {}, "milestones": {}}
        if os.path.isfile(self.path):
            try:
                with open(self.path, encoding="utf-8") as f:
                    loaded = json.load(f)
            except (OSError, ValueError) as e:
                raise ValueError(f"tinytorch: {self.path} is damaged ({e}); fix or delete it "
                                 "(module status is rebuilt as you complete modules again)")
            if not isinstance(loaded, dict):
                raise ValueError(f"tinytorch: {self.path} does not hold a progress record; fix or delete it")
            self.data["modules"].update(loaded.get("modules", {}))
            self.data["milestones"].update(loaded.get("milestones", {}))

    def save(self):
        _atomic_write(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")

    def module(self, number):
        return self.data["modules"].setdefault(_module(number).number, {})

    def completed(self, number):
        return bool(self.data["modules"].get(_module(number).number, {}).get("completed"))

    def mark_started(self, number):
        self.module(number).setdefault("started", _now())
        self.save()

    def mark_completed(self, number, score, total):
        rec = self.module(number)
        rec.setdefault("started", _now())
        rec.update(completed=_now(), score=score, total=total)
        self.save()

    def mark_milestone(self, number, ok):
        self.data["milestones"][str(number)] = {"ran": _now(), "ok": bool(ok)}
        self.save()


def lesson_exists(number):
    try:
        lesson_source(number)
        return True
    except FileNotFoundError:
        return False


def module_status(number, progress):
    """'done', 'started', 'unlocked', 'locked' or 'not written' (no lesson in this version)."""
    m = _module(number)
    if not lesson_exists(m.number):
        return "not written"
    if progress.completed(m.number):
        return "done"
    if progress.data["modules"].get(m.number, {}).get("started"):
        return "started"
    unlocked = all(progress.completed(r) or not lesson_exists(r) for r in m.requires)
    return "unlocked" if unlocked else "locked"


def milestone_status(ms, progress):
    """'done' (ran successfully), 'unlocked' (every required module completed) or 'locked'."""
    if progress.data["milestones"].get(ms.number, {}).get("ok"):
        return "done"
    return "unlocked" if not missing_modules(ms, progress) else "locked"


def missing_modules(ms, progress):
    return [r for r in ms.requires if not progress.completed(r)]


def _student_notebook_text(number):
    from .runner import _need, notebook_from_source
    nbformat = _need("nbformat")  # without the `course` extra: the install hint, not a traceback
    m = _module(number)
    nb = notebook_from_source(strip_solutions(lesson_source(m.number), m.name))
    nb.metadata["tinytorch"] = {"module": m.number}
    return nbformat.writes(nb)


def start_module(number, course_dir):
    """Writes the student copy; FileExistsError if one is there (their work is never overwritten)."""
    path = notebook_path(number, course_dir)
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists: keep working in it, or "
                              f"`tinytorch module reset {_module(number).number}` for a fresh copy "
                              "(the old one is kept as a backup)")
    _atomic_write(path, _student_notebook_text(number))
    Progress(course_dir).mark_started(number)
    return path


def reset_module(number, course_dir):
    """Moves the current copy to NN_slug.ipynb.bak-<time> and writes a fresh one; returns (new, backup)."""
    path = notebook_path(number, course_dir)
    backup = None
    if os.path.exists(path):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = f"{path}.bak-{stamp}"
        n = 1
        while os.path.exists(backup):
            backup = f"{path}.bak-{stamp}-{n}"
            n += 1
        os.replace(path, backup)
    _atomic_write(path, _student_notebook_text(number))
    Progress(course_dir).mark_started(number)
    return path, backup
