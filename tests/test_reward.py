"""The math of llmcourse.reward: Bradley–Terry loss (NumPy and PyTorch), accuracy, read-out, calibration."""

import math

import numpy as np
import pytest
import torch

from llmcourse import reward
from llmcourse.reward import functional as F_

LOG2 = math.log(2.0)


# --------------------------------------------------------------------------- NumPy loss


def test_numpy_loss_one_pair_matches_hand_value():
    # −log σ(2 − 1) = log(1 + e^−1) = 0.31326…
    got = reward.bradley_terry_loss_numpy(np.array([2.0]), np.array([1.0]))
    assert got == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-12)


def test_numpy_loss_equal_scores_is_log2():
    # σ(0) = 1/2 → −log(1/2) = log 2 for every pair, whatever the scores
    got = reward.bradley_terry_loss_numpy([3.0, -7.0], [3.0, -7.0])
    assert got == pytest.approx(LOG2)


def test_numpy_loss_is_stable_for_gaps_of_1e4():
    # gaps +1e4 → loss 0; −1e4 → loss 1e4 (softplus is linear there); mean 5000, no overflow warning
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        got = reward.bradley_terry_loss_numpy(np.array([1e4, -1e4]), np.array([0.0, 0.0]))
    assert got == pytest.approx(5000.0, rel=1e-12)


def test_seed_formula_overflows_where_ours_does_not():
    # the seed guide's -np.log(sigmoid(x)) gives inf for a gap of −1e4 (exp(1e4) overflows)
    with np.errstate(over="ignore", divide="ignore"):
        seed = -np.log(1 / (1 + np.exp(-np.array([-1e4]))))
    assert np.isinf(seed).all()
    assert np.isfinite(reward.bradley_terry_loss_numpy([-1e4], [0.0]))


def test_numpy_loss_reductions():
    c, r = np.array([2.5, 3.1, 1.8, 4.0]), np.array([1.0, 2.0, 0.5, 2.1])
    per = np.log1p(np.exp(-(c - r)))  # safe here: gaps are small
    np.testing.assert_allclose(reward.bradley_terry_loss_numpy(c, r, reduction="none"), per)
    assert reward.bradley_terry_loss_numpy(c, r, reduction="sum") == pytest.approx(per.sum())
    assert reward.bradley_terry_loss_numpy(c, r) == pytest.approx(per.mean())


def test_numpy_loss_margin_shifts_the_gap():
    # gap 1, margin 1 → −log σ(0) = log 2
    assert reward.bradley_terry_loss_numpy([2.0], [1.0], margin=1.0) == pytest.approx(LOG2)


def test_numpy_loss_centring_adds_mean_squared_sum():
    # scores equal → BT part log 2; (r_c + r_r)² = (1+1)² = 4 → + 0.1·4
    got = reward.bradley_terry_loss_numpy([1.0], [1.0], center_coef=0.1)
    assert got == pytest.approx(LOG2 + 0.4)


def test_numpy_loss_rejects_column_vectors_with_squeeze_hint():
    with pytest.raises(ValueError, match=r"squeeze\(-1\)"):
        reward.bradley_terry_loss_numpy(np.zeros((4, 1)), np.zeros(4))


def test_numpy_loss_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"chosen \(3,\) and rejected \(2,\)"):
        reward.bradley_terry_loss_numpy(np.zeros(3), np.zeros(2))


def test_numpy_loss_rejects_empty_batch():
    with pytest.raises(ValueError, match="empty batch"):
        reward.bradley_terry_loss_numpy(np.zeros(0), np.zeros(0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_numpy_loss_rejects_non_finite_scores(bad):
    with pytest.raises(ValueError, match="rejected score at index 1"):
        reward.bradley_terry_loss_numpy([0.0, 1.0], [0.0, bad])


def test_numpy_loss_refuses_torch_tensors():
    with pytest.raises(TypeError, match="bradley_terry_loss for tensors"):
        reward.bradley_terry_loss_numpy(torch.zeros(2), torch.zeros(2))


def test_numpy_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        reward.bradley_terry_loss_numpy([1.0], [0.0], reduction="avg")


# --------------------------------------------------------------------------- PyTorch loss


def test_torch_loss_matches_numpy_loss():
    rng = np.random.default_rng(0)
    c, r, m = rng.normal(size=6), rng.normal(size=6), rng.uniform(size=6)
    got = reward.bradley_terry_loss(torch.tensor(c), torch.tensor(r), torch.tensor(m), center_coef=0.01)
    expected = reward.bradley_terry_loss_numpy(c, r, m, center_coef=0.01)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_torch_loss_gradient_is_minus_sigmoid_of_minus_gap():
    # ∂/∂r_c of softplus(−(r_c − r_r)) = −σ(−1) = −0.26894 for a gap of 1; +0.26894 for r_r
    c, r = torch.tensor([2.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    reward.bradley_terry_loss(c, r).backward()
    torch.testing.assert_close(c.grad, torch.tensor([-1 / (1 + math.e)]))
    torch.testing.assert_close(r.grad, torch.tensor([1 / (1 + math.e)]))


def test_torch_loss_and_gradient_finite_for_gaps_of_1e4():
    # per pair: loss 0 and 1e4; gradient (mean over 2) 0 and −1/2 for chosen
    c = torch.tensor([1e4, -1e4], requires_grad=True)
    loss = reward.bradley_terry_loss(c, torch.zeros(2))
    loss.backward()
    torch.testing.assert_close(loss, torch.tensor(5000.0))
    torch.testing.assert_close(c.grad, torch.tensor([0.0, -0.5]))


def test_naive_torch_formula_has_nan_gradient_at_large_gap():
    # the reason for softplus: −log(sigmoid(x)) at x = −1e4 is inf with a NaN gradient
    x = torch.tensor([-1e4], requires_grad=True)
    (-torch.log(torch.sigmoid(x))).sum().backward()
    assert torch.isnan(x.grad).all() or torch.isinf(x.grad).all()


def test_torch_loss_per_pair_margin_and_sum():
    # gaps (1, −0.5), margins (1, 0) → softplus(0) + softplus(0.5)
    got = reward.bradley_terry_loss(torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]),
                                    reduction="sum")
    torch.testing.assert_close(got, torch.tensor(LOG2 + math.log1p(math.exp(0.5))))


def test_torch_loss_centring_term_is_independent_of_ranking():
    # centring adds η·mean((r_c + r_r)²) = 0.5·mean(9, 1) = 2.5 on top of the BT mean
    c, r = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    torch.testing.assert_close(reward.bradley_terry_loss(c, r, center_coef=0.5) - reward.bradley_terry_loss(c, r),
                               torch.tensor(2.5))


def test_torch_loss_rejects_b1_vs_b_with_squeeze_hint():
    with pytest.raises(ValueError, match=r"forgot `\.squeeze\(-1\)`"):
        reward.bradley_terry_loss(torch.zeros(3, 1), torch.zeros(3))


def test_torch_loss_rejects_nan_scores():
    with pytest.raises(ValueError, match="chosen score at index 0 is nan"):
        reward.bradley_terry_loss(torch.tensor([float("nan")]), torch.tensor([0.0]))


def test_torch_loss_rejects_nan_margin():
    with pytest.raises(ValueError, match="margin contains NaN"):
        reward.bradley_terry_loss(torch.zeros(2), torch.zeros(2), torch.tensor([0.0, float("nan")]))


def test_torch_loss_rejects_wrong_margin_shape():
    with pytest.raises(ValueError, match=r"margin must be a number or have shape \(2,\)"):
        reward.bradley_terry_loss(torch.zeros(2), torch.zeros(2), torch.zeros(3))


def test_torch_loss_rejects_integer_scores_and_lists():
    with pytest.raises(TypeError, match="floating point"):
        reward.bradley_terry_loss(torch.tensor([1]), torch.tensor([0]))
    with pytest.raises(TypeError, match="torch.Tensor"):
        reward.bradley_terry_loss([1.0], [0.0])


def test_torch_loss_does_not_modify_inputs():
    c, r = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 3.0])
    reward.bradley_terry_loss(c, r, 0.5, center_coef=0.1)
    torch.testing.assert_close(c, torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(r, torch.tensor([0.0, 3.0]))


def test_pairwise_accuracy_counts_ties_as_wrong_and_mean_margin():
    # pairs: right, wrong, tie → 1/3; gaps 1, −1, 0 → mean 0
    c, r = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, 2.0])
    torch.testing.assert_close(reward.pairwise_accuracy(c, r), torch.tensor(1 / 3))
    torch.testing.assert_close(reward.mean_margin(c, r), torch.tensor(0.0))


# --------------------------------------------------------------------------- where the score is read


def test_last_token_index_right_left_and_holes():
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1], [1, 0, 1, 0]])
    torch.testing.assert_close(reward.last_token_index(mask), torch.tensor([1, 3, 3, 2]))


def test_last_token_index_rejects_all_pad_row():
    with pytest.raises(ValueError, match="row 1 of the mask has no real token"):
        reward.last_token_index(torch.tensor([[1, 0], [0, 0]]))


def test_scores_at_last_token_reads_per_row_and_supports_hidden_states():
    values = torch.arange(8.0).reshape(2, 4)
    mask = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]])
    torch.testing.assert_close(reward.scores_at_last_token(values, mask), torch.tensor([2.0, 7.0]))
    hidden = torch.arange(16.0).reshape(2, 4, 2)  # (B, T, H) → (B, H)
    torch.testing.assert_close(reward.scores_at_last_token(hidden, mask), torch.tensor([[4.0, 5.0], [14.0, 15.0]]))


def test_scores_at_last_token_rejects_pooled_logits():
    with pytest.raises(ValueError, match="pooled"):
        reward.scores_at_last_token(torch.zeros(2, 1), torch.ones(2, 5, dtype=torch.long))


def test_scores_at_last_token_rejects_float_mask():
    with pytest.raises(TypeError, match="0/1 integers"):
        reward.scores_at_last_token(torch.zeros(1, 2), torch.ones(1, 2))


# --------------------------------------------------------------------------- calibration


def test_calibration_maps_sample_to_mean0_std1():
    scores = torch.tensor([1.0, 2.0, 3.0, 6.0])  # mean 3, population std √3.5
    gain, bias = reward.calibration_from_scores(scores)
    out = gain * scores + bias
    torch.testing.assert_close(out.mean(), torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.std(unbiased=False), torch.tensor(1.0))
    torch.testing.assert_close(gain, torch.tensor(1 / math.sqrt(3.5)))


def test_calibration_refuses_constant_scores():
    with pytest.raises(ValueError, match="std 0"):
        reward.calibration_from_scores(torch.ones(5))


def test_calibration_needs_two_scores():
    with pytest.raises(ValueError, match="at least 2"):
        reward.calibration_from_scores(torch.ones(1))


def test_functional_module_is_a_leaf():
    # the math layer imports nothing from the package but other math (no data, models or trainers)
    import inspect
    import re

    src = inspect.getsource(F_)
    imported = re.findall(r"^(?:from|import) (llmcourse\S*)", src, flags=re.M)
    assert all(m.endswith(".functional") for m in imported), imported
