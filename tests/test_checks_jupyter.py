"""What a student sees in Jupyter: a failing check shows its ✗ message alone — no traceback through the
grader's code, no hidden-test source — and the cell still ends in an error (nbgrader scores it 0). Tested
by executing a notebook in a real kernel and reading its outputs."""

from __future__ import annotations

import nbformat
import pytest

from llmcourse import course

pytestmark = pytest.mark.slow

TEST_CELL = """checks.check_exact_match(exact_match)
### BEGIN HIDDEN TESTS
checks.check_exact_match(exact_match, hidden=True)
### END HIDDEN TESTS"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    path = tmp_path_factory.mktemp("jupyter") / "feedback.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("from llmcourse.checks import welcome as checks"),
        # a substring match: the classic mistake the grader names
        nbformat.v4.new_code_cell("def exact_match(predictions, references):\n"
                                  "    return sum(' '.join(r.split()) in ' '.join(p.split())\n"
                                  "               for p, r in zip(predictions, references)) / len(references)"),
        nbformat.v4.new_code_cell(TEST_CELL),
        nbformat.v4.new_code_cell("def exact_match(predictions, references):\n"
                                  "    raise NotImplementedError()"),
        nbformat.v4.new_code_cell(TEST_CELL),
        nbformat.v4.new_code_cell("print('after the failing cells')"),
    ]
    nbformat.write(nb, path)
    out, _ = course.execute(path, allow_errors=True, timeout=300)
    return out


@pytest.mark.parametrize("index, message", [(2, "substring match instead of exact match"), (4, "not implemented yet")])
def test_a_failing_check_shows_its_message_alone_and_the_cell_errors(executed, index, message):
    outputs = executed.cells[index].outputs
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) == 1, outputs  # the cell errors: nbgrader scores it 0
    shown = "\n".join(errors[0].traceback)
    assert shown.startswith("✗ exact_match") and message in shown
    assert "Traceback" not in shown and "File " not in shown and "checks/" not in shown  # no grader frames
    assert "if hidden" not in shown and "random.Random(2024)" not in shown and "hidden=True" not in shown
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]


def test_the_notebook_goes_on_after_a_failing_check(executed):
    assert "after the failing cells" in executed.cells[5].outputs[0].text
