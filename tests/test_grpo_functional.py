"""GRPO math on hand-made tensors: group advantages, the clipped token loss, the loss_type reductions,
micro-batch invariance (loss and gradient), reward functions."""

import math

import pytest
import torch
from torch.testing import assert_close

from llmcourse.grpo import functional as G
from llmcourse.grpo import rewards as RW


# --------------------------------------------------------------------------- advantages


def test_group_advantages_hand_example():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    adv = G.group_advantages(r, 4)
    std = math.sqrt(1 / 3)  # Bessel-corrected std of (1, 0, 0, 1)
    assert_close(adv[:4], torch.tensor([0.5, -0.5, -0.5, 0.5]) / (std + 1e-4))
    assert_close(adv[4:], torch.tensor([0.25, 0.25, -0.75, 0.25]) / (0.5 + 1e-4))


def test_dr_grpo_advantages_are_only_centred():
    r = torch.tensor([3.0, 1.0, 2.0, 2.0])
    assert_close(G.group_advantages(r, 2, scale_rewards="none"), torch.tensor([1.0, -1.0, 0.0, 0.0]))


def test_batch_scaled_advantages_use_the_batch_std():
    r = torch.tensor([3.0, 1.0, 2.0, 2.0])
    assert_close(G.group_advantages(r, 2, scale_rewards="batch"), torch.tensor([1.0, -1.0, 0.0, 0.0]) / (r.std() + 1e-4))


def test_zero_variance_group_has_zero_advantage():
    r = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert torch.equal(G.group_advantages(r, 3), torch.zeros(6))
    assert G.zero_variance_groups(torch.tensor([1.0, 1.0, 0.0, 1.0]), 2).tolist() == [True, False]


def test_advantages_refuse_a_batch_that_is_not_whole_groups():
    with pytest.raises(ValueError, match="groups of num_generations=4"):
        G.group_advantages(torch.zeros(6), 4)
    with pytest.raises(ValueError, match="scale_rewards"):
        G.group_advantages(torch.zeros(4), 2, scale_rewards="std")


# --------------------------------------------------------------------------- the token loss


def test_token_loss_at_ratio_one_is_minus_the_advantage():
    lp = torch.randn(2, 3)
    assert_close(G.clipped_token_loss(lp, lp, torch.tensor([2.0, -1.0])),
                 torch.tensor([[-2.0] * 3, [1.0] * 3]))


def test_clip_higher_lets_positive_advantages_grow_further():
    old = torch.zeros(1, 1)
    new = torch.log(torch.tensor([[1.25]]))
    a = torch.tensor([1.0])
    assert_close(G.clipped_token_loss(new, old, a, 0.2), torch.tensor([[-1.2]]))
    assert_close(G.clipped_token_loss(new, old, a, 0.2, 0.28), torch.tensor([[-1.25]]))
    # a negative advantage is clipped below at 1 - epsilon_low, whatever epsilon_high is
    low = torch.log(torch.tensor([[0.5]]))
    assert_close(G.clipped_token_loss(low, old, -a, 0.2, 0.28), torch.tensor([[0.8]]))


def test_token_loss_wants_one_advantage_per_completion():
    with pytest.raises(ValueError, match="one advantage per completion"):
        G.clipped_token_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))


# --------------------------------------------------------------------------- reductions

LOSS = torch.tensor([[1.0, 2.0, 3.0, 0.0], [4.0, 0.0, 0.0, 0.0]])
MASK = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])


@pytest.mark.parametrize("loss_type, expected", [
    ("grpo", (2.0 + 4.0) / 2),           # mean over sequences of per-sequence means
    ("bnpo", (1 + 2 + 3 + 4) / 4),        # token-level
    ("dapo", (1 + 2 + 3 + 4) / 4),
    ("dr_grpo", (1 + 2 + 3 + 4) / (2 * 4)),  # B · L_max
])
def test_reductions_hand_values(loss_type, expected):
    assert_close(G.reduce_token_loss(LOSS, MASK, loss_type), torch.tensor(expected))


def test_dr_grpo_uses_max_completion_length():
    assert_close(G.reduce_token_loss(LOSS, MASK, "dr_grpo", max_completion_length=10), torch.tensor(10 / 20))


def test_padding_values_never_matter():
    noisy = LOSS.clone()
    noisy[MASK == 0] = 1e6
    for lt in G.LOSS_TYPES:
        assert_close(G.reduce_token_loss(noisy, MASK, lt), G.reduce_token_loss(LOSS, MASK, lt))


def test_grpo_reduction_is_length_biased():
    """Per-sequence means give each token of a short completion more weight than a long one's."""
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 1]])
    weight = torch.zeros(2, 4, requires_grad=True)
    G.reduce_token_loss(weight, mask, "grpo").backward()
    assert weight.grad[0, 0] == 4 * weight.grad[1, 0]
    w2 = torch.zeros(2, 4, requires_grad=True)
    G.reduce_token_loss(w2, mask, "dapo").backward()
    assert w2.grad[0, 0] == w2.grad[1, 0]


def _batch(seed=0, B=8, T=6):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T) < lengths.unsqueeze(1)).long()
    old = -torch.rand(B, T, generator=g) * 3 * mask
    new = (old + 0.3 * torch.randn(B, T, generator=g)) * mask
    ref = (old + 0.2 * torch.randn(B, T, generator=g)) * mask
    adv = G.group_advantages(torch.randint(0, 2, (B,), generator=g).float(), 4)
    return new, old, ref, adv, mask


@pytest.mark.parametrize("loss_type", G.LOSS_TYPES)
@pytest.mark.parametrize("micro", [1, 2, 4])
def test_loss_and_gradient_do_not_depend_on_the_micro_batch_size(loss_type, micro):
    new, old, ref, adv, mask = _batch()
    kw = dict(loss_type=loss_type, epsilon_low=0.2, epsilon_high=0.28, beta=0.1, ref_logprobs=ref,
              max_completion_length=8)
    whole = new.clone().requires_grad_(True)
    full = G.grpo_loss(whole, old, adv, mask, **kw)
    full.backward()
    parts = new.clone().requires_grad_(True)
    total = 0.0
    for s in range(0, 8, micro):
        i = slice(s, s + micro)
        loss = G.grpo_loss(parts[i], old[i], adv[i], mask[i], **{**kw, "ref_logprobs": ref[i]},
                           num_sequences=8, num_tokens=mask.sum())
        loss.backward()  # gradient accumulation
        total = total + loss.detach()
    assert_close(total, full.detach())
    assert_close(parts.grad, whole.grad)


def test_local_normalisation_is_not_micro_batch_invariant():
    """The bug: each micro-batch normalised by its own tokens, then averaged over micro-batches."""
    new, old, _, adv, mask = _batch()
    full = G.grpo_loss(new, old, adv, mask, loss_type="dapo")
    local = sum(G.grpo_loss(new[s:s + 2], old[s:s + 2], adv[s:s + 2], mask[s:s + 2], loss_type="dapo") / 4
                for s in range(0, 8, 2))
    assert not torch.allclose(full, local)


def test_first_step_loss_is_about_zero_but_the_gradient_is_not():
    new, _, _, adv, mask = _batch()
    mask = torch.ones_like(mask)  # equal lengths: the token-weighted mean advantage is exactly 0
    lp = new.clone().requires_grad_(True)
    loss = G.grpo_loss(lp, lp.detach(), adv, mask, loss_type="grpo")
    loss.backward()
    assert abs(loss.item()) < 1e-6
    assert lp.grad.abs().sum() > 0.1


def test_kl_term_needs_the_reference():
    new, old, _, adv, mask = _batch()
    with pytest.raises(ValueError, match="ref_logprobs"):
        G.grpo_loss(new, old, adv, mask, beta=0.1)


def test_kl_term_is_k3_weighted_by_beta():
    new, old, ref, adv, mask = _batch()
    without = G.grpo_loss(new, old, adv, mask, loss_type="bnpo")
    with_kl = G.grpo_loss(new, old, adv, mask, loss_type="bnpo", beta=0.5, ref_logprobs=ref)
    k3 = torch.exp(ref - new) - (ref - new) - 1
    assert_close(with_kl - without, 0.5 * (k3 * mask).sum() / mask.sum())


def test_unknown_loss_type_is_refused():
    with pytest.raises(ValueError, match="loss_type must be one of"):
        G.reduce_token_loss(LOSS, MASK, "sum")


def test_clip_fractions():
    old = torch.zeros(1, 4)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.0, 1.5]]))
    cf = G.clip_fractions(new, old, torch.tensor([1.0]), torch.tensor([[1, 1, 1, 0]]))
    assert cf["high"].item() == pytest.approx(1 / 3) and cf["low"].item() == 0.0
    cf = G.clip_fractions(new, old, torch.tensor([-1.0]), torch.tensor([[1, 1, 1, 1]]))
    assert cf["low"].item() == pytest.approx(1 / 4) and cf["region"].item() == pytest.approx(1 / 4)


# --------------------------------------------------------------------------- rewards


def test_exact_match_reward_normalises_whitespace():
    assert RW.exact_match_reward(["p"] * 3, [" 1 2", "1 2 !", "12"], answer=["1 2"] * 3) == [1.0, 0.0, 0.0]


def test_position_match_reward_is_partial_credit_and_one_only_when_exact():
    got = RW.position_match_reward(["p"] * 6, [" 4 1 6 4", "4 1 4 6", "4 1 6", "4 1 6 4 ! !", "", "1 4 6 4"],
                                   answer=["4 1 6 4"] * 6)
    assert got == [1.0, 0.5, 0.75, 4 / 6, 0.0, 0.5]
    assert RW.get_reward("position_match") is RW.position_match_reward
    with pytest.raises(KeyError, match="answer"):
        RW.position_match_reward(["p"], ["1"])


def test_format_reward():
    assert RW.format_reward(["p"] * 4, [" 4 1 3", " 4 1 3 ! !", " four", " 7"]) == [1.0, 0.0, 0.0, 1.0]


def test_registry_and_user_reward():
    assert RW.get_reward("exact_match") is RW.exact_match_reward
    with pytest.raises(KeyError, match="registered"):
        RW.get_reward("nope")

    def length_reward(prompts, completions, **columns):
        return [float(len(c)) for c in completions]

    assert RW.get_reward(length_reward) is length_reward
    with pytest.raises(ValueError, match="already registered"):
        RW.register_reward("exact_match")(length_reward)


def test_compute_rewards_checks_what_a_function_returns():
    with pytest.raises(ValueError, match="returned 1 rewards for 2"):
        RW.compute_rewards([lambda p, c, **k: [1.0]], ["a", "b"], ["x", "y"], {})
    with pytest.raises(ValueError, match="completion 1"):
        RW.compute_rewards([lambda p, c, **k: [1.0, float("nan")]], ["a", "b"], ["x", "y"], {})
    seen = {}

    def spy(prompts, completions, **columns):
        seen.update(columns)
        return [0.0] * len(completions)

    RW.compute_rewards([spy], ["a", "b"], ["x", "y"], {"answer": ["1", "2"], "task": ["add", "max"]})
    assert seen == {"answer": ["1", "2"], "task": ["add", "max"]}


def test_bias_corrected_kl_is_weighted_by_the_ratio():
    new, old, ref, adv, mask = _batch()
    plain = G.grpo_loss(new, old, adv, mask, loss_type="bnpo")
    corrected = G.grpo_loss(new, old, adv, mask, loss_type="bnpo", beta=0.5, ref_logprobs=ref,
                            use_bias_correction_kl=True)
    k3 = (torch.exp(ref - new) - (ref - new) - 1) * torch.exp(new - old)
    assert_close(corrected - plain, 0.5 * (k3 * mask).sum() / mask.sum())
