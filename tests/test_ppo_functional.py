"""The PPO math, each function against a hand-computed example (the arithmetic is in the comments)."""

import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from llmcourse.ppo import functional as F

T = torch.tensor


# --------------------------------------------------------------------------- masked statistics


def test_masked_mean_ignores_padding():
    # (1 + 2) / 2 = 1.5; the 100 sits on padding
    assert_close(F.masked_mean(T([[1.0, 2.0, 100.0]]), T([[1, 1, 0]])), T(1.5))


def test_masked_mean_per_row():
    # row 0: (1 + 2) / 2 = 1.5; row 1: 4 / 1 = 4
    assert_close(F.masked_mean(T([[1.0, 2.0, 9.0], [4.0, 9.0, 9.0]]), T([[1, 1, 0], [1, 0, 0]]), dim=-1), T([1.5, 4.0]))


def test_masked_mean_of_all_padding_is_zero_not_nan():
    assert_close(F.masked_mean(T([[5.0, 6.0]]), T([[0, 0]])), T(0.0))


def test_masked_var_is_population_variance_over_real_tokens():
    # values 1, 3 (50 is padding): mean 2, variance ((1-2)² + (3-2)²) / 2 = 1
    assert_close(F.masked_var(T([[1.0, 3.0, 50.0]]), T([[1, 1, 0]])), T(1.0))


def test_masked_whiten_standardises_real_tokens_and_zeroes_padding():
    # mean 2, std 1 → (1-2)/1 = -1, (3-2)/1 = 1, padding 0
    x, m = T([[1.0, 3.0, 50.0]]), T([[1, 1, 0]])
    assert_close(F.masked_whiten(x, m), T([[-1.0, 1.0, 0.0]]))


def test_masked_whiten_without_shift_keeps_the_mean():
    # (x - 2)/1 + 2 = x for std 1: 1, 3; padding 0
    assert_close(F.masked_whiten(T([[1.0, 3.0, 50.0]]), T([[1, 1, 0]]), shift_mean=False), T([[1.0, 3.0, 0.0]]))


def test_masked_whiten_statistics_span_the_whole_batch():
    # values 0, 2 | 4, 6 → mean 3, var (9 + 1 + 1 + 9) / 4 = 5
    x, m = T([[0.0, 2.0], [4.0, 6.0]]), T([[1, 1], [1, 1]])
    assert_close(F.masked_whiten(x, m), (x - 3.0) / math.sqrt(5.0))


# --------------------------------------------------------------------------- responses and log-probs


def test_truncate_after_eos_keeps_eos_and_pads_after_it():
    ids, mask, has_eos = F.truncate_after_eos(T([[5, 2, 7, 2], [5, 6, 7, 8]]), eos_token_id=2, pad_token_id=0)
    assert ids.tolist() == [[5, 2, 0, 0], [5, 6, 7, 8]]
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert has_eos.tolist() == [True, False]


def test_truncate_after_eos_empty_response_is_just_the_eos():
    # the policy stopped at once: the response is the EOS token alone, which still gets the score
    ids, mask, has_eos = F.truncate_after_eos(T([[2, 5, 6]]), eos_token_id=2, pad_token_id=0)
    assert ids.tolist() == [[2, 0, 0]] and mask.tolist() == [[1, 0, 0]] and has_eos.tolist() == [True]


def test_logprobs_from_logits_hand_example():
    # logits (0, ln 3): p(token 1) = 3 / (1 + 3) = 0.75
    logits = T([[[0.0, math.log(3.0)]]])
    assert_close(F.logprobs_from_logits(logits, T([[1]])), T([[math.log(0.75)]]))


def test_logprobs_from_logits_divides_by_temperature():
    # τ = 2: logits (0, ln 3 / 2) → p(1) = √3 / (1 + √3)
    logits = T([[[0.0, math.log(3.0)]]])
    expected = math.log(math.sqrt(3.0) / (1.0 + math.sqrt(3.0)))
    assert_close(F.logprobs_from_logits(logits, T([[1]]), temperature=2.0), T([[expected]]))


def test_logprobs_from_logits_rejects_unshifted_logits():
    with pytest.raises(ValueError, match="slice logits"):
        F.logprobs_from_logits(torch.zeros(1, 4, 3), T([[0, 1, 2]]))


def test_entropy_of_uniform_logits_is_log_vocab():
    # 4 equal logits: H = ln 4
    assert_close(F.entropy_from_logits(torch.zeros(1, 1, 4)), T([[math.log(4.0)]]))


# --------------------------------------------------------------------------- KL


LOGP = T([[-1.0, -2.0, -9.0]])
REF = T([[-1.5, -1.0, -0.1]])  # the last column is padding: any number
MASK = T([[1, 1, 0]])


def test_kl_k1_is_the_log_ratio_on_real_tokens():
    # log π - log π_ref: -1 - (-1.5) = 0.5, -2 - (-1) = -1, padding 0
    assert_close(F.kl_per_token(LOGP, REF, MASK, "k1"), T([[0.5, -1.0, 0.0]]))


def test_kl_k3_hand_values():
    # log ρ = 0.5: r = e^-0.5, (r - 1) - log r = e^-0.5 - 1 + 0.5 = 0.106531
    # log ρ = -1:  r = e,      (e - 1) - 1 = 0.718282
    expected = T([[math.exp(-0.5) - 0.5, math.e - 2.0, 0.0]])
    assert_close(F.kl_per_token(LOGP, REF, MASK, "k3"), expected)


def test_kl_k2_hand_values():
    # ½ (0.5)² = 0.125, ½ (-1)² = 0.5
    assert_close(F.kl_per_token(LOGP, REF, MASK, "k2"), T([[0.125, 0.5, 0.0]]))


def test_kl_is_zero_when_policy_equals_reference():
    for est in ("k1", "k2", "k3"):
        assert_close(F.kl_per_token(LOGP, LOGP, MASK, est), torch.zeros(1, 3))


def test_kl_k3_is_never_negative():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 7, generator=g), torch.randn(4, 7, generator=g)
    assert (F.kl_per_token(a, b, torch.ones(4, 7), "k3") >= 0).all()


def test_sequence_kl_sums_tokens():
    # 0.5 + (-1) = -0.5
    assert_close(F.sequence_kl(LOGP, REF, MASK), T([-0.5]))


def test_kl_unknown_estimator_is_refused():
    with pytest.raises(ValueError, match="k1"):
        F.kl_per_token(LOGP, REF, MASK, "k4")


# --------------------------------------------------------------------------- rewards


def test_kl_penalized_rewards_hand_example():
    scores = T([2.0, -1.0])
    logp = T([[-1.0, -2.0, -3.0], [-1.0, -1.0, 0.0]])
    ref = T([[-1.5, -1.0, -3.0], [-2.0, -1.0, 5.0]])
    mask = T([[1, 1, 1], [1, 1, 0]])
    # row 0: -0.1·(0.5, -1, 0) = (-0.05, 0.1, 0), score 2 at the last token (index 2)
    # row 1: -0.1·(1, 0, ·)    = (-0.1, 0, 0),   score -1 at the last real token (index 1), padding 0
    expected = T([[-0.05, 0.1, 2.0], [-0.1, -1.0, 0.0]])
    assert_close(F.kl_penalized_rewards(scores, logp, ref, mask, 0.1), expected)


def test_kl_penalized_rewards_sum_to_score_minus_beta_sequence_kl():
    g = torch.Generator().manual_seed(1)
    logp, ref = -torch.rand(3, 5, generator=g), -torch.rand(3, 5, generator=g)
    mask, scores = T([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]]), T([0.3, -2.0, 1.0])
    rewards = F.kl_penalized_rewards(scores, logp, ref, mask, 0.2)
    assert_close(rewards.sum(-1), scores - 0.2 * F.sequence_kl(logp, ref, mask))


def test_kl_penalized_rewards_with_zero_beta_is_the_score_alone():
    rewards = F.kl_penalized_rewards(T([3.0]), T([[-1.0, -2.0]]), T([[-5.0, -5.0]]), T([[1, 1]]), 0.0)
    assert_close(rewards, T([[0.0, 3.0]]))


def test_kl_penalized_rewards_refuses_all_padding_row():
    with pytest.raises(ValueError, match="all padding"):
        F.kl_penalized_rewards(T([1.0, 2.0]), torch.zeros(2, 2), torch.zeros(2, 2), T([[1, 0], [0, 0]]), 0.1)


def test_kl_penalized_rewards_explains_a_2d_score():
    with pytest.raises(ValueError, match="squeeze"):
        F.kl_penalized_rewards(T([[1.0]]), torch.zeros(1, 2), torch.zeros(1, 2), T([[1, 1]]), 0.1)


def test_penalize_missing_eos():
    # row 1 never emitted EOS: 1 - 0.5 = 0.5
    assert_close(F.penalize_missing_eos(T([1.0, 1.0]), T([True, False]), 0.5), T([1.0, 0.5]))
    assert_close(F.penalize_missing_eos(T([1.0, 1.0]), T([True, False]), None), T([1.0, 1.0]))


# --------------------------------------------------------------------------- GAE


def test_gae_with_gamma_lambda_one_is_reward_to_go_minus_value():
    # reward-to-go (1, 1, 1) minus V (0.5, 0.2, 0.9) = (0.5, 0.8, 0.1); returns = reward-to-go
    adv, ret = F.gae_advantages(T([[0.0, 0.0, 1.0]]), T([[0.5, 0.2, 0.9]]), T([[1, 1, 1]]), gamma=1.0, lam=1.0)
    assert_close(adv, T([[0.5, 0.8, 0.1]]))
    assert_close(ret, T([[1.0, 1.0, 1.0]]))


def test_gae_with_lambda_zero_is_the_td_error():
    # δ0 = 0 + 0.2 - 0.5 = -0.3, δ1 = 0 + 0.9 - 0.2 = 0.7, δ2 = 1 + 0 - 0.9 = 0.1 (nothing after the end)
    adv, _ = F.gae_advantages(T([[0.0, 0.0, 1.0]]), T([[0.5, 0.2, 0.9]]), T([[1, 1, 1]]), gamma=1.0, lam=0.0)
    assert_close(adv, T([[-0.3, 0.7, 0.1]]))


def test_gae_discounts_with_gamma():
    # V = 0, reward 1 at the end, γ = 0.5, λ = 1: A = (0.25, 0.5, 1)
    adv, _ = F.gae_advantages(T([[0.0, 0.0, 1.0]]), torch.zeros(1, 3), T([[1, 1, 1]]), gamma=0.5, lam=1.0)
    assert_close(adv, T([[0.25, 0.5, 1.0]]))


def test_gae_does_not_bootstrap_from_padding():
    # mask (1, 1, 0); the padded reward 7 and value 9 must not leak in.
    # t=1: δ = 1 + 0 - 0.2 = 0.8, A1 = 0.8;  t=0: δ = 0 + 0.2 - 0.5 = -0.3, A0 = -0.3 + 0.5·0.8 = 0.1
    adv, ret = F.gae_advantages(T([[0.0, 1.0, 7.0]]), T([[0.5, 0.2, 9.0]]), T([[1, 1, 0]]), gamma=1.0, lam=0.5)
    assert_close(adv, T([[0.1, 0.8, 0.0]]))
    assert_close(ret, T([[0.6, 1.0, 0.0]]))  # A + V on real tokens


def _gae_by_the_sum(rewards, values, mask, gamma, lam):
    """The other formula: A_t = Σ_l (γλ)^l δ_{t+l}, with V = 0 beyond the last real token."""
    r, v, m = rewards.numpy(), values.numpy() * mask.numpy(), mask.numpy()
    out = np.zeros_like(r)
    for b in range(r.shape[0]):
        n = int(m[b].sum())
        v_next = np.append(v[b, 1:n], 0.0)
        delta = r[b, :n] + gamma * v_next - v[b, :n]
        for t in range(n):
            out[b, t] = sum((gamma * lam) ** k * delta[t + k] for k in range(n - t))
    return torch.from_numpy(out)


def test_gae_agrees_with_the_explicit_sum():
    g = torch.Generator().manual_seed(3)
    rewards, values = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    mask = T([[1] * 6, [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
    adv, _ = F.gae_advantages(rewards * mask, values, mask, gamma=0.9, lam=0.8)
    assert_close(adv, _gae_by_the_sum(rewards * mask, values, mask, 0.9, 0.8))


def test_gae_is_independent_of_what_padding_holds():
    mask = T([[1, 1, 0, 0]])
    a1, _ = F.gae_advantages(T([[0.0, 1.0, 0.0, 0.0]]), T([[0.1, 0.2, 0.0, 0.0]]), mask)
    a2, _ = F.gae_advantages(T([[0.0, 1.0, 5.0, -3.0]]), T([[0.1, 0.2, 8.0, 8.0]]), mask)
    assert_close(a1, a2)


# --------------------------------------------------------------------------- PPO losses


def test_policy_loss_at_ratio_one_is_minus_mean_advantage():
    # ρ = 1 everywhere: loss = -(1 + 3) / 2 = -2 (the padded advantage 100 is ignored)
    logp = T([[-1.0, -2.0, -3.0]])
    assert_close(F.clipped_policy_loss(logp, logp, T([[1.0, 3.0, 100.0]]), T([[1, 1, 0]]), 0.2), T(-2.0))


def test_policy_loss_takes_the_pessimistic_term():
    old = torch.zeros(1, 3)
    new = T([[math.log(1.5), math.log(0.5), math.log(1.5)]])
    adv = T([[1.0, -1.0, -1.0]])
    # token 0: ρ 1.5, A +1: max(-1.5, -1.2) = -1.2   (gain capped at 1+ε)
    # token 1: ρ 0.5, A -1: max( 0.5,  0.8) =  0.8   (gain capped at 1-ε)
    # token 2: ρ 1.5, A -1: max( 1.5,  1.2) =  1.5   (a loss is never capped)
    # mean = (-1.2 + 0.8 + 1.5) / 3
    assert_close(F.clipped_policy_loss(new, old, adv, torch.ones(1, 3), 0.2), T((-1.2 + 0.8 + 1.5) / 3))


def test_policy_loss_has_no_gradient_through_clipped_tokens():
    new = T([[math.log(1.5), math.log(1.1)]]).requires_grad_()
    F.clipped_policy_loss(new, torch.zeros(1, 2), T([[1.0, 1.0]]), torch.ones(1, 2), 0.2).backward()
    # token 0 clipped (ρ 1.5 > 1.2): 0; token 1 inside: d/dlogp (-ρ·A/2) = -1.1/2
    assert_close(new.grad, T([[0.0, -0.55]]))


def test_policy_loss_is_finite_for_very_unlikely_tokens():
    # log-probs of -200: exp(-200) underflows in float32, the log-prob difference does not
    logp = T([[-200.0, -150.0]])
    loss = F.clipped_policy_loss(logp + 0.1, logp, T([[1.0, -1.0]]), torch.ones(1, 2), 0.2)
    assert torch.isfinite(loss)


def test_clip_fraction_and_approx_kl():
    old = torch.zeros(1, 3)
    new = T([[math.log(1.5), math.log(0.5), math.log(1.5)]])
    adv = T([[1.0, -1.0, -1.0]])
    # tokens 0 and 1 are clipped, token 2 is not → 2/3
    assert_close(F.clip_fraction(new, old, adv, torch.ones(1, 3), 0.2), T(2 / 3))
    expected = (0.5 * math.log(1.5) ** 2 * 2 + 0.5 * math.log(0.5) ** 2) / 3
    assert_close(F.approx_kl(new, old, torch.ones(1, 3)), T(expected))


def test_value_loss_uses_the_larger_of_clipped_and_unclipped_error():
    # V 1.0, V_old 0, R 2, ε 0.2: unclipped (1-2)² = 1; clipped V 0.2 → (0.2-2)² = 3.24; ½·3.24 = 1.62
    assert_close(F.clipped_value_loss(T([[1.0]]), T([[0.0]]), T([[2.0]]), T([[1]]), 0.2), T(1.62))
    # V 0.1 within the clip: ½ (0.1 - 2)² = 1.805
    assert_close(F.clipped_value_loss(T([[0.1]]), T([[0.0]]), T([[2.0]]), T([[1]]), 0.2), T(1.805))


def test_value_loss_ignores_padding():
    # only the first token counts: ½ (1 - 0)² = 0.5
    assert_close(F.clipped_value_loss(T([[1.0, 50.0]]), T([[1.0, 0.0]]), T([[0.0, 0.0]]), T([[1, 0]]), 0.2), T(0.5))


# --------------------------------------------------------------------------- the KL controller


def test_adaptive_kl_update_hand_values():
    # KL 12 vs target 6: error = clip(1, ±0.2) = 0.2; β = 0.1·(1 + 0.2·64/640) = 0.102
    assert F.adaptive_kl_update(0.1, 12.0, 6.0, 64, 640) == pytest.approx(0.102)
    # KL 5.4: error = -0.1; β = 0.1·(1 - 0.1·0.1) = 0.099
    assert F.adaptive_kl_update(0.1, 5.4, 6.0, 64, 640) == pytest.approx(0.099)
    # KL 0: error clipped at -0.2; β = 0.1·(1 - 0.02) = 0.098
    assert F.adaptive_kl_update(0.1, 0.0, 6.0, 64, 640) == pytest.approx(0.098)


def test_adaptive_controller_moves_and_fixed_does_not():
    ctl = F.AdaptiveKLController(0.1, target=6.0, horizon=640)
    assert ctl.update(12.0, 64) == pytest.approx(0.102)
    assert ctl.value == pytest.approx(0.102)
    fixed = F.FixedKLController(0.1)
    assert fixed.update(100.0, 64) == 0.1


def test_adaptive_kl_update_refuses_bad_target():
    with pytest.raises(ValueError, match="target"):
        F.adaptive_kl_update(0.1, 1.0, 0.0, 64, 640)


def test_shape_mismatch_names_the_tensor():
    with pytest.raises(ValueError, match="squeeze"):
        F.clipped_value_loss(torch.zeros(2, 3, 1), torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3))
