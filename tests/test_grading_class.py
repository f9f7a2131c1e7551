"""A class of submissions of the course's own notebooks (``00_welcome`` by default; set
``LLMCOURSE_GRADING_ASSIGNMENTS=all`` for every notebook) through real autograde: every score equals
the expected one, nbgrader's CSV export agrees, and the time per submission is reported.

``bench/bench_grading.py`` runs the full-size version (30 students of every assignment, and the
autograde / plain execution ratio).
"""

from __future__ import annotations

import csv

import pytest

import grading_helpers as H
from llmcourse import course

pytestmark = [pytest.mark.course, pytest.mark.slow]
N = H.class_size()


@pytest.fixture(scope="module")
def run():
    return H.cached(f"class-{N}", lambda: H.class_run(H.selected_assignments(), N))


def test_every_submission_gets_its_expected_score(run, capsys):
    per = sorted(s.seconds for s in run.scores.values() if s.seconds > 0)
    with capsys.disabled():
        print(f"\nclass run: {len(run.scores)} submissions of {run.assignments} in {run.seconds:.0f} s; "
              f"autograde per executed submission: median {per[len(per) // 2]:.1f} s, max {per[-1]:.1f} s")
    assert H.mismatches(run) == []


def test_correct_and_broken_submissions_are_told_apart(run):
    for (student, a), s in run.scores.items():
        if student.startswith("correct"):  # the model answers word for word: reported as such, nothing else
            assert [f for f in s.flagged if not f.startswith(course.COPIED)] == [], (student, s.flagged)
        if student.startswith("not_json"):
            assert s.score == 0 and "not a readable notebook" in " ".join(s.flagged)
        if student.startswith("tampered_test"):
            assert "was edited (checksum differs)" in " ".join(s.flagged)


def test_nbgrader_csv_export_matches(run, tmp_path):
    rows = list(csv.DictReader(open(course.export_grades(run.work, tmp_path / "grades.csv"))))
    exported = {(r["student_id"], r["assignment"]): float(r["score"]) for r in rows}
    for (student, a), s in run.scores.items():
        assert exported[(student, a)] == s.score, (student, a)
    # the export also lists every student under every graded assignment (0 when not submitted)
    assert len(rows) == len({k[0] for k in run.scores}) * len(run.assignments)
