"""The documentation site's generated pages (docs/_site_gen/pages.py, run by `make docs`).

The site itself is built in strict mode by .ci/docs.sh; these tests hold the
generator's promises without MkDocs installed: the course pages are the
student copies (no reference solution reaches the public site), every
lesson and milestone gets a page, and the engine page really carries the
C++ files' essays.
"""
import importlib.util
import pathlib
import re

import pytest

from tinytorch.course.lessons import strip_solutions
from tinytorch.course.requirements import MILESTONES, MODULES

pytestmark = pytest.mark.course

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pages():
    spec = importlib.util.spec_from_file_location("docs_site_pages", ROOT / "docs" / "_site_gen" / "pages.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_percent_format_becomes_markdown_and_code_blocks(pages):
    source = ("# ---\n# jupyter:\n#   jupytext: {}\n# ---\n\n# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n"
              "# %%\nx = 1  # a comment\n\n\n# %% [markdown]\n# ## Next\n")
    assert pages.percent_to_markdown(source) == (
        "# Title\n\nSome *text*.\n\n```python\nx = 1  # a comment\n```\n\n## Next\n")


def test_every_module_page_is_the_student_copy(pages):
    generated = pages.course_pages()
    assert set(generated) == {"course/index.md"} | {f"course/{m.name}.md" for m in MODULES}
    for m in MODULES:
        lesson = (ROOT / "modules" / m.name / f"{m.name}.py").read_text(encoding="utf-8")
        page = generated[f"course/{m.name}.md"]
        assert "BEGIN SOLUTION" not in page and "END SOLUTION" not in page, m.name
        # every solution line that the student copy drops is absent from the page
        solutions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", lesson, re.S)
        assert solutions, m.name
        student = strip_solutions(lesson, m.name)
        hidden = {l.strip() for block in solutions for l in block.splitlines()
                  if len(l.strip()) > 25 and l.strip() not in student}
        leaked = [l for l in hidden if l in page]
        assert not leaked, f"{m.name}: solution lines on the public page: {leaked[:3]}"
        stub = re.compile(r"raise NotImplementedError\(['\"]")  # the hint is a string literal
        assert len(stub.findall(page)) == len(stub.findall(student)) > 0, m.name
        assert page.startswith("# "), m.name
    index = generated["course/index.md"]
    for m in MODULES:
        assert f"[{m.number}]({m.name}.md)" in index


def test_milestones_page_has_every_script_docstring(pages):
    text = "\n".join(pages.milestones_page())
    for ms in MILESTONES:
        script = sorted((ROOT / "milestones" / ms.folder).glob("*.py"))[0]
        assert f"`python milestones/{ms.folder}/{script.name}`" in text
        assert pages.docstring_of(script).splitlines()[0] in text


def test_engine_page_carries_the_file_top_essays(pages):
    essay = pages.file_top_comment(ROOT / "csrc" / "autograd" / "engine.cpp")
    assert essay.startswith("How the engine works\n====")
    assert "count_dependencies" in essay and "#include" not in essay
    # a header whose essay follows `#pragma once`
    assert pages.file_top_comment(ROOT / "csrc" / "autograd" / "node.h").startswith("The autograd graph.")
    text = "\n".join(pages.engine_page())
    assert "| Where | What |" in text
    for folder in ("core", "ops", "autograd", "nn", "python"):
        assert f"## csrc/{folder}/" in text


def test_api_pages_name_importable_modules(pages):
    import importlib
    generated = pages.api_pages()
    assert "api/tinytorch.viz.md" in generated and "api/tinytorch.core.tensor.md" in generated
    assert "api/tinytorch.perf.profiling.md" in generated and "api/tinytorch.autograd.md" in generated
    for name in pages.API_MODULES:
        importlib.import_module(name)
