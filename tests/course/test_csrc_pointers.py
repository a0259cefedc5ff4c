"""Every lesson names the C++ files that do its work, and every `csrc/...` path the lessons, docs/,
the README, the Python package, the benchmarks, the milestones and the C++ comments mention exists,
so a reorganisation of csrc/ cannot leave a student following a stale pointer."""
import glob
import pathlib
import re

import pytest

pytestmark = pytest.mark.course

ROOT = pathlib.Path(__file__).resolve().parents[2]
PATH = re.compile(r"csrc/[A-Za-z0-9_./*{},-]*")


def sources():
    """The files that may point into csrc/ (tests are left out: some name missing files on purpose)."""
    files = [ROOT / "README.md"]
    for folder, patterns in (("modules", ("*.py", "*.md")), ("docs", ("*.md",)), ("python/tinytorch", ("*.py",)),
                             ("benchmarks", ("*.py", "*.md")), ("milestones", ("*.py", "*.md")),
                             ("csrc", ("*.h", "*.cpp"))):
        for pattern in patterns:
            files += sorted((ROOT / folder).rglob(pattern))
    return [f for f in files if f.is_file()]


def expand(mention):
    """`csrc/nn/kv_decode.{h,cpp}` names two files; a trailing `.` or `,` is the sentence's."""
    mention = mention.rstrip(".,")
    braces = re.search(r"\{([^}]*)\}", mention)
    if braces:
        return [mention[:braces.start()] + alt + mention[braces.end():] for alt in braces.group(1).split(",")]
    return [mention]


def mentions(path):
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, p) for m in PATH.finditer(text) for p in expand(m.group())]


def exists(relative):
    if "*" in relative:
        return bool(glob.glob(str(ROOT / relative)))
    return (ROOT / relative).exists()


def test_every_csrc_path_mentioned_exists():
    checked, stale = 0, []
    for path in sources():
        for line, mention in mentions(path):
            checked += 1
            if not exists(mention):
                stale.append(f"{path.relative_to(ROOT)}:{line}: {mention}")
    assert checked > 100  # the scan really reads the lessons, docs and package
    assert not stale, "paths into csrc/ that do not exist:\n" + "\n".join(stale)


PACKAGE_PATH = re.compile(r"(?<![\w/.])(?:python/)?tinytorch/[\w/]+\.pyi?\b")


def test_every_package_path_mentioned_exists():
    """`python/tinytorch/core/autograd.py` or `tinytorch/compat.py`: the Python files pointed at exist too."""
    checked, stale = 0, []
    for path in sources() + sorted((ROOT / "tests").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for m in PACKAGE_PATH.finditer(text):
            checked += 1
            relative = m.group() if m.group().startswith("python/") else "python/" + m.group()
            if not (ROOT / relative).is_file():
                stale.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}")
    assert checked > 20
    assert not stale, "paths into the package that do not exist:\n" + "\n".join(stale)


def test_every_lesson_names_existing_cpp_files():
    lessons = sorted((ROOT / "modules").glob("[0-9][0-9]_*/[0-9][0-9]_*.py"))
    assert len(lessons) == 20
    for lesson in lessons:
        files = {m for _, m in mentions(lesson) if re.search(r"\.(h|cpp)$", m) and exists(m)}
        assert files, f"{lesson.relative_to(ROOT)} names no C++ file of csrc/ that does its work"


def test_the_scan_catches_a_stale_path(tmp_path):
    stale = tmp_path / "lesson.py"
    stale.write_text("# The backward lives in csrc/autograd/no_such_file.h, the kernel in csrc/ops/{matmul,nope}.cpp.\n")
    found = [m for _, m in mentions(stale)]
    assert found == ["csrc/autograd/no_such_file.h", "csrc/ops/matmul.cpp", "csrc/ops/nope.cpp"]
    assert [exists(m) for m in found] == [False, True, False]
