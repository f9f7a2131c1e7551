r"""Concept checks for notebook 06 (interview prep): multiple-choice and numeric questions.

Each question lives once, in :mod:`llmcourse.checks.interview_bank` — its text, its options, the
answer, the explanation shown after a right answer, and a note for each classic wrong answer. The
notebook's question cells are rendered from that bank (``concept=`` cells of
``tools/notebooks/06_interview_prep.py``; ``llmcourse.course.sources`` calls :func:`question_markdown`),
so the release notebook carries the question and never the answer. The package is open-book, as for
every other grader: a student who reads the bank can see the answers.

A student answers in a solution cell and a test cell checks it::

    answer_t2a = 6                              # solution cell
    checks.check_number("t2a", answer_t2a)      # test cell: ✓ t2a: 6 — why: …

    answer_t3c = "B"
    checks.check_choice("t3c", answer_t3c)

A wrong answer raises :class:`~llmcourse.checks.CheckFailure` (nbgrader scores the cell 0) with a note
on *why that answer is wrong* and a hint, but not the right answer, so the student can think again and
re-run; a right answer prints ``✓ <id>: <answer> — why: <explanation>``. An unanswered cell (still
``None``) fails with "not answered yet". :func:`reveal` prints the answer and explanation on request
(self-study).
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from llmcourse.checks import fail, passed
from llmcourse.checks.interview_bank import _BANK, QUESTIONS, ChoiceQuestion, NumberQuestion, _close  # noqa: F401

__all__ = ["ChoiceQuestion", "NumberQuestion", "QUESTIONS", "check_choice", "check_number", "reveal",
           "question_markdown", "answer_placeholder"]


# --------------------------------------------------------------------------- checking answers


def _get(qid: str, kind: type):
    q = QUESTIONS.get(qid)
    if q is None:
        raise KeyError(f"no interview question {qid!r}; known ids: {', '.join(QUESTIONS)}")
    if not isinstance(q, kind):
        other = "check_number" if isinstance(q, NumberQuestion) else "check_choice"
        raise TypeError(f"question {qid!r} is a {type(q).__name__}; check it with {other}")
    return q


def _unanswered(qid: str, example: str) -> None:
    fail(f"✗ {qid}: not answered yet — in the cell above, replace `raise NotImplementedError()` with "
         f"`answer_{qid} = {example}` and run that cell.")


_LETTER = re.compile(r"^\(?\s*([A-Za-z])\s*[).:]?$")


def check_choice(qid: str, answer: Any) -> None:
    """Check a multiple-choice answer (a letter such as ``"B"``; case, spaces and ``"(B)"``/``"B."`` are
    accepted). Prints ``✓ … — why: …`` when right; raises :class:`CheckFailure` with a note otherwise."""
    q: ChoiceQuestion = _get(qid, ChoiceQuestion)
    letters = ", ".join(q.options)
    if answer is None or answer is Ellipsis:
        _unanswered(qid, '"<letter>"')
    if not isinstance(answer, str):
        fail(f"✗ {qid}: answer with one letter as a string, answer_{qid} = \"<letter>\" (one of {letters}); "
             f"got {answer!r} ({type(answer).__name__}).")
    m = _LETTER.match(answer.strip())
    if m is None:
        fail(f"✗ {qid}: {answer!r} is not one letter; answer with one of {letters}, as a string.")
    letter = m.group(1).upper()
    if letter not in q.options:
        fail(f"✗ {qid}: {letter!r} is not an option; choose one of {letters}.")
    if letter != q.answer:
        fail(f"✗ {qid}: {letter} is not the best answer. {q.wrong[letter]}\n  Think again, change "
             f"answer_{qid} and re-run both cells.")
    passed(qid, f"{letter} — why: {q.why}")


def _as_number(qid: str, answer: Any) -> float:
    if isinstance(answer, bool):
        fail(f"✗ {qid}: expected a number, got {answer!r} (a bool).")
    if isinstance(answer, str):
        fail(f"✗ {qid}: expected a number, got the string {answer!r}; write it without quotes "
             f"(e.g. answer_{qid} = 1.4e11).")
    if isinstance(answer, numbers.Real):
        return float(answer)
    size = getattr(answer, "size", None)
    numel = answer.numel() if callable(getattr(answer, "numel", None)) else size
    if numel == 1 and hasattr(answer, "item"):
        value = answer.item()
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    fail(f"✗ {qid}: expected a single number, got {type(answer).__name__}: {answer!r}.")
    raise AssertionError("unreachable")  # fail() always raises


def _power_of_ten_off(got: float, expected: float, rel_tol: float) -> int | None:
    """The k ≠ 0 with got ≈ expected·10^k (within the tolerance, at least 1%), else None."""
    if got == 0 or expected == 0 or (got > 0) != (expected > 0):
        return None
    k = round(math.log10(got / expected))
    if k != 0 and math.isclose(got, expected * 10.0**k, rel_tol=max(rel_tol, 0.01)):
        return k
    return None


def check_number(qid: str, answer: Any, *, rel_tol: float | None = None, abs_tol: float | None = None) -> None:
    """Check a numeric answer within the question's tolerance (or ``rel_tol``/``abs_tol`` given here).
    Prints ``✓ … — why: …`` when right; raises :class:`CheckFailure` naming a classic wrong value when
    it recognises one, or with a hint otherwise."""
    q: NumberQuestion = _get(qid, NumberQuestion)
    rel = q.rel_tol if rel_tol is None else rel_tol
    ab = q.abs_tol if abs_tol is None else abs_tol
    if answer is None or answer is Ellipsis:
        _unanswered(qid, "<number>")
    got = _as_number(qid, answer)
    if not math.isfinite(got):
        fail(f"✗ {qid}: {got!r} is not a finite number.")
    if _close(got, q.answer, rel, ab):
        passed(qid, f"{got:.6g} — why: {q.why}")
        return
    for value, note in q.wrong:
        if _close(got, value, rel, ab):
            fail(f"✗ {qid}: {got:.6g} — {note}\n  Change answer_{qid} and re-run both cells.")
    if _close(-got, q.answer, rel, ab):
        fail(f"✗ {qid}: {got:.6g} has the wrong sign.")
    k = _power_of_ten_off(got, q.answer, rel)
    if k is not None:
        fail(f"✗ {qid}: {got:.6g} is off by a factor of 10^{k}: check the powers of ten (and the units).")
    fail(f"✗ {qid}: {got:.6g} is not right. Hint: {q.hint or 'work it through on paper first.'}\n"
         f"  Change answer_{qid} and re-run both cells.")


def reveal(qid: str) -> None:
    """Print a question's answer and explanation (self-study: after you have tried)."""
    q = QUESTIONS.get(qid)
    if q is None:
        raise KeyError(f"no interview question {qid!r}; known ids: {', '.join(QUESTIONS)}")
    if isinstance(q, ChoiceQuestion):
        print(f"{qid}: {q.answer} ({q.options[q.answer]}) — why: {q.why}")
    else:
        print(f"{qid}: {q.answer:.6g} — why: {q.why}")


# --------------------------------------------------------------------------- rendering for the notebook


def question_markdown(qid: str, points: float | None = None) -> str:
    """The question as Markdown for a read-only notebook cell: text and options, never the answer."""
    q = QUESTIONS.get(qid)
    if q is None:
        raise KeyError(f"no interview question {qid!r}; known ids: {', '.join(QUESTIONS)}")
    pts = f" ({points:g} point{'s' if points != 1 else ''})" if points is not None else ""
    head = f"**Concept check `{qid}`{pts}.** {q.text}"
    if isinstance(q, ChoiceQuestion):
        opts = "\n".join(f"- **{k}.** {v}" for k, v in q.options.items())
        letters = f"{next(iter(q.options))}–{next(reversed(q.options))}"
        return f"{head}\n\n{opts}\n\nAnswer in the cell below with one letter ({letters}), as a string: `answer_{qid} = \"…\"`."
    return f"{head}\n\nAnswer in the cell below with a number (no quotes): `answer_{qid} = …`."


def answer_placeholder(qid: str) -> str:
    """The line that precedes the solution markers in an answer cell, so an unanswered release cell
    still defines the name (the test cell then says "not answered yet" instead of a NameError)."""
    q = QUESTIONS.get(qid)
    if q is None:
        raise KeyError(f"no interview question {qid!r}; known ids: {', '.join(QUESTIONS)}")
    kind = f'one letter, {", ".join(repr(k) for k in q.options)}' if isinstance(q, ChoiceQuestion) else "a number"
    return f"answer_{qid} = None  # your answer: {kind}"
