"""The nbgrader cell roles: one function per role sets a cell's nbgrader metadata.

The course's notebooks are not written with these by hand: each has a source in ``tools/notebooks/``
(jupytext percent format, :mod:`llmcourse.course.sources`, ``docs/authoring.md``) whose header keys
are expanded by these functions. The grading tests build their small fixture notebooks with them.

=================  =========================================  ==============================
helper             nbgrader role                              metadata
=================  =========================================  ==============================
``md``/``code``    plain cell                                 none
``readonly``       read-only (question text, setup code)      locked
``solution``       autograded answer                          solution
``tests``          autograder tests (``points``)              grade + locked + points
``manual``         manually graded answer (markdown)          solution + grade + points
=================  =========================================  ==============================
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _nbgrader(grade_id: str, *, solution: bool, grade: bool, locked: bool, points: float | None = None,
              task: bool = False) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": task}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _id(text: str, grade_id: str | None = None) -> str:
    return grade_id or "c" + hashlib.sha1(text.encode()).hexdigest()[:10]


def md(text: str) -> nbformat.NotebookNode:
    """A plain markdown cell (narrative)."""
    return new_markdown_cell(text.strip("\n"))


def code(src: str) -> nbformat.NotebookNode:
    """A plain code cell (a demo the student may edit and re-run)."""
    return new_code_cell(src.strip("\n"))


def readonly(src: str, grade_id: str, *, markdown: bool = False) -> nbformat.NotebookNode:
    """A locked cell: nbgrader restores it on autograde (question text, imports the tests rely on)."""
    cell = (new_markdown_cell if markdown else new_code_cell)(src.strip("\n"))
    cell.metadata.update(_nbgrader(grade_id, solution=False, grade=False, locked=True))
    return cell


def solution(src: str, grade_id: str) -> nbformat.NotebookNode:
    """An autograded answer: code between ``### BEGIN SOLUTION``/``### END SOLUTION`` is replaced by
    ``raise NotImplementedError()`` in the release notebook."""
    if "### BEGIN SOLUTION" not in src:
        raise ValueError(f"solution cell {grade_id!r} has no '### BEGIN SOLUTION' marker")
    cell = new_code_cell(src.strip("\n"))
    cell.metadata.update(_nbgrader(grade_id, solution=True, grade=False, locked=False))
    return cell


def tests(src: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    """Autograder tests worth ``points``; hidden tests go between ``### BEGIN HIDDEN TESTS`` and
    ``### END HIDDEN TESTS``. The cell must print nothing to stderr when it passes."""
    cell = new_code_cell(src.strip("\n"))
    cell.metadata.update(_nbgrader(grade_id, solution=False, grade=True, locked=True, points=points))
    return cell


def manual(answer_md: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    """A manually graded written answer. Put the question in a separate ``readonly(..., markdown=True)``
    cell before it: nbgrader replaces this whole cell with "YOUR ANSWER HERE" in the release. Write the
    model answer and the rubric between ``### BEGIN SOLUTION`` / ``### END SOLUTION``."""
    cell = new_markdown_cell(answer_md.strip("\n"))
    cell.metadata.update(_nbgrader(grade_id, solution=True, grade=True, locked=False, points=points))
    return cell


def make_notebook(cells: list) -> nbformat.NotebookNode:
    """A source notebook (no outputs, python3 kernel, deterministic cell ids), validated."""
    nb = new_notebook(cells=cells)
    nb.metadata.update({
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    seen: dict[str, int] = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        base = _id(cell.source, gid)
        seen[base] = seen.get(base, 0) + 1
        cell.id = base if seen[base] == 1 else f"{base}-{seen[base]}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb


def write_notebook(path: str | Path, cells: list) -> Path:
    """Write :func:`make_notebook` of ``cells`` to ``path``."""
    nb = make_notebook(cells)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
