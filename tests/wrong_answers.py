"""The wrong-answer catalogue: plausible wrong solutions, submitted through real nbgrader autograde.

Each entry replaces one solution cell (by ``grade_id``) of the *release* notebook; the course tests
check that the submission loses exactly the points of that exercise's test cell and that the
feedback names the mistake.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WrongAnswer:
    assignment: str
    grade_id: str  # the solution cell to replace
    test_id: str  # the test cell that must score 0
    mistake: str  # words the feedback must contain
    source: str


CATALOGUE: list[WrongAnswer] = [
    WrongAnswer("00_welcome", "exact_match", "test_exact_match", "substring match instead of exact match", '''
def exact_match(predictions, references):
    return sum(" ".join(r.split()) in " ".join(p.split()) for p, r in zip(predictions, references)) / len(references)
'''),
]
