"""The student copy: solutions become NotImplementedError with the hint, the rest is untouched."""
import pytest

from tinytorch.course.lessons import SolutionMarkerError, strip_solutions

pytestmark = pytest.mark.course

LESSON = '''\
# %%
import numpy as np

def relu(x):
    """keep the positive part"""
    ### HINT: max(x, 0) elementwise
    ### BEGIN SOLUTION
    return np.maximum(x, 0)
    ### END SOLUTION

class Layer:
    def forward(self, x):
        ### BEGIN SOLUTION
        y = x * 2
        return y
        ### END SOLUTION

# %%
assert relu(np.array([-1.0]))[0] == 0
'''


def test_each_solution_becomes_a_raise_with_its_hint_at_its_indentation():
    out = strip_solutions(LESSON)
    assert "np.maximum" not in out and "y = x * 2" not in out
    assert "    raise NotImplementedError('max(x, 0) elementwise')\n" in out
    assert "        raise NotImplementedError('write your solution here')\n" in out
    assert '"""keep the positive part"""' in out and "assert relu(" in out
    ns = {}
    exec(compile(out.split("# %%")[1], "student", "exec"), ns)
    with pytest.raises(NotImplementedError, match="elementwise"):
        ns["relu"](1.0)


def test_text_outside_the_markers_is_kept_byte_for_byte():
    out = strip_solutions(LESSON)
    assert out.startswith("# %%\nimport numpy as np\n\ndef relu(x):\n")
    assert out.endswith("# %%\nassert relu(np.array([-1.0]))[0] == 0\n")


@pytest.mark.parametrize("bad, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "END SOLUTION without BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n", "inside the block"),
    ("def f():\n    ### HINT: x\n    return 1\n", "HINT not followed"),
])
def test_unpaired_markers_are_errors_naming_the_line(bad, message):
    with pytest.raises(SolutionMarkerError, match=message):
        strip_solutions(bad, "lesson.py")
