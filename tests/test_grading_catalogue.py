"""The wrong-answer catalogue through real autograde: each classic mistake loses its exercise's
points, and the feedback names it. The summary test prints the catch rate (goal: 100%).

Entries of one notebook share a submission when ``wrong_answers.batches`` allows it; any entry not
confirmed in its batch is re-graded alone and the solo run decides. Assignments: as in
``test_grading_class.py`` (``LLMCOURSE_GRADING_ASSIGNMENTS``).
"""

from __future__ import annotations

import nbformat
import pytest

import grading_helpers as H
from wrong_answers import CATALOGUE, WrongAnswer, batches

pytestmark = [pytest.mark.course, pytest.mark.slow]
N = H.class_size()
ENTRIES = [w for w in CATALOGUE if w.assignment in H.selected_assignments()]


def _test_cell_text(work, student: str, w: WrongAnswer) -> str:
    path = next((work / "course" / "autograded" / student / w.assignment).glob("*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    return H.outputs_text(H.cell(nb, w.test_id))


def _verdict(run, student: str, w: WrongAnswer) -> str | None:
    """None if caught, else why not."""
    s = run.scores[(student, w.assignment)]
    if s.cells[w.test_id][0] != 0:
        return f"still scored {s.cells[w.test_id][0]} on {w.test_id}"
    text = _test_cell_text(run.work, student, w)
    if w.mistake not in text:
        return f"feedback of {w.test_id} does not name {w.mistake!r}: {text[-300:]!r}"
    return None


@pytest.fixture(scope="module")
def verdicts():
    """entry -> None (caught) or the reason it was not, from the class run (+ solo re-runs)."""
    run = H.cached(f"class-{N}", lambda: H.class_run(H.selected_assignments(), N))
    out: dict[WrongAnswer, str | None] = {}
    for (student, a), (_, _, batch) in run.students.items():
        for w in batch:
            if out.get(w, "unseen") is not None:
                out[w] = _verdict(run, student, w)
    pending = [w for w in ENTRIES if out.get(w, "unseen") is not None]
    if pending:  # not confirmed in a batch (or not reached by the class run): grade each alone
        solo = H.solo_run(pending)
        for i, w in enumerate(pending):
            out[w] = _verdict(solo, f"solo-{i:03d}", w)
    return out


def test_catch_rate_is_100_percent(verdicts, capsys):
    caught = [w for w in ENTRIES if verdicts[w] is None]
    missed = {f"{w.assignment}:{w.mistake}": verdicts[w] for w in ENTRIES if verdicts[w] is not None}
    with capsys.disabled():
        print(f"\nwrong-answer catalogue: caught {len(caught)}/{len(ENTRIES)} "
              f"({100 * len(caught) / max(1, len(ENTRIES)):.0f}%) in {H.selected_assignments()}")
        for k, why in missed.items():
            print(f"  MISSED {k}: {why}")
    assert ENTRIES, "no catalogue entries for the selected assignments"
    assert not missed


@pytest.mark.parametrize("w", ENTRIES, ids=[f"{w.assignment}:{w.mistake}" for w in ENTRIES])
def test_each_wrong_answer_is_caught(verdicts, w):
    assert verdicts[w] is None, verdicts[w]


def test_batches_never_share_a_cell_between_entries():
    a = WrongAnswer("x", "f", "test_f", "m1", "")
    b = WrongAnswer("x", "f", "test_f", "m2", "")  # same exercise: separate submissions
    c = WrongAnswer("x", "g", "test_g", "m3", "", also_loses=("test_f",))  # breaks test_f: separate
    d = WrongAnswer("x", "h", "test_h", "m4", "")  # independent: may join a's submission
    e = WrongAnswer("y", "h", "test_h", "m5", "")  # another assignment: its own submission
    assert batches([a, b, c, d, e]) == [[a, d], [b], [c], [e]]


@pytest.mark.parametrize("w", CATALOGUE, ids=[f"{w.assignment}:{w.mistake}" for w in CATALOGUE])
def test_catalogue_entry_names_cells_of_its_notebook(w):
    release = list((H.ROOT / "notebooks" / w.assignment).glob("*.ipynb"))
    if not release:
        pytest.skip(f"{w.assignment}: no release notebook yet")
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.metadata.get("nbgrader", {})
             for c in nbformat.read(release[0], as_version=4).cells}
    assert cells.get(w.grade_id, {}).get("solution"), f"{w.grade_id!r} is not a solution cell of {w.assignment}"
    for t in (w.test_id, *w.also_loses):
        assert cells.get(t, {}).get("grade"), f"{t!r} is not a test cell of {w.assignment}"
