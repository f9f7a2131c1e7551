"""Results: merge each graded submission into the master gradebook, feedback HTML without hidden
tests, scores read back from the gradebook, and the CSV exports.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from llmcourse.course.intake import _hidden_lines, _Job
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


def _merge(master_db: Path, job: _Job) -> None:
    """Copy one graded submission from its scratch gradebook into the master, through nbgrader's API.

    A submission nbgrader could not finish (timed out, crashed) gets 0 on every cell, like a notebook
    that was never handed in (nbgrader's own rule for missing notebooks).
    """
    from nbgrader.api import Gradebook, MissingEntry

    a, student = job.assignment, job.student
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


def _redacting_preprocessor():
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import NbGraderPreprocessor

    class RedactHiddenTests(NbGraderPreprocessor):
        """Remove hidden-test lines from every output of a feedback notebook.

        nbgrader's feedback shows tracebacks, and an IPython traceback prints the failing line of the
        test cell -- a hidden assert -- in full; student code can also print hidden tests (the notebook
        file, an IPython hook). The hidden lines come from the gradebook's source cells.
        """

        def preprocess(self, nb, resources):
            info = resources["nbgrader"]
            with Gradebook(info["db_url"]) as gb:
                src = gb.find_notebook(info["notebook"], info["assignment"])
                hidden = [ln for c in src.source_cells for ln in _hidden_lines(c.source)]
            if not hidden:
                return nb, resources
            for cell in nb.cells:
                for out in cell.get("outputs", []):
                    if "text" in out:
                        out["text"] = _redact_text(out["text"], hidden)
                    if "traceback" in out:
                        out["traceback"] = [_redact_text(t, hidden) for t in out["traceback"]]
                    if "evalue" in out:
                        out["evalue"] = _redact_text(out["evalue"], hidden)
                    for key, value in (out.get("data") or {}).items():
                        if isinstance(value, str) and key.startswith("text/"):
                            out["data"][key] = _redact_text(value, hidden)
            return nb, resources

    return RedactHiddenTests


def _feedback(course: Path, db: Path, jobs: list[_Job], dest: Path) -> None:
    """Feedback HTML for every graded submission into ``dest/<student>/<assignment>/``; a failure
    becomes a report line of that submission (the grades stand)."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    extra = {"GenerateFeedback.preprocessors": [GetGrades, ClearHiddenTests, _redacting_preprocessor(),
                                                CSSHTMLHeaderPreprocessor],
             "ClearHiddenTests.enforce_metadata": False}
    with _env_for_nbgrader():
        api = _api(course, db, release_dir=course.parent / "release", extra=extra)
        for job in jobs:
            if not (course / "autograded" / job.student / job.assignment).is_dir():
                continue
            result = api.generate_feedback(job.assignment, job.student, force=True)
            if not result.get("success"):
                job.report.append("nbgrader could not write feedback for this submission: "
                                  + ((result.get("error") or "").strip().splitlines() or ["no message"])[-1][:200])
                continue
            src = course / "feedback" / job.student / job.assignment
            out = dest / job.student / job.assignment
            out.mkdir(parents=True, exist_ok=True)
            for html_file in src.glob("*.html"):
                shutil.copy2(html_file, out / html_file.name)


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
