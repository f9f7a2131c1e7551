r"""The math of reward modelling: pure functions over arrays and tensors (no models, no I/O).

The Bradley–Terry model says a response with score $r_c$ beats one with score $r_r$ with probability

$$P(y_c \succ y_r \mid x) = \sigma(r_c - r_r) = \frac{1}{1 + e^{-(r_c - r_r)}},$$

so the negative log-likelihood of a labelled pair is $-\log\sigma(r_c - r_r) = \log(1 + e^{-(r_c - r_r)})
= \operatorname{softplus}(-(r_c - r_r))$. Written that way it never overflows: the seed guide's
``-np.log(sigmoid(x))`` computes ``exp(1e4) = inf`` and then ``log(0) = -inf`` for a score gap of
±1e4, while ``np.logaddexp(0, -x)`` / ``F.softplus(-x)`` stay finite, with finite gradients.

Functions here validate their inputs (shapes, finiteness) and raise ``ValueError``/``TypeError``
naming the fix; they never move devices, print, or mutate their arguments.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from llmcourse.rl.functional import last_token_index  # one definition, shared with PPO and GRPO

REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- input checks


def _shape_hint(a_shape: tuple, b_shape: tuple) -> str:
    if len(a_shape) == 2 and a_shape[-1] == 1 or len(b_shape) == 2 and b_shape[-1] == 1:
        return " — a trailing dimension of size 1 usually means the model's (batch, 1) logits: forgot `.squeeze(-1)`?"
    if len(a_shape) == 0 or len(b_shape) == 0:
        return " — pass one score per pair as a 1-D (batch,) array, e.g. np.array([2.0]) for a single pair"
    return ""


def _check_pair_shapes(chosen_shape: tuple, rejected_shape: tuple) -> None:
    if len(chosen_shape) != 1 or len(rejected_shape) != 1 or chosen_shape != rejected_shape:
        raise ValueError(
            f"chosen and rejected scores must both have shape (batch,); got chosen {tuple(chosen_shape)} and "
            f"rejected {tuple(rejected_shape)}{_shape_hint(tuple(chosen_shape), tuple(rejected_shape))}"
        )
    if chosen_shape[0] == 0:
        raise ValueError("empty batch: there are no (chosen, rejected) pairs to average over; "
                         "check that the data loader yielded at least one pair")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _first_bad_numpy(x: np.ndarray) -> int | None:
    bad = np.flatnonzero(~np.isfinite(x))
    return int(bad[0]) if bad.size else None


def _not_finite_error(name: str, index: int, value: float) -> ValueError:
    return ValueError(
        f"{name} score at index {index} is {value}; every score must be finite. A NaN/inf score usually "
        "comes from a diverged model (lower the learning rate, clip gradients) or from reading the score "
        "at a padding position"
    )


# --------------------------------------------------------------------------- Bradley–Terry loss


def bradley_terry_loss_numpy(chosen, rejected, margin=None, *, reduction: str = "mean",
                             center_coef: float = 0.0):
    r"""Bradley–Terry (pairwise ranking) loss in NumPy, stable for any finite score gap.

    $$\ell_i = -\log\sigma\bigl(r_{c,i} - r_{r,i} - m_i\bigr) + \eta\,(r_{c,i} + r_{r,i})^2
      = \log\bigl(1 + e^{-(r_{c,i} - r_{r,i} - m_i)}\bigr) + \eta\,(r_{c,i} + r_{r,i})^2$$

    computed as ``np.logaddexp(0, -(r_c - r_r - m))``, then reduced over pairs (``"mean"``, ``"sum"``
    or ``"none"``). $m_i$ is an optional per-pair margin (Llama 2: larger for clearer preferences);
    $\eta$ = ``center_coef`` is the reward-centring coefficient (Eisenstein et al., 2023), which keeps
    the mean reward near 0: with ``"mean"`` the total is the Bradley–Terry mean plus
    $\eta\cdot\operatorname{mean}((r_c + r_r)^2)$.

    Shapes: chosen (B,), rejected (B,), margin scalar or (B,) -> scalar (or (B,) for ``"none"``).
    Returns a NumPy float64 scalar (``np.float64``) or array.
    """
    _check_reduction(reduction)
    for name, x in (("chosen", chosen), ("rejected", rejected)):
        if type(x).__module__.startswith("torch"):
            raise TypeError(f"{name} is a torch.Tensor; this is the NumPy loss — use bradley_terry_loss "
                            "for tensors, or pass x.detach().cpu().numpy()")
    c = np.asarray(chosen, dtype=np.float64)
    r = np.asarray(rejected, dtype=np.float64)
    _check_pair_shapes(c.shape, r.shape)
    for name, x in (("chosen", c), ("rejected", r)):
        i = _first_bad_numpy(x)
        if i is not None:
            raise _not_finite_error(name, i, float(x[i]))
    diff = c - r
    if margin is not None:
        m = np.asarray(margin, dtype=np.float64)
        if m.shape not in ((), c.shape):
            raise ValueError(f"margin must be a number or have shape {c.shape} (one per pair); got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError("margin contains NaN/inf; margins must be finite numbers")
        diff = diff - m
    per_pair = np.logaddexp(0.0, -diff)
    if center_coef:
        per_pair = per_pair + center_coef * (c + r) ** 2
    if reduction == "none":
        return per_pair
    return per_pair.mean() if reduction == "mean" else per_pair.sum()


def _check_tensor(name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (got {type(x).__name__}); "
                        "use torch.as_tensor(x, dtype=torch.float32) or the NumPy loss bradley_terry_loss_numpy")
    if not x.is_floating_point():
        raise TypeError(f"{name} has dtype {x.dtype}; scores must be floating point (e.g. x.float())")


def _check_finite_tensor(name: str, x: torch.Tensor) -> None:
    finite = torch.isfinite(x.detach())
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0, 0])
        raise _not_finite_error(name, i, float(x.detach()[i]))


def reward_centering_penalty(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    r"""Per-pair centring term $(r_c + r_r)^2$ (Eisenstein et al., 2023), which pulls the average reward
    to 0 without changing which response wins. Shapes: (B,), (B,) -> (B,)."""
    return (chosen + rejected) ** 2


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin=None, *, reduction: str = "mean",
                       center_coef: float = 0.0) -> torch.Tensor:
    r"""Bradley–Terry loss in PyTorch, with finite loss *and* gradient for any finite score gap.

    $$\ell_i = \operatorname{softplus}\bigl(-(r_{c,i} - r_{r,i} - m_i)\bigr) + \eta\,(r_{c,i} + r_{r,i})^2,
      \qquad \mathcal{L} = \frac{1}{B}\sum_i \ell_i \ \text{(mean)}\ \text{or}\ \sum_i \ell_i\ \text{(sum)}$$

    ``softplus(-x) = -log σ(x)`` (PyTorch evaluates it stably), so a gap of $-10^4$ gives a loss of
    $10^4$ and a gradient of $-1$, not ``inf``/``nan``. Its gradient with respect to $r_c$ is
    $-\sigma(-(r_c - r_r - m))$: pairs the model already ranks right by a wide margin stop pushing.

    Shapes: chosen (B,), rejected (B,), margin None / float / (B,) -> scalar (``"none"``: (B,)).
    """
    _check_reduction(reduction)
    _check_tensor("chosen", chosen)
    _check_tensor("rejected", rejected)
    _check_pair_shapes(tuple(chosen.shape), tuple(rejected.shape))
    if not bool((torch.isfinite(chosen.detach()) & torch.isfinite(rejected.detach())).all()):  # one device read
        _check_finite_tensor("chosen", chosen)
        _check_finite_tensor("rejected", rejected)
    diff = chosen - rejected
    if margin is not None:
        m = margin if isinstance(margin, torch.Tensor) else torch.as_tensor(margin, dtype=diff.dtype)
        m = m.to(device=diff.device, dtype=diff.dtype)
        if tuple(m.shape) not in ((), tuple(diff.shape)):
            raise ValueError(f"margin must be a number or have shape {tuple(diff.shape)} (one per pair); "
                             f"got {tuple(m.shape)}")
        if not bool(torch.isfinite(m).all()):
            raise ValueError("margin contains NaN/inf; margins must be finite numbers")
        diff = diff - m
    per_pair = F.softplus(-diff)
    if center_coef:
        per_pair = per_pair + center_coef * reward_centering_penalty(chosen, rejected)
    if reduction == "none":
        return per_pair
    return per_pair.mean() if reduction == "mean" else per_pair.sum()


def pairwise_accuracy(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    r"""Share of pairs ranked right, $\frac{1}{B}\sum_i \mathbb{1}[r_{c,i} > r_{r,i}]$ (a tie counts as
    wrong: a model that scores everything 0 gets 0, not 0.5). Shapes: (B,), (B,) -> scalar."""
    _check_pair_shapes(tuple(chosen.shape), tuple(rejected.shape))
    return (chosen > rejected).float().mean()


def mean_margin(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    r"""Mean score gap $\frac{1}{B}\sum_i (r_{c,i} - r_{r,i})$. Shapes: (B,), (B,) -> scalar."""
    _check_pair_shapes(tuple(chosen.shape), tuple(rejected.shape))
    return (chosen - rejected).float().mean()


# --------------------------------------------------------------------------- where the score is read


def _check_mask(values: torch.Tensor, attention_mask: torch.Tensor) -> None:
    if not isinstance(values, torch.Tensor) or not isinstance(attention_mask, torch.Tensor):
        raise TypeError("values and attention_mask must be torch.Tensors")
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must have shape (batch, seq); got {tuple(attention_mask.shape)}")
    if values.dim() < 2 or tuple(values.shape[:2]) != tuple(attention_mask.shape):
        hint = " — did you pass the pooled (batch, 1) logits instead of per-token values?" if values.dim() == 2 and values.shape[-1] == 1 else ""
        raise ValueError(f"values must start with the mask's (batch, seq) = {tuple(attention_mask.shape)}; "
                         f"got {tuple(values.shape)}{hint}")
    if attention_mask.dtype != torch.bool and attention_mask.is_floating_point():
        raise TypeError(f"attention_mask has dtype {attention_mask.dtype}; expected 0/1 integers or booleans")


def scores_at_last_token(values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    r"""Read a sequence's score at its last real token: $r_b = v_{b,\,i_b}$, $i_b = \max\{t: \text{mask}_{b,t}=1\}$.

    In a causal model only the last position has seen the whole prompt + response (+ EOS), so that is
    where the scalar reward lives. ``values[:, -1]`` is wrong for right-padded rows (a pad position)
    and ``mask.sum(-1) - 1`` is wrong for left-padded rows; the index from the mask is right for both.

    Shapes: values (B, T) or (B, T, H), attention_mask (B, T) -> (B,) or (B, H).
    """
    _check_mask(values, attention_mask)
    idx = last_token_index(attention_mask).to(values.device)
    return values[torch.arange(values.shape[0], device=values.device), idx]


# --------------------------------------------------------------------------- calibration


def calibration_from_scores(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Gain and bias that map reference scores to mean 0, standard deviation 1.

    $g = 1/\operatorname{std}(r)$, $b = -\operatorname{mean}(r)/\operatorname{std}(r)$, so $g\,r + b$ has
    mean 0 and (population) std 1 on the reference sample. Bradley–Terry only sees score *differences*,
    so a trained model's offset is arbitrary; PPO's KL-penalised reward is not, which is why the
    reward is normalised before RL (Ziegler et al., 2019; Stiennon et al., 2020).

    Shapes: scores (N,) with N ≥ 2 -> (gain, bias), two 0-d tensors.
    """
    if not isinstance(scores, torch.Tensor):
        scores = torch.as_tensor(np.asarray(scores, dtype=np.float64))
    if scores.dim() != 1 or scores.shape[0] < 2:
        raise ValueError(f"calibration needs a 1-D sample of at least 2 scores; got shape {tuple(scores.shape)}")
    _check_finite_tensor("reference", scores)
    std = scores.double().std(unbiased=False)
    if not bool(std > 1e-12):
        raise ValueError("all reference scores are equal (std 0): the model does not tell these responses apart, "
                         "so no gain can normalise them; train the reward model first or use a more varied sample")
    gain = (1.0 / std).to(scores.dtype)
    bias = (-scores.double().mean() / std).to(scores.dtype)
    return gain, bias
