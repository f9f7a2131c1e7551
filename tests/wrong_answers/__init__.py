"""The wrong-answer catalogue, derived from the graders: every classic mistake is written once, as a
function next to its grader in ``llmcourse/checks/<stage>.py`` (``@uses(...)`` lists them), and every
concept check's wrong options and classic wrong values once, in ``llmcourse.checks.interview``.

This module turns each into the answer cell a student would hand in and places it in the notebook:
the solution notebooks' test cells say which grader checks which function
(``checks.check_sft_loss(sft_loss)``), the solution cell that defines that function is the cell to
replace (its ``def`` swapped for the mistake's source, :func:`llmcourse.checks.student_source`), and
test cells whose functions call it may also lose points (``also_loses``). A mistake is proved in the
first notebook that grades it (notebook 06 re-uses the stage graders; its catalogue is the concept
checks). ``tests/test_grading_catalogue.py`` grades the whole catalogue through real nbgrader autograde
in one class run.

``batches`` groups entries so that several wrong answers of one notebook share a submission only when
that cannot mask anything (see its docstring).
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from llmcourse.checks import student_source

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WrongAnswer:
    assignment: str
    grade_id: str  # the solution cell to replace
    test_id: str  # the test cell that must score 0
    mistake: str  # words the feedback must contain
    source: str
    also_loses: tuple[str, ...] = ()  # other test cells that may fail with it (their functions call it)
    origin: str = ""  # where the mistake is written: "llmcourse.checks.sft._no_shift", "interview t2a = 12"

    @property
    def key(self) -> str:
        what = (self.origin.rsplit(".", 1)[-1] if self.origin.startswith("llmcourse") else
                self.origin.split(" ", 1)[-1] if self.origin else self.mistake)
        return f"{self.assignment}:{self.grade_id}:{what}"


_IMPORT = re.compile(r"from llmcourse\.checks import (\w+) as (\w+)")
_CALL = re.compile(r"(\w+)\.(check_\w+)\(\s*(\w+)")
_CONCEPT = re.compile(r"\w+\.check_(?:choice|number)\(\s*\"(\w+)\"")


def _cells(assignment: str) -> list:
    path = next((ROOT / "solutions" / assignment).glob("*.ipynb"))
    return nbformat.read(path, as_version=4).cells


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _replace_def(cell_source: str, name: str, new: str) -> str:
    """The solution cell with its ``def name`` replaced by ``new`` (other statements of the cell kept)."""
    lines = cell_source.splitlines()
    node = next(n for n in ast.parse(cell_source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    end = node.end_lineno
    while end < len(lines) and lines[end].startswith((" ", "\t")) and lines[end].strip().startswith("#"):
        end += 1  # the `### END SOLUTION` marker inside the def
    return "\n".join(lines[:start] + new.rstrip("\n").splitlines() + lines[end:]) + "\n"


def _concept_entries(assignment: str, qid: str, grade_id: str, test_id: str) -> list[WrongAnswer]:
    from llmcourse.checks.interview import ChoiceQuestion, QUESTIONS

    q = QUESTIONS[qid]
    if isinstance(q, ChoiceQuestion):
        return [WrongAnswer(assignment, grade_id, test_id, note[:60], f'answer_{qid} = "{letter}"\n',
                            origin=f"interview {qid} = {letter}")
                for letter, note in q.wrong.items()]
    return [WrongAnswer(assignment, grade_id, test_id, note[:60], f"answer_{qid} = {value!r}\n",
                        origin=f"interview {qid} = {value!r}")
            for value, note in q.wrong]


def derive(assignment: str, seen: set | None = None) -> list[WrongAnswer]:
    """The catalogue entries of one notebook; ``seen`` holds (grader, mistake) pairs already proved by an
    earlier notebook, and gains this notebook's."""
    seen = set() if seen is None else seen
    cells = _cells(assignment)
    solutions = {_meta(c)["grade_id"]: c.source for c in cells if _meta(c).get("solution") and c.cell_type == "code"}
    graded: dict[str, str] = {}  # function name -> its test cell
    for c in cells:
        if _meta(c).get("grade") and not _meta(c).get("solution"):
            for _, _, fn_name in _CALL.findall(c.source):
                graded.setdefault(fn_name, _meta(c)["grade_id"])
    out: list[WrongAnswer] = []
    aliases: dict[str, str] = {}  # as the kernel sees them when each cell runs: a later import rebinds
    for c in cells:
        meta = _meta(c)
        aliases.update({alias: f"llmcourse.checks.{mod}" for mod, alias in _IMPORT.findall(c.source)})
        if not (meta.get("grade") and not meta.get("solution")):
            continue
        test_id = meta["grade_id"]
        for qid in dict.fromkeys(_CONCEPT.findall(c.source)):
            out += _concept_entries(assignment, qid, qid, test_id)
        for alias, check_name, fn_name in dict.fromkeys(_CALL.findall(c.source)):
            if check_name in ("check_choice", "check_number") or alias not in aliases:
                continue
            grader = getattr(importlib.import_module(aliases[alias]), check_name)
            grade_id = next(g for g, src in solutions.items() if re.search(rf"^def {fn_name}\(", src, re.M))
            callers = tuple(sorted(t for f, t in graded.items() if f != fn_name and t != test_id
                                   and re.search(rf"\b{fn_name}\b", next(s for s in solutions.values()
                                                                          if re.search(rf"^def {f}\(", s, re.M)))))
            for m in getattr(grader, "mistakes", []):
                if (grader, m.fn) in seen:
                    continue
                seen.add((grader, m.fn))
                cell = _replace_def(solutions[grade_id], fn_name, m.source or student_source(m.fn, fn_name))
                out.append(WrongAnswer(assignment, grade_id, test_id, m.name, cell, callers,
                                       origin=f"{m.fn.__module__}.{m.fn.__name__}"))
    return out


def _collect() -> list[WrongAnswer]:
    """Derived entries of every notebook, plus any hand-written ``WRONG_ANSWERS`` of an ``a<assignment>.py``
    module here (for a stage whose graders do not list their mistakes yet: move them into the grader)."""
    import pkgutil

    from llmcourse import course

    seen: set = set()
    assignments = course.list_assignments(ROOT)
    found = [w for a in assignments for w in derive(a, seen)]
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        entries = getattr(importlib.import_module(f"{__name__}.{mod}"), "WRONG_ANSWERS", [])
        found += [w for w in entries if w.assignment in assignments]  # a notebook still being written waits
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
