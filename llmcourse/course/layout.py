"""Course layout and release build on nbgrader's own API: find the course, list assignments, generate
``notebooks/`` from ``solutions/`` and check they are in sync.

Layout (see ``nbgrader_config.py``)::

    solutions/<NN_topic>/<topic>.ipynb   nbgrader *source* notebooks (answers, hidden tests)
    notebooks/<NN_topic>/<topic>.ipynb   *release* notebooks, generated from solutions/

Nothing here re-implements nbgrader: we set up a course directory and call
``NbGraderAPI.generate_assignment``. Two traps handled here: nbgrader shells out to ``alembic`` when it
creates a gradebook (so this environment's ``bin/`` goes on PATH), and every run uses its own gradebook
file so a build never leaves ``gradebook.db`` behind in the repository. That ``alembic`` run costs
seconds on a busy machine (a whole interpreter start, only to read the migrations' head revision): a
build copies an empty gradebook made once per process, stamped with that head read in-process,
into memory where the system has it (``/dev/shm``): a build commits to its throw-away gradebook a few
hundred times, and on a busy disk those syncs cost seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
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


def _scratch() -> str | None:
    """A folder in memory for throw-away gradebooks, if the system has one (else the usual temp folder)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@functools.lru_cache(maxsize=1)
def _empty_gradebook() -> Path:
    """An empty nbgrader gradebook, made once per process. For a new database nbgrader's ``Gradebook``
    runs ``alembic heads`` in a subprocess and records the head in an ``alembic_version`` table; the
    table is written here first, with the head of nbgrader's own migrations read in-process, so
    ``Gradebook`` finds a database and only adds its tables."""
    import sqlite3

    from alembic.script import ScriptDirectory
    from nbgrader import dbutil
    from nbgrader.api import Gradebook

    folder = Path(tempfile.mkdtemp(prefix="llmcourse-gradebook-", dir=_scratch()))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "gradebook.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version (version_num) VALUES (?)",
                   (ScriptDirectory(dbutil.ALEMBIC_DIR).get_current_head(),))
    with _env_for_nbgrader(), Gradebook(f"sqlite:///{path}", course_id=COURSE_ID):
        pass
    return path


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
    with tempfile.TemporaryDirectory(dir=_scratch()) as tmp, _env_for_nbgrader():
        db = shutil.copy(_empty_gradebook(), Path(tmp) / "gradebook.db")  # a fresh copy: builds stay independent
        api = _api(root, Path(db), release_dir=release)
        for a in assignments:
            if not (root / SOURCE_DIR / a).is_dir():
                raise CourseError(f"{root / SOURCE_DIR / a}: no such assignment (have: {list_assignments(root)})")
            _require_ok(api.generate_assignment(a, force=True, create=True), f"generate_assignment {a}")
            out += sorted((release / a).glob("*.ipynb"))
    return out


def _release_notebooks(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}


def release_orphans(root: Path | None = None) -> list[str]:
    """Release folders in ``notebooks/`` with no assignment in ``solutions/`` (no nbgrader run: fast)."""
    root = root or find_course_root()
    known = set(list_assignments(root))
    return [f"notebooks/{p}: has no source in solutions/" for p in sorted(_release_notebooks(root / RELEASE_DIR))
            if p.parts[0] not in known]


def release_diff(root: Path | None = None, assignments: list[str] | None = None) -> list[str]:
    """Differences between ``notebooks/`` and what nbgrader generates from ``solutions/`` now.

    ``assignments`` limits the check to those assignments' folders (one nbgrader run each, a few
    seconds: the fast tests check one notebook per test); by default every assignment is built and
    release folders without an assignment are reported too (:func:`release_orphans`).
    """
    root = root or find_course_root()
    problems: list[str] = [] if assignments else release_orphans(root)
    assignments = assignments or list_assignments(root)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "release"
        build(root, release_dir=fresh, assignments=assignments)
        have = {p for p in _release_notebooks(root / RELEASE_DIR) if p.parts[0] in assignments}
        want = _release_notebooks(fresh)
        problems += [f"notebooks/{p}: missing (run `llmcourse course build`)" for p in sorted(want - have)]
        problems += [f"notebooks/{p}: has no source in solutions/" for p in sorted(have - want)]
        for p in sorted(want & have):
            a = json.loads((fresh / p).read_text(encoding="utf-8"))
            b = json.loads((root / RELEASE_DIR / p).read_text(encoding="utf-8"))
            if a != b:
                problems.append(f"notebooks/{p}: differs from what nbgrader generates from solutions/ (run `llmcourse course build`)")
    return problems


WORKDIR_CONFIG = """\
# Written by `llmcourse course grade`: the graded course in this folder, for formgrader.
#   cd {folder} && jupyter lab        (then Nbgrader > Formgrader)
# Paths are relative to this file, so the folder can be moved.
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.join(here, "course")
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.source_directory = {source!r}
c.CourseDirectory.release_directory = os.path.join(here, "release")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")

# formgrader's "Generate Feedback" button: the same steps as `llmcourse course feedback`, which keep
# hidden tests out of the feedback (nbgrader's default prints them in tracebacks)
try:
    from llmcourse.course.redact import FEEDBACK_PREPROCESSORS
except ImportError:
    sys.path.insert(0, {package_parent!r})
    from llmcourse.course.redact import FEEDBACK_PREPROCESSORS
c.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS
c.ClearHiddenTests.enforce_metadata = False
"""


def write_workdir_config(work: Path) -> Path:
    """``<work>/nbgrader_config.py`` for the graded course kept in ``work`` (``course/``, ``release/``,
    ``gradebook.db``): Jupyter started in ``work`` shows it in formgrader as it is."""
    path = Path(work) / "nbgrader_config.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WORKDIR_CONFIG.format(folder=Path(work).name, course_id=COURSE_ID, source=SOURCE_DIR,
                                          package_parent=str(Path(__file__).resolve().parents[2])),
                    encoding="utf-8")
    return path
