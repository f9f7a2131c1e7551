"""Results: merge each graded submission into the master gradebook, feedback HTML without hidden
tests, scores read back from the gradebook, and the CSV exports.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from llmcourse.course.intake import COPIED, _Job
from llmcourse.course.layout import COURSE_ID, CourseError, _api, _env_for_nbgrader


@dataclass
class NotebookScore:
    student: str
    assignment: str
    notebook: str
    score: float
    max_score: float
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)  # grade_id -> (score, max)
    needs_manual_grade: bool = False
    flagged: list[str] = field(default_factory=list)
    """Report lines for the instructor: timeouts, crashes, tampering, unreadable notebooks, ..."""
    seconds: float = 0.0
    """Wall time of this submission's autograde (the whole assignment folder)."""
    isolation: str = ""
    """How the student's code ran, e.g. ``namespaces (no network), 4096 MB, 300 s/cell``."""


# ---- merging into the master gradebook


def _executed(path: Path) -> bool:
    """Whether nbgrader's execution pass finished on this autograded notebook (it is written once
    sanitized, before running, and again after)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return False
    return any(c.get("execution_count") is not None for c in nb.cells if c.cell_type == "code")


def _quiet_nbgrader() -> None:
    """Silence SQLAlchemy's "not in session" warnings raised inside nbgrader's own Gradebook code (its
    autoflush while it creates a submission): harmless, and they ended every grading run on stderr."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning, module=r"nbgrader\.")


def _merge(master_db: Path, job: _Job) -> None:
    """Copy one graded submission from its scratch gradebook into the master, through nbgrader's API.

    A submission nbgrader could not finish (timed out, crashed) gets 0 on every cell, like a notebook
    that was never handed in (nbgrader's own rule for missing notebooks).
    """
    from nbgrader.api import Gradebook, MissingEntry

    a, student = job.assignment, job.student
    _quiet_nbgrader()
    with Gradebook(f"sqlite:///{master_db}", course_id=COURSE_ID) as gm:
        gm.update_or_create_student(student)
        sub = None
        if job.status != "timed out":
            gs = Gradebook(f"sqlite:///{job.scratch / 'gradebook.db'}", course_id=COURSE_ID)
            try:
                try:
                    sub = gs.find_submission(a, student)
                except MissingEntry:
                    sub = None
                stamp = {"timestamp": sub.timestamp} if sub is not None and sub.timestamp else {}
                gm.update_or_create_submission(a, student, **stamp)
                if sub is not None:
                    for nb in sub.notebooks:
                        mnb = gm.find_submission_notebook(nb.name, a, student)
                        mnb.late_submission_penalty = nb.late_submission_penalty
                        mnb.flagged = nb.name in job.flag
                        # nbgrader's scores stand if it finished, if it scored a missing notebook
                        # itself, or if this notebook ran to the end before another one failed
                        graded = (job.status == "ok" or nb.name not in job.notebooks
                                  or _executed(job.course / "autograded" / student / a / f"{nb.name}.ipynb"))
                        for g in nb.grades:
                            mg = gm.find_grade(g.name, nb.name, a, student)
                            if graded:
                                mg.auto_score, mg.needs_manual_grade = g.auto_score, g.needs_manual_grade
                            else:
                                mg.auto_score, mg.needs_manual_grade = 0, False
                        for c in nb.comments:
                            gm.find_comment(c.name, nb.name, a, student).auto_comment = c.auto_comment
            finally:
                gs.close()
        if sub is None:
            gm.update_or_create_submission(a, student)
            for mnb in gm.find_submission(a, student).notebooks:
                mnb.flagged = mnb.name in job.flag
                for mg in mnb.grades:
                    mg.auto_score, mg.needs_manual_grade = 0, False
        gm.db.commit()


# ---- feedback without hidden tests


def _redact_text(text: str, hidden: list[str]) -> str:
    import html
    import re

    ansi = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
    prefix = re.compile(r"^\s*(?:-*>\s*)?\d*\s?")  # IPython traceback line numbers / arrows
    longer = [h for h in hidden if len(h) >= 8]
    out = []
    for line in text.split("\n"):
        plain = ansi.sub("", line)
        body = prefix.sub("", plain).strip()
        if body in hidden or any(h in plain or html.escape(h) in plain or html.escape(h, quote=False) in plain
                                 for h in longer):
            out.append("[hidden test]")
        else:
            out.append(line)
    return "\n".join(out)


def _feedback_api(work: Path):
    """nbgrader's API on a graded ``work`` folder (see :func:`~llmcourse.course.grading.grade`), with the
    feedback steps that remove hidden tests."""
    from llmcourse.course.redact import FEEDBACK_PREPROCESSORS

    extra = {"GenerateFeedback.preprocessors": FEEDBACK_PREPROCESSORS, "ClearHiddenTests.enforce_metadata": False}
    return _api(work / "course", work / "gradebook.db", release_dir=work / "release", extra=extra)


def _feedback_one(api, course: Path, student: str, assignment: str, dest: Path | None) -> str | None:
    """Feedback HTML of one graded submission into ``course/feedback/`` (and ``dest`` if given);
    returns a report line if nbgrader failed (the grades stand)."""
    result = api.generate_feedback(assignment, student, force=True)
    if not result.get("success"):
        return ("nbgrader could not write feedback for this submission: "
                + ((result.get("error") or "").strip().splitlines() or ["no message"])[-1][:200])
    if dest is not None:
        src = course / "feedback" / student / assignment
        out = dest / student / assignment
        out.mkdir(parents=True, exist_ok=True)
        for html_file in src.glob("*.html"):
            shutil.copy2(html_file, out / html_file.name)
    return None


def _feedback(course: Path, db: Path, jobs: list[_Job], dest: Path) -> None:
    """Feedback HTML for every graded submission into ``dest/<student>/<assignment>/``; a failure
    becomes a report line of that submission (the grades stand)."""
    with _env_for_nbgrader():
        api = _feedback_api(course.parent)
        for job in jobs:
            if (course / "autograded" / job.student / job.assignment).is_dir():
                line = _feedback_one(api, course, job.student, job.assignment, dest)
                if line:
                    job.report.append(line)


def feedback(workdir: str | Path, dest: str | Path | None = None) -> tuple[list[Path], list[str]]:
    """Regenerate feedback for every graded submission of a ``--workdir`` kept by
    :func:`~llmcourse.course.grading.grade`, with the gradebook's scores and comments as they are now
    (after manual grading in formgrader) and without hidden tests.

    Writes nbgrader's ``<workdir>/course/feedback/<student>/<assignment>/<notebook>.html`` (what
    formgrader's "Release feedback" hands out) and a copy under ``dest`` if given. Returns the HTML
    files written and one line per submission nbgrader could not do.
    """
    work = Path(workdir).resolve()
    course = work / "course"
    if not (work / "gradebook.db").is_file() or not (course / "autograded").is_dir():
        raise CourseError(f"{work}: not a graded workdir (no gradebook.db and course/autograded/); "
                          "pass the --workdir of `llmcourse course grade`")
    done = sorted((s.name, a.name) for s in (course / "autograded").iterdir() if s.is_dir()
                  for a in s.iterdir() if a.is_dir())
    written, problems = [], []
    _quiet_nbgrader()
    with _env_for_nbgrader():
        api = _feedback_api(work)
        for student, a in done:
            line = _feedback_one(api, course, student, a, Path(dest) if dest is not None else None)
            if line:
                problems.append(f"{student} {a}: {line}")
            written += sorted((course / "feedback" / student / a).glob("*.html"))
    return written, problems



def _read_scores(db: Path, jobs: list[_Job], how: str) -> list[NotebookScore]:
    from nbgrader.api import Gradebook

    scores: list[NotebookScore] = []
    with Gradebook(f"sqlite:///{db}", course_id=COURSE_ID) as gb:
        for job in jobs:
            sub = gb.find_submission(job.assignment, job.student)
            for nb in sub.notebooks:
                cells = {g.name: (float(g.score), float(g.max_score)) for g in nb.grades}
                flags = list(job.report) + job.nb_report.get(nb.name, [])
                scores.append(NotebookScore(job.student, job.assignment, nb.name, float(nb.score), float(nb.max_score),
                                            cells, bool(nb.needs_manual_grade), flags, round(job.seconds, 2), how))
    return scores


def _progress_line(db: Path, job: _Job, k: int, n: int) -> str:
    """One line for a submission just merged: ``[k/n] student assignment score/max seconds``."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}", course_id=COURSE_ID) as gb:
        sub = gb.find_submission(job.assignment, job.student)
        score, top, manual = float(sub.score), float(sub.max_score), bool(sub.needs_manual_grade)
    notes = ["+ manual grading pending"] if manual else []
    notes += [f"{job.status}"] if job.status in ("failed", "timed out") and job.notebooks else []
    notes += ["FLAGGED: " + COPIED] if job.flag else []
    return (f"[{k}/{n}] {job.student:<20} {job.assignment:<22} {score:g}/{top:g}  {job.seconds:.1f} s"
            + (f"  ({'; '.join(notes)})" if notes else ""))


def export_grades(workdir: str | Path, path: str | Path) -> Path:
    """nbgrader's own CSV export (``nbgrader export``) of a graded ``workdir`` (see :func:`grade`)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    db = Path(workdir) / "gradebook.db"
    if not db.is_file():
        raise CourseError(f"{db}: no gradebook; pass the --workdir a grading run kept")
    plugin = CsvExportPlugin()
    plugin.to = str(path)
    with Gradebook(f"sqlite:///{db}", course_id=COURSE_ID) as gb:
        plugin.export(gb)
    return Path(path)


def write_scores_csv(scores: list[NotebookScore], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "notebook", "score", "max_score", "needs_manual_grade", "seconds", "flags"])
        for s in scores:
            w.writerow([s.student, s.assignment, s.notebook, s.score, s.max_score, s.needs_manual_grade, s.seconds,
                        "; ".join(s.flagged)])
    return path
