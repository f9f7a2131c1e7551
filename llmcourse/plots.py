"""Plotting helpers: every function returns a matplotlib Figure (no ``plt.show`` in the package)."""

from __future__ import annotations

from typing import Mapping, Sequence


def _figure(ncols: int = 1, width: float = 5.0, height: float = 3.4):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def plot_history(history: Sequence[Mapping[str, float]], keys: Sequence[str], *, x: str = "step",
                 title: str | None = None):
    """One panel per metric in ``keys`` from a trainer history (a list of dicts)."""
    fig, axes = _figure(len(keys))
    for ax, key in zip(axes, keys):
        pts = [(h[x], h[key]) for h in history if key in h and x in h]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="." if len(xs) < 30 else None)
        ax.set_xlabel(x)
        ax.set_title(key)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_overoptimisation(runs: Mapping[str, Sequence[Mapping[str, float]]], *, title: str):
    """Proxy against truth (Gao et al. 2022): for each RL run's history, the held-out reward-model score
    (left panel) and the held-out exact match (right panel, greedy and sampled) against the KL from the
    starting model at each evaluation (the evaluation before the first step has KL 0). Where the two
    panels' curves part ways the policy is optimising the reward model, not the task."""
    fig, (ax_rm, ax_em) = _figure(2)
    for name, history in runs.items():
        evals = [h for h in history if "exact_match" in h]
        kl = [h.get("kl", 0.0) for h in evals]
        ax_rm.plot(kl, [h["eval_score"] for h in evals], marker=".", label=f"{name}, greedy")
        ax_em.plot(kl, [h["exact_match"] for h in evals], marker=".", label=f"{name}, greedy")
        if all("exact_match_sampled" in h for h in evals):
            ax_rm.plot(kl, [h["eval_score_sampled"] for h in evals], marker=".", ls="--", label=f"{name}, sampled")
            ax_em.plot(kl, [h["exact_match_sampled"] for h in evals], marker=".", ls="--", label=f"{name}, sampled")
    for ax, what in ((ax_rm, "reward-model score (proxy)"), (ax_em, "exact match (truth)")):
        ax.set_xlabel("mean per-sequence KL to the starting model (nats, training batch)")
        ax.set_title(f"held-out {what}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_bars(values: Mapping[str, float], *, title: str, ylabel: str, ylim: tuple[float, float] | None = (0, 1)):
    """A labelled bar chart (e.g. exact match per task)."""
    fig, (ax,) = _figure(1)
    names = list(values)
    bars = ax.bar(names, [values[n] for n in names], color="#4C72B0")
    for b, n in zip(bars, names):
        ax.annotate(f"{values[n]:.2f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    fig.tight_layout()
    return fig
