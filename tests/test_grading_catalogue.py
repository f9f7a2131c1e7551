"""The wrong-answer catalogue (``tests/wrong_answers``, derived from the graders' classic mistakes and the
concept checks' wrong answers).

Fast: every catalogue cell, executed on its own, is caught *by name* by its grader — the derived student
source is the mistake. Slow: one real-autograde class run proves the whole catalogue — each entry's test
cell scores 0, its output names the mistake, and no other test cell loses points (except those whose
functions call the wrong one, ``also_loses``). The summary prints the catch rate per notebook (goal 100%).

Entries of one notebook share a submission when ``wrong_answers.batches`` allows it; an entry not
confirmed in its batch is re-graded alone and the solo run decides. Assignments: every notebook, or
``$LLMCOURSE_GRADING_ASSIGNMENTS`` (comma-separated) when set.
"""

from __future__ import annotations

import collections
import os
import re

import nbformat
import pytest

import grading_helpers as H
from llmcourse.checks import CheckFailure
from wrong_answers import CATALOGUE, WrongAnswer, batches


def _selected() -> list[str]:
    return H.selected_assignments() if os.environ.get("LLMCOURSE_GRADING_ASSIGNMENTS") else \
        sorted({w.assignment for w in CATALOGUE})


ENTRIES = [w for w in CATALOGUE if w.assignment in _selected()]


# --------------------------------------------------------------------------- fast: each cell is its mistake


def _grader_call(w: WrongAnswer) -> str:
    """The entry's test cell, after the notebook's `from llmcourse.checks import … as …` lines."""
    cells = H.course_solution(w.assignment).cells
    i = next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == w.test_id)
    imports = [m.group(0) for c in cells[:i] for m in re.finditer(r"from llmcourse\.checks import \w+ as \w+", c.source)]
    cell = cells[i]
    return "\n".join(imports + [line for line in cell.source.splitlines() if "HIDDEN TESTS" not in line])


@pytest.mark.parametrize("w", CATALOGUE, ids=[w.key for w in CATALOGUE])
def test_each_catalogue_cell_is_caught_by_name_in_process(w):
    if not w.origin:
        pytest.skip("a hand-written entry (tests/wrong_answers/a*.py) runs in its notebook only: autograde proves it")
    namespace: dict = {}
    exec(compile(w.source, f"<{w.key}>", "exec"), namespace)  # noqa: S102 — our own catalogue
    with pytest.raises(CheckFailure) as info:
        exec(compile(_grader_call(w), f"<{w.test_id}>", "exec"), namespace)  # noqa: S102
    assert w.mistake in str(info.value), str(info.value)


def test_every_grader_a_notebook_uses_declares_its_mistakes():
    # a grader without declared mistakes would leave its exercise out of the catalogue
    import importlib

    from llmcourse import course

    for a in course.list_assignments(H.ROOT):
        aliases: dict[str, str] = {}
        for c in H.course_solution(a).cells:
            aliases.update((alias, mod) for mod, alias in re.findall(r"from llmcourse\.checks import (\w+) as (\w+)", c.source))
            for alias, check in set(re.findall(r"(\w+)\.(check_\w+)\(", c.source)):
                if check in ("check_choice", "check_number") or alias not in aliases:
                    continue
                grader = getattr(importlib.import_module(f"llmcourse.checks.{aliases[alias]}"), check)
                test_id = c.metadata.get("nbgrader", {}).get("grade_id")
                hand_written = any(w.assignment == a and w.test_id == test_id and not w.origin for w in CATALOGUE)
                assert getattr(grader, "mistakes", None) or hand_written, \
                    f"{a}: {aliases[alias]}.{check} declares no mistakes (@uses) and has no catalogue entry"


def test_batches_never_share_a_cell_between_entries():
    a = WrongAnswer("x", "f", "test_f", "m1", "")
    b = WrongAnswer("x", "f", "test_f", "m2", "")  # same exercise: separate submissions
    c = WrongAnswer("x", "g", "test_g", "m3", "", also_loses=("test_f",))  # breaks test_f: separate
    d = WrongAnswer("x", "h", "test_h", "m4", "")  # independent: may join a's submission
    e = WrongAnswer("y", "h", "test_h", "m5", "")  # another assignment: its own submission
    assert batches([a, b, c, d, e]) == [[a, d], [b], [c], [e]]


@pytest.mark.parametrize("w", CATALOGUE, ids=[w.key for w in CATALOGUE])
def test_catalogue_entry_names_cells_of_its_notebook(w):
    release = list((H.ROOT / "notebooks" / w.assignment).glob("*.ipynb"))
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.metadata.get("nbgrader", {})
             for c in nbformat.read(release[0], as_version=4).cells}
    assert cells.get(w.grade_id, {}).get("solution"), f"{w.grade_id!r} is not a solution cell of {w.assignment}"
    for t in (w.test_id, *w.also_loses):
        assert cells.get(t, {}).get("grade"), f"{t!r} is not a test cell of {w.assignment}"


# --------------------------------------------------------------------------- slow: one real-autograde class run


def _verdict(run, w: WrongAnswer) -> str | None:
    """None if caught (its cell 0, named, nothing else lost), else why not."""
    student = run.who[w]
    s = run.scores[(student, w.assignment)]
    if s.cells[w.test_id][0] != 0:
        return f"still scored {s.cells[w.test_id][0]} on {w.test_id}"
    path = next((run.work / "course" / "autograded" / student / w.assignment).glob("*.ipynb"))
    text = H.outputs_text(H.cell(nbformat.read(path, as_version=4), w.test_id))
    if w.mistake not in text:
        return f"feedback of {w.test_id} does not name {w.mistake!r}: {text[-300:]!r}"
    return None


def _collateral(run, batch: list[WrongAnswer]) -> list[str]:
    """Test cells of the submission that lost points without an entry of the batch explaining it."""
    student = run.who[batch[0]]
    s = run.scores[(student, batch[0].assignment)]
    allowed = {t for w in batch for t in (w.test_id, *w.also_loses)}
    return [k for k, (got, most) in s.cells.items()
            if k in H.autograded_points(batch[0].assignment) and k not in allowed and got != most]


@pytest.fixture(scope="module")
def verdicts():
    """entry -> None (caught) or the reason it was not, from the class run (+ solo re-runs)."""
    groups = batches(ENTRIES)
    run = H.cached("catalogue", lambda: H.catalogue_run(groups))
    out = {w: _verdict(run, w) for w in ENTRIES}
    collateral = {w: lost for batch in groups if (lost := _collateral(run, batch)) for w in batch}
    pending = [w for w in ENTRIES if out[w] is not None or w in collateral]
    if pending:  # not confirmed in a batch: grade each alone, and that run decides
        solo = H.catalogue_run([[w] for w in pending], prefix="solo")
        for w in pending:
            out[w] = _verdict(solo, w)
            if out[w] is None and (lost := _collateral(solo, [w])):
                out[w] = f"also lost points on {lost}"
    out["__seconds__"] = run.seconds
    return out


@pytest.mark.course
@pytest.mark.slow
def test_catch_rate_is_100_percent(verdicts, capsys):
    per = collections.defaultdict(lambda: [0, 0])
    for w in ENTRIES:
        per[w.assignment][0] += verdicts[w] is None
        per[w.assignment][1] += 1
    missed = {w.key: verdicts[w] for w in ENTRIES if verdicts[w] is not None}
    with capsys.disabled():
        print(f"\nwrong-answer catalogue through real autograde ({verdicts['__seconds__']:.0f} s for the class run):")
        for a, (caught, total) in sorted(per.items()):
            print(f"  {a:<20} caught and named {caught}/{total}")
        for k, why in missed.items():
            print(f"  MISSED {k}: {why}")
    assert ENTRIES, "no catalogue entries for the selected assignments"
    assert not missed


@pytest.mark.course
@pytest.mark.slow
@pytest.mark.parametrize("w", ENTRIES, ids=[w.key for w in ENTRIES])
def test_each_wrong_answer_is_caught_and_named(verdicts, w):
    assert verdicts[w] is None, verdicts[w]
