r"""Scaling-law figures. Each function builds a ``matplotlib.figure.Figure`` and returns it.

No ``pyplot``: figures are not registered in pyplot's global list and nothing is shown, so the
package never opens windows or leaks figures; in a notebook, leave the returned figure as a cell's
last value (or ``display(fig)``) to see it. Tests read the figures' data back (axis scales, lines).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

from llmcourse.scaling.fit import IsoFLOPFit, ScalingFit
from llmcourse.scaling.law import (
    CHINCHILLA, GOPHER, HOFFMANN_2022, KAPLAN_2020, PUBLISHED_PARAMS, ChinchillaParams, TrainedModel,
    as_positive_array, chinchilla_loss, compute_optimal_allocation, kaplan_optimal_params,
)

__all__ = ["plot_loss_vs_params", "plot_isoflop", "plot_efficient_frontier", "plot_fit", "format_count"]


def format_count(x: float) -> str:
    """``3e11`` → ``'300B'``, ``1.4e12`` → ``'1.4T'``, ``5e4`` → ``'50K'`` (for legends)."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def _plain_ticks(axis) -> None:
    """Plain numbers (1.5, 2, 3) instead of 2×10⁰ on a log axis that spans less than a decade (losses)."""
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(FormatStrFormatter("%g"))


def plot_loss_vs_params(n_values, data_sizes, params: ChinchillaParams = HOFFMANN_2022) -> Figure:
    r"""Loss $L(N, D)$ against parameters $N$, one line per data size $D$, both axes logarithmic.

    ``n_values``: the $N$ grid, shape (points,); ``data_sizes``: the $D$ values, one line each.
    The seed's Question 4 with the published law instead of a made-up one: at fixed $N$, more data
    lowers the loss; at fixed $D$, growing $N$ flattens out at $E + B/D^\beta$.
    """
    n = as_positive_array("n_values", n_values).ravel()
    sizes = as_positive_array("data_sizes", data_sizes).ravel()
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for d in sizes:
        ax.plot(n, chinchilla_loss(n, d, params), label=f"D = {format_count(d)} tokens")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss L(N, D) (nats/token)")
    _plain_ticks(ax.yaxis)
    ax.set_title("Chinchilla law: loss vs model size for several data sizes")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_isoflop(iso: IsoFLOPFit, N, loss, compute) -> Figure:
    """Left: each budget's runs (loss vs N) with its parabola and minimum. Right: the minima
    N_opt(C) with the fitted power law N_opt ∝ C^a. Inputs as for :func:`isoflop_fit`."""
    N, loss, compute = (as_positive_array(n, x).ravel() for n, x in (("N", N), ("loss", loss), ("compute", compute)))
    fig = Figure(figsize=(11, 4.5))
    left, right = fig.subplots(1, 2)
    key = np.round(np.log10(compute), 4)
    colors = [f"C{i % 10}" for i in range(len(iso.budgets))]
    for i, C in enumerate(iso.budgets):
        sel = key == np.round(np.log10(C), 4)
        c = colors[i]
        left.scatter(N[sel], loss[sel], color=c, s=18)
        x = np.linspace(np.log(N[sel].min()), np.log(N[sel].max()), 100)
        left.plot(np.exp(x), np.polyval(iso.coeffs[i], x), color=c, label=f"C = {C:.1e} FLOPs")
        left.plot([iso.n_opt[i]], [iso.loss_opt[i]], marker="*", ms=12, color=c, markeredgecolor="k", ls="none")
    left.set_xscale("log")
    left.set_xlabel("parameters N")
    left.set_ylabel("loss")
    left.set_title("IsoFLOP curves (★ = parabola minimum)")
    left.legend(fontsize=8)
    cs = np.geomspace(iso.budgets.min() / 3, iso.budgets.max() * 3, 50)
    right.plot(iso.budgets, iso.n_opt, "o", color="k", label="minima")
    right.plot(cs, iso.n_opt_at(cs), "-", color="C3", label=f"fit: N_opt ∝ C^{iso.a:.3f}")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("compute C (FLOPs)")
    right.set_ylabel("compute-optimal N")
    right.set_title("Approach 2: minima vs compute")
    right.legend()
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_efficient_frontier(param_sets: Mapping[str, ChinchillaParams] | None = None, *,
                            compute_range: tuple[float, float] = (1e18, 1e26),
                            models: Sequence[TrainedModel] = (GOPHER, CHINCHILLA),
                            kaplan: bool = True) -> Figure:
    r"""The efficient frontier: $N_{opt}(C)$ (left) and $D_{opt}(C)$ (right) for each parameter set,
    Kaplan et al.'s $N \propto C^{0.73}$ for contrast, and real models marked at their own
    $(C = 6ND, N)$ and $(C, D)$. Default sets: Hoffmann et al. 2022 and Besiroglu et al. 2024."""
    param_sets = dict(PUBLISHED_PARAMS if param_sets is None else param_sets)
    lo, hi = compute_range
    if not (0 < lo < hi):
        raise ValueError(f"compute_range = {compute_range!r}; need 0 < low < high (FLOPs)")
    cs = np.geomspace(lo, hi, 200)
    fig = Figure(figsize=(11, 4.5))
    ax_n, ax_d = fig.subplots(1, 2)
    for i, (name, p) in enumerate(param_sets.items()):
        n_opt, d_opt = compute_optimal_allocation(cs, p)
        ax_n.plot(cs, n_opt, color=f"C{i}", label=f"{name} (a = {p.a:.2f})")
        ax_d.plot(cs, d_opt, color=f"C{i}", label=f"{name} (b = {p.b:.2f})")
    if kaplan:
        n_k, d_k = kaplan_optimal_params(cs)
        ax_n.plot(cs, n_k, "--", color="grey", label=f"Kaplan et al. 2020 (N ∝ C^{KAPLAN_2020.p_N})")
        ax_d.plot(cs, d_k, "--", color="grey", label="Kaplan et al. 2020")
    for j, m in enumerate(models):
        style = dict(marker=["o", "*", "s", "^"][j % 4], ms=10, ls="none", color=f"C{j + 3}", markeredgecolor="k")
        ax_n.plot([m.compute], [m.N], label=f"{m.name}: {format_count(m.N)} params", **style)
        ax_d.plot([m.compute], [m.D], label=f"{m.name}: {format_count(m.D)} tokens", **style)
    for ax, what in ((ax_n, "compute-optimal parameters N_opt"), (ax_d, "compute-optimal tokens D_opt")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training compute C = 6ND (FLOPs)")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_n.set_title("Efficient frontier: model size")
    ax_d.set_title("Efficient frontier: training tokens")
    fig.tight_layout()
    return fig


def plot_fit(fit: ScalingFit, N, D, loss) -> Figure:
    """Left: fitted vs observed loss (on the diagonal = perfect), log axes. Right: loss vs D with
    the fitted law per model size when there are at most 8 sizes, else the log-space residuals vs N."""
    N, D, loss = (as_positive_array(n, x).ravel() for n, x in (("N", N), ("D", D), ("loss", loss)))
    pred = np.asarray(fit.predict(N, D))
    fig = Figure(figsize=(11, 4.5))
    left, right = fig.subplots(1, 2)
    left.scatter(loss, pred, c=np.log10(N), cmap="viridis", s=18)
    span = np.array([min(loss.min(), pred.min()), max(loss.max(), pred.max())])
    left.plot(span, span, "k--", lw=1, label="fitted = observed")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("observed loss")
    left.set_ylabel("fitted loss")
    _plain_ticks(left.xaxis)
    _plain_ticks(left.yaxis)
    left.set_title("Fitted vs observed (colour: log10 N)")
    left.legend()
    sizes = np.unique(N)
    if len(sizes) <= 8:
        ds = np.geomspace(D.min(), D.max(), 100)
        for i, n in enumerate(sizes):
            sel = N == n
            right.scatter(D[sel], loss[sel], color=f"C{i}", s=18)
            right.plot(ds, fit.predict(n, ds), color=f"C{i}", label=f"N = {format_count(n)}")
        right.set_xscale("log")
        right.set_yscale("log")
        right.set_xlabel("training tokens D")
        right.set_ylabel("loss")
        _plain_ticks(right.yaxis)
        right.set_title("Runs (dots) and fitted law (lines)")
        right.legend(fontsize=8)
    else:
        right.scatter(N, fit.residuals, s=12)
        right.axhline(0, color="k", lw=1)
        right.set_xscale("log")
        right.set_xlabel("parameters N")
        right.set_ylabel("log fitted − log observed")
        right.set_title("Log-space residuals")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
