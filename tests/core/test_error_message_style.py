"""Error messages start with the name the user called, in one style: `name: what; how to fix`.

The prefix is spelled exactly like the callable -- `embedding:` for the
function, `Embedding:` for the class, `Class.method:` for a method -- so a
student can search for it. This test reads every `raise ...Error("prefix: ...")`
in the package and checks that the prefix is a function, class or method the
package defines (or a C++ binding of tinytorch._C), and that every message of
the package starts with such a name or with the caller's name passed in
(`f"{where}: ..."`), but for the few listed in NOT_A_CALLERS_NAME, each with
its reason. The graders (and the lessons and milestones an installed package
carries) are left out: they name the student's functions.
The C++ messages are checked where they are raised (tests of each op).
"""
import ast
import pathlib
import re

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


def package_files():
    """Every Python file of the package but the graders and, in an installed package, the copies of the
    lessons and milestones: they name the student's functions and scripts, not the package's."""
    skipped = ("course/graders/", "course/lessons/", "course/milestones/")
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if not any(part in p.relative_to(PACKAGE).as_posix() for part in skipped)]


def message_prefixes():
    """(file, line, prefix) of every raise whose message starts with `word:`."""
    found = []
    for path in package_files():
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


# Messages that do not start with the caller's name, each for a stated reason. A new entry needs one.
NOT_A_CALLERS_NAME = {
    # Python protocols, worded as PyTorch and Python word them (tools match these texts)
    ("core/tensor.py", "len() of a 0-d tensor"),
    ("core/tensor.py", "iteration over a 0-d tensor"),
    ("perf/__init__.py", "module 'tinytorch.perf' has no attribute {}"),
    ("benchmarking/benchmark.py", "module {} has no attribute {}"),
    ("core/module.py", "Error(s) in loading state_dict for {}: {}{}"),  # PyTorch's load_state_dict wording
    ("core/autograd.py", "one of the tensors needed for gradient computation has been modified by an in-place "
                         "operation: saved tensor {} of shape {} saved by {} is at version {}; expected version {} "
                         "instead. Avoid modifying it in place (use out-of-place ops, or .clone() it first)."),
    # raised inside json.loads and re-raised by load_file under its own name
    ("core/safetensors_io.py", "duplicate key {} in the JSON header"),
    # the course tools' messages, printed by the `tinytorch` command after "tinytorch: "
    ("course/requirements.py", "no {} {}; choose one of {}"),
    ("course/lessons.py", "module {} ({}) has no lesson yet"),
    ("course/runner.py", "cannot read {}: {}"),
    ("course/grading.py", "grader {}: two checks named {}"),  # for grader authors, at import
    # to be given their caller's name when issue 10's other items rewrite them: the seed check of
    # backward()/grad() (shared by both)
    ("core/autograd.py", "got {} gradients for {} outputs; pass one gradient (or None) per output"),
}


def message_template(node):
    """The message's text with every {placeholder} written `{}`, or None when it is not a literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "prefix: " + "; ".join(problems)
        left = message_template(node.left)
        return None if left is None else left + "{}"
    return None


def messages():
    """(file, line, template) of every raise whose first argument is a literal message."""
    found = []
    for path in package_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                template = message_template(node.exc.args[0])
                if template is not None:
                    found.append((path.relative_to(PACKAGE).as_posix(), node.lineno, template))
    return found


NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\(\{\}\))?(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|\{\}))*(?=[:( ])")


def starts_with_a_name(template, names):
    """`Embedding: ...`, `Candidate({}): ...`, `KVCache.{}: ...`, `Dropout probability ...`: a name the package
    defines first; `{}...`: the caller's name passed in (`f"{where}: ..."`)."""
    if template.startswith("{}"):
        return True
    m = NAME.match(template)
    return bool(m) and (m.group(0).replace("{}", "").rstrip(".") in names or m.group(1) in names)


def test_every_message_starts_with_the_name_the_user_called():
    names = defined_names()
    found = messages()
    assert len(found) > 300  # every raise of the package, not only the prefixed ones
    wrong = [f"{f}:{line}: {t[:70]!r}" for f, line, t in found
             if not starts_with_a_name(t, names) and (f, t) not in NOT_A_CALLERS_NAME]
    assert not wrong, "messages that do not start with the name the user called:\n" + "\n".join(wrong)
    stale = NOT_A_CALLERS_NAME - {(f, t) for f, _, t in found}
    assert not stale, f"NOT_A_CALLERS_NAME lists messages the package no longer raises: {stale}"


def test_the_message_check_can_fail():
    names = defined_names()
    assert starts_with_a_name("Embedding: index {} is out of range", names)
    assert starts_with_a_name("KVCache.{}: layer_idx must be an integer", names)
    assert starts_with_a_name("Candidate({}): fn must be callable", names)
    assert starts_with_a_name("{}: expected a Module", names)
    assert not starts_with_a_name("embed_dim ({}) must be divisible by num_heads ({})", names)
    assert not starts_with_a_name("got {} gradients for {} outputs", names)
    assert not starts_with_a_name("NoSuchLayer: bad input", names)
