"""Notebook sources (``tools/notebooks/*.py``, jupytext percent format) and the notebooks made from them.

Fast tier: the drift check reads every source and every committed solution notebook, no nbgrader. The
release half (``notebooks/`` is exactly what nbgrader makes from ``solutions/``) runs nbgrader's
generate_assignment on one notebook per test (a few seconds each), so it is in the fast tier too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from llmcourse import course
from llmcourse.course import sources
from llmcourse.course.sources import SourceError

ROOT = Path(__file__).resolve().parents[1]


def _copy_course(dest: Path) -> Path:
    """Sources and solution notebooks in a scratch folder, to edit without touching the checkout."""
    shutil.copytree(ROOT / sources.SOURCE_DIR, dest / sources.SOURCE_DIR)
    shutil.copytree(ROOT / "solutions", dest / "solutions")
    return dest


def _source(tmp_path: Path, text: str, name: str = "90_demo") -> Path:
    path = tmp_path / sources.SOURCE_DIR / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _nbgrader(cell) -> dict:
    return dict(cell.metadata.get("nbgrader", {}))


def test_every_notebook_has_a_source():
    have = {p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb")}
    assert have == {s.stem for s in sources.sources(ROOT)}
    assert len(have) >= 7


def test_every_solution_notebook_is_what_its_source_generates():
    assert sources.check(ROOT) == []


def test_a_hand_edit_to_a_solution_notebook_is_caught(tmp_path):
    root = _copy_course(tmp_path)
    path = root / "solutions" / "04_augmentation" / "augmentation.ipynb"
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test_random_swap")
    cell["source"] = [line for line in cell["source"] if "import augment as checks" not in line]  # issue 16's drift
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    problems = sources.check(root)
    assert len(problems) == 1
    assert "solutions/04_augmentation/augmentation.ipynb" in problems[0] and "test_random_swap" in problems[0]
    assert "tools/notebooks/04_augmentation.py" in problems[0]

    sources.build(root, ["04_augmentation"])  # regenerating from the source repairs it
    assert sources.check(root) == []


@pytest.mark.parametrize("assignment", course.list_assignments(ROOT))
def test_the_release_notebook_is_what_nbgrader_generates(assignment):
    assert course.release_diff(ROOT, [assignment]) == []


def test_every_release_notebook_has_an_assignment():
    assert course.release_orphans(ROOT) == []


def test_a_hand_edit_to_a_release_notebook_and_an_orphan_are_caught(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    path = tmp_path / "notebooks" / "00_welcome" / "welcome.ipynb"
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    cell["source"] = cell["source"] + ["\nA line typed into the release notebook."]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    (tmp_path / "notebooks" / "99_stray").mkdir()
    shutil.copy(path, tmp_path / "notebooks" / "99_stray" / "stray.ipynb")

    assert course.release_diff(tmp_path, ["00_welcome"]) == [
        "notebooks/00_welcome/welcome.ipynb: differs from what nbgrader generates from solutions/ "
        "(run `llmcourse course build`)"]
    assert course.release_orphans(tmp_path) == ["notebooks/99_stray/stray.ipynb: has no source in solutions/"]


def test_a_metadata_edit_a_missing_notebook_and_an_orphan_are_caught(tmp_path):
    root = _copy_course(tmp_path)
    path = root / "solutions" / "00_welcome" / "welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    next(c for c in nb.cells if _nbgrader(c).get("grade_id") == "test_exact_match").metadata.nbgrader.points = 3
    nbformat.write(nb, path)
    (root / "solutions" / "05_scaling_laws" / "scaling_laws.ipynb").unlink()
    (root / "solutions" / "99_stray").mkdir()
    shutil.copy(path, root / "solutions" / "99_stray" / "stray.ipynb")
    problems = "\n".join(sources.check(root))
    assert "welcome.ipynb" in problems and "metadata differs" in problems
    assert "scaling_laws.ipynb: missing" in problems
    assert "99_stray/stray.ipynb: has no source" in problems


def test_each_header_key_makes_its_nbgrader_role(tmp_path):
    src = _source(tmp_path, '''# %% [markdown]
# # Title

# %% readonly="setup"
FACTOR = 2

# %% solution="double"
def double(x):
    ### BEGIN SOLUTION
    return FACTOR * x
    ### END SOLUTION


# %% tests="test_double" points=2
assert double(2) == 4

# %% [markdown] readonly="q_why"
# **Question.** Why?

# %% [markdown] manual="why" points=1
# ### BEGIN SOLUTION
# Because.
# ### END SOLUTION

# %%
print(double(5))
''')
    cells = sources.expand(src)
    roles = [(c.cell_type, _nbgrader(c)) for c in cells]
    base = {"schema_version": 3, "task": False}
    assert roles == [
        ("markdown", {}),
        ("code", {**base, "grade_id": "setup", "solution": False, "grade": False, "locked": True}),
        ("code", {**base, "grade_id": "double", "solution": True, "grade": False, "locked": False}),
        ("code", {**base, "grade_id": "test_double", "solution": False, "grade": True, "locked": True, "points": 2}),
        ("markdown", {**base, "grade_id": "q_why", "solution": False, "grade": False, "locked": True}),
        ("markdown", {**base, "grade_id": "why", "solution": True, "grade": True, "locked": False, "points": 1}),
        ("code", {}),
    ]
    assert cells[0].source == "# Title" and cells[5].source.splitlines()[1] == "Because."
    assert cells[2].source.startswith("def double(x):") and cells[2].source.endswith("### END SOLUTION")


@pytest.mark.parametrize("text, message", [
    ('# %% tests="test_x"\nassert True\n', "needs points="),
    ('# %% solution="x"\nx = 1\n', "no '### BEGIN SOLUTION' marker"),
    ('# %% solutoin="x"\nx = 1\n', "unknown header key"),
    ('# %% [markdown] solution="x"\n# text\n', "a markdown cell can be plain, readonly or manual"),
    ('# %% readonly="a"\nx = 1\n\n# %% readonly="a"\ny = 2\n', "grade_id 'a' used twice"),
    ('# %% include="00_welcome"\n', "expected 'NN_topic:grade_id'"),
    ('# %% include="00_welcome:nothing"\n', "has no cell with grade_id 'nothing'"),
    ('# %% include="90_demo:x"\n', "loops back"),
])
def test_a_bad_source_names_its_file_and_cell(tmp_path, text, message):
    _source(tmp_path, "# %% readonly=\"setup\"\nx = 1\n", name="00_welcome")
    src = _source(tmp_path, text)
    with pytest.raises(SourceError, match=message) as err:
        sources.expand(src)
    assert "90_demo.py: cell " in str(err.value)


def test_include_copies_a_cell_of_another_source_with_overrides(tmp_path):
    _source(tmp_path, '# %% tests="test_a" points=2\nassert True\n', name="10_stage")
    src = _source(tmp_path, '# %% include="10_stage:test_a" grade_id="test_b" points=1\n')
    (cell,) = sources.expand(src)
    assert cell.source == "assert True"
    assert _nbgrader(cell)["grade_id"] == "test_b" and _nbgrader(cell)["points"] == 1


def test_convert_writes_a_source_that_generates_the_same_notebook(tmp_path):
    notebook = ROOT / "solutions" / "00_welcome" / "welcome.ipynb"
    src = _source(tmp_path, sources.to_source(notebook), name="00_welcome")
    assert 'solution="exact_match"' in src.read_text()
    assert nbformat.writes(sources.generate(src)) == nbformat.writes(nbformat.read(notebook, as_version=4))


def test_the_example_in_docs_authoring_generates(tmp_path):
    text = (ROOT / "docs" / "authoring.md").read_text()
    example = text.split("```python\n# tools/notebooks/02_reward_model.py\n", 1)[1].split("```", 1)[0]
    cells = sources.expand(_source(tmp_path, example, name="02_reward_model"))
    assert [_nbgrader(c).get("grade_id") for c in cells] == [None, None, "bt_numpy", "test_bt_numpy", "q_derive", "derive"]


def _solution_functions(source: Path) -> dict[str, str]:
    """Function name → source of every solution cell that defines one."""
    import ast

    out = {}
    for cell in sources.expand(source):
        if _nbgrader(cell).get("solution") and cell.cell_type == "code":
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.FunctionDef):
                    out[node.name] = cell.source
    return out


def test_notebook_06_writes_no_stage_exercise_a_second_time():
    """Its coding questions are `include=` cells: the same text as the stage's, so they cannot drift."""
    review, *stages = sorted(sources.sources(ROOT), key=lambda s: s.stem != "06_interview_prep")
    assert review.stem == "06_interview_prep"
    theirs = {}
    for s in stages:
        theirs.update(_solution_functions(s))
    shared = {name: src for name, src in _solution_functions(review).items() if name in theirs}
    assert {"format_alpaca", "build_example", "bradley_terry_loss_numpy", "synonym_replacement",
            "random_deletion", "plot_loss_vs_params"} <= set(shared)
    assert all(src == theirs[name] for name, src in shared.items())
    text = review.read_text()
    assert "def synonym_replacement" not in text and 'include="04_augmentation:synonym_replacement"' in text
