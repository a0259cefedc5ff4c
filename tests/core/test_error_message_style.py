"""Error messages start with the name the user called, in one style: `name: what; how to fix`.

The prefix is spelled exactly like the callable -- `embedding:` for the
function, `Embedding:` for the class, `Class.method:` for a method -- so a
student can search for it. This test reads every `raise ...Error("prefix: ...")`
in the package and checks that the prefix is a function, class or method the
package defines (or a C++ binding of tinytorch._C).
"""
import ast
import pathlib

import pytest

import tinytorch
from tinytorch import _C

pytestmark = pytest.mark.core

PACKAGE = pathlib.Path(tinytorch.__file__).parent


def defined_names():
    names = set(dir(_C)) | set(dir(_C.Tensor)) | {"Tensor", "tinytorch"}  # tinytorch: the command line tool
    names |= {f"Tensor.{n}" for n in dir(_C.Tensor)}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.ClassDef):
                names.add(node.name)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        names.add(f"{node.name}.{item.name}")
    return names


def message_prefixes():
    """(file, line, prefix) of every raise whose message starts with `word:`."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(part in path.as_posix() for part in ("course/lessons", "course/milestones", "course/graders")):
            continue  # lessons and graders name the student's functions, not the package's
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args):
                continue
            first = node.exc.args[0]
            if isinstance(first, ast.JoinedStr):
                first = first.values[0] if first.values else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            head = first.value.split(" ", 1)[0]
            if head.endswith(":") and len(head) > 1 and head[:-1].replace(".", "").replace("_", "").isalnum():
                found.append((path.relative_to(PACKAGE).as_posix(), node.lineno, head[:-1]))
    return found


def test_every_message_prefix_names_a_callable():
    names = defined_names()
    prefixes = message_prefixes()
    assert len(prefixes) > 100  # the scan really reads the package
    wrong = [f"{f}:{line}: {p!r}" for f, line, p in prefixes if p not in names]
    assert not wrong, "error prefixes that name no function, class or method of tinytorch:\n" + "\n".join(wrong)


def test_a_layer_reports_its_own_name_not_the_op_inside_it():
    from tinytorch.core.embeddings import Embedding
    layer = Embedding(5, 2)
    with pytest.raises(IndexError, match=r"^Embedding: "):
        layer(tinytorch.Tensor([7]).long())
