"""The course loop on nbgrader's own API: build release notebooks, check they are in sync, autograde.

Layout (see ``nbgrader_config.py``)::

    solutions/<NN_topic>/<topic>.ipynb   nbgrader *source* notebooks (answers, hidden tests)
    notebooks/<NN_topic>/<topic>.ipynb   *release* notebooks, generated from solutions/

Nothing here re-implements nbgrader: we set up a course directory, call
``NbGraderAPI.generate_assignment`` / ``autograde``, and read scores from its SQLite gradebook.
Two traps handled here: nbgrader shells out to ``alembic`` when it creates a gradebook (so this
environment's ``bin/`` goes on PATH), and every run uses its own gradebook file so a build never
leaves ``gradebook.db`` behind in the repository.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

COURSE_ID = "llmcourse"
SOURCE_DIR = "solutions"
RELEASE_DIR = "notebooks"


class CourseError(ValueError):
    """A course folder, assignment or submission is not what nbgrader needs; the message says the fix."""


def find_course_root(start: str | Path | None = None) -> Path:
    """The folder holding ``nbgrader_config.py`` and ``solutions/`` (this checkout by default)."""
    here = Path(start or Path.cwd()).resolve()
    for p in [here, *here.parents]:
        if (p / "nbgrader_config.py").is_file() and (p / SOURCE_DIR).is_dir():
            return p
    raise CourseError(
        f"{here}: not an nbgrader course (no nbgrader_config.py with a {SOURCE_DIR}/ folder here or above); "
        "run from the llmcourse checkout or pass --course DIR"
    )


def list_assignments(root: Path) -> list[str]:
    """Assignment ids = the folders of ``solutions/`` that hold a notebook, in course order."""
    src = root / SOURCE_DIR
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


@contextlib.contextmanager
def _env_for_nbgrader():
    """nbgrader's gradebook creation runs ``alembic``: make this interpreter's bin/ visible."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old


def _api(root: Path, db_path: Path, *, release_dir: str | Path = RELEASE_DIR, timeout: int = 600,
         extra: dict | None = None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = SOURCE_DIR
    c.CourseDirectory.release_directory = str(release_dir)
    c.CourseDirectory.db_url = f"sqlite:///{db_path}"
    c.Execute.timeout = timeout
    c.Execute.interrupt_on_timeout = True
    c.Execute.allow_errors = True
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    for key, value in (extra or {}).items():
        section, name = key.split(".")
        setattr(getattr(c, section), name, value)
    coursedir = CourseDirectory(config=c)
    return NbGraderAPI(coursedir, config=c)


def _require_ok(result: dict, what: str) -> None:
    if not result.get("success", False):
        raise CourseError(f"nbgrader {what} failed:\n{result.get('error') or ''}\n{result.get('log') or ''}".strip())


def build(root: Path | None = None, *, release_dir: Path | None = None, assignments: list[str] | None = None) -> list[Path]:
    """Generate release notebooks from ``solutions/`` with nbgrader (overwrites generated files only).

    ``release_dir`` defaults to ``notebooks/``; the sync test builds into a temporary folder instead.
    Returns the paths of the generated notebooks.
    """
    root = root or find_course_root()
    assignments = assignments or list_assignments(root)
    release = Path(release_dir) if release_dir else root / RELEASE_DIR
    out: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp, _env_for_nbgrader():
        api = _api(root, Path(tmp) / "gradebook.db", release_dir=release)
        for a in assignments:
            if not (root / SOURCE_DIR / a).is_dir():
                raise CourseError(f"{root / SOURCE_DIR / a}: no such assignment (have: {list_assignments(root)})")
            _require_ok(api.generate_assignment(a, force=True, create=True), f"generate_assignment {a}")
            out += sorted((release / a).glob("*.ipynb"))
    return out


def release_diff(root: Path | None = None) -> list[str]:
    """Differences between ``notebooks/`` and what nbgrader generates from ``solutions/`` now."""
    root = root or find_course_root()
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "release"
        build(root, release_dir=fresh)
        have = {p.relative_to(root / RELEASE_DIR) for p in (root / RELEASE_DIR).rglob("*.ipynb")
                if ".ipynb_checkpoints" not in p.parts}
        want = {p.relative_to(fresh) for p in fresh.rglob("*.ipynb")}
        problems += [f"notebooks/{p}: missing (run `llmcourse course build`)" for p in sorted(want - have)]
        problems += [f"notebooks/{p}: has no source in solutions/" for p in sorted(have - want)]
        for p in sorted(want & have):
            a = json.loads((fresh / p).read_text(encoding="utf-8"))
            b = json.loads((root / RELEASE_DIR / p).read_text(encoding="utf-8"))
            if a != b:
                problems.append(f"notebooks/{p}: differs from what nbgrader generates from solutions/ (run `llmcourse course build`)")
    return problems


# --------------------------------------------------------------------------- autograding


@dataclass
class NotebookScore:
    student: str
    assignment: str
    notebook: str
    score: float
    max_score: float
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)  # grade_id -> (score, max)
    needs_manual_grade: bool = False
    flagged: list[str] = field(default_factory=list)  # e.g. tampered test cells


def _submission_layout(submissions: Path, assignments: list[str]) -> dict[str, list[str]]:
    """Map student -> assignments found under ``submissions/<student>/<assignment>/*.ipynb``."""
    if not submissions.is_dir():
        raise CourseError(f"{submissions}: no such folder; expected <student>/<assignment>/<notebook>.ipynb")
    layout: dict[str, list[str]] = {}
    for student in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = [a.name for a in sorted(student.iterdir()) if a.is_dir() and a.name in assignments]
        unknown = [a.name for a in student.iterdir() if a.is_dir() and a.name not in assignments and not a.name.startswith(".")]
        if unknown:
            raise CourseError(
                f"{student}: unknown assignment folder(s) {unknown}; expected one of {assignments} "
                f"(layout: {submissions}/<student>/<assignment>/<notebook>.ipynb)"
            )
        if found:
            layout[student.name] = found
    if not layout:
        raise CourseError(
            f"{submissions}: no submissions found; expected <student>/<assignment>/<notebook>.ipynb "
            f"with assignment one of {assignments}"
        )
    return layout


def grade(submissions: str | Path, *, root: Path | None = None, workdir: Path | None = None,
          timeout: int = 300, assignments: list[str] | None = None) -> list[NotebookScore]:
    """Autograde every ``submissions/<student>/<assignment>/*.ipynb`` with nbgrader.

    Grading happens in a scratch course folder (``workdir`` or a temporary one): the source notebooks
    are copied in, assignments are generated into a fresh gradebook, submissions are copied (never
    modified in place), and ``nbgrader autograde`` runs with a per-cell ``timeout``. Scores come from
    the gradebook.
    """
    from nbgrader.api import Gradebook

    root = root or find_course_root()
    submissions = Path(submissions).resolve()
    all_assignments = list_assignments(root)
    layout = _submission_layout(submissions, assignments or all_assignments)
    needed = sorted({a for lst in layout.values() for a in lst})
    own_tmp = workdir is None
    work = Path(tempfile.mkdtemp(prefix="llmcourse-grade-")) if own_tmp else Path(workdir)
    try:
        course = work / "course"
        if course.exists():
            raise CourseError(f"{course}: already exists; pass an empty --workdir")
        shutil.copytree(root / SOURCE_DIR, course / SOURCE_DIR, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for student, lst in layout.items():
            for a in lst:
                shutil.copytree(submissions / student / a, course / "submitted" / student / a,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        db = work / "gradebook.db"
        scores: list[NotebookScore] = []
        with _env_for_nbgrader():
            api = _api(course, db, release_dir=work / "release", timeout=timeout)
            for a in needed:
                _require_ok(api.generate_assignment(a, force=True, create=True), f"generate_assignment {a}")
            for student, lst in layout.items():
                for a in lst:
                    result = api.autograde(a, student, force=True, create=True)
                    if not result.get("success", False):
                        scores.append(NotebookScore(student, a, "?", 0.0, 0.0, flagged=[f"autograde failed: {result.get('error')}".strip()]))
            with Gradebook(f"sqlite:///{db}", course_id=COURSE_ID) as gb:
                for student, lst in layout.items():
                    for a in lst:
                        try:
                            sub = gb.find_submission(a, student)
                        except Exception:
                            continue
                        for nb in sub.notebooks:
                            cells = {g.name: (float(g.score), float(g.max_score)) for g in nb.grades}
                            flagged = ["nbgrader flagged this notebook"] if getattr(nb, "flagged", False) else []
                            scores.append(NotebookScore(student, a, nb.name, float(nb.score), float(nb.max_score),
                                                        cells, bool(nb.needs_manual_grade), flagged))
        return scores
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)


def write_scores_csv(scores: list[NotebookScore], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "notebook", "score", "max_score", "needs_manual_grade", "flags"])
        for s in scores:
            w.writerow([s.student, s.assignment, s.notebook, s.score, s.max_score, s.needs_manual_grade, "; ".join(s.flagged)])
    return path


# --------------------------------------------------------------------------- running notebooks


def execute(path: str | Path, *, timeout: int = 600, allow_errors: bool = False) -> tuple[object, list[tuple[int, float]]]:
    """Run a notebook top to bottom in a fresh kernel (its own folder as working directory).

    Returns the executed notebook (nothing is written back to disk) and ``(cell_index, seconds)``
    for each code cell, slowest first. Raises ``nbclient``'s ``CellExecutionError`` on the first
    failing cell unless ``allow_errors``.
    """
    import time

    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    timings: list[tuple[int, float]] = []
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.perf_counter()
            client.execute_cell(cell, i)
            timings.append((i, time.perf_counter() - t0))
    return nb, sorted(timings, key=lambda t: -t[1])


def stderr_outputs(nb) -> list[tuple[int, str]]:
    """Cells whose outputs include stderr text (nbgrader scores a *test* cell with stderr as 0)."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append((i, out.get("text", "")[:200]))
    return found
