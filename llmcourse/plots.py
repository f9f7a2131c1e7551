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
