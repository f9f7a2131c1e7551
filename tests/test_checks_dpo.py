"""The notebook-07 graders: a correct answer passes (visible and hidden), each classic mistake is caught
by name, a blank answer fails with "not implemented yet", the reference itself is refused, and
nothing reaches stderr."""

import copy

import pytest
import torch
import torch.nn.functional as F

from llmcourse import dpo
from llmcourse.checks import CheckFailure
from llmcourse.checks import dpo as checks


# student-style correct answers (not the references, which the graders refuse)
def sequence_logprobs(logits, labels, average=False):
    targets = labels[:, 1:]
    mask = targets != -100
    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    lp = lp.gather(-1, targets.masked_fill(~mask, 0).unsqueeze(-1)).squeeze(-1) * mask
    return lp.sum(-1) / mask.sum(-1) if average else lp.sum(-1)


def dpo_loss(pc, pr, rc, rr, beta=0.1):
    return -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()


def implicit_rewards(policy_logps, ref_logps, beta=0.1):
    return beta * (policy_logps - ref_logps).detach()


def reward_accuracy(c, r):
    return (c > r).float().mean()


def make_reference(model):
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref.eval()


def ipo_loss(pc, pr, rc, rr, beta=0.1):
    return (((pc - rc) - (pr - rr) - 1 / (2 * beta)) ** 2).mean()


GRADERS = {
    "logps": (checks.check_sequence_logprobs, sequence_logprobs, checks.LOGPS_MISTAKES),
    "loss": (checks.check_dpo_loss, dpo_loss, checks.LOSS_MISTAKES),
    "rewards": (checks.check_implicit_rewards, implicit_rewards, checks.REWARD_MISTAKES),
    "accuracy": (checks.check_reward_accuracy, reward_accuracy, checks.ACCURACY_MISTAKES),
    "ipo": (checks.check_ipo_loss, ipo_loss, checks.IPO_MISTAKES),
}
REFERENCES = {"logps": dpo.sequence_logprobs, "loss": dpo.dpo_loss, "rewards": dpo.implicit_rewards,
              "accuracy": dpo.reward_accuracy, "ipo": dpo.ipo_loss}


@pytest.mark.parametrize("which", [*GRADERS, "reference"])
@pytest.mark.parametrize("hidden", [False, True])
def test_a_correct_answer_passes(which, hidden, capsys):
    grader, answer = (checks.check_make_reference, make_reference) if which == "reference" else GRADERS[which][:2]
    assert grader(answer, hidden=hidden) is None  # None: nbgrader must not read partial credit
    out = capsys.readouterr()
    assert "✓" in out.out and out.err == ""


CASES = [(w, m) for w, (_, _, ms) in GRADERS.items() for m in ms]


@pytest.mark.parametrize("which,mistake", CASES, ids=[f"{w}:{m.name[:40]}" for w, m in CASES])
def test_each_mistake_is_caught_by_name(which, mistake, capsys):
    grader = GRADERS[which][0]
    wrong = getattr(mistake.fn, "__wrapped__", mistake.fn)
    with pytest.raises(CheckFailure) as err:
        grader(wrong, hidden=True)
    assert mistake.name in str(err.value)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("which", list(GRADERS))
def test_blank_and_reference_answers_fail(which):
    grader = GRADERS[which][0]

    def blank(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet"):
        grader(blank)
    with pytest.raises(CheckFailure, match="calls the package's reference"):
        grader(REFERENCES[which])


def test_rewards_that_carry_gradient_are_refused():
    with pytest.raises(CheckFailure, match="not detached"):
        checks.check_implicit_rewards(lambda p, r, beta=0.1: beta * (p - r))


def _same_model(model):
    return model


def _shallow(model):
    ref = copy.copy(model)
    return ref


def _not_frozen(model):
    return copy.deepcopy(model).eval()


def _train_mode(model):
    ref = copy.deepcopy(model)
    return ref.requires_grad_(False)


def _fresh(model):
    ref = type(model)(model.config)
    return ref.requires_grad_(False).eval()


@pytest.mark.parametrize("wrong,words", [
    (_same_model, "returned the policy itself"), (_shallow, "shares"), (_not_frozen, "still require gradients"),
    (_train_mode, "training mode"), (_fresh, "weights differ"),
])
def test_reference_mistakes_are_named(wrong, words):
    with pytest.raises(CheckFailure, match=words):
        checks.check_make_reference(wrong)
