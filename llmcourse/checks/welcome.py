"""Graders for notebook 00 (welcome): the exact-match scorer."""

from __future__ import annotations

from llmcourse import tasks
from llmcourse.checks import Case, Mistake, check_function, uses


def _count_not_share(predictions, references):
    return sum(tasks.normalize(p) == tasks.normalize(r) for p, r in zip(predictions, references))


def _no_normalisation(predictions, references):
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def _substring(predictions, references):
    return sum(tasks.normalize(r) in tasks.normalize(p) for p, r in zip(predictions, references)) / len(references)


def _strip_only(predictions, references):
    return sum(p.strip() == r.strip() for p, r in zip(predictions, references)) / len(references)


def _all_whitespace_removed(predictions, references):
    return sum("".join(p.split()) == "".join(r.split()) for p, r in zip(predictions, references)) / len(references)


MISTAKES = [
    Mistake("returned a count, not a share", _count_not_share,
            "Exact match is the *fraction* of predictions that match: divide by the number of references."),
    Mistake("whitespace not normalised", _no_normalisation,
            "Generated text often carries a leading space or a trailing newline: compare `' '.join(text.split())`."),
    Mistake("substring match instead of exact match", _substring,
            "'4 1 3 9' contains '4 1 3' but is wrong: the whole normalised answer must be equal."),
    Mistake("only the ends stripped", _strip_only,
            "`.strip()` leaves double spaces inside ('4  1'): normalise inner whitespace too."),
    Mistake("all whitespace deleted, not normalised", _all_whitespace_removed,
            "Deleting every space makes '12 3' equal '1 23': collapse runs of whitespace to one space "
            "(`' '.join(text.split())`) instead of removing them."),
]


@uses(MISTAKES)
def check_exact_match(fn, *, hidden: bool = False) -> None:
    cases = [
        Case((["4 1 3"], ["4 1 3"]), label="one exact answer"),
        Case(([" 4 1 3\n", "7"], ["4 1 3", "8"]), label="leading space and newline"),
        Case((["4 1 3 9", "2", "5"], ["4 1 3", "2", "6"]), label="answer plus extra tokens"),
        Case((["1  2 3", "5 ", "6"], ["1 2 3", "5", "0"]), label="double space inside"),
        Case((["12 3", "4 5", "7  8"], ["1 23", "45", "7 8"]), label="spaces in other places ('12 3' is not '1 23')"),
    ]
    if hidden:
        import random

        rng = random.Random(2024)
        for i in range(4):
            refs = [p.answer for p in tasks.problems(6, rng)]
            preds = [r if rng.random() < 0.5 else r + " " + str(rng.randint(0, 9)) for r in refs]
            preds = [("  " + p) if rng.random() < 0.3 else p for p in preds]
            cases.append(Case((preds, refs), label=f"random batch {i + 1}"))
    check_function(fn, tasks.exact_match, cases, name="exact_match", mistakes=MISTAKES)
