r"""Graders for notebook 05 (scaling laws).

Each grader compares a student's function with the reference in :mod:`llmcourse.scaling` on fixed
cases (plus extra ones with ``hidden=True``) and names the classic mistakes: the factor 6 forgotten,
natural and base-10 logs mixed, N and D swapped, the exponents β/(α+β) and α/(α+β) swapped, linear
instead of log axes.
"""

from __future__ import annotations

import sys
import types

import numpy as np

from llmcourse.checks import Case, Mistake, calls_reference, check_function, fail, passed, quiet, uses
from llmcourse.scaling import fit as _fit
from llmcourse.scaling import law as _law
from llmcourse.scaling import plots as _plots
from llmcourse.scaling.law import BESIROGLU_2024, HOFFMANN_2022, ChinchillaParams

__all__ = [
    "check_chinchilla_loss", "check_compute_optimal_allocation", "check_tokens_per_parameter",
    "check_huber_log_objective", "check_loss_plot",
]

_TOY = ChinchillaParams(E=1.0, A=50.0, B=300.0, alpha=0.5, beta=0.25, source="a made-up law for grading")


def _refuse_module_reference(fn, reference, name: str) -> None:
    """Refuse ``scaling.f(...)``/``law.f(...)`` wrappers, which the engine's by-name check cannot see."""
    code = getattr(fn, "__code__", None)
    if code is None or reference.__name__ not in code.co_names:
        return
    for value in getattr(fn, "__globals__", {}).values():
        if isinstance(value, types.ModuleType) and getattr(value, reference.__name__, None) is reference:
            fail(f"✗ {name}: your answer calls the package's reference `{reference.__module__}.{reference.__name__}`. "
                 "The package is open-book for reading, but this exercise asks you to write it yourself.")


def _check(fn, reference, cases, name, mistakes, **kw) -> None:
    _refuse_module_reference(fn, reference, name)
    check_function(fn, reference, cases, name=name, mistakes=mistakes, **kw)


# --------------------------------------------------------------------------- exercise 1: the loss


def _loss_nd_swapped(N, D, params=HOFFMANN_2022):
    return params.E + params.A / np.asarray(D, float) ** params.alpha + params.B / np.asarray(N, float) ** params.beta


def _loss_exponents_swapped(N, D, params=HOFFMANN_2022):
    return params.E + params.A / np.asarray(N, float) ** params.beta + params.B / np.asarray(D, float) ** params.alpha


def _loss_without_e(N, D, params=HOFFMANN_2022):
    return params.A / np.asarray(N, float) ** params.alpha + params.B / np.asarray(D, float) ** params.beta


def _loss_default_params(N, D, params=HOFFMANN_2022):
    p = HOFFMANN_2022  # the default, whatever was passed
    return p.E + p.A / np.asarray(N, float) ** p.alpha + p.B / np.asarray(D, float) ** p.beta


LOSS_MISTAKES = [
    Mistake("N and D swapped", _loss_nd_swapped,
            "A/N^α is the finite-model term (N = parameters) and B/D^β the finite-data term (D = tokens)."),
    Mistake("exponents swapped (α on D, β on N)", _loss_exponents_swapped,
            "α is the exponent of parameters N and β the exponent of tokens D: A/N^α + B/D^β."),
    Mistake("irreducible loss E left out", _loss_without_e,
            "L(N, D) = E + A/N^α + B/D^β: even an infinite model on infinite data keeps the entropy E."),
    Mistake("ignores the `params` argument", _loss_default_params,
            "Read E, A, B, alpha, beta from `params` (params.E, params.A, …) instead of fixed numbers."),
]


@uses(LOSS_MISTAKES)
def check_chinchilla_loss(fn, *, hidden: bool = False) -> None:
    """Grade ``chinchilla_loss(N, D, params=HOFFMANN_2022)``."""
    cases = [
        Case((70e9, 1.4e12), label="Chinchilla: 70B params, 1.4T tokens"),
        Case((280e9, 300e9), label="Gopher: 280B params, 300B tokens"),
        Case((np.array([1e8, 1e9, 1e10]), np.array([2e9, 2e10, 2e11])), label="arrays of runs"),
        Case((1e9, 1e11, BESIROGLU_2024), label="Besiroglu et al. 2024 parameters"),
    ]
    if hidden:
        rng = np.random.default_rng(2024)
        cases += [
            Case((np.geomspace(1e7, 1e12, 6)[:, None], np.geomspace(1e9, 1e13, 4)[None, :], _TOY),
                 label="broadcast (6, 1) × (1, 4), made-up law"),
            Case((10 ** rng.uniform(7, 11, 5), 10 ** rng.uniform(9, 13, 5), BESIROGLU_2024), label="random runs"),
        ]
    _check(fn, _law.chinchilla_loss, cases, "chinchilla_loss", LOSS_MISTAKES, rtol=1e-7)


# --------------------------------------------------------------------------- exercise 2: allocation


def _alloc(C, params, *, flops=6.0, swap_exp=False, invert_g=False, swap_out=False):
    C = np.asarray(C, dtype=np.float64)
    a, b = params.a, params.b
    if swap_exp:
        a, b = b, a
    g = params.G if not invert_g else 1.0 / params.G
    n, d = g * (C / flops) ** a, (C / flops) ** b / g
    out = (d, n) if swap_out else (n, d)
    return tuple(x[()] if x.ndim == 0 else x for x in out)


def _alloc_without_6(C, params=HOFFMANN_2022):
    return _alloc(C, params, flops=1.0)


def _alloc_forward_only(C, params=HOFFMANN_2022):
    return _alloc(C, params, flops=2.0)


def _alloc_exponents_swapped(C, params=HOFFMANN_2022):
    return _alloc(C, params, swap_exp=True)


def _alloc_outputs_swapped(C, params=HOFFMANN_2022):
    return _alloc(C, params, swap_out=True)


def _alloc_g_inverted(C, params=HOFFMANN_2022):
    return _alloc(C, params, invert_g=True)


ALLOCATION_MISTAKES = [
    Mistake("forgot the factor 6 (used C instead of C/6)", _alloc_without_6,
            "Training costs C ≈ 6ND FLOPs, so N·D = C/6: substitute D = C/(6N) before minimising."),
    Mistake("2ND instead of 6ND (forward pass only)", _alloc_forward_only,
            "The forward pass costs 2ND FLOPs, the backward 4ND more: training is C ≈ 6ND."),
    Mistake("exponents swapped: N_opt ∝ C^(α/(α+β))", _alloc_exponents_swapped,
            "N_opt ∝ (C/6)^(β/(α+β)) and D_opt ∝ (C/6)^(α/(α+β)): the *data* exponent β drives how fast N grows."),
    Mistake("N and D swapped in the result", _alloc_outputs_swapped,
            "Return (N_opt, D_opt) — parameters first, tokens second."),
    Mistake("G inverted: (βB/(αA))^(1/(α+β))", _alloc_g_inverted,
            "G = (αA/(βB))^(1/(α+β)); N_opt = G·(C/6)^a and D_opt = (C/6)^b / G."),
]


@uses(ALLOCATION_MISTAKES)
def check_compute_optimal_allocation(fn, *, hidden: bool = False) -> None:
    """Grade ``compute_optimal_allocation(C, params=HOFFMANN_2022) -> (N_opt, D_opt)``."""
    cases = [
        Case((5.76e23,), label="Chinchilla's budget, 5.76e23 FLOPs"),
        Case((1e21, BESIROGLU_2024), label="1e21 FLOPs, Besiroglu et al. 2024"),
        Case((np.array([1e19, 1e22, 1e25]),), label="an array of budgets"),
    ]
    if hidden:
        cases += [Case((np.geomspace(1e15, 1e27, 7), _TOY), label="made-up law, 12 decades of compute"),
                  Case((3.14e20, BESIROGLU_2024), label="3.14e20 FLOPs")]
    _check(fn, _law.compute_optimal_allocation, cases, "compute_optimal_allocation", ALLOCATION_MISTAKES, rtol=1e-7)


# --------------------------------------------------------------------------- exercise 3: tokens per parameter


def _tpp(C, params, **kw):
    n, d = _alloc(C, params, **kw)
    return d / n


def _twenty(C, params=HOFFMANN_2022):
    return np.full(np.shape(C), 20.0)[()] if np.ndim(C) else 20.0


def _tpp_inverted(C, params=HOFFMANN_2022):
    return 1.0 / _tpp(C, params)


def _tpp_without_6(C, params=HOFFMANN_2022):
    return _tpp(C, params, flops=1.0)


def _tpp_exponents_swapped(C, params=HOFFMANN_2022):
    return _tpp(C, params, swap_exp=True)


TOKENS_MISTAKES = [
    Mistake("inverted: N_opt / D_opt", _tpp_inverted,
            "Tokens per parameter is D_opt / N_opt (tokens on top)."),
    Mistake("forgot the factor 6 (used C instead of C/6)", _tpp_without_6,
            "N_opt and D_opt depend on C/6, because C ≈ 6ND."),
    Mistake("exponents swapped: ratio ∝ C^((β−α)/(α+β))", _tpp_exponents_swapped,
            "D_opt/N_opt = G⁻²·(C/6)^((α−β)/(α+β)); with α > β the ratio *grows* with compute."),
    Mistake("the 20-tokens rule hard-coded", _twenty,
            "≈ 20 is what one fit gives near Chinchilla's budget; compute the ratio from the law (it depends "
            "on C and on the parameter set)."),
]


@uses(TOKENS_MISTAKES)
def check_tokens_per_parameter(fn, *, hidden: bool = False) -> None:
    """Grade ``tokens_per_parameter(C, params=HOFFMANN_2022)``."""
    cases = [
        Case((5.76e23,), label="Chinchilla's budget, Hoffmann et al. 2022 (rounded values)"),
        Case((5.76e23, BESIROGLU_2024), label="Chinchilla's budget, Besiroglu et al. 2024"),
        Case((np.array([1e20, 1e23, 1e26]),), label="an array of budgets"),
    ]
    if hidden:
        cases += [Case((np.geomspace(1e18, 1e26, 5), _TOY), label="made-up law"),
                  Case((2e22, BESIROGLU_2024), label="2e22 FLOPs")]
    _check(fn, _law.tokens_per_parameter, cases, "tokens_per_parameter", TOKENS_MISTAKES, rtol=1e-7)


# --------------------------------------------------------------------------- exercise 4: the objective


def _objective(theta, N, D, loss, delta=1e-3, *, log_obs=np.log, log_in=np.log, kind="huber", reduce="sum"):
    a, b, e, alpha, beta = np.asarray(theta, dtype=np.float64)
    N, D, loss = (np.asarray(x, dtype=np.float64) for x in (N, D, loss))
    terms = np.stack([a - alpha * log_in(N), b - beta * log_in(D), np.full(N.shape, e)])
    pred = np.logaddexp.reduce(terms, axis=0)
    if kind == "linear-space":
        r = np.exp(pred) - loss
    else:
        r = pred - log_obs(loss)
    if kind == "squared":
        per = 0.5 * r**2
    elif kind == "no-half-delta":
        per = np.where(np.abs(r) <= delta, 0.5 * r**2, delta * np.abs(r))
    else:
        per = _fit.huber(r, delta)
    return float(per.sum() if reduce == "sum" else per.mean())


def _objective_log10_loss(theta, N, D, loss, delta=1e-3):
    return _objective(theta, N, D, loss, delta, log_obs=np.log10)


def _objective_log10_inputs(theta, N, D, loss, delta=1e-3):
    return _objective(theta, N, D, loss, delta, log_in=np.log10)


def _objective_squared(theta, N, D, loss, delta=1e-3):
    return _objective(theta, N, D, loss, delta, kind="squared")


def _objective_no_half_delta(theta, N, D, loss, delta=1e-3):
    return _objective(theta, N, D, loss, delta, kind="no-half-delta")


def _objective_mean(theta, N, D, loss, delta=1e-3):
    return _objective(theta, N, D, loss, delta, reduce="mean")


def _objective_linear_space(theta, N, D, loss, delta=1e-3):
    return _objective(theta, N, D, loss, delta, kind="linear-space")


OBJECTIVE_MISTAKES = [
    Mistake("natural and base-10 logs mixed (log10 of the observed loss)", _objective_log10_loss,
            "The log-sum-exp prediction is a natural log (exp/log pair), so compare it with np.log(loss), not np.log10."),
    Mistake("base-10 logs of N and D inside the log-sum-exp", _objective_log10_inputs,
            "A/N^α = exp(a − α·ln N): the identity needs natural logs, np.log, for N and D too."),
    Mistake("squared error instead of the Huber loss", _objective_squared,
            "Huber: ½r² only while |r| ≤ δ, then δ(|r| − δ/2) — linear, so outliers don't dominate."),
    Mistake("Huber's linear branch without the −δ/2", _objective_no_half_delta,
            "Beyond δ the Huber loss is δ(|r| − δ/2), which meets ½r² continuously at |r| = δ."),
    Mistake("mean instead of sum over runs", _objective_mean,
            "Approach 3 sums the Huber terms over runs."),
    Mistake("residuals in linear space (L̂ − L) instead of log space", _objective_linear_space,
            "Take the residual between logs: LSE(...) − log L, so every run counts on the same relative scale."),
]


def _objective_cases(hidden: bool) -> list[Case]:
    rng = np.random.default_rng(5)
    N = 10 ** rng.uniform(8, 10, 12)
    D = 10 ** rng.uniform(9.7, 11.7, 12)
    noisy = _fit.synthetic_losses(N, D, BESIROGLU_2024, noise=0.02, rng=rng)  # |r| mostly > δ: linear branch
    quiet = _fit.synthetic_losses(N, D, BESIROGLU_2024, noise=3e-4, rng=rng)  # |r| < δ: quadratic branch
    truth = _fit.params_to_theta(BESIROGLU_2024)
    cases = [
        Case((truth, N, D, noisy), label="true θ, 2 % noise (residuals beyond δ)"),
        Case((truth, N, D, quiet), label="true θ, 0.03 % noise (residuals within δ)"),
        Case((np.array([5.0, 7.0, 0.5, 0.3, 0.3]), N, D, noisy), label="a θ far from the truth"),
        Case((truth, N, D, noisy, 0.05), label="δ = 0.05"),
    ]
    if hidden:
        N2, D2 = 10 ** rng.uniform(4, 6, 30), 10 ** rng.uniform(4, 6, 30)
        L2 = _fit.synthetic_losses(N2, D2, _TOY, noise=0.01, rng=rng)
        cases += [Case((_fit.params_to_theta(_TOY), N2, D2, L2), label="made-up law, 30 tiny runs"),
                  Case((np.array([3.0, 9.0, 0.0, 0.6, 0.4]), N2, D2, L2), label="made-up law, wrong θ")]
    return cases


@uses(OBJECTIVE_MISTAKES)
def check_huber_log_objective(fn, *, hidden: bool = False) -> None:
    """Grade ``huber_log_objective(theta, N, D, loss, delta=1e-3) -> float``."""
    _check(fn, _fit.huber_log_objective, _objective_cases(hidden), "huber_log_objective", OBJECTIVE_MISTAKES,
           rtol=1e-7, atol=1e-12)


# --------------------------------------------------------------------------- exercise 5: the plot


def _close(fig) -> None:
    """Free a figure the student made with pyplot (so repeated checks don't pile figures up)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def _line_matches(ydata, expected) -> bool:
    y = np.asarray(ydata, dtype=np.float64)
    return y.shape == np.shape(expected) and np.allclose(y, expected, rtol=1e-6)


def _check_plot_case(fn, n_values, data_sizes, params, label) -> None:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    name = "plot_loss_vs_params"
    try:
        with quiet():
            fig = fn(np.array(n_values), np.array(data_sizes), params)
    except NotImplementedError:
        fail(f"✗ {name}: not implemented yet — replace `raise NotImplementedError()` with your code.")
    except Exception as exc:
        fail(f"✗ {name}, {label}: your function raised {type(exc).__name__}: {exc}")
    if isinstance(fig, Axes):
        _close(fig.figure)
        fail(f"✗ {name}, {label}: returned an Axes; return the Figure (`ax.figure`, or `fig` from `plt.subplots()`).")
    if not isinstance(fig, Figure):
        fail(f"✗ {name}, {label}: expected a matplotlib Figure, got {type(fig).__name__}; end with `return fig`.")
    try:
        axes = [ax for ax in fig.axes if ax.get_lines()]
        if not axes:
            fail(f"✗ {name}, {label}: the figure has no lines; draw one `ax.plot(N, L)` per data size.")
        ax = axes[0]
        lines = ax.get_lines()
        n = np.asarray(n_values, dtype=np.float64)
        if ax.get_xscale() != "log" or ax.get_yscale() != "log":
            which = [w for w, s in (("x", ax.get_xscale()), ("y", ax.get_yscale())) if s != "log"]
            fail(f"✗ {name}, {label}: linear instead of log axes ({' and '.join(which)} linear). N spans several "
                 "decades and the law is a power law: use ax.set_xscale('log') and ax.set_yscale('log').")
        if len(lines) != len(data_sizes):
            fail(f"✗ {name}, {label}: {len(lines)} line(s) for {len(data_sizes)} data sizes; draw exactly one line "
                 "per D (and no extra lines).")
        for line in lines:
            if not _line_matches(line.get_xdata(), n):
                fail(f"✗ {name}, {label}: a line's x data is not the parameter grid `n_values`; plot loss against N: "
                     "ax.plot(n_values, loss, label=...).")
        for d in data_sizes:
            want = np.asarray(_law.chinchilla_loss(n, d, params))
            if any(_line_matches(line.get_ydata(), want) for line in lines):
                continue
            for line in lines:
                y = line.get_ydata()
                if _line_matches(y, _loss_nd_swapped(n, d, params)):
                    fail(f"✗ {name}, {label}: N and D swapped in the loss — A/N^α is the parameter term, B/D^β the data term.")
                if _line_matches(y, _loss_exponents_swapped(n, d, params)):
                    fail(f"✗ {name}, {label}: exponents swapped — α goes with N and β with D.")
                if params is not HOFFMANN_2022 and _line_matches(y, _law.chinchilla_loss(n, d, HOFFMANN_2022)):
                    fail(f"✗ {name}, {label}: the lines use Hoffmann et al.'s numbers, not the `params` passed in.")
            fail(f"✗ {name}, {label}: no line shows L(N, D = {d:.3g}) over n_values; each line's y data should be "
                 "E + A/N^α + B/D^β at that D.")
        legends = [lg for lg in [ax.get_legend(), *fig.legends] if lg is not None]  # ax.legend() or fig.legend()
        if not any(len(lg.get_texts()) == len(data_sizes) for lg in legends):
            fail(f"✗ {name}, {label}: no legend with one entry per data size — add one (label=... in ax.plot, then "
                 "ax.legend() or fig.legend()).")
        if not ax.get_xlabel() or not ax.get_ylabel():
            fail(f"✗ {name}, {label}: label both axes (ax.set_xlabel / ax.set_ylabel).")
    finally:
        _close(fig)


def _plot(n_values, data_sizes, params=HOFFMANN_2022, *, loss=None, log=True, legend=True):
    """The plot, right by default; each keyword reproduces one classic mistake below."""
    import matplotlib.pyplot as plt

    loss = loss or (lambda n, d, p: p.E + p.A / n**p.alpha + p.B / d**p.beta)
    n = np.asarray(n_values, dtype=np.float64)
    fig, ax = plt.subplots()
    for d in data_sizes:
        ax.plot(n, loss(n, d, params), label=f"D = {d:.2g}")
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss")
    if legend:
        ax.legend()
    return fig


def _plot_linear_axes(n_values, data_sizes, params=HOFFMANN_2022):
    return _plot(n_values, data_sizes, params, log=False)


def _plot_without_legend(n_values, data_sizes, params=HOFFMANN_2022):
    return _plot(n_values, data_sizes, params, legend=False)


def _plot_nd_swapped(n_values, data_sizes, params=HOFFMANN_2022):
    return _plot(n_values, data_sizes, params, loss=lambda n, d, p: p.E + p.A / d**p.alpha + p.B / n**p.beta)


def _plot_default_params(n_values, data_sizes, params=HOFFMANN_2022):
    return _plot(n_values, data_sizes, HOFFMANN_2022)


PLOT_MISTAKES = [
    Mistake("linear instead of log axes", _plot_linear_axes, ""),
    Mistake("no legend with one entry per data size", _plot_without_legend, ""),
    Mistake("N and D swapped in the loss", _plot_nd_swapped, ""),
    Mistake("the lines use Hoffmann et al.'s numbers", _plot_default_params, ""),
]


@uses(PLOT_MISTAKES)
def check_loss_plot(fn, *, hidden: bool = False) -> None:
    """Grade ``plot_loss_vs_params(n_values, data_sizes, params=HOFFMANN_2022) -> Figure`` through the
    figure's data: log–log axes, one line per D, each line the law over ``n_values``, a legend."""
    name = "plot_loss_vs_params"
    if not callable(fn):
        fail(f"✗ {name}: expected a function, got {type(fn).__name__} — define it in the cell above and run that cell.")
    if calls_reference(fn, _plots.plot_loss_vs_params):
        fail(f"✗ {name}: your answer calls the package's reference plot; draw it yourself with matplotlib.")
    _refuse_module_reference(fn, _plots.plot_loss_vs_params, name)
    cases = [(np.geomspace(1e8, 1e11, 25), [3e11, 1.4e12], HOFFMANN_2022, "Gopher- and Chinchilla-scale data"),
             (np.geomspace(1e8, 1e11, 20), [1e11, 1e12], BESIROGLU_2024, "Besiroglu et al.'s parameters")]
    if hidden:
        cases += [(np.geomspace(1e7, 1e12, 40), [1e10, 1e11, 1e12, 1e13], BESIROGLU_2024, "four data sizes, Besiroglu et al."),
                  (np.geomspace(1e3, 1e6, 10), [1e4, 1e6, 1e8], _TOY, "made-up law, tiny models")]
    for n_values, sizes, params, label in cases:
        _check_plot_case(fn, n_values, sizes, params, label)
    passed(name, f"{len(cases)}/{len(cases)} figures pass (log–log axes, one line per D, the law's values, a legend)")
