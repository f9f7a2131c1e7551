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

import atexit
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
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


def _lab_models() -> None:
    from llmcourse.ppo import lab

    lab.sft_model_path(progress=True)
    lab.reward_model_path(None, progress=True)
    lab.reward_model_path("length", progress=True)


def _base_model() -> None:
    from llmcourse import models

    models.base_model_path()


MODEL_CACHES = {"00_welcome": [_base_model], "01_sft_data": [_base_model], "02_reward_model": [_base_model],
                "03_ppo_rlhf": [_base_model, _lab_models], "04_augmentation": [_base_model],
                "05_scaling_laws": [_base_model], "06_interview_prep": [_base_model]}
"""The cached models each notebook loads (built on first use). Graded kernels see the cache read-only,
so :func:`grade` builds them first, in the instructor's environment; cheap once they exist."""


def prepare_models(assignments: list[str]) -> None:
    """Build (once per machine) the cached models the given assignments' notebooks load."""
    done = set()
    for a in assignments:
        for build in MODEL_CACHES.get(a, []):
            if build not in done:
                build()
                done.add(build)


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
#
# How a class is graded (``grade``), and why each step is there:
#
# 1. A *master* scratch course (``<workdir>/course`` + ``<workdir>/gradebook.db``): the source notebooks
#    are copied in and ``generate_assignment`` fills the gradebook. It is never visible to student code.
# 2. Each submission is checked before it runs (``_inspect``): unreadable notebooks, deleted, moved or
#    edited nbgrader cells, a changed kernel, symbolic links, code that reaches for the grader. Each
#    finding becomes a report line; nbgrader itself decides the score.
# 3. Each submission is autograded by nbgrader in its own *per-submission* course in a short temporary
#    folder: a copy of the gradebook (nbgrader needs its cell records to restore test cells), the
#    submission (symlinks removed), and the release's data files -- no solution notebooks. nbgrader runs
#    in a child process with a wall-clock limit; its kernel runs under ``llmcourse/sandbox.py``
#    (a kernel spec wrapping ipykernel): resource limits, and where Linux allows, a private filesystem
#    view in which neither course is reachable, no network, and a minimal environment.
# 4. The per-submission gradebook's scores and the autograded notebook are merged into the master
#    through nbgrader's Gradebook API, so the master is an ordinary nbgrader course (formgrader,
#    ``nbgrader export``, feedback).
# 5. Feedback HTML comes from nbgrader's ``generate_feedback`` with two more preprocessors: nbgrader's
#    ``ClearHiddenTests`` and ``RedactHiddenTests`` (below), which removes hidden-test lines from every
#    output (tracebacks print the failing line).


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


@dataclass
class GradingLimits:
    """What a student's code may use while it is graded (see the README, *Grading untrusted code*)."""

    cell_timeout: int = 300
    """Seconds per cell (nbgrader's ``Execute.timeout``); a cell that takes longer is interrupted and
    its test cell scores 0, the rest of the notebook still runs."""
    submission_timeout: int = 1800
    """Seconds for one student's whole assignment folder; past it nbgrader is stopped and every cell of
    that submission scores 0 with a report line (catches loops that swallow the interrupt)."""
    memory_mb: int | None = 4096
    """Address-space limit of the kernel (``RLIMIT_AS``); allocations beyond raise ``MemoryError``."""
    file_size_mb: int | None = 256
    """Largest file the kernel may write (``RLIMIT_FSIZE``)."""
    scratch_mb: int = 512
    """In-memory space for the kernel's home, ``/tmp`` and working copy (isolated runs only)."""
    network: bool = False
    """Let student code reach the network (isolated runs only; without isolation it always can)."""
    isolation: str = "auto"
    """``auto``: Linux namespaces when the platform allows, else limits only (with a warning);
    ``required``: refuse to grade without namespaces; ``none``: limits only."""
    read_paths: tuple[str, ...] = ()
    """More host paths the kernel may read (data a notebook needs), read-only."""

    def __post_init__(self):
        if self.isolation not in ("auto", "required", "none"):
            raise ValueError(f"GradingLimits.isolation={self.isolation!r}; use 'auto', 'required' or 'none'")
        for name in ("cell_timeout", "submission_timeout", "scratch_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"GradingLimits.{name}={getattr(self, name)} must be positive")


# environment variables a grading kernel keeps; everything else (tokens, keys, the instructor's
# settings) is dropped, since student code can read and print its environment
KERNEL_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONHASHSEED", "MPLBACKEND", "TOKENIZERS_PARALLELISM",
              "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NLTK_DATA", "HF_HUB_OFFLINE",
              "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
KERNEL_ENV_PREFIXES = ("LC_", "LLMCOURSE_", "JPY_")

# code in a student's cells that reaches for the grading machinery (a heuristic: each hit is a line for
# the instructor to review, it changes no score)
SUSPICIOUS = [
    (r"\bget_ipython\b|\bIPython\b", "uses the IPython kernel API (it can hook into the test cells)"),
    (r"\bsys\.modules\b|\b__builtins__\b|\bbuiltins\b", "changes sys.modules or builtins"),
    (r"\bsettrace\b|\bsetprofile\b", "installs a tracer"),
    (r"\bchecks\s*\.\s*\w+\s*=(?!=)|setattr\(\s*checks\b", "replaces a grader function"),
    (r"\bsubprocess\b|\bos\.system\b|\bos\.popen\b|\bctypes\b|\bsocket\b", "starts processes, native code or network"),
    (r"gradebook|\bnbgrader\b|solutions/|\.ipynb\b", "looks for the gradebook, the solutions or notebook files"),
]


@dataclass
class _Job:
    """One student's assignment folder, graded in its own scratch course."""

    student: str
    assignment: str
    scratch: Path
    notebooks: list[str]  # notebook names (without .ipynb) handed to nbgrader
    report: list[str] = field(default_factory=list)  # per-job report lines
    nb_report: dict[str, list[str]] = field(default_factory=dict)  # notebook -> report lines
    unreadable: list[str] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "pending"  # ok | failed | timed out

    @property
    def course(self) -> Path:
        return self.scratch / "course"


def _submission_layout(submissions: Path, selected: list[str], known: list[str]) -> dict[str, list[str]]:
    """Map student -> assignments found under ``submissions/<student>/<assignment>/*.ipynb``.

    Folders of assignments the course has but that were not selected are skipped; folders the course
    does not know are an error (a typo would otherwise go ungraded silently).
    """
    if not submissions.is_dir():
        raise CourseError(f"{submissions}: no such folder; expected <student>/<assignment>/<notebook>.ipynb")
    layout: dict[str, list[str]] = {}
    for student in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        folders = [a for a in sorted(student.iterdir()) if a.is_dir() and not a.name.startswith(".")]
        unknown = [a.name for a in folders if a.name not in known]
        if unknown:
            raise CourseError(
                f"{student}: unknown assignment folder(s) {unknown}; expected one of {known} "
                f"(layout: {submissions}/<student>/<assignment>/<notebook>.ipynb)"
            )
        found = [a.name for a in folders if a.name in selected]
        if found:
            layout[student.name] = found
    if not layout:
        raise CourseError(
            f"{submissions}: no submissions found; expected <student>/<assignment>/<notebook>.ipynb "
            f"with assignment one of {selected}"
        )
    return layout


def _copy_submission(src: Path, dest: Path) -> list[str]:
    """Copy a submission folder without symbolic links or special files; returns what was left out."""
    skipped: list[str] = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if ".ipynb_checkpoints" in rel.parts:
            continue
        if path.is_symlink():
            skipped.append(f"symbolic link {rel} removed before grading (it could point at the instructor's files)")
        elif path.is_dir():
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
        else:
            skipped.append(f"{rel}: not a regular file, left out")
    dest.mkdir(parents=True, exist_ok=True)
    return skipped


# ---- what nbgrader knows about each notebook (read once from the master gradebook)


@dataclass
class _NotebookInfo:
    name: str
    kernel: str
    order: list[str]  # nbgrader cell ids in source order
    cells: dict[str, dict]  # grade_id -> {checksum, locked, cell_type, kind, points}
    release_lines: set[str]  # code lines of the release notebook (not suspicious by definition)
    hidden: list[str]  # hidden-test lines (and their markers)


def _hidden_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        if inside and line.strip():
            lines.append(line.strip())
        if "END HIDDEN TESTS" in line:
            inside = False
    return lines


def _notebook_infos(db: Path, assignment: str, release: Path) -> dict[str, _NotebookInfo]:
    """Per notebook: the release's nbgrader cells (what the student received, with its checksums),
    the kernel, and the hidden-test lines from the gradebook."""
    import nbformat
    from nbgrader.api import Gradebook

    infos: dict[str, _NotebookInfo] = {}
    with Gradebook(f"sqlite:///{db}", course_id=COURSE_ID) as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            hidden = [ln for c in nb.source_cells for ln in _hidden_lines(c.source)]
            rel = nbformat.read(release / f"{nb.name}.ipynb", as_version=4)
            cells, order = {}, []
            for c in rel.cells:
                meta = c.metadata.get("nbgrader", {})
                gid = meta.get("grade_id")
                if not gid:
                    continue
                kind = ("test" if meta.get("grade") and not meta.get("solution") else
                        "written answer" if meta.get("grade") else
                        "solution" if meta.get("solution") else "read-only")
                cells[gid] = dict(checksum=meta.get("checksum"), locked=bool(meta.get("locked")),
                                  cell_type=c.cell_type, kind=kind, points=float(meta.get("points") or 0))
                order.append(gid)
            lines = {ln.strip() for c in rel.cells if c.cell_type == "code" for ln in c.source.splitlines()}
            kernel = (json.loads(nb.kernelspec) if nb.kernelspec else {}).get("name") or "python3"
            infos[nb.name] = _NotebookInfo(nb.name, kernel, order, cells, lines, hidden)
    return infos


def _inspect(path: Path, info: _NotebookInfo) -> tuple[bool, list[str]]:
    """Read a submitted notebook as nbgrader will and say what the student changed that matters.

    Returns ``(readable, report lines)``. nbgrader's own rules decide the score: it restores edited
    read-only and test cells from the gradebook, scores a deleted test cell 0, runs cells in the
    submitted order, and resets the kernel to the source's.
    """
    import re

    import nbformat
    from nbgrader import utils

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # JSON or nbformat errors: nbgrader could not read it either
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return False, [f"{path.name}: not a readable notebook ({why}); graded as missing: every cell scores 0"]
    lines: list[str] = []
    kernel = (nb.metadata.get("kernelspec") or {}).get("name")
    if kernel != info.kernel:
        lines.append(f"kernel changed to {kernel!r}: nbgrader grades it with the course's {info.kernel!r}")
    seen: list[str] = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid not in info.cells or gid in seen:
            continue
        seen.append(gid)
        want = info.cells[gid]
        if cell.cell_type != want["cell_type"]:
            lines.append(f"{want['kind']} cell {gid!r} changed from {want['cell_type']} to {cell.cell_type}: nbgrader changes it back")
        elif want["locked"] and want["checksum"] and utils.compute_checksum(cell) != want["checksum"]:
            lines.append(f"{want['kind']} cell {gid!r} was edited (checksum differs): nbgrader restores the original before grading")
    for gid in info.order:
        if gid not in seen:
            want = info.cells[gid]
            what = {"test": f"nbgrader scores its {want['points']:g} point(s) 0",
                    "written answer": "nbgrader scores it 0",
                    "solution": "the tests that use it fail",
                    "read-only": "nbgrader does not restore it; later cells may fail"}[want["kind"]]
            lines.append(f"{want['kind']} cell {gid!r} was deleted: {what}")
    pos = [info.order.index(g) for g in seen if g in info.order]
    for a, b in zip(pos, pos[1:]):
        if b < a:
            lines.append(f"cells reordered: {info.order[b]!r} now comes before {info.order[a]!r} "
                         "(nbgrader runs the submitted order)")
            break
    found: dict[str, list[str]] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("locked") or meta.get("grade"):
            continue
        where = meta.get("grade_id") or "an added cell"
        for ln in cell.source.splitlines():
            if ln.strip() in info.release_lines:
                continue
            for pattern, why in SUSPICIOUS:
                if re.search(pattern, ln):
                    found.setdefault(why, []).append(where)
    for why, where in found.items():
        lines.append(f"review: code in {', '.join(sorted(set(where)))} {why}")
    return True, lines


def _inspect_folder(job: _Job, submitted: Path, infos: dict[str, _NotebookInfo]) -> None:
    """Inspect every notebook of a copied submission folder; unreadable ones are removed (nbgrader then
    scores them as missing, as it does for a notebook that was never handed in)."""
    present = {p.stem: p for p in submitted.glob("*.ipynb")}
    for stem, path in present.items():
        if stem not in infos:
            job.report.append(f"{path.name} is not part of {job.assignment} (expected "
                              f"{', '.join(n + '.ipynb' for n in infos)}): ignored")
            continue
        ok, lines = _inspect(path, infos[stem])
        job.nb_report.setdefault(stem, []).extend(lines)
        if ok:
            job.notebooks.append(stem)
        else:
            job.unreadable.append(stem)
            path.unlink()
    for stem in infos:
        if stem not in present:
            job.nb_report.setdefault(stem, []).append(f"{stem}.ipynb was not submitted: every cell scores 0")


# ---- the per-submission run


def _kernel_read_paths(limits: GradingLimits, hidden: list[Path]) -> tuple[list[str], list[str]]:
    """Host paths the grading kernel may read, and report lines for requested paths that were refused
    because they would expose ``hidden`` (the course's solutions, the grading folders)."""
    from llmcourse import sandbox

    home = Path.home()
    data = [Path(__file__).resolve().parent,  # the llmcourse package (open-book by design)
            Path(os.environ.get("LLMCOURSE_CACHE") or home / ".cache" / "llmcourse"),  # = models.cache_dir()
            home / "nltk_data", home / ".cache" / "matplotlib", home / ".config" / "matplotlib"]
    data += [Path(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    data += [Path(sys.prefix) / d for d in ("nltk_data", "share/nltk_data", "lib/nltk_data")]
    wanted = sandbox.python_read_paths() + [str(p) for p in data if p.exists()]
    refused: list[str] = []
    out: list[str] = []
    for p in wanted + [str(p) for p in limits.read_paths]:
        real = Path(os.path.realpath(p))
        clash = [h for h in hidden if h == real or real in h.parents]
        if clash:
            refused.append(f"read path {p} not shared with student code: it contains {clash[0]}")
        elif p not in out:
            out.append(p)
    return out, refused


def _write_kernel(job: _Job, limits: GradingLimits, isolate: bool, read_paths: list[str], threads: int) -> dict:
    """The sandboxed kernel spec and the nbgrader settings that make every notebook use it."""
    from llmcourse import sandbox

    box = job.scratch / "box"
    runtime = job.scratch / "rt"
    for d in (box / "root", runtime, box / "kernels" / "python3"):
        d.mkdir(parents=True, exist_ok=True)
    spec = sandbox.Spec(memory_mb=limits.memory_mb, file_size_mb=limits.file_size_mb, isolate=isolate,
                        network=limits.network, scratch_mb=limits.scratch_mb, ro_paths=read_paths,
                        rw_paths=[str(runtime)], root_dir=str(box / "root"), pidfile=str(box / "pid"),
                        env_keep=list(KERNEL_ENV), env_keep_prefixes=list(KERNEL_ENV_PREFIXES))
    spec.write(box / "spec.json")
    argv = sandbox.command(box / "spec.json", [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    env = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k not in os.environ}
    (box / "kernels" / "python3" / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "Python 3 (llmcourse grading sandbox)", "language": "python",
         "interrupt_mode": "signal", "env": env}, indent=1), encoding="utf-8")
    ipc = str(runtime / "k")
    if len(ipc) > 90:
        raise CourseError(f"{ipc}: path too long for the kernel's sockets; set TMPDIR to a short folder")
    return {"Execute.kernel_name": "python3", "KernelManager.transport": "ipc", "KernelManager.ip": ipc,
            "KernelManager.connection_file": str(runtime / "kernel.json")}


def _autograde_worker(job: dict) -> None:
    """Child process: run nbgrader's autograde for one student's assignment in its scratch course."""
    scratch = Path(job["scratch"])
    os.environ.clear()
    os.environ.update(job["env"])  # the grader's environment now, not when the server started
    os.environ["JUPYTER_PATH"] = str(scratch / "box")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(scratch / "rt")
    os.environ["JUPYTER_CONFIG_DIR"] = str(scratch / "jupyter-config")  # no instructor config in here
    os.chdir(scratch / "course")
    with _env_for_nbgrader():
        api = _api(scratch / "course", scratch / "gradebook.db", release_dir=scratch / "release",
                   timeout=job["cell_timeout"], extra=job["config"])
        result = api.autograde(job["assignment"], job["student"], force=True, create=True)
    (scratch / "result.json").write_text(json.dumps(
        {"success": bool(result.get("success")), "error": result.get("error") or "", "log": result.get("log") or ""}),
        encoding="utf-8")


class _WorkerServer:
    """A child process that imports nbgrader once, then forks one grading process per submission.

    nbgrader's imports cost ~5 s of CPU; paying them once per class instead of once per submission is
    most of grading's overhead on a cheap notebook. (``multiprocessing``'s forkserver would re-run the
    caller's ``__main__`` in each child; this protocol does not.) The master sends one JSON job per
    line and reads back the pid of the forked child; the server reaps children and writes each exit
    code to ``<scratch>/exitcode``.
    """

    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None

    @classmethod
    def start(cls) -> None:
        """Start the server (if not running) so its imports overlap with the grader's own set-up."""
        with cls._lock:
            cls._start()

    @classmethod
    def _start(cls) -> None:
        if cls._proc is None or cls._proc.poll() is not None:
            cls._proc = subprocess.Popen([sys.executable, "-c", "from llmcourse.course import _serve; _serve()"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                         start_new_session=True)
            atexit.register(cls._proc.kill)

    @classmethod
    def submit(cls, job: dict) -> int:
        with cls._lock:
            cls._start()
            cls._proc.stdin.write(json.dumps(job) + "\n")
            cls._proc.stdin.flush()
            line = cls._proc.stdout.readline()
        if not line.strip().isdigit():
            raise CourseError(f"the grading server failed to start a grading process ({line.strip() or 'no answer'})")
        return int(line)


def _serve() -> None:
    """The grading server's loop (see ``_WorkerServer``)."""
    import select

    import nbgrader.api  # noqa: F401  (the point of the server: imported once)
    import nbgrader.apps  # noqa: F401

    children: dict[int, Path] = {}

    def reap() -> None:
        for pid, scratch in list(children.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                (scratch / "exitcode").write_text(str(os.waitstatus_to_exitcode(status)))
                del children[pid]

    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.2)
        reap()
        if not ready:
            continue
        line = sys.stdin.readline()
        if not line:
            break
        job = json.loads(line)  # one line at a time: the master waits for each answer before the next job
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setpgid(0, 0)
                if job.get("memory_mb"):  # nbgrader keeps every output in memory: a flood of prints stops here
                    import resource

                    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
                    resource.setrlimit(resource.RLIMIT_AS, (job["memory_mb"] * 2**20, hard))
                log = os.open(os.path.join(job["scratch"], "worker.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(log, 1)  # stdout is the server's answer pipe: keep it clean
                os.dup2(log, 2)
                _autograde_worker(job)
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = Path(job["scratch"])
        print(pid, flush=True)
    for pid in children:
        os.kill(pid, 9)


def _kill_leftovers(pidfile: Path) -> None:
    """Kill the kernel's process group if it outlived nbgrader (only if it is still our launcher/kernel)."""
    import signal

    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"sandbox.py" in cmdline or b"ipykernel" in cmdline:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _run(job: _Job, limits: GradingLimits, config: dict) -> None:
    import signal
    import time

    pid = _WorkerServer.submit({"scratch": str(job.scratch), "student": job.student, "assignment": job.assignment,
                                "cell_timeout": limits.cell_timeout, "config": config,
                                "memory_mb": max(4096, limits.memory_mb or 0), "env": dict(os.environ)})
    t0 = time.perf_counter()  # after the server has started (its imports are paid once per class)
    exitcode = job.scratch / "exitcode"
    while not exitcode.exists() and time.perf_counter() - t0 < limits.submission_timeout:
        time.sleep(0.1)
    if not exitcode.exists():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while not exitcode.exists() and time.perf_counter() - t0 < limits.submission_timeout + 30:
            time.sleep(0.1)
        job.status = "timed out"
        job.report.append(f"grading stopped after {limits.submission_timeout} s (the per-submission limit): "
                          "every cell of this submission scores 0; review it by hand")
    _kill_leftovers(job.scratch / "box" / "pid")
    job.seconds = time.perf_counter() - t0
    if job.status == "timed out":
        return
    try:
        result = json.loads((job.scratch / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        code = exitcode.read_text().strip() if exitcode.exists() else "?"
        result = {"success": False, "error": f"the grading process exited with code {code}", "log": ""}
    if result["success"]:
        job.status = "ok"
        return
    job.status = "failed"
    text = result["log"] + "\n" + result["error"]
    if "CellTimeoutError" in text or "Cell execution timed out" in text:
        job.report.append(f"a cell ran past the {limits.cell_timeout} s per-cell limit and did not stop when "
                          "interrupted (does it catch KeyboardInterrupt?): nbgrader shut the kernel down; every "
                          "cell scores 0; review it by hand")
    elif "DeadKernelError" in text or "Kernel died" in text:
        job.report.append("the kernel died while running this notebook (killed: memory, os._exit, a crash in "
                          "native code); nbgrader could not grade it: every cell scores 0; review it by hand")
    elif job.notebooks:
        last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or ["no message"]
        job.report.append(f"nbgrader could not autograde this submission ({last[0][:200]}): every cell scores 0")


def _execution_report(nb, limits: GradingLimits) -> list[str]:
    """Report lines from an autograded notebook: cells stopped by the timeout, out of memory, and a
    summary of errors outside the test cells (which nbgrader does not score, but the student should fix)."""
    lines, others = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        where = f"cell {meta['grade_id']!r}" if meta.get("grade_id") else f"cell #{i}"
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if any(o.get("ename") == "CellTimeoutError" for o in errors):  # its KeyboardInterrupt is the timeout's
            errors = [o for o in errors if o.get("ename") != "KeyboardInterrupt"]
        for out in errors:
            if out.get("ename") == "CellTimeoutError":
                lines.append(f"{where} stopped after the {limits.cell_timeout} s per-cell timeout "
                             "(an infinite loop?); it was interrupted and grading went on")
            elif out.get("ename") == "MemoryError" and limits.memory_mb:
                lines.append(f"{where} ran out of memory (limit {limits.memory_mb} MB)")
            elif not meta.get("grade"):
                others.append(f"{where}: {out.get('ename')}")
    if others:
        lines.append(f"{len(others)} cell(s) outside the tests raised an error (first: {others[0]})")
    return lines


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


# ---- the public entry points


def isolation_status(limits: GradingLimits | None = None) -> tuple[bool, str]:
    """Whether student code will run in namespaces here, and a sentence saying how it will run."""
    from llmcourse import sandbox

    limits = limits or GradingLimits()
    if limits.isolation == "none":
        return False, "limits only (isolation turned off): student code can read and write what you can"
    why = sandbox.probe()
    if why is None:
        net = "with network" if limits.network else "no network"
        return True, f"namespaces ({net}, private filesystem view)"
    if limits.isolation == "required":
        raise CourseError(f"isolation required but not available here: {why}; grade inside a container "
                          "(see the README, Grading untrusted code) or pass isolation='auto'")
    return False, f"NOT isolated ({why}): student code can read and write what you can; grade inside a container"


def grade(submissions: str | Path, *, root: Path | None = None, workdir: Path | None = None,
          timeout: int = 300, assignments: list[str] | None = None, limits: GradingLimits | None = None,
          feedback_dir: str | Path | None = None, jobs: int = 1) -> list[NotebookScore]:
    """Autograde every ``submissions/<student>/<assignment>/*.ipynb`` with nbgrader, each in a sandbox.

    ``limits`` sets the per-cell and per-submission timeouts, memory, network and isolation
    (default: ``GradingLimits(cell_timeout=timeout)``). The submissions folder is never modified.
    ``workdir`` keeps the master nbgrader course (``course/``, ``gradebook.db``) for formgrader,
    ``nbgrader export`` (see :func:`export_grades`) or feedback; by default it is temporary.
    ``feedback_dir`` receives ``<student>/<assignment>/<notebook>.html`` without hidden tests.
    ``jobs`` submissions are graded at the same time. Returns one score per notebook, with report
    lines in ``flagged``.
    """
    import concurrent.futures
    import nbformat

    root = root or find_course_root()
    limits = limits or GradingLimits(cell_timeout=timeout)
    submissions = Path(submissions).resolve()
    known = list_assignments(root)
    missing = [a for a in (assignments or []) if a not in known]
    if missing:
        raise CourseError(f"unknown assignment(s) {missing}; the course has {known}")
    layout = _submission_layout(submissions, assignments or known, known)
    needed = sorted({a for lst in layout.values() for a in lst})
    prepare_models(needed)  # student kernels read the model cache but cannot write it
    isolate, how = isolation_status(limits)
    _WorkerServer.start()
    how = f"{how}; {limits.cell_timeout} s per cell, {limits.submission_timeout} s per submission" + (
        f", {limits.memory_mb} MB" if limits.memory_mb else "")
    own_tmp = workdir is None
    work = Path(tempfile.mkdtemp(prefix="llmcourse-grade-")) if own_tmp else Path(workdir).resolve()
    scratch_base = Path(tempfile.mkdtemp(prefix="llmcg-"))
    try:
        course = work / "course"
        if course.exists():
            raise CourseError(f"{course}: already exists; pass an empty --workdir")
        for a in needed:
            shutil.copytree(root / SOURCE_DIR / a, course / SOURCE_DIR / a,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        db = work / "gradebook.db"
        release = work / "release"
        with _env_for_nbgrader():
            api = _api(course, db, release_dir=release, timeout=limits.cell_timeout)
            for a in needed:
                _require_ok(api.generate_assignment(a, force=True, create=True), f"generate_assignment {a}")
        infos = {a: _notebook_infos(db, a, release / a) for a in needed}
        hidden_from_kernel = [Path(os.path.realpath(p))  # .git holds every version of the solutions
                              for p in (root / SOURCE_DIR, root / ".git", work, scratch_base, submissions)]
        read_paths, refused = _kernel_read_paths(limits, hidden_from_kernel)
        how += "".join(f"; {line}" for line in refused)
        threads = max(1, (os.cpu_count() or 1) // max(1, jobs))

        all_jobs: list[_Job] = []
        for k, (student, a) in enumerate((s, a) for s, lst in layout.items() for a in lst):
            job = _Job(student, a, scratch_base / f"{k:04d}", [])
            submitted = job.course / "submitted" / student / a
            job.report += _copy_submission(submissions / student / a, submitted)
            shutil.copytree(submitted, course / "submitted" / student / a, dirs_exist_ok=True)
            _inspect_folder(job, submitted, infos[a])
            data = job.course / SOURCE_DIR / a  # the release's data files: never a solution notebook
            shutil.copytree(release / a, data, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
            shutil.copy2(db, job.scratch / "gradebook.db")
            all_jobs.append(job)

        def run(job: _Job) -> _Job:
            if job.notebooks:
                _run(job, limits, _write_kernel(job, limits, isolate, read_paths, threads))
            else:
                job.status = "failed"
            return job

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(run, all_jobs))

        for job in all_jobs:
            _merge(db, job)
            src = job.course / "autograded" / job.student / job.assignment
            if src.is_dir():
                dst = course / "autograded" / job.student / job.assignment
                shutil.copytree(src, dst, dirs_exist_ok=True)
                for nb_path in dst.glob("*.ipynb"):
                    job.nb_report.setdefault(nb_path.stem, []).extend(
                        _execution_report(nbformat.read(nb_path, as_version=4), limits))
        if feedback_dir is not None:
            _feedback(course, db, all_jobs, Path(feedback_dir))
        return _read_scores(db, all_jobs, how)
    finally:
        shutil.rmtree(scratch_base, ignore_errors=True)
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)


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
