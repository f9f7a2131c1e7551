"""The notebook-02 graders: the reference passes, each classic mistake is caught by name, a blank
answer fails with "not implemented yet", and nothing reaches stderr."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llmcourse import reward
from llmcourse.checks import CheckFailure
from llmcourse.checks import reward as checks

GRADERS = {
    "numpy": (checks.check_bradley_terry_numpy, checks.NUMPY_MISTAKES),
    "torch": (checks.check_bradley_terry_torch, checks.TORCH_MISTAKES),
    "ranking": (checks.check_ranking_to_pairs, checks.RANKING_MISTAKES),
    "last_token": (checks.check_scores_at_last_token, checks.SCORE_MISTAKES),
}


# student-style correct answers (not the reference itself, which the graders refuse)
def np_answer(chosen, rejected, reduction="mean"):
    per = np.logaddexp(0.0, -(np.asarray(chosen, float) - np.asarray(rejected, float)))
    return per.sum() if reduction == "sum" else per.mean()


def torch_answer(chosen, rejected, margin=None, reduction="mean"):
    d = chosen - rejected - (0.0 if margin is None else margin)
    per = -F.logsigmoid(d)
    return per.sum() if reduction == "sum" else per.mean()


def ranking_answer(responses, ranks=None):
    if len(set(responses)) != len(responses):
        raise ValueError("duplicate")
    ranks = ranks or list(range(1, len(responses) + 1))
    return [(responses[i], responses[j]) if ranks[i] < ranks[j] else (responses[j], responses[i])
            for i in range(len(responses)) for j in range(i + 1, len(responses)) if ranks[i] != ranks[j]]


def last_token_answer(values, attention_mask):
    idx = attention_mask.shape[1] - 1 - attention_mask.long().flip(1).argmax(1)
    return values.gather(1, idx[:, None]).squeeze(1)


ANSWERS = {"numpy": np_answer, "torch": torch_answer, "ranking": ranking_answer, "last_token": last_token_answer}


def _unwrap(mistake_fn):
    return getattr(mistake_fn, "__wrapped__", mistake_fn)


@pytest.mark.parametrize("which", list(GRADERS))
@pytest.mark.parametrize("hidden", [False, True])
def test_a_correct_answer_passes(which, hidden, capsys):
    grader, _ = GRADERS[which]
    assert grader(ANSWERS[which], hidden=hidden) is None  # None: nbgrader must not read partial credit
    out = capsys.readouterr()
    assert "✓" in out.out and out.err == ""


@pytest.mark.parametrize("which,index", [(w, i) for w, (_, ms) in GRADERS.items() for i in range(len(ms))])
def test_each_classic_mistake_is_named(which, index):
    grader, mistakes = GRADERS[which]
    mistake = mistakes[index]
    wrong = _unwrap(mistake.fn)
    if which == "ranking":  # the graded answer must also refuse duplicates to reach the pair checks
        def wrong(responses, ranks=None, _f=_unwrap(mistake.fn)):
            return _f(responses, ranks)
    with pytest.raises(CheckFailure, match=mistake.name.replace("(", r"\(").replace(")", r"\)")):
        grader(wrong, hidden=True)
    with pytest.raises(CheckFailure) as visible:
        grader(wrong, hidden=False)
    assert "✗" in str(visible.value)


@pytest.mark.parametrize("which", list(GRADERS))
def test_blank_answer_fails_with_not_implemented(which):
    def blank(*args, **kwargs):
        raise NotImplementedError()

    grader, _ = GRADERS[which]
    with pytest.raises(CheckFailure, match="not implemented yet"):
        grader(blank)


@pytest.mark.parametrize("which,reference", [("numpy", reward.bradley_terry_loss_numpy), ("torch", reward.bradley_terry_loss),
                                             ("ranking", reward.ranking_to_pairs), ("last_token", reward.scores_at_last_token)])
def test_calling_the_reference_is_refused(which, reference):
    grader, _ = GRADERS[which]
    with pytest.raises(CheckFailure, match="calls the package's reference"):
        grader(reference)


def test_torch_grader_refuses_a_detached_loss():
    def detached(chosen, rejected, margin=None, reduction="mean"):
        return torch_answer(chosen, rejected, margin, reduction).detach()

    with pytest.raises(CheckFailure, match="carries no gradient"):
        checks.check_bradley_terry_torch(detached)


def test_torch_grader_refuses_item():
    def as_float(chosen, rejected, margin=None, reduction="mean"):
        return torch_answer(chosen, rejected, margin, reduction).item()

    with pytest.raises(CheckFailure, match=r"\.item\(\)"):
        checks.check_bradley_terry_torch(as_float)


def test_ranking_grader_requires_duplicates_to_raise():
    def no_check(responses, ranks=None):  # right pairs, but never refuses a duplicate
        ranks = ranks or list(range(1, len(responses) + 1))
        return [(responses[i], responses[j]) if ranks[i] < ranks[j] else (responses[j], responses[i])
                for i in range(len(responses)) for j in range(i + 1, len(responses)) if ranks[i] != ranks[j]]

    with pytest.raises(CheckFailure, match="duplicated response"):
        checks.check_ranking_to_pairs(no_check)


def test_numpy_grader_catches_overflow_without_printing_warnings(capsys):
    def seed(chosen, rejected, reduction="mean"):
        per = -np.log(1 / (1 + np.exp(-(chosen - rejected))))
        return per.sum() if reduction == "sum" else per.mean()

    with pytest.raises(CheckFailure, match=r"log\(sigmoid\(x\)\) overflow"):
        checks.check_bradley_terry_numpy(seed)
    assert capsys.readouterr().err == ""
