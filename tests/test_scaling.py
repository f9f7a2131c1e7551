"""Tests for llmcourse.scaling: the law, compute-optimal allocation, fitting, IsoFLOP, plots, sweep."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from llmcourse import scaling
from llmcourse.scaling import (
    BESIROGLU_2024, CHINCHILLA, GOPHER, HOFFMANN_2022, ChinchillaParams, ScalingFitError,
    chinchilla_loss, compute_optimal_allocation, fit_chinchilla, huber, huber_log_objective, isoflop_fit,
    isoflop_runs, log_space_residuals, params_to_theta, synthetic_losses, tokens_per_parameter, training_flops,
)
from llmcourse.scaling import plots


def _synthetic_runs(n=250, noise=0.005, seed=0, params=BESIROGLU_2024):
    """Runs spread like Hoffmann et al.'s: N in [7e7, 1.6e10], D in [5e9, 5e11], log-uniform."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n))
    D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n))
    return N, D, synthetic_losses(N, D, params, noise=noise, rng=rng)


# --------------------------------------------------------------------------- published constants


def test_published_constants_match_the_papers():
    # Hoffmann et al. 2022 §3.3; Besiroglu et al. 2024 (arXiv:2404.10102)
    assert HOFFMANN_2022.as_array().tolist() == [1.69, 406.4, 410.7, 0.34, 0.28]
    assert BESIROGLU_2024.as_array().tolist() == [1.8172, 482.01, 2085.43, 0.3478, 0.3658]
    assert "2203.15556" in HOFFMANN_2022.source and "2404.10102" in BESIROGLU_2024.source


def test_params_are_frozen():
    with pytest.raises(Exception):
        HOFFMANN_2022.E = 2.0  # type: ignore[misc]


def test_params_reject_non_positive_exponent():
    with pytest.raises(ValueError, match="alpha"):
        ChinchillaParams(E=1.0, A=1.0, B=1.0, alpha=0.0, beta=0.3)


def test_gopher_and_chinchilla_used_about_the_same_compute():
    # 6·280e9·300e9 = 5.04e23 and 6·70e9·1.4e12 = 5.88e23: within 20 %
    assert GOPHER.compute == pytest.approx(5.04e23)
    assert CHINCHILLA.compute == pytest.approx(5.88e23)


# --------------------------------------------------------------------------- the law


def test_chinchilla_loss_by_hand():
    # E + A/N^α + B/D^β with N = D = 1: 1.69 + 406.4 + 410.7 = 818.79
    assert chinchilla_loss(1.0, 1.0) == pytest.approx(818.79)
    # Chinchilla (70B, 1.4T): 1.69 + 406.4/70e9^0.34 + 410.7/1.4e12^0.28
    expected = 1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28
    assert chinchilla_loss(70e9, 1.4e12) == pytest.approx(expected)


def test_chinchilla_loss_broadcasts():
    N = np.array([1e8, 1e9, 1e10])[:, None]
    D = np.array([1e10, 1e11])[None, :]
    out = chinchilla_loss(N, D, BESIROGLU_2024)
    assert out.shape == (3, 2)
    assert out[2, 1] == pytest.approx(chinchilla_loss(1e10, 1e11, BESIROGLU_2024))


def test_chinchilla_beats_gopher_under_both_published_laws():
    # the paper's headline: 70B/1.4T has lower loss than 280B/300B at about the same compute
    for p in (HOFFMANN_2022, BESIROGLU_2024):
        assert chinchilla_loss(CHINCHILLA.N, CHINCHILLA.D, p) < chinchilla_loss(GOPHER.N, GOPHER.D, p)


def test_training_flops_is_six_n_d():
    assert training_flops(2.0, 3.0) == 36.0


@pytest.mark.parametrize("bad, where", [(-1.0, "N"), (0.0, "N"), (float("nan"), "N")])
def test_loss_rejects_non_positive_or_nan_n(bad, where):
    with pytest.raises(ValueError, match=rf"{where}\[1\] = .* (not positive|NaN)"):
        chinchilla_loss(np.array([1e9, bad]), 1e10)


def test_loss_rejects_non_positive_d():
    with pytest.raises(ValueError, match="D = -5.0 is not positive"):
        chinchilla_loss(1e9, -5.0)


@pytest.mark.parametrize("bad", [0.0, -1e20, float("nan"), float("inf")])
def test_allocation_rejects_bad_compute(bad):
    with pytest.raises(ValueError, match="C"):
        compute_optimal_allocation(bad)


# --------------------------------------------------------------------------- compute-optimal allocation


@pytest.mark.parametrize("params", [HOFFMANN_2022, BESIROGLU_2024], ids=["hoffmann", "besiroglu"])
@pytest.mark.parametrize("C", [1e19, 5.76e23, 1e26])
def test_closed_form_optimum_matches_numeric_minimisation(params, C):
    # minimise L(N, C/(6N)) over log N numerically; the closed form must agree to 1e-4 in log N
    res = minimize_scalar(lambda x: chinchilla_loss(math.exp(x), C / (6 * math.exp(x)), params),
                          bounds=(math.log(1e3), math.log(C / 6 / 1e3)), method="bounded",
                          options={"xatol": 1e-10})
    n_opt, d_opt = compute_optimal_allocation(C, params)
    assert math.log(n_opt) == pytest.approx(res.x, abs=1e-4)
    assert 6 * n_opt * d_opt == pytest.approx(C)


def test_allocation_is_vectorised_and_spends_the_budget():
    C = np.geomspace(1e18, 1e26, 9)
    n_opt, d_opt = compute_optimal_allocation(C, BESIROGLU_2024)
    assert n_opt.shape == d_opt.shape == (9,)
    np.testing.assert_allclose(6 * n_opt * d_opt, C, rtol=1e-12)


def test_allocation_exponents_are_beta_and_alpha_over_sum():
    # N_opt ∝ C^(β/(α+β)): a 10× budget multiplies N_opt by 10^a
    n1, d1 = compute_optimal_allocation(1e21, HOFFMANN_2022)
    n2, d2 = compute_optimal_allocation(1e22, HOFFMANN_2022)
    assert math.log10(n2 / n1) == pytest.approx(0.28 / 0.62)
    assert math.log10(d2 / d1) == pytest.approx(0.34 / 0.62)


def test_besiroglu_refit_gives_about_twenty_tokens_per_parameter_at_chinchilla_scale():
    # Besiroglu et al.: the refit puts the optimum back near Chinchilla's 20 tokens/param;
    # the rounded Hoffmann et al. values give several times more (≈ 93 at 5.76e23 FLOPs)
    assert 15 < tokens_per_parameter(5.76e23, BESIROGLU_2024) < 25
    assert tokens_per_parameter(5.76e23, HOFFMANN_2022) > 60


def test_tokens_per_parameter_constant_when_exponents_equal():
    p = ChinchillaParams(E=1.0, A=400.0, B=400.0, alpha=0.3, beta=0.3)
    # α = β and A = B → G = 1 and D_opt/N_opt = 1 at every budget
    np.testing.assert_allclose(tokens_per_parameter(np.array([1e18, 1e24]), p), [1.0, 1.0])


def test_kaplan_allocation_puts_more_into_parameters_than_chinchilla():
    # Kaplan: N ∝ C^0.73 — at 5.76e23 FLOPs a much bigger model on fewer tokens than either Chinchilla fit
    n_k, d_k = scaling.kaplan_optimal_params(5.76e23)
    n_b, _ = compute_optimal_allocation(5.76e23, BESIROGLU_2024)
    assert n_k > 2 * n_b
    assert 6 * n_k * d_k == pytest.approx(5.76e23)


def test_kaplan_joint_law_reduces_to_l_of_n_with_infinite_data():
    # D → ∞ leaves (N_c/N)^α_N
    assert scaling.kaplan_loss(1e9, 1e30) == pytest.approx(scaling.kaplan_loss_n(1e9), rel=1e-9)


# --------------------------------------------------------------------------- the objective


def test_huber_is_quadratic_inside_and_linear_outside():
    # δ = 1: r = 0.5 → 0.125; r = 3 → 1·(3 − 0.5) = 2.5
    np.testing.assert_allclose(huber(np.array([0.5, -3.0]), 1.0), [0.125, 2.5])


def test_residuals_are_zero_at_the_true_parameters():
    N, D = np.array([1e8, 1e9, 1e10]), np.array([1e10, 3e10, 1e11])
    L = chinchilla_loss(N, D, BESIROGLU_2024)
    np.testing.assert_allclose(log_space_residuals(params_to_theta(BESIROGLU_2024), N, D, L), 0.0, atol=1e-12)


def test_objective_sums_huber_of_log_residuals_by_hand():
    # θ with E = 1 (e = 0) and tiny A, B: prediction ≈ log(1 + ...) ≈ 0; loss = e^0.01 → r ≈ −0.01
    theta = np.array([-50.0, -50.0, 0.0, 0.5, 0.5])
    N, D, L = np.ones(3) * 10, np.ones(3) * 10, np.full(3, math.exp(0.01))
    # each term: δ(|r| − δ/2) = 1e-3·(0.01 − 5e-4) = 9.5e-6; three runs → 2.85e-5
    assert huber_log_objective(theta, N, D, L) == pytest.approx(2.85e-5, rel=1e-6)


# --------------------------------------------------------------------------- Approach 3 fitting


def test_fit_recovers_known_parameters_from_noisy_synthetic_data_quickly():
    N, D, L = _synthetic_runs(250, noise=0.005)
    t0 = time.perf_counter()
    fit = fit_chinchilla(N, D, L)
    seconds = time.perf_counter() - t0
    p = fit.params
    # 0.5 % multiplicative noise: exponents within 0.03, E within 0.05, allocation exponent within 0.02
    assert abs(p.alpha - BESIROGLU_2024.alpha) < 0.03 and abs(p.beta - BESIROGLU_2024.beta) < 0.03
    assert abs(p.E - BESIROGLU_2024.E) < 0.05
    assert abs(p.a - BESIROGLU_2024.a) < 0.02
    assert fit.objective <= huber_log_objective(params_to_theta(BESIROGLU_2024), N, D, L) + 1e-12
    assert seconds < 10


def test_fit_is_exact_on_noise_free_data():
    N, D, L = _synthetic_runs(60, noise=0.0, params=HOFFMANN_2022)
    fit = fit_chinchilla(N, D, L)
    np.testing.assert_allclose(fit.params.as_array(), HOFFMANN_2022.as_array(), rtol=1e-3)
    assert np.abs(fit.residuals).max() < 1e-5


def test_fit_bootstrap_interval_contains_the_truth():
    N, D, L = _synthetic_runs(120, noise=0.01, seed=3)
    fit = fit_chinchilla(N, D, L, n_bootstrap=20, ci_level=0.95, rng=np.random.default_rng(7))
    assert fit.bootstrap.shape == (20 - fit.n_bootstrap_failed, 5) and fit.n_bootstrap_failed <= 2
    lo, hi = fit.ci["alpha"]
    assert lo < BESIROGLU_2024.alpha < hi
    assert lo <= fit.params.alpha <= hi


def test_fit_bootstrap_is_reproducible_with_a_seed():
    N, D, L = _synthetic_runs(40, noise=0.01, seed=4)
    one = fit_chinchilla(N, D, L, n_bootstrap=4, rng=11)
    two = fit_chinchilla(N, D, L, n_bootstrap=4, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(one.bootstrap, two.bootstrap)


def test_fit_reports_non_convergence():
    N, D, L = _synthetic_runs(50)
    with pytest.raises(ScalingFitError, match="did not converge"):
        fit_chinchilla(N, D, L, maxiter=1)


def test_fit_rejects_too_few_points():
    N, D, L = _synthetic_runs(5)
    with pytest.raises(ValueError, match="only 5 runs"):
        fit_chinchilla(N, D, L)


@pytest.mark.parametrize("which", ["N", "D", "loss"])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_fit_rejects_non_positive_or_nan_inputs(which, bad):
    data = dict(zip(("N", "D", "loss"), _synthetic_runs(20)))
    data[which] = data[which].copy()
    data[which][4] = bad
    with pytest.raises(ValueError, match=rf"{which}\[4\]"):
        fit_chinchilla(data["N"], data["D"], data["loss"])


def test_fit_rejects_mismatched_lengths():
    N, D, L = _synthetic_runs(20)
    with pytest.raises(ValueError, match="lengths 20, 19, 20"):
        fit_chinchilla(N, D[:-1], L)


def test_fit_rejects_a_single_model_size():
    _, D, _ = _synthetic_runs(20)
    N = np.full(20, 1e9)
    with pytest.raises(ValueError, match="same N"):
        fit_chinchilla(N, D, chinchilla_loss(N, D))


def test_fit_reports_loss_that_grows_with_n():
    # L = 2 + 1e-3·N^0.3 + 400/D^0.3 is the law with α = −0.3: started there, L-BFGS stays there
    N, D, _ = _synthetic_runs(40)
    L = 2.0 + 1e-3 * N**0.3 + 400 / D**0.3
    start = [[math.log(1e-3), math.log(400), math.log(2.0), -0.3, 0.3]]
    with pytest.raises(ScalingFitError, match=r"alpha = -0.3.*does not fall with N"):
        fit_chinchilla(N, D, L, init_grid=start)


# --------------------------------------------------------------------------- Approach 2 (IsoFLOP)


def test_isoflop_recovers_the_allocation_exponent():
    budgets = np.geomspace(1e18, 1e21, 5)
    N, D, C = [], [], []
    for c in budgets:  # 9 sizes centred (in log) on the true optimum, ±1 decade
        n_star, _ = compute_optimal_allocation(c, BESIROGLU_2024)
        n = n_star * np.geomspace(0.1, 10, 9)
        N.append(n)
        D.append(c / (6 * n))
        C.append(np.full(9, c))
    N, D, C = np.concatenate(N), np.concatenate(D), np.concatenate(C)
    iso = isoflop_fit(N, chinchilla_loss(N, D, BESIROGLU_2024), C)
    # the parabola approximation is biased but close: a within 0.02 of β/(α+β) = 0.5126
    assert iso.a == pytest.approx(BESIROGLU_2024.a, abs=0.02)
    assert iso.inside.all()
    np.testing.assert_allclose(iso.a + iso.b, 1.0)


def test_isoflop_runs_spend_each_budget():
    N, D, C = isoflop_runs([1e18, 1e19], [1e6, 1e7, 1e8])
    assert N.shape == (6,)
    np.testing.assert_allclose(6 * N * D, C)


def test_isoflop_rejects_too_few_sizes_per_budget():
    N, D, C = isoflop_runs([1e18, 1e19], [1e6, 1e7])
    with pytest.raises(ValueError, match="needs ≥ 3"):
        isoflop_fit(N, chinchilla_loss(N, D), C)


def test_isoflop_rejects_a_single_budget():
    N, D, C = isoflop_runs([1e18], [1e6, 1e7, 1e8])
    with pytest.raises(ValueError, match="only 1 compute budget"):
        isoflop_fit(N, chinchilla_loss(N, D), C)


def test_isoflop_rejects_curves_that_do_not_bend_up():
    N, D, C = isoflop_runs([1e18, 1e19], [1e6, 1e7, 1e8])
    with pytest.raises(ValueError, match="not U-shaped"):
        isoflop_fit(N, 5.0 - 0.01 * np.log(N) ** 2, C)


# --------------------------------------------------------------------------- plots


def test_loss_vs_params_plot_has_one_log_log_line_per_data_size():
    n = np.geomspace(1e8, 1e11, 20)
    fig = plots.plot_loss_vs_params(n, [3e11, 1.4e12], BESIROGLU_2024)
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert len(ax.get_lines()) == 2
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), chinchilla_loss(n, 1.4e12, BESIROGLU_2024))
    assert "1.4T" in ax.get_lines()[1].get_label()


def test_efficient_frontier_marks_gopher_and_chinchilla():
    fig = plots.plot_efficient_frontier()
    ax_n, ax_d = fig.axes
    labels = [line.get_label() for line in ax_n.get_lines()]
    assert any(lb.startswith("Gopher") for lb in labels) and any(lb.startswith("Chinchilla") for lb in labels)
    gopher = next(line for line in ax_n.get_lines() if line.get_label().startswith("Gopher"))
    assert gopher.get_xdata()[0] == pytest.approx(GOPHER.compute) and gopher.get_ydata()[0] == 280e9
    assert ax_d.get_yscale() == "log"
    # two published sets + Kaplan + two models per panel
    assert len(ax_n.get_lines()) == 5


def test_isoflop_plot_draws_one_parabola_per_budget():
    N, D, C = isoflop_runs(np.geomspace(1e18, 1e20, 3), np.geomspace(1e7, 1e10, 7))
    L = chinchilla_loss(N, D, BESIROGLU_2024)
    iso = isoflop_fit(N, L, C)
    fig = plots.plot_isoflop(iso, N, L, C)
    left, right = fig.axes
    parabolas = [line for line in left.get_lines() if line.get_marker() in ("None", None, "")]
    assert len(parabolas) == 3
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), iso.n_opt)


def test_fit_plot_puts_points_on_the_diagonal_for_a_perfect_fit():
    N, D, L = _synthetic_runs(40, noise=0.0)
    fit = fit_chinchilla(N, D, L)
    fig = plots.plot_fit(fit, N, D, L)
    offsets = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 1], offsets[:, 0], rtol=1e-4)


# --------------------------------------------------------------------------- your own scaling law (sweep)

from llmcourse.scaling import sweep  # noqa: E402  (torch and transformers load here, not for the math tests)


@pytest.fixture(scope="module")
def quick_rows():
    return sweep.run_scaling_sweep(sweep.QUICK_SWEEP, progress=False)


@pytest.mark.slow
def test_quick_sweep_gives_one_row_per_size_and_budget(quick_rows):
    cfg = sweep.QUICK_SWEEP
    assert len(quick_rows) == len(cfg.sizes) * len(cfg.token_budgets)
    # D is whole optimiser steps: 2048 tokens / (8 × 32 tokens per step) = 8 steps
    assert [r["D"] for r in quick_rows[:2]] == [2048, 4096] and quick_rows[0]["steps"] == 8
    for r in quick_rows:
        assert math.isfinite(r["loss"]) and 0 < r["loss"] < 8.0  # below ln(vocab) + margin, never NaN
        assert 0 < r["N_non_embedding"] < r["N"]


@pytest.mark.slow
def test_quick_sweep_loss_falls_with_tokens_and_n_grows_with_width(quick_rows):
    by_size = {}
    for r in quick_rows:
        by_size.setdefault(r["hidden_size"], []).append(r)
    for rows in by_size.values():
        assert rows[1]["loss"] < rows[0]["loss"]  # 16 steps beat 8 steps
    assert by_size[16][0]["N"] > by_size[8][0]["N"]


@pytest.mark.slow
def test_sweep_is_reproducible_and_restores_torch_threads(quick_rows):
    import torch

    threads = torch.get_num_threads()
    again = sweep.run_scaling_sweep(sweep.QUICK_SWEEP, progress=False)
    assert [r["loss"] for r in again] == [r["loss"] for r in quick_rows]
    assert torch.get_num_threads() == threads


@pytest.mark.slow
def test_sweep_arrays_feed_the_fitter(quick_rows):
    N, D, L = sweep.sweep_arrays(quick_rows)
    assert N.shape == D.shape == L.shape == (len(quick_rows),)
    N2, _, _ = sweep.sweep_arrays(quick_rows, n_key="N_non_embedding")
    assert (N2 < N).all()


def test_sweep_arrays_reject_empty_rows():
    with pytest.raises(ValueError, match="no sweep rows"):
        sweep.sweep_arrays([])


@pytest.mark.parametrize("kw, words", [
    (dict(sizes=((12, 1),)), "multiple of 8"),
    (dict(sizes=((16, 1), (16, 1))), "duplicates"),
    (dict(token_budgets=(8192, 4096)), "ascending"),
    (dict(token_budgets=(512,)), "under 5 optimiser steps"),
    (dict(cooldown_fraction=0.0), "cooldown_fraction"),
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(num_threads=0), "num_threads"),
])
def test_sweep_config_rejects_bad_settings(kw, words):
    with pytest.raises(ValueError, match=words):
        sweep.ScalingSweepConfig(**kw)
