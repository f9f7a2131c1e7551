"""The wrong-answer catalogue: plausible wrong solutions, submitted through real nbgrader autograde.

One module per assignment, named ``a<assignment id>.py`` (``a00_welcome.py`` for ``00_welcome``), each
with a list ``WRONG_ANSWERS``; this package collects them into ``CATALOGUE``, so every stage author
edits only their own module. An entry replaces one solution cell (by ``grade_id``) of an otherwise
correct submission; the grading tests check that the submission loses exactly the points of
``test_id`` (plus ``also_loses``, test cells that legitimately fail with it because they use the same
function), and that the feedback of ``test_id`` names the mistake.

``batches`` groups entries so that several wrong answers of one notebook share a submission only when
that cannot mask anything (see its docstring).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class WrongAnswer:
    assignment: str
    grade_id: str  # the solution cell to replace
    test_id: str  # the test cell that must score 0
    mistake: str  # words the feedback must contain
    source: str
    also_loses: tuple[str, ...] = ()  # other test cells that fail with this answer (they call it)


def _collect() -> list[WrongAnswer]:
    found: list[WrongAnswer] = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        entries = getattr(importlib.import_module(f"{__name__}.{mod}"), "WRONG_ANSWERS", [])
        bad = [w for w in entries if f"a{w.assignment}" != mod]
        if bad:
            raise ValueError(f"tests/wrong_answers/{mod}.py: entries for {sorted({w.assignment for w in bad})}; "
                             f"put them in a<assignment>.py")
        found += entries
    return found


CATALOGUE: list[WrongAnswer] = _collect()


def batches(entries: list[WrongAnswer]) -> list[list[WrongAnswer]]:
    r"""Group entries into submissions: one assignment per batch, and within a batch no two entries
    touch the same solution cell, the same test cell, or a test cell another entry may break
    (``also_loses``).

    Why this cannot mask a mistake: an entry counts as caught only if *its* test cell scores 0 **and**
    that cell's output names *its* mistake -- another entry's breakage in the same submission can make
    the cell fail, but not with this entry's message. What batching can do is make a caught entry look
    uncaught (its test cell fails earlier for another reason); the grading tests re-grade every entry
    not confirmed in its batch on its own submission, and that solo run decides.
    """
    out: list[list[WrongAnswer]] = []
    for w in entries:
        for batch in out:
            if batch[0].assignment != w.assignment:
                continue
            taken = {x.grade_id for x in batch} | {x.test_id for x in batch} | {t for x in batch for t in x.also_loses}
            if not ({w.grade_id, w.test_id, *w.also_loses} & taken):
                batch.append(w)
                break
        else:
            out.append([w])
    return out
