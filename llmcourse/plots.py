"""Plotting helpers: every function returns a matplotlib Figure (no ``plt.show`` in the package)."""

from __future__ import annotations

from typing import Mapping, Sequence


def _figure(ncols: int = 1, width: float = 5.0, height: float = 3.4):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def plot_history(history: Sequence[Mapping[str, float]], keys: Sequence[str], *, x: str = "step",
                 title: str | None = None, labels: Mapping[str, str] | None = None):
    """One panel per metric in ``keys`` from a trainer history (a list of dicts); ``labels`` gives a
    panel's title (default: the key). A key no entry has is left out (no empty panel)."""
    keys = [k for k in keys if any(k in h and x in h for h in history)] or list(keys[:1])
    fig, axes = _figure(len(keys), width=4.2)
    for ax, key in zip(axes, keys):
        pts = [(h[x], h[key]) for h in history if key in h and x in h]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="." if len(xs) < 30 else None)
        ax.set_xlabel(x)
        ax.set_title((labels or {}).get(key, key), fontsize=10)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_overoptimisation(runs: Mapping[str, Sequence[Mapping[str, float]]], *, title: str, kl_key: str = "kl_to_sft"):
    """Proxy against truth (Gao et al. 2022): for each RL run's history, the held-out reward-model score
    (left panel; left out when no entry has one) and the held-out exact match (right panel, greedy and
    sampled) against the KL from the starting model (``kl_key``) at each evaluation. Where the two
    panels' curves part ways the policy is optimising the reward model, not the task. The greedy exact-match
    points carry their step number (the curves follow the run's order)."""
    evals = {name: [h for h in history if "exact_match" in h and kl_key in h] for name, history in runs.items()}
    scored = any("eval_score" in h for e in evals.values() for h in e)
    fig, axes = _figure(2 if scored else 1)
    ax_rm, ax_em = (axes[0], axes[1]) if scored else (None, axes[0])
    for k, (name, rows) in enumerate(evals.items()):
        kl = [h[kl_key] for h in rows]
        colour = f"C{k}"
        for suffix, style in (("", "-"), ("_sampled", "--")):
            how = "greedy" if not suffix else "sampled"
            if scored and all(f"eval_score{suffix}" in h for h in rows):
                ax_rm.plot(kl, [h[f"eval_score{suffix}"] for h in rows], marker=".", ls=style, color=colour,
                           label=f"{name}, {how}")
            if all(f"exact_match{suffix}" in h for h in rows):
                ax_em.plot(kl, [h[f"exact_match{suffix}"] for h in rows], marker=".", ls=style, color=colour,
                           label=f"{name}, {how}")
        for h, x in zip(rows, kl):  # the step of each measurement: the run's order, where the KL goes back
            ax_em.annotate(str(h.get("step", "")), (x, h["exact_match"]), fontsize=6, color=colour,
                           xytext=(2, 2), textcoords="offset points")
    for ax, what in ((ax_rm, "reward-model score (proxy)"), (ax_em, "exact match (truth)")):
        if ax is None:
            continue
        ax.set_xlabel("KL from the SFT model (nats per answer, held-out samples)")
        ax.set_ylabel(what)
        ax.set_title(f"held-out {what}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
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
