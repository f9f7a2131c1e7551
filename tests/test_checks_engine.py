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


# --------------------------------------------------------------------------- honest naming


def test_a_mistake_is_named_only_when_it_explains_every_case():
    # the student is wrong on case 1 the way the mistake is, and wrong on case 2 another way
    mistake = Mistake("doubled instead of squared", lambda x: 2 * x, "square it")
    cases = [Case((3,), label="three"), Case((2,), label="two"), Case((5,), label="five")]

    def student(x):
        return {3: 6, 2: 5, 5: 25}[x]

    with pytest.raises(CheckFailure) as e:
        check_function(student, lambda x: x * x, cases, name="sq", mistakes=[mistake])
    msg = str(e.value)
    assert "doubled" not in msg and "wrong result (2 of 3 cases fail)" in msg and "x=3" in msg and "got 6" in msg


def test_a_mistake_that_explains_every_case_is_named_even_where_it_agrees_with_the_reference():
    mistake = Mistake("doubled instead of squared", lambda x: 2 * x, "square it")
    cases = [Case((2,), label="two: 2·2 = 2²"), Case((3,), label="three")]
    with pytest.raises(CheckFailure, match="doubled instead of squared. \\(1 of 2 cases fail\\)"):
        check_function(lambda x: x + x, lambda x: x * x, cases, name="sq", mistakes=[mistake])


def test_a_mistake_the_student_contradicts_on_a_passing_case_is_not_named():
    # the mistake is wrong on case 1 too, where the student is right: it does not describe this answer
    mistake = Mistake("off by one", lambda x: x + 1, "")
    cases = [Case((0,), label="zero"), Case((3,), label="three")]
    with pytest.raises(CheckFailure) as e:
        check_function(lambda x: 0 if x == 0 else x + 1, lambda x: x, cases, name="id", mistakes=[mistake])
    assert "off by one" not in str(e.value)


def test_a_shape_1_result_for_a_scalar_says_forgot_to_reduce():
    reason = compare(torch.zeros(1), torch.tensor(0.0))
    assert "forgot to reduce" in reason and "squeeze" not in reason


def test_the_in_place_message_shows_the_inputs_as_they_were_passed():
    def sorts_in_place(xs):
        xs.sort()
        return xs

    with pytest.raises(CheckFailure) as e:
        check_function(sorts_in_place, sorted, [Case(([3, 1, 2],))])
    msg = str(e.value)
    assert "inputs as passed: iterable=[3, 1, 2]" in msg and "after your call:  iterable=[1, 2, 3]" in msg


def test_stderr_of_the_student_code_is_captured(capsys):
    import sys

    def chatty(x):
        print("progress...", file=sys.stderr)
        return x

    check_function(chatty, lambda x: x, [Case((1,))], name="chatty")
    out = capsys.readouterr()
    assert out.err == "" and "progress..." in out.out


# --------------------------------------------------------------------------- gradients


def test_a_loss_cut_from_the_graph_fails_even_with_the_right_value():
    def reference(x):
        return (x ** 2).sum()

    def detached(x):
        return torch.tensor((x ** 2).sum().item())

    def no_grad(x):
        with torch.no_grad():
            return (x ** 2).sum()

    for answer in (detached, no_grad):
        with pytest.raises(CheckFailure, match="carries no gradient"):
            check_function(answer, reference, [Case((torch.tensor([1.0, 2.0]),))], grad_wrt=(0,))


def test_a_wrong_gradient_with_the_right_value_fails():
    def reference(x):
        return (x ** 2).sum()

    def half_detached(x):  # x² written as x·x with one factor detached: same value, half the gradient
        return (x * x.detach()).sum()

    with pytest.raises(CheckFailure, match="∂output/∂x .* the value is right but the gradient is not"):
        check_function(half_detached, reference, [Case((torch.tensor([1.0, 2.0]),))], grad_wrt=(0,))


def test_a_nan_gradient_fails():
    def reference(x):
        return torch.nn.functional.softplus(-x).sum()

    def naive(x):
        return -torch.log(torch.sigmoid(x)).sum()

    with pytest.raises(CheckFailure, match="∂output/∂x|got inf"):
        check_function(naive, reference, [Case((torch.tensor([-200.0]),))], grad_wrt=(0,))


def test_in_place_ops_on_non_leaf_inputs_work_as_in_training():
    # the trainer passes logits out of a model (non-leaf); an answer that edits a copy in place is fine
    def reference(x):
        return torch.log_softmax(x, -1).sum()

    def in_place_on_a_copy(x):
        y = x.clone()
        y -= y.max(-1, keepdim=True).values
        return (y - y.exp().sum(-1, keepdim=True).log()).sum()

    check_function(in_place_on_a_copy, reference, [Case((torch.randn(2, 3),))], grad_wrt=(0,))


# --------------------------------------------------------------------------- Jupyter


def test_a_check_failure_renders_as_its_message_alone_in_ipython():
    e = CheckFailure("✗ f, case 1: wrong result.\n  inputs: x=1")
    assert e._render_traceback_() == ["✗ f, case 1: wrong result.", "  inputs: x=1"]


# --------------------------------------------------------------------------- the catalogue's cells


def test_student_source_is_a_self_contained_cell_that_behaves_as_the_mistake():
    from llmcourse.checks import sft, student_source

    mistake = next(m for m in sft.LOSS_MISTAKES if m.name == "averaging over padded positions")
    namespace: dict = {}
    exec(student_source(mistake.fn, "sft_loss"), namespace)  # noqa: S102
    logits, labels = torch.randn(2, 5, 7), torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, 3, 4]])
    torch.testing.assert_close(namespace["sft_loss"](logits, labels), mistake.fn(logits, labels))
