"""Faulty submissions through real nbgrader autograde: each is graded as nbgrader intends, never a
silent full mark, and the instructor gets a report line saying what happened.

All students of the fixture class (``grading_helpers.fixture_students``) are graded in one run
(shared with the isolation and feedback tests). Fixture notebook: ``test_double`` 1 point (with a
hidden test), ``test_square`` 2 points, a written answer ``why`` 1 point (manual, so at most 3
points come from autograding).
"""

from __future__ import annotations

import time

import pytest

import grading_helpers as H
from llmcourse import course

pytestmark = [pytest.mark.course, pytest.mark.slow]


@pytest.fixture(scope="module")
def run():
    return H.fixture_run()


def _auto(run, student):
    return {k: v[0] for k, v in run.scores[student].cells.items() if k.startswith("test_")}


def _flags(run, student) -> str:
    return "\n".join(run.scores[student].flagged)


def test_correct_submission_earns_every_autograded_point_and_no_report(run):
    assert _auto(run, "solution") == {"test_double": 1.0, "test_square": 2.0}
    assert run.scores["solution"].flagged == []
    assert run.scores["solution"].needs_manual_grade  # the written answer waits for the instructor


def test_untouched_release_scores_zero(run):
    assert _auto(run, "blank") == {"test_double": 0.0, "test_square": 0.0}


def test_infinite_loop_zeroes_its_test_cell_only_and_is_reported(run):
    # double() loops forever: test_double is interrupted after the 4 s per-cell timeout (0 points);
    # square and its test still run and earn 2 points; the last cell also calls double and times out
    assert _auto(run, "loop") == {"test_double": 0.0, "test_square": 2.0}
    assert "cell 'test_double' stopped after the 4 s per-cell timeout" in _flags(run, "loop")
    # bounded: two timeouts of 4 s plus kernel start-up, far from the 300 s per-submission limit
    assert run.scores["loop"].seconds < 120


def test_an_infinite_loop_does_not_hold_up_other_students(run):
    # every student whose notebook could be read was executed and graded in the same run
    executed = {s for s, score in run.scores.items() if score.seconds > 0}
    assert executed == set(run.scores) - {"not_json", "not_a_notebook", "wrong_name"}
    assert _auto(run, "daemon") == {"test_double": 1.0, "test_square": 2.0}


def test_error_in_an_early_cell_costs_the_tests_that_depend_on_it(run):
    # the raise comes before `def double`: test_double fails (NameError), test_square is unaffected
    assert _auto(run, "raise_early") == {"test_double": 0.0, "test_square": 2.0}
    assert "cell(s) outside the tests raised an error (first: cell 'double': RuntimeError)" in _flags(run, "raise_early")


def test_deleted_test_cell_scores_zero_and_is_reported(run):
    # nbgrader does not re-insert a deleted test cell (add_missing_cells is off): its points are lost
    assert _auto(run, "deleted_test") == {"test_double": 1.0, "test_square": 0.0}
    assert "test cell 'test_square' was deleted" in _flags(run, "deleted_test")


def test_deleted_solution_cell_fails_its_test(run):
    assert _auto(run, "deleted_solution") == {"test_double": 0.0, "test_square": 2.0}
    assert "solution cell 'double' was deleted" in _flags(run, "deleted_solution")


def test_reordered_cells_run_in_the_submitted_order(run):
    # test_double moved above `def double`: NameError when it runs -> 0
    assert _auto(run, "reordered") == {"test_double": 0.0, "test_square": 2.0}
    assert "cells reordered: 'double' now comes before 'test_double'" in _flags(run, "reordered")


def test_edited_test_cells_are_restored_so_passing_them_gains_nothing(run):
    # the blank release with both test cells replaced by `pass`: nbgrader restores them from the
    # gradebook (checksums differ), they run against the unimplemented functions -> 0, not 3
    assert _auto(run, "tampered_tests") == {"test_double": 0.0, "test_square": 0.0}
    flags = _flags(run, "tampered_tests")
    assert "test cell 'test_double' was edited (checksum differs)" in flags
    assert "test cell 'test_square' was edited (checksum differs)" in flags


def test_edited_read_only_cell_is_restored(run):
    # FACTOR = 3 in the read-only setup cell would make double(2) == 6; nbgrader restores FACTOR = 2
    assert _auto(run, "tampered_readonly") == {"test_double": 1.0, "test_square": 2.0}
    assert "read-only cell 'setup' was edited (checksum differs)" in _flags(run, "tampered_readonly")
    nb = H.autograded(run, "tampered_readonly")
    assert H.cell(nb, "setup").source.startswith("FACTOR = 2")


def test_changed_kernel_is_reset_to_the_course_kernel(run):
    assert _auto(run, "changed_kernel") == {"test_double": 1.0, "test_square": 2.0}
    assert "kernel changed to 'ir'" in _flags(run, "changed_kernel")
    assert H.autograded(run, "changed_kernel").metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("student", ["not_json", "not_a_notebook"])
def test_unreadable_notebook_scores_zero_everywhere_and_is_reported(run, student):
    s = run.scores[student]
    assert s.score == 0 and s.max_score == 4 and not s.needs_manual_grade
    assert "not a readable notebook" in _flags(run, student)


def test_misnamed_notebook_is_reported_and_graded_as_missing(run):
    s = run.scores["wrong_name"]
    assert (s.notebook, s.score) == ("fixture", 0.0)
    assert "fixture (1).ipynb is not part of 50_fixture" in _flags(run, "wrong_name")
    assert "fixture.ipynb was not submitted" in _flags(run, "wrong_name")


def test_memory_limit_raises_memory_error_in_the_student_cell(run):
    # `bytearray(3 GiB)` after `def double` under a 2048 MB limit: MemoryError, the function exists
    assert _auto(run, "memory_hog") == {"test_double": 1.0, "test_square": 2.0}
    assert "cell 'double' ran out of memory (limit 2048 MB)" in _flags(run, "memory_hog")


def test_a_kernel_that_dies_scores_zero_with_a_report(run):
    # os._exit in the square cell kills the kernel; nbgrader cannot finish the notebook
    assert _auto(run, "kernel_dies") == {"test_double": 0.0, "test_square": 0.0}
    assert "the kernel died" in _flags(run, "kernel_dies")


def test_code_reaching_for_the_grader_is_flagged_for_review(run):
    assert "uses the IPython kernel API" in _flags(run, "hook_printer")
    assert "looks for the gradebook, the solutions or notebook files" in _flags(run, "malicious")


def test_symlinks_in_a_submission_are_removed(run):
    assert _auto(run, "symlink") == {"test_double": 1.0, "test_square": 2.0}
    assert "symbolic link notes.txt removed" in _flags(run, "symlink")
    assert not (run.work / "course" / "autograded" / "symlink" / H.FIXTURE / "notes.txt").exists()


def test_nbgrader_csv_export_matches_the_scores(run, tmp_path):
    import csv

    rows = {r["student_id"]: r for r in csv.DictReader(open(course.export_grades(run.work, tmp_path / "g.csv")))}
    assert set(rows) == set(run.scores)
    for student, s in run.scores.items():
        assert float(rows[student]["score"]) == s.score, student
        assert float(rows[student]["max_score"]) == s.max_score == 4


def _grade_swallowing_loop(tmp_path, limits: course.GradingLimits):
    """Grade one submission whose answer cell loops forever, catching KeyboardInterrupt; returns its
    score and the kernel's pid (the cell writes it first)."""
    root = H.make_course(tmp_path / "course")
    subs = tmp_path / "subs"
    pid_file = tmp_path / "kernel.pid"
    H.submit(subs, "swallow", H.with_answer(H.student_notebook(H.FIXTURE, root=root), "double", f'''
import os
open({str(pid_file)!r}, "w").write(str(os.getpid()))
def double(x):
    return FACTOR * x
while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass'''))
    [s] = course.grade(subs, root=root, assignments=[H.FIXTURE], limits=limits)
    return s, int(pid_file.read_text())


def _assert_kernel_gone(pid: int) -> None:
    time.sleep(0.5)
    assert _state(pid) in ("gone", "Z"), f"the kernel (pid {pid}) is still running"


def test_interrupt_swallowing_loop_is_stopped_and_its_kernel_killed(tmp_path):
    """A loop that catches KeyboardInterrupt survives the per-cell interrupt; nbgrader then shuts the
    kernel down. The submission scores 0 with a report line naming the per-cell limit, and the kernel is
    gone. Graded without isolation, which also exercises the limits-only mode."""
    t0 = time.perf_counter()
    s, pid = _grade_swallowing_loop(tmp_path, course.GradingLimits(cell_timeout=2, submission_timeout=90,
                                                                    isolation="none"))
    assert time.perf_counter() - t0 < 120
    assert s.isolation.startswith("limits only")
    assert s.score == 0
    report = "\n".join(s.flagged)
    # nbgrader gives up on the kernel after the interrupt fails; on a very slow machine the
    # per-submission limit may get there first. Either way the student is told why.
    assert ("ran past the 2 s per-cell limit" in report
            or "grading stopped after 90 s (the per-submission limit)" in report), report
    _assert_kernel_gone(pid)


def test_long_submission_is_stopped_by_the_submission_limit(tmp_path):
    """With a generous per-cell limit, the per-submission wall-clock is what stops an endless cell:
    the submission scores 0 with a report line, and the kernel is killed."""
    s, pid = _grade_swallowing_loop(tmp_path, course.GradingLimits(cell_timeout=600, submission_timeout=8,
                                                                    isolation="none"))
    assert s.score == 0 and 8 <= s.seconds < 60
    assert "grading stopped after 8 s (the per-submission limit)" in "\n".join(s.flagged)
    _assert_kernel_gone(pid)


def _state(pid: int) -> str:
    """'gone', or the state letter from /proc (Z: a zombie, dead but not yet reaped by its new parent)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[0]


def test_cli_prints_the_report_lines_and_writes_nbgrader_csv(tmp_path, capsys):
    from llmcourse import cli

    root = H.make_course(tmp_path / "course")
    subs = tmp_path / "subs"
    H.submit(subs, "loop", H.with_answer(H.student_notebook(H.FIXTURE, root=root), "double",
                                         "def double(x):\n    while True:\n        pass"))
    H.submit(subs, "broken", "{not json")
    code = cli.main(["course", "grade", str(subs), H.FIXTURE, "--course", str(root), "--timeout", "3",
                     "--nbgrader-csv", str(tmp_path / "grades.csv"), "--feedback", str(tmp_path / "fb")])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("student code runs with:")  # before any grading, so the instructor sees it first
    assert sorted(ln.split()[1] for ln in lines[1:3]) == ["broken", "loop"] and lines[1].startswith("[1/2] ")
    assert "loop                 50_fixture             2/4" in out
    assert "! cell 'test_double' stopped after the 3 s per-cell timeout" in out
    assert "broken               50_fixture             0/4" in out and "! fixture.ipynb: not a readable notebook" in out
    assert (tmp_path / "grades.csv").read_text().count("50_fixture") == 2
    assert (tmp_path / "fb" / "loop" / H.FIXTURE / "fixture.html").is_file()
