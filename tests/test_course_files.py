"""The course's files, read without running anything (fast tier): the assignments, notebooks committed
without outputs, test cells that stand alone, releases without solutions, and the cached models each
notebook loads declared by its stage. The release build (nbgrader, one notebook per test) is in ``test_course_sources.py``; autograde in
``test_course.py`` (slow)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import nbformat
import pytest

from llmcourse import course, models

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = course.list_assignments(ROOT)


def _release(a: str) -> Path:
    return next((ROOT / "notebooks" / a).glob("*.ipynb"))


def _solution(a: str) -> Path:
    return next((ROOT / "solutions" / a).glob("*.ipynb"))


def _test_cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


def test_there_are_assignments():
    assert "00_welcome" in ASSIGNMENTS


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_notebooks_are_committed_without_outputs(folder):
    for p in (ROOT / folder).rglob("*.ipynb"):
        nb = json.loads(p.read_text())
        assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), p


def _defined_names(source: str) -> set[str]:
    """Names a cell binds at top level (imports, assignments, defs) — IPython magics skipped."""
    import ast

    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
    return out


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_a_test_cell_needs_no_other_test_cell(a):
    """A student who deletes one test cell loses that cell's points only (the class run found two
    notebooks whose first test cell imported the checks every later test cell used)."""
    import ast

    nb = nbformat.read(_solution(a), as_version=4)
    tests = _test_cells(nb)
    elsewhere = set().union(*(_defined_names(c.source) for c in nb.cells
                              if c.cell_type == "code" and c not in tests.values()))
    for grade_id, cell in tests.items():
        own = _defined_names(cell.source)
        loaded = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        for other_id, other in tests.items():
            borrowed = (loaded - own - elsewhere) & _defined_names(other.source)
            assert not borrowed, f"{a}: test cell {grade_id!r} uses {sorted(borrowed)}, defined only in test cell {other_id!r}"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_release_has_no_solutions_or_hidden_tests(a):
    text = _release(a).read_text()
    assert "### BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "hidden=True" not in text


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_grading_builds_every_cached_model_the_notebook_loads(a):
    """Graded kernels see the model cache read-only: ``course.grade`` first builds what each notebook
    loads — the base model, and whatever the notebook's stage declares (``NOTEBOOK_MODELS``) — or the
    notebook would fail to build it inside the sandbox."""
    text = _solution(a).read_text()
    builds = course.model_builders([a])
    assert builds[0] is models.base_model_path
    for stage in re.findall(r"from llmcourse\.(\w+) import lab\b", text):  # a stage's lab: cached models
        declared = getattr(importlib.import_module(f"llmcourse.{stage}"), "NOTEBOOK_MODELS", {})
        assert a in declared, f"{a} imports llmcourse.{stage}.lab, but llmcourse.{stage} declares no NOTEBOOK_MODELS for it"
        assert declared[a] in builds


def test_the_ppo_stage_declares_its_lab_models(monkeypatch):
    from llmcourse.ppo import lab

    built = []
    for name in ("sft_model_path", "reward_model_path"):
        monkeypatch.setattr(lab, name, lambda *args, name=name, **kw: built.append((name, args)) or Path(name))
    monkeypatch.setattr(models, "base_model_path", lambda progress=True: Path("base"))
    course.prepare_models(["03_ppo_rlhf"])
    assert built == [("sft_model_path", ()), ("reward_model_path", (None,)), ("reward_model_path", ("length",))]


def test_the_demo_and_the_course_tooling_import_no_stage_lab():
    """A stage's lab exists for its notebook: the demo takes its settings from llmcourse.recipes, and the
    course tooling reaches a lab only through the stage's NOTEBOOK_MODELS, when it builds them."""
    import ast

    package = ROOT / "llmcourse"
    for path in [package / "demo.py", package / "demo_report.py", package / "cli.py", *sorted((package / "course").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            labs = [n for n in names if n.endswith(".lab")]
            assert not labs, f"{path.relative_to(ROOT)}:{node.lineno} imports {labs[0]}"
