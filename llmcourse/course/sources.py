"""Notebook sources: one human-edited file per notebook, from which ``solutions/`` is generated.

Each notebook ``solutions/<NN_topic>/<topic>.ipynb`` has one source, ``tools/notebooks/<NN_topic>.py``,
in jupytext's *percent* format: a plain Python file in which ``# %%`` starts a code cell and
``# %% [markdown]`` a markdown cell (its lines commented out with ``# ``). A linter reads the code as
code; JupyterLab with jupytext opens the file as a notebook.

The nbgrader role of a cell is written in its header as ``key=value`` metadata (jupytext's own header
syntax, values in JSON). One key per role, expanded here into nbgrader's metadata by
:mod:`llmcourse.course.cells` (so the six nbgrader flags are never written by hand, and a role that nbgrader
would misread cannot be written at all):

=====================================  ==========================================================
header                                 cell
=====================================  ==========================================================
``# %%``                               plain code (a demo the student may edit)
``# %% [markdown]``                    plain markdown
``# %% readonly="setup"``              locked code (also ``# %% [markdown] readonly="q_x"``)
``# %% solution="exact_match"``        autograded answer, with ``### BEGIN/END SOLUTION``
``# %% tests="test_x" points=2``       autograder tests (hidden ones in ``### BEGIN/END HIDDEN TESTS``)
``# %% [markdown] manual="x" points=3`` manually graded written answer (model answer + rubric)
``# %% include="04_augmentation:x"``   the cell ``grade_id="x"`` of another notebook's source, copied
                                       here at generation (``grade_id=`` and ``points=`` override)
``# %% concept="t2a" points=1``        an interview-bank question (``llmcourse.checks.interview``):
                                       question, answer cell (the body, or the bank's answer) and test
=====================================  ==========================================================

``llmcourse course build`` writes ``solutions/`` from the sources (:func:`build`), then ``notebooks/``
from ``solutions/`` with nbgrader; ``llmcourse course check`` reports both kinds of drift (:func:`check`
here). To start a source from a notebook made elsewhere (e.g. with nbgrader's toolbar)::

    python -m llmcourse.course.sources convert NOTEBOOK.ipynb > tools/notebooks/NN_topic.py
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from functools import lru_cache
from pathlib import Path

import jupytext
import nbformat

from llmcourse.course import cells as nbcells
from llmcourse.course.layout import find_course_root

SOURCE_DIR = "tools/notebooks"  # relative to the course root; solutions/ and notebooks/ are made from it
ROLES = ("solution", "tests", "readonly", "manual", "include", "concept")
OPTIONS = ("points", "grade_id")
# cell metadata jupytext itself writes to keep the file's blank lines; not part of the notebook
_LAYOUT = {"lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker", "title"}


class SourceError(ValueError):
    """A notebook source that cannot be generated; the message names the file and the cell."""


def sources(root: Path | None = None) -> list[Path]:
    """Every notebook source of the course at ``root`` (default: this checkout), in course order."""
    root = Path(root).resolve() if root else find_course_root()
    return sorted(p for p in (root / SOURCE_DIR).glob("[0-9][0-9]*_*.py"))


def _root_of(source: Path) -> Path:
    return Path(source).resolve().parents[len(Path(SOURCE_DIR).parts)]


def target(source: Path) -> Path:
    """``tools/notebooks/02_reward_model.py`` → ``solutions/02_reward_model/reward_model.ipynb`` (a letter after
    the number, ``00b_data_curation``, places a notebook between two others without renumbering)."""
    return _root_of(source) / "solutions" / source.stem / f"{source.stem.split('_', 1)[1]}.ipynb"


def _where(source: Path, index: int, cell) -> str:
    first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else "(empty)"
    return f"{source.name}: cell {index + 1} ({first!r})"


def _concept(qid: str, points: float, body: str) -> list:
    """Question (read-only, rendered from the bank), answer cell, self-contained test cell."""
    from llmcourse.checks.interview import QUESTIONS, ChoiceQuestion, answer_placeholder, question_markdown

    q = QUESTIONS[qid]
    check = "check_choice" if isinstance(q, ChoiceQuestion) else "check_number"
    answer = body or (f'answer_{qid} = "{q.answer}"' if isinstance(q, ChoiceQuestion) else f"answer_{qid} = {q.answer!r}")
    return [
        nbcells.readonly(question_markdown(qid, points), f"q_{qid}", markdown=True),
        nbcells.solution(f"{answer_placeholder(qid)}\n### BEGIN SOLUTION\n{answer}\n### END SOLUTION", grade_id=qid),
        # its own import: a coding question's test cell included from a stage rebinds `checks`
        nbcells.tests(f"from llmcourse.checks import interview as checks\n\n"
                      f'checks.{check}("{qid}", answer_{qid})', grade_id=f"test_{qid}", points=points),
    ]


def _include(ref: str, root: Path, overrides: dict) -> nbformat.NotebookNode:
    name, _, grade_id = ref.partition(":")
    path = (root / SOURCE_DIR / f"{name}.py").resolve()
    if not grade_id or not path.exists():
        raise SourceError(f"include={ref!r}: expected 'NN_topic:grade_id' naming a file in {SOURCE_DIR}/")
    if path.resolve() in _including:
        raise SourceError(f"include={ref!r}: includes go one way (a stage into 06), this one loops back")
    found = [c for c in expand(path) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    if not found:
        raise SourceError(f"include={ref!r}: {path.name} has no cell with grade_id {grade_id!r}")
    cell = copy.deepcopy(found[0])
    meta = cell.metadata["nbgrader"]
    if "grade_id" in overrides:
        meta["grade_id"] = overrides["grade_id"]
    if "points" in overrides:
        if "points" not in meta:
            raise SourceError(f"include={ref!r}: points= given for a cell that is not graded")
        meta["points"] = overrides["points"]
    return cell


_including: set[Path] = set()  # sources being expanded right now, to refuse an include that loops


@lru_cache(maxsize=64)
def _parsed(source: Path, stamp: tuple[float, int]):
    return jupytext.read(source, fmt="py:percent")


def _cells(source: Path, root: Path) -> list:
    st = source.stat()
    nb = _parsed(source, (st.st_mtime, st.st_size))  # a stage's source is read once for it and for 06
    _including.add(source)
    try:
        return _expand_cells(source, root, nb)
    finally:
        _including.discard(source)


def _expand_cells(source: Path, root: Path, nb) -> list:
    out, seen = [], set()
    for i, cell in enumerate(nb.cells):
        meta = {k: v for k, v in cell.metadata.items() if k not in _LAYOUT}
        unknown = set(meta) - set(ROLES) - set(OPTIONS)
        roles = [k for k in ROLES if k in meta]
        try:
            if unknown:
                raise SourceError(f"unknown header key(s) {sorted(unknown)}; known: {ROLES + OPTIONS}")
            if len(roles) > 1:
                raise SourceError(f"one role per cell, got {roles}")
            role = roles[0] if roles else None
            gid, md = meta.get(role), cell.cell_type == "markdown"
            if role in ("tests", "manual") and "points" not in meta:
                raise SourceError(f"{role}={gid!r} needs points=")
            if "points" in meta and role not in ("tests", "manual", "concept", "include"):
                raise SourceError("points= belongs to a tests, manual, concept or include cell")
            if "grade_id" in meta and role != "include":
                raise SourceError("grade_id= overrides an include; elsewhere the role's value is the grade_id")
            if md and role not in (None, "readonly", "manual"):
                raise SourceError(f"a markdown cell can be plain, readonly or manual, not {role}")
            if role == "manual" and not md:
                raise SourceError("manual= is a markdown cell: `# %% [markdown] manual=...`")
            text = cell.source
            if role is None:
                new = [nbcells.md(text) if md else nbcells.code(text)]
            elif role == "readonly":
                new = [nbcells.readonly(text, gid, markdown=md)]
            elif role == "solution":
                new = [nbcells.solution(text, grade_id=gid)]
            elif role == "tests":
                new = [nbcells.tests(text, grade_id=gid, points=meta["points"])]
            elif role == "manual":
                new = [nbcells.manual(text, grade_id=gid, points=meta["points"])]
            elif role == "include":
                if text.strip():
                    raise SourceError("an include cell has no body: the cell comes from its source")
                new = [_include(gid, root, {k: meta[k] for k in OPTIONS if k in meta})]
            else:
                new = _concept(gid, meta.get("points", 1), text.strip())
        except (SourceError, KeyError, ValueError) as err:
            raise SourceError(f"{_where(source, i, cell)}: {err}") from None
        for c in new:
            g = c.metadata.get("nbgrader", {}).get("grade_id")
            if g in seen:
                raise SourceError(f"{_where(source, i, cell)}: grade_id {g!r} used twice")
            if g:
                seen.add(g)
        out += new
    return out


def expand(source: Path) -> list:
    """The notebook cells a source stands for (nbgrader metadata set, includes resolved; an include
    names another source of the same ``tools/notebooks/`` folder)."""
    source = Path(source).resolve()
    return _cells(source, _root_of(source))


def generate(source: Path) -> nbformat.NotebookNode:
    """The solution notebook for ``source``, exactly as :func:`build` writes it."""
    return nbcells.make_notebook(expand(source))


def build(root: Path | None = None, names: list[str] | None = None) -> list[Path]:
    """Write ``solutions/`` from the sources: all, or those among the assignment ids ``names``."""
    return [nbcells.write_notebook(target(s), expand(s)) for s in sources(root) if not names or s.stem in names]


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def check(root: Path | None = None) -> list[str]:
    """One line per solution notebook that is not what its source generates (empty: all in sync).
    A course without ``tools/notebooks/`` (notebooks written in JupyterLab) has nothing to check."""
    root = Path(root).resolve() if root else find_course_root()
    if not (root / SOURCE_DIR).is_dir():
        return []
    problems = []
    made = {target(s): s for s in sources(root)}
    for path, source in made.items():
        rel = path.relative_to(root)
        try:
            want = _text(generate(source))
        except SourceError as err:
            problems.append(f"{rel}: its source cannot be generated: {err}")
            continue
        if not path.exists():
            problems.append(f"{rel}: missing (run `llmcourse course build`)")
        elif path.read_text() != want:
            problems.append(f"{rel}: differs from {source.relative_to(root)} "
                            f"({_first_difference(path.read_text(), want)}; edit the source, then "
                            f"`llmcourse course build`)")
    for path in sorted((root / "solutions").glob("*/*.ipynb")):
        if path not in made:
            problems.append(f"{path.relative_to(root)}: has no source in {SOURCE_DIR}/")
    return problems


def _first_difference(have: str, want: str) -> str:
    a, b = json.loads(have)["cells"], json.loads(want)["cells"]
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            key = next((k for k in ("source", "metadata", "cell_type", "id") if x.get(k) != y.get(k)), "cell")
            return f"cell {i + 1} ({y.get('id')}): {key} differs"
    return f"{len(a)} cells, the source makes {len(b)}" if len(a) != len(b) else "notebook metadata differs"


def to_source(notebook: Path) -> str:
    """A solution notebook written as a percent-format source (the converse of :func:`generate`)."""
    nb = nbformat.read(notebook, as_version=4)
    cells = []
    for cell in nb.cells:
        g = cell.metadata.get("nbgrader")
        meta = {}
        if g:
            flags = (g["solution"], g["grade"], g["locked"], cell.cell_type)
            role = {(True, False, False, "code"): "solution", (False, True, True, "code"): "tests",
                    (False, False, True, "code"): "readonly", (False, False, True, "markdown"): "readonly",
                    (True, True, False, "markdown"): "manual"}.get(flags)
            if role is None:
                raise SourceError(f"{notebook}: cell {g['grade_id']!r} has an nbgrader role the format has no key for: {g}")
            meta[role] = g["grade_id"]
            if "points" in g:
                meta["points"] = g["points"]
        new = (nbformat.v4.new_markdown_cell if cell.cell_type == "markdown" else nbformat.v4.new_code_cell)(cell.source)
        new.metadata.update(meta)
        cells.append(new)
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata["jupytext"] = {"notebook_metadata_filter": "-all", "cell_metadata_filter": ",".join(ROLES + OPTIONS)}
    return jupytext.writes(out, fmt="py:percent")


def main(argv: list[str] | None = None) -> int:
    """``python -m llmcourse.course.sources convert NOTEBOOK.ipynb``: print a notebook as a source."""
    parser = argparse.ArgumentParser(prog="python -m llmcourse.course.sources",
                                     description="Print a notebook as a percent-format source.")
    parser.add_argument("command", choices=["convert"])
    parser.add_argument("notebook", type=Path)
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(to_source(args.notebook))
    except SourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
