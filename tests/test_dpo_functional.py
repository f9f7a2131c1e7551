"""DPO math (llmcourse.dpo.functional): hand-computed values, stability, gradients, masking."""

import math

import pytest
import torch
import torch.nn.functional as F

from llmcourse import dpo


def _t(*xs):
    return torch.tensor(xs, dtype=torch.float32)


def test_loss_is_log2_when_policy_equals_reference():
    z = _t(-3.0, -7.5)
    # Δ = 0 for every pair: −log σ(0) = log 2
    torch.testing.assert_close(dpo.dpo_loss(z, z - 1, z, z - 1, beta=0.1), torch.tensor(math.log(2)))


def test_loss_matches_hand_computed_value():
    # Δ = (−1 − −2) − (−3 − −2) = 2, β = 0.5: −log σ(1) = log(1 + e^−1) ≈ 0.313262
    loss = dpo.dpo_loss(_t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0), beta=0.5)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-6)


def test_loss_and_gradient_stay_finite_for_huge_gaps():
    pc = _t(0.0, 0.0).requires_grad_(True)
    # βΔ = ±1e4: per-pair losses 1e4 and 0, mean 5000; naive log(sigmoid) gives inf and NaN gradients
    loss = dpo.dpo_loss(pc, _t(1e5, -1e5), _t(0.0, 0.0), _t(0.0, 0.0), beta=0.1)
    loss.backward()
    assert loss.item() == pytest.approx(5000.0)
    assert torch.isfinite(pc.grad).all()
    torch.testing.assert_close(pc.grad, _t(-0.05, 0.0))  # −β σ(−βΔ) / B


def test_gradient_wrt_chosen_is_minus_beta_sigma():
    pc = _t(-1.0, -4.0).requires_grad_(True)
    pr, rc, rr, beta = _t(-2.0, -1.0), _t(-1.5, -2.0), _t(-2.5, -2.0), 0.3
    dpo.dpo_loss(pc, pr, rc, rr, beta=beta, reduction="sum").backward()
    delta = (pc - rc - pr + rr).detach()
    torch.testing.assert_close(pc.grad, -beta * torch.sigmoid(-beta * delta))


def test_label_smoothing_mixes_both_directions():
    pc, pr, rc, rr = _t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0)  # Δ = 2, β = 1
    eps = 0.2
    expected = (1 - eps) * F.softplus(torch.tensor(-2.0)) + eps * F.softplus(torch.tensor(2.0))
    torch.testing.assert_close(dpo.dpo_loss(pc, pr, rc, rr, beta=1.0, label_smoothing=eps), expected)


def test_ipo_targets_one_over_two_beta():
    z = _t(-2.0)
    # Δ = 0, β = 0.5: (0 − 1)² = 1; Δ = 1 = 1/(2β): 0
    assert dpo.ipo_loss(z, z, z, z, beta=0.5).item() == pytest.approx(1.0)
    assert dpo.ipo_loss(z + 1, z, z, z, beta=0.5).item() == pytest.approx(0.0)


def test_robust_without_noise_is_dpo():
    args = (_t(-1.0, -2.0), _t(-3.0, -1.0), _t(-2.0, -2.0), _t(-2.0, -1.5))
    torch.testing.assert_close(dpo.robust_dpo_loss(*args, beta=0.2, label_smoothing=0.0), dpo.dpo_loss(*args, beta=0.2))


def test_preference_loss_dispatches_by_trl_name():
    args = (_t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0))
    torch.testing.assert_close(dpo.preference_loss(*args, 0.5, loss_type="ipo"), dpo.ipo_loss(*args, 0.5))
    with pytest.raises(ValueError, match="loss_type"):
        dpo.preference_loss(*args, 0.5, loss_type="hinge_typo")


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match="per-token"):
        dpo.dpo_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="beta"):
        dpo.dpo_loss(_t(0.0), _t(0.0), _t(0.0), _t(0.0), beta=0.0)


def test_sequence_logprobs_sums_response_tokens_only():
    V = 8
    logits = torch.zeros(1, 5, V)  # uniform: every token has log-prob −log 8
    labels = torch.tensor([[-100, -100, 3, 4, -100]])  # two response tokens, then a pad
    got = dpo.sequence_logprobs(logits, labels)
    torch.testing.assert_close(got, torch.tensor([-2 * math.log(V)]))
    torch.testing.assert_close(dpo.sequence_logprobs(logits, labels, average=True), torch.tensor([-math.log(V)]))


def test_sequence_logprobs_uses_the_shift_and_ignores_padding():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 11, generator=g)
    labels = torch.tensor([[-100, -100, 5, 7, 2, -100], [-100, 3, 2, -100, -100, -100]])
    expected = []
    for b in range(2):
        lp = torch.log_softmax(logits[b], -1)
        expected.append(sum(lp[t - 1, labels[b, t]] for t in range(6) if labels[b, t] != -100))
    torch.testing.assert_close(dpo.sequence_logprobs(logits, labels), torch.stack(expected))
    # more padding columns (and garbage logits there) change nothing
    wider = torch.cat([logits, torch.randn(2, 3, 11, generator=g) * 100], 1)
    wider_labels = torch.cat([labels, torch.full((2, 3), -100)], 1)
    torch.testing.assert_close(dpo.sequence_logprobs(wider, wider_labels), torch.stack(expected))


def test_sequence_logprobs_refuses_rows_without_response():
    with pytest.raises(ValueError, match="no response token"):
        dpo.sequence_logprobs(torch.zeros(2, 3, 4), torch.tensor([[-100, 1, 2], [-100, -100, -100]]))
    with pytest.raises(ValueError, match="already shifted"):
        dpo.sequence_logprobs(torch.zeros(1, 4, 4), torch.tensor([[1, 2, 3]]))


def test_implicit_rewards_accuracy_and_margin():
    wc = dpo.implicit_rewards(_t(-1.0, -2.0, -3.0), _t(-2.0, -2.0, -1.0), beta=0.5)
    torch.testing.assert_close(wc, _t(0.5, 0.0, -1.0))
    assert not wc.requires_grad
    wr = _t(0.0, 0.0, -2.0)
    # pair 2 is a tie: counts as wrong
    assert dpo.reward_accuracy(wc, wr).item() == pytest.approx(2 / 3)
    assert dpo.reward_margin(wc, wr).item() == pytest.approx(0.5)
