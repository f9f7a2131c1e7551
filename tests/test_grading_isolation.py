"""Untrusted student code under real autograde: it cannot read the solutions or the gradebook, cannot
write the gradebook or the package, has no network and no instructor secrets, and leaves no process
behind -- wherever Linux lets the sandbox use namespaces (the tests that need them skip otherwise,
saying why). The limits-only mode is checked in ``test_grading_faults.py``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import grading_helpers as H
from llmcourse import course, sandbox

WHY = sandbox.probe()
needs_namespaces = pytest.mark.skipif(WHY is not None, reason=f"no namespace sandbox here: {WHY}")


def test_isolation_status_says_when_student_code_is_not_isolated(monkeypatch):
    monkeypatch.setattr(sandbox, "_PROBE", {"result": "Linux refused the namespaces (test)"})
    isolated, how = course.isolation_status(course.GradingLimits())
    assert not isolated and how.startswith("NOT isolated (Linux refused the namespaces (test))")
    with pytest.raises(course.CourseError, match="isolation required but not available here"):
        course.isolation_status(course.GradingLimits(isolation="required"))


def test_limits_reject_unknown_isolation_mode():
    with pytest.raises(ValueError, match="use 'auto', 'required' or 'none'"):
        course.GradingLimits(isolation="docker")


def test_kernel_never_gets_a_read_path_that_contains_the_solutions(tmp_path):
    solutions = tmp_path / "course" / "solutions"
    solutions.mkdir(parents=True)
    limits = course.GradingLimits(read_paths=(str(tmp_path / "course"), str(tmp_path)))
    paths, refused = course._kernel_read_paths(limits, [solutions])
    assert str(tmp_path) not in paths and str(tmp_path / "course") not in paths
    assert len(refused) == 2 and all("not shared with student code" in r for r in refused)


@needs_namespaces
@pytest.mark.course
@pytest.mark.slow
class TestMaliciousSubmission:
    @pytest.fixture(scope="class")
    @classmethod
    def run(cls):
        return H.fixture_run()

    @pytest.fixture(scope="class")
    @classmethod
    def tries(cls, run):
        out = H.outputs_text(H.cell(H.autograded(run, "malicious"), "double"))
        return json.loads(out.strip().splitlines()[-1])

    def test_runs_in_namespaces(self, run):
        assert run.scores["malicious"].isolation.startswith("namespaces (no network")

    def test_is_still_graded_normally(self, run):
        s = run.scores["malicious"]
        assert s.cells["test_double"][0] == 1 and s.cells["test_square"][0] == 2

    @pytest.mark.parametrize("attempt", ["read_fixture_solution", "read_course_solutions", "read_gradebook"])
    def test_cannot_read_solutions_or_gradebook(self, tries, attempt):
        assert tries[attempt].startswith("DENIED"), tries

    def test_cannot_find_any_gradebook_or_notebook_on_disk(self, tries):
        # neither the master nor its own scratch gradebook, nor any notebook (its own is not copied in)
        assert tries["find_gradebooks"] == "OK []" and tries["find_notebooks"] == "OK []"

    def test_cannot_write_the_gradebook(self, run, tries):
        assert tries["write_gradebook"].startswith("DENIED")
        data = (run.work / "gradebook.db").read_bytes()
        assert b"student was here" not in data
        with sqlite3.connect(run.work / "gradebook.db") as db:
            assert db.execute("select count(*) from student").fetchone()[0] == len(run.scores)

    def test_cannot_write_into_the_package(self, run, tries):
        assert tries["write_package"].startswith("DENIED")
        assert not run.probe_file.exists()

    def test_has_no_network(self, tries):
        assert tries["network"].startswith("DENIED")

    def test_does_not_see_the_instructors_environment(self, tries):
        assert tries["secret_env"] == "DENIED KeyError"

    def test_a_detached_student_process_does_not_outlive_grading(self, run):
        # the `daemon` student started `sleep 987651` in a new session; the PID namespace ended with
        # the kernel, so no such process exists on the host now
        for proc in Path("/proc").iterdir():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            assert H.DAEMON_ARG.encode() not in cmd, f"pid {proc.name} survived: {cmd}"
