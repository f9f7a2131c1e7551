"""Graders of notebook 03: the reference passes (visible and hidden); each classic mistake is named."""

import types

import pytest

from llmcourse.checks import CheckFailure
from llmcourse.checks import ppo as checks
from llmcourse.ppo import functional as F


def clone(fn):
    """The reference under another identity (the graders refuse the package's own function)."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


GRADERS = [
    (checks.check_kl_penalized_rewards, F.kl_penalized_rewards, checks.REWARD_MISTAKES),
    (checks.check_gae_advantages, F.gae_advantages, checks.GAE_MISTAKES),
    (checks.check_clipped_policy_loss, F.clipped_policy_loss, checks.POLICY_MISTAKES),
    (checks.check_adaptive_kl_update, F.adaptive_kl_update, checks.KL_MISTAKES),
]
IDS = [g[0].__name__ for g in GRADERS]


@pytest.mark.parametrize("check,reference,mistakes", GRADERS, ids=IDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_reference_passes(check, reference, mistakes, hidden, capsys):
    assert check(clone(reference), hidden=hidden) is None  # None: nbgrader must not read partial credit
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,reference,mistakes", GRADERS, ids=IDS)
def test_not_implemented_says_so(check, reference, mistakes):
    def answer(*args):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet"):
        check(answer)


@pytest.mark.parametrize("check,reference,mistakes", GRADERS, ids=IDS)
def test_calling_the_reference_is_refused(check, reference, mistakes):
    with pytest.raises(CheckFailure, match="calls the package's reference"):
        check(reference)


CASES = [(g[0], m) for g in GRADERS for m in g[2]]


@pytest.mark.parametrize("check,mistake", CASES, ids=[f"{c.__name__}:{m.name}" for c, m in CASES])
def test_each_classic_mistake_is_named_in_the_visible_tests(check, mistake):
    with pytest.raises(CheckFailure) as info:
        check(clone(mistake.fn))
    assert mistake.name in str(info.value), str(info.value)


def test_the_mistakes_find_the_last_token_as_the_package_does():
    # one implementation of "the last real token" (rl.functional.last_token_index) serves the trainer and
    # the graders' mistakes alike: an all-padding row gets its clear error, not a one_hot(-1) crash
    import torch

    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    zeros = torch.zeros(2, 3)
    for mistake in checks.REWARD_MISTAKES:
        if mistake.fn.__name__ in ("_rewards_kl_sign_flipped", "_rewards_padding_not_masked", "_rewards_beta_on_score",
                                   "_rewards_kl_from_probabilities"):
            with pytest.raises(ValueError, match="row 1 of the mask has no real token"):
                mistake.fn(torch.ones(2), zeros, zeros, mask, 0.1)
