"""The instructor's whole loop on a small class of the fixture course: grade (with progress, quietly) →
formgrader opens the kept workdir as it is → hand-grading through nbgrader's API → feedback regenerated
with the manual scores and comments and without hidden tests → nbgrader's CSV export.

The class: ``copier`` hands in the solution notebook itself, ``blank`` the untouched release, ``mixed``
one answer that fails the hidden test, one right answer and a cell that plots with matplotlib.
"""

from __future__ import annotations

import copy
import csv
import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import grading_helpers as H
from llmcourse import course
from llmcourse.course import intake
from llmcourse.course.cells import write_notebook

A, NB = H.FIXTURE, H.NOTEBOOK[: -len(".ipynb")]
MANUAL_COMMENT = "Say why squaring is what the exercise needs."


# --------------------------------------------------------------------------- fast: the pieces


def test_workdir_config_opens_the_graded_course_wherever_the_folder_is(tmp_path, monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    from llmcourse.course.redact import RedactHiddenTests

    course.write_workdir_config(tmp_path / "graded")
    shutil.move(tmp_path / "graded", tmp_path / "moved")  # the config names nothing outside its folder
    monkeypatch.chdir(tmp_path)
    c = PyFileConfigLoader("nbgrader_config.py", str(tmp_path / "moved")).load_config()
    here = tmp_path / "moved"
    assert c.CourseDirectory.root == str(here / "course")
    assert c.CourseDirectory.course_id == course.COURSE_ID
    assert c.CourseDirectory.source_directory == "solutions"
    assert c.CourseDirectory.release_directory == str(here / "release")
    assert c.CourseDirectory.db_url == f"sqlite:///{here / 'gradebook.db'}"
    assert RedactHiddenTests in c.GenerateFeedback.preprocessors  # formgrader's button redacts too
    assert c.ClearHiddenTests.enforce_metadata is False


def _info(solved: Path) -> intake._NotebookInfo:
    answers = intake._model_answers(nbformat.read(solved, as_version=4))
    return intake._NotebookInfo(NB, "python3", [], {}, set(), [], answers)


LONG_ANSWER = '''def double(x):
    ### BEGIN SOLUTION
    # scale by the course-wide factor, which the read-only setup cell defines
    result = FACTOR * x
    return result
    ### END SOLUTION'''


def test_a_copy_of_the_solutions_is_named_by_what_it_contains(tmp_path):
    cells = H.fixture_cells()
    H.cell(nbformat.v4.new_notebook(cells=cells), "double").source = LONG_ANSWER
    solved = write_notebook(tmp_path / "solved.ipynb", cells)
    info = _info(solved)
    assert info.answers["double"].startswith("# scale by")  # between the markers, markers dropped
    nb = nbformat.read(solved, as_version=4)
    assert intake._solution_source(nb, info) == ("solution markers in 'double', 'square', 'why'; "
                                                 "hidden tests in 'test_double'; the model answer in 'double'")
    # the long model answer pasted into a release-like cell, re-indented and with blank lines: still found
    pasted = copy.deepcopy(nb)
    for c in pasted.cells:
        c.source = H.without_markers(c.source).replace("### BEGIN HIDDEN TESTS", "")
    H.cell(pasted, "double").source = "def double(x):\n\n  # scale by the course-wide factor, which the read-only " \
                                      "setup cell defines\n  result = FACTOR * x\n\n  return result\n"
    assert intake._solution_source(pasted, _info(solved)) == "the model answer in 'double'"
    # a short model answer written the same way by anyone is not evidence; an own answer is not either
    assert "square" not in intake._solution_source(pasted, _info(solved))
    H.cell(pasted, "double").source = "def double(x):\n    return x + x  # my own"
    assert intake._solution_source(pasted, _info(solved)) == ""


# --------------------------------------------------------------------------- slow: the loop, for real


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _llmcourse(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmcourse.cli", *args], cwd=cwd, env=_env(), text=True,
                          capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    base = tmp_path_factory.mktemp("loop")
    root = H.make_course(base / "course")
    subs = base / "submissions"
    H.submit(subs, "copier", H.solved(root))
    H.submit(subs, "blank", H.release(root))
    mixed = H.with_answer(H.release(root), "double", "def double(x):\n    return FACTOR * abs(x)")
    mixed = H.with_answer(mixed, "square", "def square(x):\n    return x ** 2")
    mixed.cells.append(nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4])"))
    H.submit(subs, "mixed", mixed)
    t0 = time.perf_counter()
    graded = _llmcourse("course", "grade", str(subs), "--course", str(root), "--workdir", "graded",
                        "--timeout", "60", "--jobs", "2", cwd=base)
    seconds = {"grade": time.perf_counter() - t0}
    assert graded.returncode == 0, graded.stderr
    return type("Loop", (), dict(base=base, root=root, work=base / "graded", out=graded.stdout, err=graded.stderr,
                                 seconds=seconds))


def _hidden() -> list[str]:
    return [H.HIDDEN_LINE, html.escape(H.HIDDEN_LINE), "BEGIN HIDDEN TESTS"]


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.slow
def test_grading_prints_progress_first_and_nothing_on_stderr(loop):
    lines = loop.out.splitlines()
    assert lines[0].startswith("student code runs with: ")
    progress = [ln for ln in lines if ln.startswith("[")]
    assert [ln.split()[0] for ln in progress] == ["[1/3]", "[2/3]", "[3/3]"]
    assert lines.index(progress[-1]) < lines.index("report (per notebook):")
    by_student = {ln.split()[1]: ln for ln in progress}
    assert re.search(r"copier\s+50_fixture\s+3/4\s+[\d.]+ s .*FLAGGED: contains the solution source",
                     by_student["copier"])
    assert re.search(r"mixed\s+50_fixture\s+2/4\s+[\d.]+ s", by_student["mixed"])  # square right, hidden test failed
    assert "FLAGGED" not in by_student["mixed"] + by_student["blank"]
    assert ("! contains the solution source: solution markers in 'double', 'square', 'why'; hidden tests in "
            "'test_double'") in loop.out
    assert loop.err == ""  # no SQLAlchemy warnings from nbgrader, nothing else
    plotted = nbformat.read(loop.work / "course" / "autograded" / "mixed" / A / H.NOTEBOOK, as_version=4)
    assert not [o for c in plotted.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert (loop.work / "nbgrader_config.py").is_file()


@pytest.mark.slow
def test_formgrader_opens_the_workdir_as_it_is_and_its_feedback_button_redacts(loop, tmp_path):
    """The README's command (Jupyter started in the workdir), on 127.0.0.1 only; formgrader's API lists
    the graded assignment, the three submissions, the copier's flag; its Generate Feedback is safe."""
    with H.formgrader(loop.work, tmp_path) as call:
        assignments = call("assignments")
        assert [(x["name"], x["num_submissions"]) for x in assignments] == [(A, 3)]
        subs = call(f"submissions/{A}")
        assert sorted((s["student"], s["score"]) for s in subs) == [("blank", 0.0), ("copier", 3.0), ("mixed", 2.0)]
        notebooks = call(f"submitted_notebooks/{A}/{NB}")
        assert {n["student"]: n["flagged"] for n in notebooks} == {"blank": False, "copier": True, "mixed": False}
        # formgrader's "Generate Feedback" for the student whose hidden test failed (its traceback prints it)
        result = call(f"assignment/{A}/mixed/generate_feedback", method="POST")
        assert result["success"], result
    page = (loop.work / "course" / "feedback" / "mixed" / A / f"{NB}.html").read_text()
    assert "[hidden test]" in page and not [h for h in _hidden() if h in page or h in _text(page)]


@pytest.mark.slow
def test_feedback_after_hand_grading_has_the_manual_scores_and_no_hidden_tests(loop):
    from nbgrader.api import Gradebook

    t0 = time.perf_counter()
    with Gradebook(f"sqlite:///{loop.work / 'gradebook.db'}", course_id=course.COURSE_ID) as gb:
        for student, points in (("copier", 0.5), ("mixed", 1.0)):
            gb.find_grade("why", NB, A, student).manual_score = points
            gb.find_comment("why", NB, A, student).manual_comment = f"{MANUAL_COMMENT} ({student})"
        gb.db.commit()
    done = _llmcourse("course", "feedback", "graded", "--feedback", "feedback", cwd=loop.base)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "3 feedback file(s)" in done.stdout
    for student, total in (("copier", "3.5 / 4.0"), ("mixed", "3.0 / 4.0"), ("blank", "0.0 / 4.0")):
        page = (loop.base / "feedback" / student / A / f"{NB}.html").read_text()
        assert page == (loop.work / "course" / "feedback" / student / A / f"{NB}.html").read_text()
        assert f"Score: {total}" in _text(page), student
        assert not [h for h in _hidden() if h in page or h in _text(page)], student
        if student != "blank":
            assert f"{MANUAL_COMMENT} ({student})" in _text(page)
    exported = _llmcourse("course", "export", "graded", "--nbgrader-csv", "grades.csv", cwd=loop.base)
    assert exported.returncode == 0 and exported.stderr == "", exported.stderr
    rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(open(loop.base / "grades.csv"))}
    assert rows == {"blank": 0.0, "copier": 3.5, "mixed": 3.0}
    loop.seconds["hand-grade, feedback, export"] = time.perf_counter() - t0
    print(f"\nloop on 3 students: " + ", ".join(f"{k} {v:.1f} s" for k, v in loop.seconds.items()))
