"""One grader per course module (mNN_slug.py), each a `Grader` named `grader`; see ..grading."""
