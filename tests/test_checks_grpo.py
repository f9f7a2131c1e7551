"""Graders of notebook 08: the reference passes (visible and hidden); each classic mistake is named;
gradients are compared too."""

import types

import pytest
import torch

from llmcourse.checks import CheckFailure
from llmcourse.checks import grpo as checks
from llmcourse.grpo import functional as G


def clone(fn):
    """The reference under another identity (the graders refuse the package's own function)."""
    out = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    out.__kwdefaults__ = fn.__kwdefaults__
    return out


GRADERS = [
    (checks.check_group_advantages, G.group_advantages, checks.ADVANTAGE_MISTAKES),
    (checks.check_clipped_token_loss, G.clipped_token_loss, checks.TOKEN_MISTAKES),
    (checks.check_reduce_token_loss, G.reduce_token_loss, checks.REDUCTION_MISTAKES),
    (checks.check_grpo_loss, G.grpo_loss, checks.LOSS_MISTAKES),
]
IDS = [g[0].__name__ for g in GRADERS]


@pytest.mark.parametrize("check,reference,mistakes", GRADERS, ids=IDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_reference_passes(check, reference, mistakes, hidden, capsys):
    assert check(clone(reference), hidden=hidden) is None  # None: nbgrader must not read partial credit
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,reference,mistakes", GRADERS, ids=IDS)
def test_not_implemented_says_so(check, reference, mistakes):
    def answer(*args, **kwargs):
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


_LOSS = G.grpo_loss  # under another name: the graders refuse an answer that calls `grpo_loss` itself


def test_a_detached_loss_fails_on_its_gradient():
    def detached(logprobs, old_logprobs, advantages, mask, **kw):
        return _LOSS(logprobs.detach(), old_logprobs, advantages, mask, **kw)

    with pytest.raises(CheckFailure, match=r"output\[1\]"):  # the value is right, the gradient is 0
        checks.check_grpo_loss(detached)


def test_the_micro_batch_bug_passes_whole_batches_and_fails_when_split():
    def local(logprobs, old_logprobs, advantages, mask, *, num_sequences=None, num_tokens=None, **kw):
        return _LOSS(logprobs, old_logprobs, advantages, mask, **kw)

    with pytest.raises(CheckFailure, match="micro-batches of 2") as info:
        checks.check_grpo_loss(local)
    assert "micro-batch size" in str(info.value)
