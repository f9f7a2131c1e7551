r"""Fitting scaling laws to runs: Approach 3 (parametric fit) and Approach 2 (IsoFLOP parabolas).

**Approach 3** (Hoffmann et al. 2022, §3.3; Besiroglu et al. 2024). Write the law in log space with
$A = e^{a}$, $B = e^{b}$, $E = e^{e}$, so every parameter is unconstrained, and
$$\log \hat L_i = \mathrm{LSE}\!\left(a - \alpha \log N_i,\; b - \beta \log D_i,\; e\right),$$
($\mathrm{LSE}$ = log-sum-exp, natural logs throughout). Minimise the Huber loss of the log-space
residuals, **summed** over runs,
$$\min_{a,b,e,\alpha,\beta}\ \sum_i \mathrm{Huber}_{\delta}\!\left(\log \hat L_i - \log L_i\right),
\qquad \delta = 10^{-3},$$
with L-BFGS from a grid of initialisations (the objective has local minima). The Huber loss is
quadratic for $|r| \le \delta$ and linear beyond, so a few outlier runs cannot drag the fit.

**Approach 2** (Hoffmann et al. 2022, §3.2). At each compute budget $C$, train several sizes $N$ on
$D = C/(6N)$ tokens, fit a parabola to loss against $\log N$, take its minimum $N_{opt}(C)$, then fit
the power law $N_{opt} \propto C^{a}$ by least squares in log–log space.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from llmcourse.scaling.law import ChinchillaParams, FLOPS_PER_PARAM_TOKEN, as_positive_array, chinchilla_loss

__all__ = [
    "ScalingFitError", "ScalingFit", "IsoFLOPFit", "DEFAULT_INIT_GRID", "HUBER_DELTA", "MIN_POINTS",
    "huber", "log_space_residuals", "huber_log_objective", "params_to_theta", "theta_to_params",
    "fit_chinchilla", "isoflop_fit", "isoflop_runs", "synthetic_losses",
]

HUBER_DELTA = 1e-3  # Hoffmann et al.'s δ
MIN_POINTS = 6  # five free parameters: fewer runs than that cannot pin them down
# Hoffmann et al.'s initialisation grid: α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25}
DEFAULT_INIT_GRID = {
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}
_THETA_NAMES = ("a", "b", "e", "alpha", "beta")
_PARAM_NAMES = ("E", "A", "B", "alpha", "beta")


class ScalingFitError(RuntimeError):
    """The optimiser did not reach a usable fit; the message says what happened and what to try."""


# --------------------------------------------------------------------------- the objective


def huber(r, delta: float = HUBER_DELTA):
    r"""$\mathrm{Huber}_\delta(r) = \tfrac12 r^2$ if $|r| \le \delta$, else $\delta(|r| - \tfrac12\delta)$
    (elementwise; continuous with a continuous first derivative at $|r| = \delta$)."""
    r = np.asarray(r, dtype=np.float64)
    abs_r = np.abs(r)
    return np.where(abs_r <= delta, 0.5 * r**2, delta * (abs_r - 0.5 * delta))


def params_to_theta(params: ChinchillaParams) -> np.ndarray:
    r"""$(E, A, B, \alpha, \beta) \mapsto \theta = (a, b, e, \alpha, \beta) = (\log A, \log B, \log E, \alpha, \beta)$."""
    return np.array([np.log(params.A), np.log(params.B), np.log(params.E), params.alpha, params.beta])


def theta_to_params(theta, source: str = "") -> ChinchillaParams:
    """Inverse of :func:`params_to_theta` (natural logs)."""
    a, b, e, alpha, beta = (float(t) for t in theta)
    return ChinchillaParams(E=float(np.exp(e)), A=float(np.exp(a)), B=float(np.exp(b)), alpha=alpha, beta=beta,
                            source=source)


def _check_theta(theta) -> np.ndarray:
    t = np.asarray(theta, dtype=np.float64)
    if t.shape != (5,):
        raise ValueError(f"theta must hold 5 numbers (a, b, e, alpha, beta) = (log A, log B, log E, α, β), "
                         f"got shape {t.shape}")
    if not np.isfinite(t).all():
        raise ValueError(f"theta = {t.tolist()} has a NaN or infinite entry")
    return t


def _check_runs(N, D, loss) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    N, D, loss = as_positive_array("N", N), as_positive_array("D", D), as_positive_array("loss", loss)
    for name, arr in (("N", N), ("D", D), ("loss", loss)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array (one value per run), got shape {arr.shape}")
    if not (len(N) == len(D) == len(loss)):
        raise ValueError(f"N, D and loss must have one entry per run; got lengths {len(N)}, {len(D)}, {len(loss)}")
    return N, D, loss


def log_space_residuals(theta, N, D, loss) -> np.ndarray:
    r"""$r_i = \mathrm{LSE}(a - \alpha\log N_i,\ b - \beta\log D_i,\ e) - \log L_i$, shape ``(runs,)``."""
    a, b, e, alpha, beta = _check_theta(theta)
    N, D, loss = _check_runs(N, D, loss)
    terms = np.stack([a - alpha * np.log(N), b - beta * np.log(D), np.full(len(N), e)])
    return logsumexp(terms, axis=0) - np.log(loss)


def huber_log_objective(theta, N, D, loss, delta: float = HUBER_DELTA) -> float:
    r"""Approach 3's objective $\sum_i \mathrm{Huber}_\delta\big(\mathrm{LSE}(a - \alpha\log N_i,
    b - \beta\log D_i, e) - \log L_i\big)$ for $\theta = (a, b, e, \alpha, \beta)$ (natural logs)."""
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta = {delta!r}; the Huber threshold must be > 0 (Hoffmann et al. use 1e-3)")
    return float(huber(log_space_residuals(theta, N, D, loss), delta).sum())


def _objective_and_grad(theta, log_n, log_d, log_l, delta, scale):
    """Objective (times ``scale``) and its analytic gradient, for the optimiser."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    pred = logsumexp(terms, axis=0)
    r = pred - log_l
    w = np.exp(terms - pred)  # softmax weights: ∂ pred / ∂ terms
    dh = np.clip(r, -delta, delta)  # Huber'(r)
    g = np.array([
        (dh * w[0]).sum(), (dh * w[1]).sum(), (dh * w[2]).sum(),
        -(dh * w[0] * log_n).sum(), -(dh * w[1] * log_d).sum(),
    ])
    return scale * float(huber(r, delta).sum()), scale * g


def _grid_objectives(grid: np.ndarray, log_n, log_d, log_l, delta) -> np.ndarray:
    """The objective at every row of ``grid`` (G, 5) at once, shape (G,)."""
    a, b, e, alpha, beta = (grid[:, i : i + 1] for i in range(5))
    t1, t2 = a - alpha * log_n, b - beta * log_d  # (G, runs)
    m = np.maximum(np.maximum(t1, t2), e)  # a hand-rolled LSE: scipy's is 3× slower on (3, G, runs)
    r = m + np.log(np.exp(t1 - m) + np.exp(t2 - m) + np.exp(e - m)) - log_l
    return huber(r, delta).sum(axis=1)


# --------------------------------------------------------------------------- Approach 3


@dataclass(frozen=True)
class ScalingFit:
    """The result of :func:`fit_chinchilla`."""

    params: ChinchillaParams
    """The fitted $(E, A, B, \\alpha, \\beta)$."""
    theta: np.ndarray
    """The same in the optimiser's coordinates $(\\log A, \\log B, \\log E, \\alpha, \\beta)$."""
    objective: float
    """Summed Huber loss at the fit."""
    residuals: np.ndarray
    """$\\log \\hat L_i - \\log L_i$ per run, shape (runs,)."""
    n_starts: int
    """L-BFGS runs started (the best grid points)."""
    n_converged: int
    """How many of them reported convergence."""
    delta: float = HUBER_DELTA
    bootstrap: np.ndarray | None = None
    """Refitted $(E, A, B, \\alpha, \\beta)$ per bootstrap resample, shape (n_bootstrap, 5), or None."""
    ci: dict | None = None
    """Percentile interval per parameter (``"E"``, ``"A"``, ``"B"``, ``"alpha"``, ``"beta"``, ``"a"``) at ``ci_level``."""
    ci_level: float | None = None
    n_bootstrap_failed: int = 0
    """Bootstrap refits that did not converge (left out of ``bootstrap`` and ``ci``)."""

    def predict(self, N, D):
        """The fitted law at (N, D)."""
        return chinchilla_loss(N, D, self.params)

    def summary(self) -> str:
        p = self.params
        lines = [f"E={p.E:.4g}  A={p.A:.4g}  B={p.B:.4g}  alpha={p.alpha:.4g}  beta={p.beta:.4g}  "
                 f"(N_opt ∝ C^{p.a:.3f}, D_opt ∝ C^{p.b:.3f})",
                 f"{len(self.residuals)} runs, RMS log residual {np.sqrt(np.mean(self.residuals**2)):.2e}, "
                 f"{self.n_converged}/{self.n_starts} starts converged"]
        if self.ci:
            failed = f" ({self.n_bootstrap_failed} refits failed)" if self.n_bootstrap_failed else ""
            lines.append(f"{self.ci_level:.0%} bootstrap intervals{failed}: " + ", ".join(
                f"{k} [{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in self.ci.items()))
        return "\n".join(lines)


def _grid_array(init_grid) -> np.ndarray:
    if isinstance(init_grid, dict):
        missing = [k for k in _THETA_NAMES if k not in init_grid]
        if missing:
            raise ValueError(f"init_grid is missing {missing}; give values for each of {list(_THETA_NAMES)}")
        grid = np.array(list(itertools.product(*(init_grid[k] for k in _THETA_NAMES))), dtype=np.float64)
    else:
        grid = np.atleast_2d(np.asarray(init_grid, dtype=np.float64))
    if grid.ndim != 2 or grid.shape[1] != 5 or not len(grid) or not np.isfinite(grid).all():
        raise ValueError("init_grid must be a dict of values per parameter (a, b, e, alpha, beta) or an array "
                         f"of shape (starts, 5) with finite entries; got shape {grid.shape}")
    return grid


def _single_threaded_blas():
    """SciPy ≥ 1.15's L-BFGS-B calls LAPACK on tiny matrices; with a multi-threaded OpenBLAS on busy
    cores each call can stall (scipy#22438, OpenMathLib/OpenBLAS#5383) — 10× slower fits here.
    One BLAS thread during the fit avoids it (botorch does the same)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it the fit is the same, only slower on oversubscribed CPUs
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _lbfgs(theta0, log_n, log_d, log_l, delta, maxiter):
    scale = 1.0 / delta  # puts the objective at O(1) per run: L-BFGS's stopping rules are absolute below 1
    return minimize(_objective_and_grad, theta0, args=(log_n, log_d, log_l, delta, scale), jac=True,
                    method="L-BFGS-B", options={"maxiter": maxiter, "ftol": 1e-14, "gtol": 1e-9})


def _converged(res) -> bool:
    """SciPy's verdict, except that a line search that stalls *at* a stationary point (status 2,
    "ABNORMAL", common with Huber's kinks at machine precision) also counts when the gradient of
    the O(1)-scaled objective is below 1e-4 in every coordinate."""
    if not np.isfinite(res.fun):
        return False
    return bool(res.success) or (res.status == 2 and float(np.max(np.abs(res.jac))) < 1e-4)


def fit_chinchilla(N, D, loss, *, delta: float = HUBER_DELTA, init_grid=None, n_starts: int = 8,
                   maxiter: int = 1000, n_bootstrap: int = 0, ci_level: float = 0.9,
                   rng: np.random.Generator | int | None = None) -> ScalingFit:
    r"""Fit $L(N, D) = E + A/N^\alpha + B/D^\beta$ to runs by Approach 3 (see the module docstring).

    ``N``, ``D``, ``loss``: one entry per run, shape (runs,), all finite and > 0.

    The initialisation grid (``init_grid``; default: Hoffmann et al.'s 4,500 points) is **screened**
    first — the objective at every grid point is one vectorised NumPy expression — and L-BFGS
    (SciPy, analytic gradient) runs from the ``n_starts`` best points; the best converged result
    wins. ``n_starts=None`` runs L-BFGS from every grid point, as the papers describe (slower; the
    benchmark compares both). Raises :class:`ScalingFitError` when no start converges or the fit
    leaves α or β ≤ 0.

    ``n_bootstrap > 0`` refits on that many resamples of the runs (drawn with replacement from
    ``rng``, a ``numpy.random.Generator`` or a seed), each started from the full-data fit, and
    reports percentile intervals at ``ci_level``.
    """
    N, D, loss = _check_runs(N, D, loss)
    if len(N) < MIN_POINTS:
        raise ValueError(f"only {len(N)} runs; fitting 5 parameters (E, A, B, α, β) needs at least {MIN_POINTS} "
                         "(in practice dozens, spanning several sizes N and token counts D)")
    for name, arr in (("N", N), ("D", D)):
        if len(np.unique(arr)) < 2:
            raise ValueError(f"every run has the same {name} = {arr[0]:.4g}; the law's {name}-exponent cannot be "
                             f"fitted — vary {name} across runs")
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta = {delta!r}; the Huber threshold must be > 0 (Hoffmann et al. use 1e-3)")
    if not 0 < ci_level < 1:
        raise ValueError(f"ci_level = {ci_level!r}; it must be between 0 and 1 (e.g. 0.9)")
    if n_bootstrap < 0 or maxiter < 1:
        raise ValueError(f"n_bootstrap = {n_bootstrap} and maxiter = {maxiter}: need n_bootstrap ≥ 0, maxiter ≥ 1")
    log_n, log_d, log_l = np.log(N), np.log(D), np.log(loss)

    grid = _grid_array(DEFAULT_INIT_GRID if init_grid is None else init_grid)
    if n_starts is None or n_starts >= len(grid):
        starts = grid
    else:
        if n_starts < 1:
            raise ValueError(f"n_starts = {n_starts}; use at least 1 (or None for every grid point)")
        screen = _grid_objectives(grid, log_n, log_d, log_l, delta)
        starts = grid[np.argsort(screen, kind="stable")[:n_starts]]

    with _single_threaded_blas():
        results = [_lbfgs(t0, log_n, log_d, log_l, delta, maxiter) for t0 in starts]
    converged = [r for r in results if _converged(r)]
    if not converged:
        best = min(results, key=lambda r: r.fun if np.isfinite(r.fun) else np.inf)
        raise ScalingFitError(
            f"L-BFGS did not converge from any of {len(starts)} starts (best stop: {best.message!s}, "
            f"after {best.nit} iterations, objective {best.fun:.3e}). Try a larger maxiter (now {maxiter}), "
            "more starts (n_starts) or a wider init_grid, and check that the runs span a range of N and D.")
    best = min(converged, key=lambda r: r.fun)
    theta = best.x
    if theta[3] <= 0 or theta[4] <= 0:
        raise ScalingFitError(
            f"the best fit has alpha = {theta[3]:.3g}, beta = {theta[4]:.3g}: loss does not fall with "
            f"{'N' if theta[3] <= 0 else 'D'} in these runs, so the law does not describe them. Check the runs "
            "(a bug that makes bigger models or more tokens worse?) or widen the range of N and D.")
    params = theta_to_params(theta, source=f"fitted to {len(N)} runs (Approach 3, Huber δ={delta:g})")
    residuals = log_space_residuals(theta, N, D, loss)

    boot, ci, rows = None, None, []
    if n_bootstrap:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        with _single_threaded_blas():
            for _ in range(n_bootstrap):
                idx = gen.integers(0, len(N), len(N))
                r = _lbfgs(theta, log_n[idx], log_d[idx], log_l[idx], delta, maxiter)
                if _converged(r) and r.x[3] > 0 and r.x[4] > 0:
                    rows.append(theta_to_params(r.x).as_array())
        if len(rows) < max(2, n_bootstrap // 2):
            raise ScalingFitError(f"only {len(rows)} of {n_bootstrap} bootstrap refits converged; the interval would "
                                  "be meaningless. Add runs or widen their range of N and D.")
        boot = np.array(rows)
        q = [(1 - ci_level) / 2, (1 + ci_level) / 2]
        ci = {name: tuple(float(v) for v in np.quantile(boot[:, i], q)) for i, name in enumerate(_PARAM_NAMES)}
        a_samples = boot[:, 4] / (boot[:, 3] + boot[:, 4])
        ci["a"] = tuple(float(v) for v in np.quantile(a_samples, q))
    return ScalingFit(params=params, theta=theta, objective=float(best.fun * delta), residuals=residuals,
                      n_starts=len(starts), n_converged=len(converged), delta=delta, bootstrap=boot, ci=ci,
                      ci_level=ci_level if n_bootstrap else None,
                      n_bootstrap_failed=n_bootstrap - len(rows) if n_bootstrap else 0)


def synthetic_losses(N, D, params: ChinchillaParams, *, noise: float = 0.0,
                     rng: np.random.Generator | int | None = None) -> np.ndarray:
    r"""Losses drawn from the law with multiplicative noise: $L_i = L(N_i, D_i)\,e^{\sigma\varepsilon_i}$,
    $\varepsilon_i \sim \mathcal N(0, 1)$, $\sigma$ = ``noise`` (so log-space residuals have s.d. σ)."""
    clean = np.asarray(chinchilla_loss(N, D, params), dtype=np.float64)
    if noise < 0:
        raise ValueError(f"noise = {noise!r}; it is a standard deviation and must be ≥ 0")
    if noise == 0:
        return clean
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return clean * np.exp(noise * gen.standard_normal(clean.shape))


# --------------------------------------------------------------------------- Approach 2 (IsoFLOP)


@dataclass(frozen=True)
class IsoFLOPFit:
    r"""The result of :func:`isoflop_fit`: one parabola per budget and the power law through the minima."""

    budgets: np.ndarray
    """Compute budgets $C$ (FLOPs), ascending, shape (k,)."""
    coeffs: np.ndarray
    r"""Parabola per budget, loss $\approx c_2 x^2 + c_1 x + c_0$ with $x = \ln N$, shape (k, 3) as $(c_2, c_1, c_0)$."""
    n_opt: np.ndarray
    r"""Size at each parabola's minimum, $e^{-c_1/(2c_2)}$, shape (k,)."""
    loss_opt: np.ndarray
    """The parabola's value there, shape (k,)."""
    inside: np.ndarray
    """Whether each minimum lies inside the sizes tried at that budget (outside = extrapolated)."""
    a: float
    r"""Exponent of $N_{opt} \propto C^{a}$ (least squares of $\ln N_{opt}$ on $\ln C$)."""
    log_k: float
    r"""Intercept: $\ln N_{opt} = a \ln C + \mathrm{log\_k}$."""

    @property
    def d_opt(self) -> np.ndarray:
        """Tokens at each minimum, $C/(6 N_{opt})$."""
        return self.budgets / (FLOPS_PER_PARAM_TOKEN * self.n_opt)

    @property
    def b(self) -> float:
        r"""Exponent of $D_{opt} \propto C^{b}$; $b = 1 - a$ because $D = C/(6N)$."""
        return 1.0 - self.a

    def n_opt_at(self, C):
        """The fitted power law $N_{opt}(C)$."""
        C = as_positive_array("C", C)
        return np.exp(self.log_k + self.a * np.log(C))


def isoflop_runs(budgets, sizes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An IsoFLOP design: every size in ``sizes`` at every budget, with ``D = C/(6N)`` tokens.

    Returns ``(N, D, C)``, each of shape (len(budgets) · len(sizes),), budget-major."""
    budgets, sizes = as_positive_array("budgets", budgets).ravel(), as_positive_array("sizes", sizes).ravel()
    C = np.repeat(budgets, len(sizes))
    N = np.tile(sizes, len(budgets))
    return N, C / (FLOPS_PER_PARAM_TOKEN * N), C


def isoflop_fit(N, loss, compute) -> IsoFLOPFit:
    r"""Approach 2: per compute budget, fit $L \approx c_2 (\ln N)^2 + c_1 \ln N + c_0$; its minimum
    is $N_{opt}(C) = e^{-c_1/(2c_2)}$; then fit $\ln N_{opt} = a \ln C + k$.

    ``N``, ``loss``, ``compute``: one entry per run, shape (runs,). Runs whose budgets agree to
    4 significant digits form one IsoFLOP curve; each needs ≥ 3 distinct sizes, and ≥ 2 budgets
    are needed for the exponent.
    """
    N, loss, compute = (as_positive_array(n, x) for n, x in (("N", N), ("loss", loss), ("compute", compute)))
    if not (N.shape == loss.shape == compute.shape and N.ndim == 1):
        raise ValueError(f"N, loss and compute must be 1-D with one entry per run; got shapes "
                         f"{N.shape}, {loss.shape}, {compute.shape}")
    key = np.round(np.log10(compute), 4)
    budgets, coeffs, n_opt, loss_opt, inside = [], [], [], [], []
    for k in np.unique(key):
        sel = key == k
        C = float(np.exp(np.mean(np.log(compute[sel]))))
        x, y = np.log(N[sel]), loss[sel]
        if len(np.unique(x)) < 3:
            raise ValueError(f"budget C = {C:.3g} has {len(np.unique(x))} distinct size(s); a parabola needs ≥ 3 "
                             "— train more sizes at this budget")
        c2, c1, c0 = np.polyfit(x, y, 2)
        if not c2 > 0:
            raise ValueError(f"budget C = {C:.3g}: loss against log N is not U-shaped (fitted curvature {c2:.3g} ≤ 0); "
                             "the sizes tried do not bracket the optimum — add smaller and larger models")
        x_min = -c1 / (2 * c2)
        budgets.append(C)
        coeffs.append((c2, c1, c0))
        n_opt.append(np.exp(x_min))
        loss_opt.append(c0 - c1**2 / (4 * c2))
        inside.append(bool(x.min() <= x_min <= x.max()))
    if len(budgets) < 2:
        raise ValueError(f"only {len(budgets)} compute budget; fitting N_opt ∝ C^a needs ≥ 2 (ideally 5+)")
    budgets, n_opt = np.array(budgets), np.array(n_opt)
    a, log_k = np.polyfit(np.log(budgets), np.log(n_opt), 1)
    return IsoFLOPFit(budgets=budgets, coeffs=np.array(coeffs), n_opt=n_opt, loss_opt=np.array(loss_opt),
                      inside=np.array(inside), a=float(a), log_k=float(log_k))
