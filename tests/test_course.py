"""The course loop end to end, with nbgrader's real autograde into a temporary SQLite gradebook.

One autograde run grades a fake class: for every assignment a *solution* student (the source
notebook), a *blank* student (the untouched release), and students carrying the wrong-answer catalogue
— several independent wrong answers of one notebook per submission (``wrong_answers.batches``: no two
share a solution cell or a test cell they may break), so every entry is graded without one full
notebook run each.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest

from llmcourse import course

from wrong_answers import CATALOGUE, batches

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = course.list_assignments(ROOT)
pytestmark = [pytest.mark.course, pytest.mark.slow]


def _release(a: str) -> Path:
    return next((ROOT / "notebooks" / a).glob("*.ipynb"))


def _solution(a: str) -> Path:
    return next((ROOT / "solutions" / a).glob("*.ipynb"))


# entries for a notebook still being written (no source notebook on main yet) wait for it
ENTRIES = [w for w in CATALOGUE if w.assignment in ASSIGNMENTS]
BATCHES = batches(ENTRIES)
STUDENT_OF = {w: f"wrong{i:02d}" for i, batch in enumerate(BATCHES) for w in batch}


def _student_with_wrong_answers(batch, dest: Path) -> None:
    """The solution notebook with each entry's solution cell replaced by its wrong answer."""
    a = batch[0].assignment
    nb = nbformat.read(_solution(a), as_version=4)
    for w in batch:
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == w.grade_id]
        assert cells, f"{a}: no cell {w.grade_id!r} for wrong answer {w.mistake!r}"
        cells[0].source = w.source.strip("\n")
    dest.mkdir(parents=True)
    nbformat.write(nb, dest / _release(a).name)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = tmp_path_factory.mktemp("submissions")
    for a in ASSIGNMENTS:
        for student, src in (("solution", _solution(a)), ("blank", _release(a))):
            (subs / student / a).mkdir(parents=True)
            shutil.copy(src, subs / student / a / _release(a).name)
    for i, batch in enumerate(BATCHES):
        _student_with_wrong_answers(batch, subs / f"wrong{i:02d}" / batch[0].assignment)
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


def test_release_notebooks_are_what_nbgrader_generates():
    assert course.release_diff(ROOT) == []


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


@pytest.mark.parametrize("i", range(len(ENTRIES)), ids=[f"{w.assignment}:{w.mistake}" for w in ENTRIES])
def test_wrong_answer_loses_exactly_its_exercise_and_feedback_names_it(graded, i):
    scores, work = graded
    w = ENTRIES[i]
    student = STUDENT_OF[w]
    s = scores[(student, w.assignment)]
    ref = scores[("solution", w.assignment)]
    assert s.cells[w.test_id][0] == 0, f"{w.mistake}: still scored {s.cells[w.test_id]}"
    # a wrong answer may break later cells that use it; it must not *gain* anywhere
    assert all(s.cells[k][0] <= ref.cells[k][0] for k in s.cells)
    cell = _test_cells(_autograded_nb(work, student, w.assignment))[w.test_id]
    text = "".join(o.get("evalue", "") + o.get("text", "") for o in cell.outputs)
    assert w.mistake in text, f"feedback does not name {w.mistake!r}: {text[:300]}"
