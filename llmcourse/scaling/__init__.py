r"""Scaling laws: the Chinchilla law, compute-optimal allocation, fitting it, and measuring your own.

Leaf-first, like every stage module:

* :mod:`llmcourse.scaling.law` — pure math: $L(N, D) = E + A/N^\alpha + B/D^\beta$ with the published
  parameter sets, $C \approx 6ND$, the closed-form compute-optimal $N_{opt}(C)$, $D_{opt}(C)$, tokens
  per parameter, Kaplan et al.'s laws for contrast;
* :mod:`llmcourse.scaling.fit` — Approach 3 (Huber loss of log-space residuals, L-BFGS from a grid,
  bootstrap intervals) and Approach 2 (IsoFLOP parabolas);
* :mod:`llmcourse.scaling.plots` — the figures (each function returns a ``Figure``);
* :mod:`llmcourse.scaling.sweep` — "your own scaling law": a sweep of tiny causal LMs trained on the
  task world's pre-training text, whose (N, D, loss) rows feed the fitter.
"""

from llmcourse.scaling.law import *  # noqa: F401,F403
from llmcourse.scaling.law import __all__ as _law_all
from llmcourse.scaling.fit import *  # noqa: F401,F403
from llmcourse.scaling.fit import __all__ as _fit_all

__all__ = [*_law_all, *_fit_all]
