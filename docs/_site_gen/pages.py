"""MkDocs hook: the pages generated from the repository at build time.

Nothing in these pages is copied by hand, so they cannot drift from the
code: each build reads

* the course lessons (modules/NN_slug/NN_slug.py), made into the student
  copy with the course's own `strip_solutions` (the site is public: the
  reference solutions stay out of it), and the requirements table;
* the milestone scripts' docstrings and the README's milestone row and
  measured figures;
* the design essays at the top of every file in csrc/, and the README's
  "where does X live" table;
* the benchmark scripts' docstrings and the README's measured figures;
* the package itself, for the API reference (mkdocstrings reads the Python
  sources, and `_C`, the compiled C++ half, through its stub `_C.pyi`).

mkdocs.yml names this file under `hooks:`; `on_config` fills the generated
parts of the navigation and `on_files` adds the generated pages.
"""
import ast
import os
import pathlib
import re


ROOT = pathlib.Path(__file__).resolve().parents[2]

# The API reference: one page per module (package-relative names).
API_MODULES = (
    ["tinytorch", "tinytorch.autograd", "tinytorch.viz"]
    + [f"tinytorch.core.{p.stem}" for p in sorted((ROOT / "python/tinytorch/core").glob("*.py"))
       if not p.stem.startswith("_")]
    + [f"tinytorch.perf.{p.stem}" for p in sorted((ROOT / "python/tinytorch/perf").glob("*.py"))
       if not p.stem.startswith("_")]
)


def _course():
    from tinytorch.course.lessons import strip_solutions
    from tinytorch.course.requirements import MILESTONES, MODULES
    return strip_solutions, MODULES, MILESTONES


# ---- the course -------------------------------------------------------------
def percent_to_markdown(source):
    """A jupytext percent-format lesson as Markdown: markdown cells as text, code cells as Python blocks."""
    cells, kind, lines = [], None, []
    for line in source.splitlines():
        if line.startswith("# %%"):
            if kind is not None:
                cells.append((kind, lines))
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        cells.append((kind, lines))
    out = []
    for kind, body in cells:
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if not body:
            continue
        if kind == "markdown":
            out.append("\n".join(re.sub(r"^# ?", "", l) if l.startswith("#") else l for l in body))
        else:
            out.append("```python\n" + "\n".join(body) + "\n```")
    return "\n\n".join(out) + "\n"


def course_pages():
    strip_solutions, modules, milestones = _course()
    pages = {}
    rows = ["| Module | Title | Exercises | Needs |", "|---|---|---|---|"]
    for m in modules:
        lesson = ROOT / "modules" / m.name / f"{m.name}.py"
        student = strip_solutions(lesson.read_text(encoding="utf-8"), name=lesson.name)
        exercises = ", ".join(f"`{e}`" for e in m.exercises)
        needs = ", ".join(m.requires) or "-"
        rows.append(f"| [{m.number}]({m.name}.md) | {m.title} | {exercises} | {needs} |")
        note = (f"!!! note \"Module {m.number}: the student copy\"\n"
                f"    Generated from `modules/{m.name}/{m.name}.py` with the reference solutions replaced by\n"
                f"    `raise NotImplementedError(hint)`, exactly as `tinytorch module start {m.number}` writes it.\n"
                f"    Exercises graded: {exercises}. Needs modules: {needs}.\n\n")
        body = percent_to_markdown(student)
        title, _, rest = body.partition("\n") if body.startswith("# ") else (f"# Module {m.number}", "", body)
        pages[f"course/{m.name}.md"] = f"{title}\n\n{note}{rest}"
    unlock = ["| Milestone | Title | Needs modules |", "|---|---|---|"]
    for ms in milestones:
        unlock.append(f"| {ms.number} `{ms.folder}` | {ms.title} | {', '.join(ms.requires)} |")
    pages["course/index.md"] = "\n".join([
        "# The course",
        "",
        "Twenty lessons, each a jupytext file in `modules/` that becomes a notebook. Each page below is the",
        "student copy of a lesson (generated at build time from the lesson file, solutions stripped); the",
        "exercises are graded against the C++ engine by `tinytorch module test NN`. The table is the",
        "course's one requirements table (`tinytorch.course.requirements`), as the CLI and the graders read it.",
        "",
        *rows,
        "",
        "## What the modules unlock",
        "",
        *unlock,
        "",
        "How the course machinery works (student copies, graders, `use_student`): [the course design](../course.md).",
        "",
    ])
    return pages


# ---- README sections ----------------------------------------------------------
def readme_section(title):
    """The README's `## title` section, without its heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not match:
        raise KeyError(f"README.md has no '## {title}' section")
    return match.group(1).strip()


def readme_where_table():
    """The rows of the README's | Where | What | table."""
    section = readme_section("A short tour")
    rows = [l for l in section.splitlines() if l.startswith("|")]
    start = next(i for i, l in enumerate(rows) if l.startswith("| Where"))
    return [r for r in rows[start:]]


def docstring_of(path):
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def as_block(text):
    """A docstring shown as written (they are laid out for a terminal)."""
    return "```text\n" + text.strip() + "\n```"


# ---- milestones ----------------------------------------------------------------
def milestones_page():
    _, _, milestones = _course()
    rows = readme_where_table()
    milestone_row = next(r for r in rows if r.startswith("| `milestones/`"))
    entries = milestone_row.split("|")[2].strip()
    entries = re.sub(r"^historic training scripts:\s*", "", entries)  # the row's lead-in; the page says it
    out = ["# Milestones", "",
           "Historic training scripts, each runnable end to end on the engine. Run one with",
           "`python milestones/<folder>/<script>.py` (`--help` lists its flags), or, after the modules it needs,",
           "`tinytorch milestone run NN` (`--with-student NN` trains with your own course code in the engine).",
           "", "What the README measures for each (its milestone row):", ""]
    for part in entries.split(";"):
        out.append(f"- {part.strip()}")
    out.append("")
    for ms in milestones:
        folder = ROOT / "milestones" / ms.folder
        script = sorted(folder.glob("*.py"))[0]
        out += [f"## {ms.number}: {ms.title}", "",
                f"`python milestones/{ms.folder}/{script.name}` · needs modules {', '.join(ms.requires)}", "",
                as_block(docstring_of(script)), ""]
    figures = readme_section("Measured figures")
    block = re.search(r"^\*\*Milestones 06 and 07\.\*\*.*?(?=^\*\*|\Z)", figures, re.S | re.M)
    if block:
        out += ["## Measured figures for milestones 06 and 07", "", block.group(0).strip(), ""]
    return out


# ---- how the engine works ----------------------------------------------------
def file_top_comment(path):
    """The comment block at the top of a C++ file (before or after `#pragma once`), or ''."""
    lines, started = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            started = True
            lines.append(re.sub(r"^// ?", "", stripped))
        elif started:
            break
        elif stripped.startswith("#pragma") or stripped.startswith("#include") or not stripped:
            if stripped.startswith("#include") and lines:
                break
            continue
        else:
            break
    return "\n".join(lines).strip()


def engine_page():
    out = ["# How the engine works", "",
           "Where each part lives (the README's map), then the design essay at the top of every C++ file,",
           "extracted from `csrc/` at build time. The decisions beyond the design guide are in",
           "[Design decisions](design.md).", "", "## Where does X live", ""]
    out += readme_where_table() + [""]
    for folder in ("core", "ops", "autograd", "nn", "python"):
        out += [f"## csrc/{folder}/", ""]
        for path in sorted((ROOT / "csrc" / folder).iterdir()):
            if path.suffix not in (".h", ".cpp"):
                continue
            essay = file_top_comment(path)
            if essay:
                out += [f"### {folder}/{path.name}", "", as_block(essay), ""]
    return out


# ---- benchmarks ----------------------------------------------------------------
def benchmarks_page():
    out = ["# Benchmarks", "",
           "Speed comparisons against numpy and PyTorch, printed as ratios measured in the same run",
           "(interleaved rounds, medians). `make bench` (or `tinytorch bench [NAME ...]`) runs them all;",
           "each script runs alone as shown. Tests never assert times: the figures live here.", ""]
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        out += [f"## {path.stem}", "", f"`python benchmarks/{path.name}`", "", as_block(docstring_of(path)), ""]
    out += ["## Measured figures (from the README)", "", readme_section("Measured figures"), ""]
    return out


# ---- API reference -----------------------------------------------------------
def api_pages():
    pages = {}
    for name in API_MODULES:
        if name == "tinytorch":
            body = ["# tinytorch", "", "::: tinytorch", "    options:", "      members: false", "",
                    "## Tensor", "", "::: tinytorch._C.Tensor", "    options:", "      heading_level: 3",
                    "      show_root_heading: false", "      show_if_no_docstring: true", "",
                    "## Functions of the C++ engine (`tinytorch._C`)", "",
                    "::: tinytorch._C", "    options:", "      show_root_toc_entry: false",
                    "      members_order: alphabetical", "      show_if_no_docstring: true",
                    "      filters: ['!^_', '!Backward$', '!^Tensor$', '!^AccumulateGrad$', '!^Node$']", ""]
        else:
            body = [f"# {name}", "", f"::: {name}", ""]
        pages[f"api/{name}.md"] = "\n".join(body)
    return pages


def generated_pages():
    pages = course_pages()
    pages["milestones.md"] = "\n".join(milestones_page())
    pages["engine.md"] = "\n".join(engine_page())
    pages["benchmarks.md"] = "\n".join(benchmarks_page())
    pages.update(api_pages())
    return pages


# ---- the hook ------------------------------------------------------------------
_PAGES = {}


def on_config(config):
    _PAGES.clear()
    _PAGES.update(generated_pages())
    _, modules, _ = _course()
    course = ["course/index.md"] + [{f"{m.number} {m.slug}": f"course/{m.name}.md"} for m in modules]
    api = [{name: f"api/{name}.md"} for name in API_MODULES]
    for item in config["nav"]:
        if isinstance(item, dict) and "The course" in item:
            item["The course"] = course
        if isinstance(item, dict) and "API reference" in item:
            item["API reference"] = api
    return config


def on_files(files, config):
    from mkdocs.structure.files import File  # here, so tests can import this file without MkDocs
    for path, text in _PAGES.items():
        files.append(File.generated(config, path, content=text))
    return files
