"""Concept checks cannot be answered from an answer cell unnoticed: ``course grade`` reports (a ``review:``
line) every answer cell that touches the question bank, the ``check_*`` functions or ``reveal``."""

from __future__ import annotations

import nbformat
import pytest

from llmcourse.course import intake

BRUTE_FORCE = {
    "reads the bank": "from llmcourse.checks.interview import QUESTIONS\nanswer_t2a = QUESTIONS['t2a'].answer",
    "loops over check_choice": (
        "answer_t1a = None\nfor letter in 'ABCD':\n    try:\n        checks.check_choice('t1a', letter)\n"
        "        answer_t1a = letter\n    except AssertionError:\n        pass"),
    "scans numbers with check_number": (
        "import numpy as np\nfor v in np.linspace(0, 1, 1001):\n    try:\n        check_number('t2c', v); answer_t2c = v\n"
        "    except Exception:\n        pass"),
    "parses what reveal prints": (
        "import io, contextlib\nbuf = io.StringIO()\nwith contextlib.redirect_stdout(buf):\n    checks.reveal('t3c')\n"
        "answer_t3c = buf.getvalue().split(':')[1].split()[0]"),
    "digs through the module": "import llmcourse.checks.interview as bank\nanswer_t3b = vars(bank)['_BANK'][7].answer",
}


def _notebook(tmp_path, source: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata.nbgrader = {"grade_id": "t1a", "solution": True, "grade": False, "locked": False,
                              "schema_version": 3}
    nb.cells = [cell]
    path = tmp_path / "interview_prep.ipynb"
    nbformat.write(nb, path)
    info = intake._NotebookInfo("interview_prep", "python3", ["t1a"],
                                {"t1a": dict(checksum=None, locked=False, cell_type="code", kind="solution", points=0)},
                                release_lines={"answer_t1a = None  # your answer: one letter, 'A', 'B', 'C', 'D'"}, hidden=[])
    return path, info


@pytest.mark.parametrize("how", BRUTE_FORCE, ids=list(BRUTE_FORCE))
def test_an_answer_cell_that_touches_the_concept_checks_is_reported(tmp_path, how):
    path, info = _notebook(tmp_path, BRUTE_FORCE[how])
    readable, lines = intake._inspect(path, info)
    assert readable
    assert any(line.startswith("review: code in t1a touches the graders or the concept checks") for line in lines), lines


@pytest.mark.parametrize("answer", ['answer_t1a = "C"', "answer_t2a = 4 * 3 // 2  # K(K-1)/2",
                                    "import math\nanswer_t2c = math.log(2)"])
def test_an_honest_answer_is_not_reported(tmp_path, answer):
    path, info = _notebook(tmp_path, answer)
    assert intake._inspect(path, info) == (True, [])
