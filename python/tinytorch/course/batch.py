"""`tinytorch grade NN SUBMISSIONS`: grading a class's notebooks.

Each submission is graded in its own process (`python -m
tinytorch.course.runner NN PATH --json`) with a time limit, a few at a time;
a submission that hangs, crashes its kernel or the grader process scores 0
on the checks it did not finish, and the others carry on.

Submissions: every .ipynb / .py directly in the folder (the student is the
file name), or one folder per student holding one notebook (the student is
the folder name).
"""
import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from .runner import GradeReport, _zero_checks
from .requirements import module as _module

__all__ = ["find_submissions", "grade_folder", "gradescope_results"]


def find_submissions(folder):
    found = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and name.endswith((".ipynb", ".py")) and not name.startswith("."):
            found.append((os.path.splitext(name)[0], path))
        elif os.path.isdir(path) and not name.startswith("."):
            inner = sorted(f for f in os.listdir(path) if f.endswith(".ipynb")) or \
                sorted(f for f in os.listdir(path) if f.endswith(".py"))
            if inner:
                found.append((name, os.path.join(path, inner[0])))
    return found


def grade_one(number, path, timeout):
    cmd = [sys.executable, "-m", "tinytorch.course.runner", number, path, "--json"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return GradeReport(number, path, _zero_checks(number, f"grading stopped after {timeout:g} s"),
                           error=f"timed out after {timeout:g} s")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return GradeReport.from_dict(json.loads(line))
            except (ValueError, KeyError):
                break
    why = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return GradeReport(number, path, _zero_checks(number, "the grader process failed"),
                       error=f"grader exited with status {done.returncode}: {why}")


def gradescope_results(report):
    """Gradescope's autograder results.json for one submission."""
    tests = [{"name": c["name"], "score": c["score"], "max_score": c["points"],
              "status": "passed" if c["passed"] else "failed",
              "output": "" if c["passed"] else (c["message"] + (f"\nhint: {c['hint']}" if c["hint"] else ""))}
             for c in report.checks]
    out = {"score": report.score, "max_score": report.total, "tests": tests}
    if report.error:
        out["output"] = report.error
    return out


def grade_folder(number, folder, out_csv=None, gradescope=None, jobs=2, timeout=600):
    """Grades every submission; returns [(student, GradeReport)] and writes the CSV / Gradescope files."""
    m = _module(number)
    subs = find_submissions(folder)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reports = list(pool.map(lambda s: grade_one(m.number, s[1], timeout), subs))
    results = list(zip([s[0] for s in subs], reports))
    if out_csv and results:
        names = [c["name"] for c in results[0][1].checks]
        with open(out_csv, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["student", *names, "score", "total", "error"])
            for student, r in results:
                by_name = {c["name"]: c["score"] for c in r.checks}
                w.writerow([student, *[by_name.get(n, 0) for n in names], r.score, r.total, r.error])
    if gradescope and results:
        if len(results) == 1:
            payload = gradescope_results(results[0][1])
        else:  # one Gradescope record per student
            payload = {student: gradescope_results(r) for student, r in results}
        with open(gradescope, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
    return results
