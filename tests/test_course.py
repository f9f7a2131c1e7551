"""The course loop end to end, with nbgrader's real autograde into a temporary SQLite gradebook.

One autograde run grades a fake class: for every assignment a *solution* student (the source
notebook) and a *blank* student (the untouched release). The wrong-answer catalogue has its own class
run (``test_grading_catalogue.py``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest

from llmcourse import course

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = course.list_assignments(ROOT)
pytestmark = [pytest.mark.course, pytest.mark.slow]


def _release(a: str) -> Path:
    return next((ROOT / "notebooks" / a).glob("*.ipynb"))


def _solution(a: str) -> Path:
    return next((ROOT / "solutions" / a).glob("*.ipynb"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = tmp_path_factory.mktemp("submissions")
    for a in ASSIGNMENTS:
        for student, src in (("solution", _solution(a)), ("blank", _release(a))):
            (subs / student / a).mkdir(parents=True)
            shutil.copy(src, subs / student / a / _release(a).name)
    work = tmp_path_factory.mktemp("grading")
    t0 = time.perf_counter()
    scores = course.grade(subs, root=ROOT, workdir=work, timeout=600)
    seconds = time.perf_counter() - t0
    print(f"\nautograded {len(scores)} notebooks in {seconds:.1f} s")
    return {(s.student, s.assignment): s for s in scores}, work


def _autograded_nb(work: Path, student: str, a: str):
    return nbformat.read(next((work / "course" / "autograded" / student / a).glob("*.ipynb")), as_version=4)


def _test_cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_solution_scores_full_marks_on_every_autograded_cell(graded, a):
    scores, _ = graded
    s = scores[("solution", a)]
    auto = {k: v for k, v in s.cells.items() if k.startswith("test_")}
    assert auto, f"{a}: no autograded test cells"
    lost = {k: v for k, v in auto.items() if v[0] != v[1]}
    assert not lost, f"{a}: solution loses points on {lost}"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_solution_runs_without_errors_or_stderr_in_test_cells(graded, a):
    _, work = graded
    nb = _autograded_nb(work, "solution", a)
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{a}: cells raised {errors}"
    for gid, cell in _test_cells(nb).items():
        stderr = [o for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        assert not stderr, f"{a}/{gid}: stderr in a test cell zeroes it: {stderr[0].get('text', '')[:200]}"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_blank_release_scores_zero_on_every_autograded_cell(graded, a):
    scores, _ = graded
    s = scores[("blank", a)]
    earned = {k: v for k, v in s.cells.items() if v[0] != 0}
    assert not earned, f"{a}: an untouched release earns {earned}"
