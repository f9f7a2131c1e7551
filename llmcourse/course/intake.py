"""Submission intake and inspection: find ``<student>/<assignment>/*.ipynb``, copy it without links,
and report what a student changed that matters (deleted, moved or edited nbgrader cells, a changed
kernel, unreadable notebooks, code that reaches for the grader) before nbgrader runs it.

Each finding is a report line for the instructor; nbgrader's own rules decide the score.
:data:`SUSPICIOUS` is the list of code patterns reported for review: add a ``(regex, why)`` pair to
extend it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from llmcourse.course.layout import COURSE_ID, CourseError

# code in a student's cells that reaches for the grading machinery (a heuristic: each hit is a line for
# the instructor to review, it changes no score)
SUSPICIOUS = [
    (r"\bget_ipython\b|\bIPython\b", "uses the IPython kernel API (it can hook into the test cells)"),
    (r"\bsys\.modules\b|\b__builtins__\b|\bbuiltins\b", "changes sys.modules or builtins"),
    (r"\bsettrace\b|\bsetprofile\b", "installs a tracer"),
    (r"\bchecks\s*\.\s*\w+\s*=(?!=)|setattr\(\s*checks\b", "replaces a grader function"),
    (r"\bsubprocess\b|\bos\.system\b|\bos\.popen\b|\bctypes\b|\bsocket\b", "starts processes, native code or network"),
    (r"gradebook|\bnbgrader\b|solutions/|\.ipynb\b", "looks for the gradebook, the solutions or notebook files"),
    (r"\bQUESTIONS\b|\bcheck_\w+|\breveal\b|\bllmcourse\.checks\b|\bimport\s+checks\b|\bchecks\s*[.\[]|\bvars\(\s*checks\b",
     "touches the graders or the concept checks (QUESTIONS, check_*, reveal, llmcourse.checks): an answer "
     "read from the grader, or brute-forced through it, is not the student's own"),
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
    flag: set[str] = field(default_factory=set)  # notebooks to mark "flagged" in the gradebook (formgrader)
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
    answers: dict[str, str] = field(default_factory=dict)  # grade_id -> model answer (normalised), if long enough


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


def _normalised(source: str) -> str:
    """Source lines stripped, blank lines and nbgrader's markers dropped: how a copied answer is compared."""
    return "\n".join(ln.strip() for ln in source.splitlines()
                     if ln.strip() and "BEGIN SOLUTION" not in ln and "END SOLUTION" not in ln)


def _model_answer(source: str) -> str:
    """The part of a source-notebook solution cell that nbgrader clears from the release: the lines
    between the solution markers, or the whole cell when it has none (a written answer)."""
    if "BEGIN SOLUTION" not in source:
        return _normalised(source)
    lines, inside = [], False
    for line in source.splitlines():
        if "END SOLUTION" in line:
            inside = False
        if inside:
            lines.append(line)
        if "BEGIN SOLUTION" in line:
            inside = True
    return _normalised("\n".join(lines))


# a model answer shorter than this (``return x * x``) may be written word for word by anyone: not evidence
MIN_COPIED_ANSWER = 60


def _model_answers(solved) -> dict[str, str]:
    """grade_id -> model answer of each solution cell of a source notebook, those long enough to count."""
    answers = {}
    for c in solved.cells:
        meta = c.metadata.get("nbgrader", {})
        answer = _model_answer(c.source) if meta.get("solution") and meta.get("grade_id") else ""
        if len(answer) >= MIN_COPIED_ANSWER:
            answers[meta["grade_id"]] = answer
    return answers


def _notebook_infos(db: Path, assignment: str, release: Path, source: Path | None = None) -> dict[str, _NotebookInfo]:
    """Per notebook: the release's nbgrader cells (what the student received, with its checksums),
    the kernel, the hidden-test lines from the gradebook, and the model answers of the source notebook
    in ``source`` (the assignment's ``solutions/`` folder) if given."""
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
            solved = source / f"{nb.name}.ipynb" if source is not None else None
            answers = _model_answers(nbformat.read(solved, as_version=4)) if solved and solved.is_file() else {}
            infos[nb.name] = _NotebookInfo(nb.name, kernel, order, cells, lines, hidden, answers)
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
    copied = _solution_source(nb, info)
    if copied:
        lines.append(f"{COPIED}: {copied}; review it by hand (flagged in formgrader)")
    return True, lines


def _some(names: list[str], at_most: int = 6) -> str:
    """``'a', 'b', 'c'`` or, for a long list, ``'a', 'b', … and 40 more`` (a report line stays readable)."""
    shown = ", ".join(names[:at_most])
    return shown if len(names) <= at_most else f"{shown} and {len(names) - at_most} more"


COPIED = "contains the solution source"
"""The start of the report line for a notebook with solution markers, hidden tests or model answers in
it (a copy of ``solutions/``, in whole or in part); its notebook is flagged in the gradebook."""


def _solution_source(nb, info: _NotebookInfo) -> str:
    """What of the course's solution source a submitted notebook holds, as a phrase ('' if none):
    nbgrader's solution markers, hidden-test blocks, or a model answer word for word (whitespace aside).
    Test cells are looked at too: nbgrader restores them before grading, but a hidden-test block in one
    says where the notebook came from."""
    markers, hidden, answers = [], [], []
    for i, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        where = repr(gid) if gid else f"cell {i + 1}"
        if "BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source:
            markers.append(where)
        if "BEGIN HIDDEN TESTS" in cell.source:
            hidden.append(where)
        model = info.answers.get(gid)
        if model and model in _normalised(cell.source):
            answers.append(where)
    parts = [f"{what} in {_some(where)}" for what, where in
             (("solution markers", markers), ("hidden tests", hidden), ("the model answer", answers)) if where]
    return "; ".join(parts)


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
        if any(line.startswith(COPIED) for line in lines):
            job.flag.add(stem)
        if ok:
            job.notebooks.append(stem)
        else:
            job.unreadable.append(stem)
            path.unlink()
    for stem in infos:
        if stem not in present:
            job.nb_report.setdefault(stem, []).append(f"{stem}.ipynb was not submitted: every cell scores 0")
