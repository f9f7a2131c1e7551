"""Hidden tests stay hidden: not in release notebooks, not in the feedback HTML -- even where nbgrader's
own feedback prints them (a traceback shows the failing hidden assert) or student code prints them."""

from __future__ import annotations

import html
import json
import re

import pytest

import grading_helpers as H
from llmcourse import course

ASSIGNMENTS = course.list_assignments(H.ROOT)


def _hidden_lines(nb) -> list[str]:
    return [ln for c in nb.cells for ln in course._hidden_lines(c.source)
            if "HIDDEN TESTS" not in ln]


def _leaks(text: str, hidden: list[str]) -> list[str]:
    """Hidden lines found in ``text`` -- or in the text of an HTML page, where syntax highlighting puts
    every token in its own <span>."""
    plain = html.unescape(re.sub(r"<[^>]+>", "", text))
    return [h for h in hidden if h in text or h in plain]


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_release_notebook_contains_no_hidden_test_line(a):
    if not list((H.ROOT / "notebooks" / a).glob("*.ipynb")):
        pytest.skip(f"{a}: no release notebook yet (`llmcourse course build {a}`; test_course_sources checks it)")
    hidden = [h for h in _hidden_lines(H.course_solution(a)) if len(h) > 3]
    text = json.dumps(H.course_release(a).cells)
    assert not _leaks(text, hidden)
    assert "HIDDEN TESTS" not in text


def test_redaction_replaces_hidden_lines_in_an_ansi_traceback():
    # an IPython traceback line: colour codes between tokens, an arrow and a line number in front
    line = "\x1b[0;32m----> 3\x1b[0m \x1b[38;5;28massert\x1b[39m double(\x1b[38;5;241m-3\x1b[39m) \x1b[38;5;241m==\x1b[39m \x1b[38;5;241m-6\x1b[39m"
    text = "Cell In[3], line 3\n" + line + "\nAssertionError"
    out = course._redact_text(text, ["assert double(-3) == -6"])
    assert out == "Cell In[3], line 3\n[hidden test]\nAssertionError"


@pytest.mark.course
@pytest.mark.slow
class TestFeedback:
    @pytest.fixture(scope="class")
    @classmethod
    def run(cls):
        return H.fixture_run()

    @pytest.fixture(scope="class")
    @classmethod
    def plain_nbgrader_feedback(cls, run):
        """nbgrader's own generate_feedback (default preprocessors) on the same graded course."""
        with course._env_for_nbgrader():
            api = course._api(run.work / "course", run.work / "gradebook.db", release_dir=run.work / "release")
            for student in ("hidden_fail", "hook_printer"):
                assert api.generate_feedback(H.FIXTURE, student, force=True)["success"]
        return lambda student: (run.work / "course" / "feedback" / student / H.FIXTURE / "fixture.html").read_text()

    def _ours(self, run, student):
        return (run.feedback / student / H.FIXTURE / "fixture.html").read_text()

    def test_failing_hidden_test_scores_zero_and_nbgrader_feedback_would_leak_it(self, run, plain_nbgrader_feedback):
        # double(x) = 2|x| passes the visible double(2) == 4 and fails the hidden double(-3) == -6
        assert run.scores["hidden_fail"].cells["test_double"][0] == 0
        assert _leaks(plain_nbgrader_feedback("hidden_fail"), [H.HIDDEN_LINE])  # the known leak

    def test_our_feedback_has_no_hidden_line_but_keeps_the_failure_message(self, run):
        text = self._ours(run, "hidden_fail")
        assert not _leaks(text, [H.HIDDEN_LINE]) and "HIDDEN TESTS" not in text
        assert "double must handle negative numbers" in text  # the assert's message, written for students
        assert "[hidden test]" in text

    def test_hidden_tests_printed_by_student_code_are_redacted(self, run, plain_nbgrader_feedback):
        # an IPython pre_run_cell hook prints every cell's source, hidden block included
        assert _leaks(plain_nbgrader_feedback("hook_printer"), [H.HIDDEN_LINE])
        assert not _leaks(self._ours(run, "hook_printer"), [H.HIDDEN_LINE])

    @pytest.mark.parametrize("student", ["solution", "blank", "loop", "malicious", "tampered_tests"])
    def test_no_feedback_file_contains_a_hidden_line(self, run, student):
        assert not _leaks(self._ours(run, student), [H.HIDDEN_LINE])

    def test_every_autograded_student_gets_feedback(self, run):
        # nbgrader removes the autograded folder of a notebook it could not finish (kernel_dies):
        # there is nothing to give feedback on, and the report line says to review it by hand
        autograded = {p.name for p in (run.work / "course" / "autograded").iterdir()}
        have = {p.parent.parent.name for p in run.feedback.glob(f"*/{H.FIXTURE}/fixture.html")}
        assert have == autograded
        assert {s for s, score in run.scores.items() if score.seconds > 0} - have == {"kernel_dies"}
