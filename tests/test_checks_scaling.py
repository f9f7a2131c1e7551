"""Graders of notebook 05: the reference passes (visible and hidden); each classic mistake is named."""

from __future__ import annotations

import types

import numpy as np
import pytest
from matplotlib.figure import Figure

from llmcourse import scaling
from llmcourse.checks import CheckFailure
from llmcourse.checks import scaling as checks
from llmcourse.scaling import plots


def clone(fn):
    """The reference under another identity (the graders refuse the package's own function)."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def fails_with(check, answer, *words, hidden=False):
    with pytest.raises(CheckFailure) as info:
        check(answer, hidden=hidden)
    for w in words:
        assert w in str(info.value), str(info.value)
    return str(info.value)


GRADERS = [
    (checks.check_chinchilla_loss, scaling.chinchilla_loss, checks.LOSS_MISTAKES),
    (checks.check_compute_optimal_allocation, scaling.compute_optimal_allocation, checks.ALLOCATION_MISTAKES),
    (checks.check_tokens_per_parameter, scaling.tokens_per_parameter, checks.TOKENS_MISTAKES),
    (checks.check_huber_log_objective, scaling.huber_log_objective, checks.OBJECTIVE_MISTAKES),
    (checks.check_loss_plot, plots.plot_loss_vs_params, checks.PLOT_MISTAKES),
]
IDS = [g[0].__name__ for g in GRADERS]
MISTAKES = [(g[0], m) for g in GRADERS for m in g[2]]


@pytest.mark.parametrize("check,reference,_", GRADERS, ids=IDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_reference_passes(check, reference, _, hidden, capsys):
    check(clone(reference), hidden=hidden)
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize("check,mistake", MISTAKES, ids=[m.name for _, m in MISTAKES])
def test_each_mistake_is_named(check, mistake):
    fails_with(check, mistake.fn, mistake.name)


@pytest.mark.parametrize("check,reference,_", GRADERS, ids=IDS)
def test_not_implemented_says_so(check, reference, _):
    def answer(*args, **kwargs):
        raise NotImplementedError()

    fails_with(check, answer, "not implemented yet")


@pytest.mark.parametrize("check,reference,_", GRADERS, ids=IDS)
def test_calling_the_reference_by_name_is_refused(check, reference, _):
    def answer(*args, **kwargs):
        return reference(*args, **kwargs)

    ns = {"reference": reference}
    exec(f"def answer(*a, **k):\n    return {reference.__name__}(*a, **k)", {reference.__name__: reference}, ns)
    fails_with(check, ns["answer"], "yourself")


@pytest.mark.parametrize("check,reference,_", GRADERS, ids=IDS)
def test_calling_the_reference_through_the_module_is_refused(check, reference, _):
    # `from llmcourse import scaling` then `return scaling.f(...)`: invisible to a by-name check
    module = "plots" if reference is plots.plot_loss_vs_params else "scaling"
    glob = {"scaling": scaling, "plots": plots}
    ns: dict = {}
    exec(f"def answer(*a, **k):\n    return {module}.{reference.__name__}(*a, **k)", glob, ns)
    fails_with(check, ns["answer"], "yourself")


def test_loss_reports_the_case_and_inputs_on_a_plain_wrong_answer():
    msg = fails_with(checks.check_chinchilla_loss, lambda N, D, params=scaling.HOFFMANN_2022: 2.0, "wrong result")
    assert "Chinchilla: 70B params" in msg


def test_allocation_accepts_a_list_result():
    own = clone(scaling.compute_optimal_allocation)

    def answer(C, params=scaling.HOFFMANN_2022):
        n, d = own(C, params)
        return [n, d]

    checks.check_compute_optimal_allocation(answer, hidden=True)


# --------------------------------------------------------------------------- the plot grader


def _plot(n_values, data_sizes, params=scaling.HOFFMANN_2022, *, xscale="log", yscale="log", loss=None,
          extra_line=False, legend=True, x_is_d=False, as_axes=False, labels=True):
    """A configurable student plot (pyplot-free), right by default."""
    loss = loss or clone(scaling.chinchilla_loss)
    fig = Figure()
    ax = fig.subplots()
    for d in data_sizes:
        x = np.full_like(np.asarray(n_values, float), d) if x_is_d else n_values
        ax.plot(x, loss(n_values, d, params), label=f"D={d:.0e}")
    if extra_line:
        ax.plot(n_values, np.full(len(n_values), 2.0), label="floor")
    ax.set_xscale(xscale)
    ax.set_yscale(yscale)
    if labels:
        ax.set_xlabel("N")
        ax.set_ylabel("loss")
    if legend:
        ax.legend()
    return ax if as_axes else fig


@pytest.mark.parametrize("kw, words", [
    (dict(xscale="linear"), ["linear instead of log axes", "x"]),
    (dict(yscale="linear"), ["linear instead of log axes", "y linear"]),
    (dict(extra_line=True), ["3 line(s) for 2 data sizes"]),
    (dict(loss=checks._loss_nd_swapped), ["N and D swapped"]),
    (dict(loss=checks._loss_exponents_swapped), ["exponents swapped"]),
    (dict(loss=checks._loss_without_e), ["no line shows L(N, D"]),
    (dict(x_is_d=True), ["x data is not the parameter grid"]),
    (dict(legend=False), ["legend"]),
    (dict(labels=False), ["label both axes"]),
    (dict(as_axes=True), ["returned an Axes"]),
])
def test_plot_mistakes_are_named(kw, words):
    def answer(n_values, data_sizes, params=scaling.HOFFMANN_2022):
        return _plot(n_values, data_sizes, params, **kw)

    fails_with(checks.check_loss_plot, answer, *words)


def test_plot_that_ignores_params_is_caught():
    def answer(n_values, data_sizes, params=scaling.HOFFMANN_2022):
        return _plot(n_values, data_sizes, scaling.HOFFMANN_2022)

    fails_with(checks.check_loss_plot, answer, "not the `params` passed in")


def test_plot_made_with_pyplot_passes_and_is_closed(capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def answer(n_values, data_sizes, params=scaling.HOFFMANN_2022):
        fig, ax = plt.subplots()
        for d in data_sizes:
            ax.loglog(n_values, params.E + params.A / n_values**params.alpha + params.B / d**params.beta, label=str(d))
        ax.set_xlabel("N")
        ax.set_ylabel("L")
        ax.legend()
        return fig

    before = len(plt.get_fignums())
    checks.check_loss_plot(answer, hidden=True)
    assert capsys.readouterr().out.startswith("✓ plot_loss_vs_params: 4/4")
    assert len(plt.get_fignums()) == before


def test_plot_returning_nothing_says_return_the_figure():
    fails_with(checks.check_loss_plot, lambda n, d, params=None: None, "expected a matplotlib Figure")


def test_figure_level_legend_passes(capsys):
    # fig.legend() instead of ax.legend() is a correct plot
    def answer(n_values, data_sizes, params=scaling.HOFFMANN_2022):
        fig = checks._plot(n_values, data_sizes, params, legend=False)
        fig.legend()
        return fig

    checks.check_loss_plot(answer, hidden=True)
    assert capsys.readouterr().out.startswith("✓")


def test_a_plot_that_makes_matplotlib_warn_passes_without_stderr(capsys):
    import warnings

    def answer(n_values, data_sizes, params=scaling.HOFFMANN_2022):
        warnings.warn("Attempt to set non-positive xlim on a log-scaled axis will be ignored.", UserWarning)
        return checks._plot(n_values, data_sizes, params)

    checks.check_loss_plot(answer, hidden=True)
    out = capsys.readouterr()
    assert out.out.startswith("✓") and out.err == ""
