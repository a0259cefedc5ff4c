"""The student's code inside the engine: the transformer milestone trains with a student's module-05
rules; a wrong rule is caught with the op and the step where it first departs."""
import nbformat
import numpy as np
import pytest
from conftest import NOTEBOOKS_UNDER_ASAN

import tinytorch as tt
from tinytorch.course.lessons import lesson_source
from tinytorch.course.overrides import use_student, load_student_namespace
from tinytorch.course.runner import notebook_from_source
from course_helpers import tinytorch_cli

pytestmark = [pytest.mark.course, pytest.mark.not_under_sanitizer(reason=NOTEBOOKS_UNDER_ASAN)]



BREAK_MATMUL = """
_student_matmul_backward = Matmul.backward
def _doubled(ctx, g):
    return tuple(None if x is None else x * 2.0 for x in _student_matmul_backward(ctx, g))
Matmul.backward = staticmethod(_doubled)
"""


def student_course(tmp_path, number, extra_cell=None):
    nb = notebook_from_source(lesson_source(number))
    if extra_cell:
        nb.cells.append(nbformat.v4.new_code_cell(extra_cell))
    folder = tmp_path / "course" / nb_name(number)
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / (nb_name(number) + ".ipynb")))
    return str(tmp_path / "course")


def nb_name(number):
    from tinytorch.course.requirements import module
    return module(number).name


def test_transformer_milestone_trains_with_the_students_autograd(tmp_path):
    course = student_course(tmp_path, "05")
    r = tinytorch_cli("milestone", "run", "05", "--with-student", "05", "--dir", course, "--",
                      "--steps", "150", "--lr", "1e-2", "--quiet", "--train-only", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "every student backward matched the engine's rule" in r.stdout
    assert "converges" in r.stdout
    for op in ("Matmul", "Embedding"):
        assert f"  {op} " in r.stdout  # the student's op really ran, with its time against the engine's


def test_a_wrong_backward_rule_is_named_with_its_step(tmp_path):
    course = student_course(tmp_path, "05", BREAK_MATMUL)
    r = tinytorch_cli("milestone", "run", "05", "--with-student", "05", "--dir", course, "--",
                      "--steps", "5", "--quiet", "--train-only", cwd=tmp_path)
    assert "gradients: Matmul first departs from the engine at backward call 1" in r.stdout


def test_override_is_exact_and_is_removed_on_exit(tmp_path):
    ns = load_student_namespace("05", student_course(tmp_path, "05"))
    rng = np.random.default_rng(0)
    a = tt.Tensor(rng.standard_normal((2, 3, 4)), dtype=tt.float64, requires_grad=True)
    b = tt.Tensor(rng.standard_normal((4, 5)), dtype=tt.float64, requires_grad=True)
    engine = ((a @ b) * 2.0 - 1.0).sum()
    engine.backward()
    ga, gb = np.array(a.grad), np.array(b.grad)
    a.grad = None
    b.grad = None
    with use_student("05", namespace=ns) as student:
        out = ((a @ b) * 2.0 - 1.0).sum()
        out.backward()
    np.testing.assert_allclose(a.grad, ga, rtol=1e-12)
    np.testing.assert_allclose(b.grad, gb, rtol=1e-12)
    assert student.first_divergence is None
    assert {op: st.calls for op, st in student.stats.items()} == {"Matmul": 1, "Mul": 1, "Sub": 1, "Sum": 1}
    ((a @ b) * 2.0 - 1.0).sum().backward()       # after the with block: the engine's ops again
    assert student.stats["Matmul"].calls == 1
    assert not tt.core.overrides.active()


def test_modules_without_engine_counterparts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="nothing to swap into the engine"):
        use_student("02", namespace={})
    with pytest.raises(FileNotFoundError, match="module start 05"):
        use_student("05", str(tmp_path / "nowhere"))
