r"""Scaling-law math: the Chinchilla loss, training compute, compute-optimal allocation, Kaplan's laws.

Pure NumPy, no I/O, no models: every function takes numbers or arrays and returns numbers or arrays
(broadcast like NumPy), and refuses non-positive or non-finite inputs with a message that says which
element is wrong.

Notation (the notebook uses the same letters):

* $N$ — parameters, $D$ — training tokens, $C$ — training compute in FLOPs;
* the **Chinchilla parametric loss** (Hoffmann et al. 2022, Approach 3)

  $$L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}};$$

* training compute $C \approx 6ND$ (2 FLOPs per parameter per token forward, 4 backward);
* minimising $L$ subject to $6ND = C$ (a Lagrangian, or substitute $D = C/(6N)$ and set
  $\partial L/\partial N = 0$) gives

  $$N_{opt}(C) = G\left(\frac{C}{6}\right)^{\frac{\beta}{\alpha+\beta}},\quad
    D_{opt}(C) = G^{-1}\left(\frac{C}{6}\right)^{\frac{\alpha}{\alpha+\beta}},\quad
    G = \left(\frac{\alpha A}{\beta B}\right)^{\frac{1}{\alpha+\beta}}.$$
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ChinchillaParams", "HOFFMANN_2022", "BESIROGLU_2024", "PUBLISHED_PARAMS",
    "KaplanParams", "KAPLAN_2020", "TrainedModel", "GOPHER", "CHINCHILLA",
    "FLOPS_PER_PARAM_TOKEN", "PF_DAY",
    "as_positive_array", "chinchilla_loss", "training_flops", "compute_optimal_allocation",
    "tokens_per_parameter", "optimal_loss", "kaplan_loss", "kaplan_loss_n", "kaplan_loss_d",
    "kaplan_optimal_params",
]

FLOPS_PER_PARAM_TOKEN = 6.0  # C ≈ 6ND: 2 (forward multiply-add) + 4 (backward) FLOPs per parameter per token
PF_DAY = 1e15 * 86_400  # one petaFLOP/s-day in FLOPs (Kaplan et al. measure compute in PF-days)


# --------------------------------------------------------------------------- input validation


def as_positive_array(name: str, x) -> np.ndarray:
    """``x`` as a float64 array, or a ``ValueError`` naming the first element that is not a finite,
    positive number (parameters, tokens, FLOPs and cross-entropy losses are all > 0)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(x).__name__} ({exc})") from None
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one value")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{name}[{', '.join(map(str, idx))}]" if arr.ndim else name
        value = float(arr[idx] if arr.ndim else arr[()])
        why = "is NaN" if math.isnan(value) else "is infinite" if math.isinf(value) else "is not positive"
        raise ValueError(f"{where} = {value!r} {why}; {name} must be finite and > 0 "
                         "(parameter counts, token counts, FLOPs and losses are positive)")
    return arr


def _out(x: np.ndarray):
    """A 0-d result as a NumPy float (a ``float`` subclass), arrays unchanged."""
    return x[()] if x.ndim == 0 else x


# --------------------------------------------------------------------------- published parameter sets


@dataclass(frozen=True)
class ChinchillaParams:
    r"""One parameter set of $L(N, D) = E + A/N^{\alpha} + B/D^{\beta}$ (losses in nats per token)."""

    E: float
    """Irreducible loss: the entropy of natural text under the tokenizer, reached only as N, D → ∞."""
    A: float
    """Scale of the finite-model term $A/N^{\alpha}$."""
    B: float
    """Scale of the finite-data term $B/D^{\beta}$."""
    alpha: float
    """Exponent of parameters $N$."""
    beta: float
    """Exponent of training tokens $D$."""
    source: str = ""
    """Citation: where the numbers come from."""

    def __post_init__(self):
        for field_name in ("A", "B", "alpha", "beta"):
            v = getattr(self, field_name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"ChinchillaParams.{field_name} = {v!r}; it must be a finite number > 0")
        if not (isinstance(self.E, (int, float)) and np.isfinite(self.E) and self.E >= 0):
            raise ValueError(f"ChinchillaParams.E = {self.E!r}; the irreducible loss must be finite and ≥ 0")

    @property
    def a(self) -> float:
        r"""Exponent of $N_{opt} \propto C^{a}$: $a = \beta/(\alpha+\beta)$."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        r"""Exponent of $D_{opt} \propto C^{b}$: $b = \alpha/(\alpha+\beta)$ (and $a + b = 1$)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        r"""$G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}$, the prefactor of $N_{opt}$."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def as_array(self) -> np.ndarray:
        """``[E, A, B, alpha, beta]``."""
        return np.array([self.E, self.A, self.B, self.alpha, self.beta])


HOFFMANN_2022 = ChinchillaParams(
    E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28,
    source="Hoffmann et al. (2022), 'Training Compute-Optimal Large Language Models', arXiv:2203.15556, "
           "§3.3 Approach 3 (values as rounded in the paper's text)",
)
BESIROGLU_2024 = ChinchillaParams(
    E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658,
    source="Besiroglu, Erdil, Barnett & You (2024), 'Chinchilla Scaling: A replication attempt', "
           "arXiv:2404.10102 (refit of Approach 3 on data reconstructed from Hoffmann et al.'s Figure 4; "
           "standard errors E 0.03, A 124.58, B 1293.23, α 0.02, β 0.02)",
)
PUBLISHED_PARAMS = {"Hoffmann et al. 2022": HOFFMANN_2022, "Besiroglu et al. 2024": BESIROGLU_2024}


@dataclass(frozen=True)
class TrainedModel:
    """A real training run, for marking on plots: ``N`` parameters trained on ``D`` tokens."""

    name: str
    N: float
    D: float

    @property
    def compute(self) -> float:
        """Training FLOPs by the 6ND rule."""
        return FLOPS_PER_PARAM_TOKEN * self.N * self.D


GOPHER = TrainedModel("Gopher", 280e9, 300e9)  # Rae et al. 2021; Hoffmann et al. 2022 Table 1
CHINCHILLA = TrainedModel("Chinchilla", 70e9, 1.4e12)  # Hoffmann et al. 2022: same compute, 4× fewer params


# --------------------------------------------------------------------------- the Chinchilla law


def chinchilla_loss(N, D, params: ChinchillaParams = HOFFMANN_2022):
    r"""$L(N, D) = E + A/N^{\alpha} + B/D^{\beta}$, broadcast over arrays of $N$ and $D$.

    >>> round(float(chinchilla_loss(70e9, 1.4e12)), 3)   # Chinchilla, with Hoffmann et al.'s numbers
    1.937
    """
    N, D = as_positive_array("N", N), as_positive_array("D", D)
    return _out(params.E + params.A / N**params.alpha + params.B / D**params.beta)


def training_flops(N, D):
    r"""Training compute $C \approx 6ND$ FLOPs (forward $2ND$ + backward $4ND$).

    >>> f"{training_flops(70e9, 1.4e12):.3g}"
    '5.88e+23'
    """
    N, D = as_positive_array("N", N), as_positive_array("D", D)
    return _out(FLOPS_PER_PARAM_TOKEN * N * D)


def compute_optimal_allocation(C, params: ChinchillaParams = HOFFMANN_2022):
    r"""The $(N_{opt}, D_{opt})$ that minimise $L(N, D)$ subject to $6ND = C$, elementwise over $C$.

    $N_{opt} = G\,(C/6)^{\beta/(\alpha+\beta)}$, $D_{opt} = G^{-1}(C/6)^{\alpha/(\alpha+\beta)}$,
    $G = (\alpha A/(\beta B))^{1/(\alpha+\beta)}$; by construction $6 N_{opt} D_{opt} = C$.
    $E$ does not move the optimum. Returns a tuple ``(N_opt, D_opt)`` shaped like ``C``.
    """
    C = as_positive_array("C", C)
    half = C / FLOPS_PER_PARAM_TOKEN
    n_opt = params.G * half ** params.a
    d_opt = half ** params.b / params.G
    return _out(n_opt), _out(d_opt)


def tokens_per_parameter(C, params: ChinchillaParams = HOFFMANN_2022):
    r"""$D_{opt}/N_{opt} = G^{-2}(C/6)^{(\alpha-\beta)/(\alpha+\beta)}$ at the compute-optimal point.

    Constant in $C$ only when $\alpha = \beta$; the "≈ 20 tokens per parameter" rule is this ratio
    read off near Chinchilla's budget ($C \approx 6\cdot 10^{23}$).
    """
    n_opt, d_opt = compute_optimal_allocation(C, params)
    return d_opt / n_opt


def optimal_loss(C, params: ChinchillaParams = HOFFMANN_2022):
    r"""$L(N_{opt}(C), D_{opt}(C))$: the best loss a compute budget $C$ can buy under the law."""
    n_opt, d_opt = compute_optimal_allocation(C, params)
    return chinchilla_loss(n_opt, d_opt, params)


# --------------------------------------------------------------------------- Kaplan et al. (2020)


@dataclass(frozen=True)
class KaplanParams:
    r"""Kaplan et al. (2020), 'Scaling Laws for Neural Language Models', arXiv:2001.08361.

    $L(N) = (N_c/N)^{\alpha_N}$, $L(D) = (D_c/D)^{\alpha_D}$,
    $L(N, D) = \left[(N_c/N)^{\alpha_N/\alpha_D} + D_c/D\right]^{\alpha_D}$, and the compute-efficient
    size $N_{opt} = N_e\, C_{min}^{p_N}$ with $C_{min}$ in PF-days. $N$ counts **non-embedding**
    parameters (Chinchilla counts all of them), one of the reasons the two allocations differ.
    """

    alpha_N: float = 0.076
    """Exponent of $L(N)$ (models trained to convergence)."""
    N_c: float = 8.8e13
    """Scale of $L(N)$, non-embedding parameters."""
    alpha_D: float = 0.095
    """Exponent of $L(D)$ (large models, early stopping)."""
    D_c: float = 5.4e13
    """Scale of $L(D)$, tokens."""
    p_N: float = 0.73
    """Compute-efficient model size grows as $C^{0.73}$ (data only as $C^{0.27}$)."""
    N_e: float = 1.3e9
    """$N_{opt}$ at $C_{min}$ = 1 PF-day."""


KAPLAN_2020 = KaplanParams()


def kaplan_loss_n(N, params: KaplanParams = KAPLAN_2020):
    r"""Kaplan's $L(N) = (N_c/N)^{\alpha_N}$: loss of an $N$-parameter model trained to convergence."""
    N = as_positive_array("N", N)
    return _out((params.N_c / N) ** params.alpha_N)


def kaplan_loss_d(D, params: KaplanParams = KAPLAN_2020):
    r"""Kaplan's $L(D) = (D_c/D)^{\alpha_D}$: loss of a large model early-stopped on $D$ tokens."""
    D = as_positive_array("D", D)
    return _out((params.D_c / D) ** params.alpha_D)


def kaplan_loss(N, D, params: KaplanParams = KAPLAN_2020):
    r"""Kaplan's joint law $L(N, D) = \left[(N_c/N)^{\alpha_N/\alpha_D} + D_c/D\right]^{\alpha_D}$."""
    N, D = as_positive_array("N", N), as_positive_array("D", D)
    return _out(((params.N_c / N) ** (params.alpha_N / params.alpha_D) + params.D_c / D) ** params.alpha_D)


def kaplan_optimal_params(C, params: KaplanParams = KAPLAN_2020):
    r"""Kaplan's compute-efficient allocation for $C$ FLOPs: $N = N_e (C/\mathrm{PF\,day})^{0.73}$,
    $D = C/(6N)$. Returns ``(N, D)`` shaped like ``C``."""
    C = as_positive_array("C", C)
    n = params.N_e * (C / PF_DAY) ** params.p_N
    return _out(n), _out(C / (FLOPS_PER_PARAM_TOKEN * n))
