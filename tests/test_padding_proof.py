"""Property: whatever sits at a masked position — NaN, ±inf, a huge number — changes no result and no
gradient of any masked function (PPO/RL math, the reward model's score reading, the SFT loss).

Each case computes the function twice: padding holding zeros, and padding holding the poison. The
outputs must be identical, and so must the gradients with respect to every per-token input (0 and
finite at the padded positions). Multiplying by a 0 mask is not enough: 0 × NaN = NaN.
"""

import math

import pytest
import torch

from llmcourse.dpo.functional import sequence_logprobs
from llmcourse.grpo import functional as G
from llmcourse.ppo import functional as F
from llmcourse.reward.functional import scores_at_last_token
from llmcourse.sft.loss import IGNORE_INDEX, sft_loss, token_nll

POISONS = [math.nan, math.inf, -math.inf, 1e38, -1e38]
B, T = 3, 5


def _mask():
    # rows of length 5, 3 and 1 (right padding), as the rollout produces them
    return torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])


def _tok(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, generator=g)


def _logprobs(seed):
    return -torch.rand(B, T, generator=torch.Generator().manual_seed(seed)) * 3


# name -> (function of the per-token tensors, the per-token tensors' builders). Scalars and masks are fixed.
CASES = {
    "masked_sum": (lambda x: F.masked_sum(x, _mask()), [_tok]),
    "masked_sum_rows": (lambda x: F.masked_sum(x, _mask(), dim=-1), [_tok]),
    "masked_mean": (lambda x: F.masked_mean(x, _mask()), [_tok]),
    "masked_mean_rows": (lambda x: F.masked_mean(x, _mask(), dim=-1), [_tok]),
    "masked_var": (lambda x: F.masked_var(x, _mask()), [_tok]),
    "masked_whiten": (lambda x: F.masked_whiten(x, _mask()), [_tok]),
    "masked_whiten_no_shift": (lambda x: F.masked_whiten(x, _mask(), shift_mean=False), [_tok]),
    **{f"kl_per_token_{k}": (lambda a, b, k=k: F.kl_per_token(a, b, _mask(), k), [_logprobs, _logprobs])
       for k in F.KL_ESTIMATORS},
    "sequence_kl": (lambda a, b: F.sequence_kl(a, b, _mask(), "k3"), [_logprobs, _logprobs]),
    "kl_penalized_rewards": (lambda a, b: F.kl_penalized_rewards(torch.tensor([1.0, -2.0, 0.5]), a, b, _mask(), 0.1),
                             [_logprobs, _logprobs]),
    "gae_advantages": (lambda r, v: torch.stack(F.gae_advantages(r, v, _mask(), gamma=0.99, lam=0.95)), [_tok, _tok]),
    "clipped_policy_loss": (lambda a, b, adv: F.clipped_policy_loss(a, b, adv, _mask()), [_logprobs, _logprobs, _tok]),
    "clip_fraction": (lambda a, b, adv: F.clip_fraction(a, b, adv, _mask()), [_logprobs, _logprobs, _tok]),
    "approx_kl": (lambda a, b: F.approx_kl(a, b, _mask()), [_logprobs, _logprobs]),
    "clipped_value_loss": (lambda v, o, r: F.clipped_value_loss(v, o, r, _mask()), [_tok, _tok, _tok]),
    "scores_at_last_token": (lambda v: scores_at_last_token(v, _mask()), [_tok]),
    **{f"grpo_loss_{k}": (lambda a, b, r, k=k: G.grpo_loss(a, b, torch.tensor([1.0, -0.5, 0.3]), _mask(), loss_type=k,
                                                           beta=0.04, ref_logprobs=r), [_logprobs, _logprobs, _logprobs])
       for k in G.LOSS_TYPES},
    "grpo_reduce_token_loss": (lambda x: G.reduce_token_loss(x, _mask()), [_tok]),
    "grpo_clip_fractions": (lambda a, b: torch.stack(list(G.clip_fractions(a, b, torch.tensor([1.0, -1.0, 0.5]),
                                                                           _mask()).values())), [_logprobs, _logprobs]),
}


def _run(fn, tensors):
    leaves = [t.clone().requires_grad_(True) for t in tensors]
    out = fn(*leaves)
    if out.requires_grad:
        weights = torch.linspace(0.5, 1.5, out.numel()).view(out.shape)
        grads = torch.autograd.grad((out * weights).sum(), leaves, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]
    else:
        grads = []
    return out.detach(), grads


@pytest.mark.parametrize("poison", POISONS, ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_masked_function_ignores_any_value_at_padding(name, poison):
    fn, builders = CASES[name]
    clean = [b(i) * _mask() for i, b in enumerate(builders)]
    pad = _mask() == 0
    poisoned = [t.masked_fill(pad, poison) for t in clean]
    out_clean, g_clean = _run(fn, clean)
    out_bad, g_bad = _run(fn, poisoned)
    torch.testing.assert_close(out_bad, out_clean, rtol=0, atol=0)
    for i, (a, b) in enumerate(zip(g_bad, g_clean)):
        assert torch.isfinite(a).all(), f"{name}: gradient of input {i} is not finite with {poison} at padding"
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert (a[pad] == 0).all(), f"{name}: padding of input {i} receives a gradient"


@pytest.mark.parametrize("poison", POISONS, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "sequence", "token", "dpo_sum", "dpo_average"])
def test_sft_loss_ignores_any_logit_at_ignored_positions(poison, reduction):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 7, generator=g)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 3, 4, IGNORE_INDEX, IGNORE_INDEX],
                           [IGNORE_INDEX, 1, 2, 5, 6, 0]])
    # logits at t predict labels at t + 1: positions whose next label is ignored are padding for the loss
    ignored = torch.zeros(2, 6, dtype=torch.bool)
    ignored[:, :-1] = labels[:, 1:] == IGNORE_INDEX
    ignored[:, -1] = True  # the last position predicts nothing
    poisoned = logits.masked_fill(ignored.unsqueeze(-1), poison)

    def fn(z):
        if reduction.startswith("dpo"):  # DPO's log π(y|x): the same masked sum over response tokens
            return sequence_logprobs(z, labels, average=reduction == "dpo_average")
        return token_nll(z, labels) if reduction == "token" else sft_loss(z, labels, reduction=reduction)

    out_clean, (g_clean,) = _run(fn, [logits])
    out_bad, (g_bad,) = _run(fn, [poisoned])
    torch.testing.assert_close(out_bad, out_clean, rtol=0, atol=0)
    assert torch.isfinite(g_bad).all()
    torch.testing.assert_close(g_bad, g_clean, rtol=0, atol=0)
    assert (g_bad[ignored] == 0).all()
