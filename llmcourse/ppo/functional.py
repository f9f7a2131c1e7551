r"""PPO for RLHF, the math: tensors in, tensors out — no models, no I/O, no ``.item()``.

Notation (notebook 03 uses the same letters). A prompt $x$ is the *state* $s_0$; the policy
$\pi_\theta$ (the LLM) picks response tokens $a_t$ one at a time, $s_{t+1} = s_t \Vert a_t$; the
response $y = (a_0, \dots, a_{T-1})$ ends at EOS or at the length limit. Per response token:

* $\log\pi_\theta(a_t \mid s_t)$ — the policy's log-probability (logits divided by the sampling
  temperature $\tau$, the same way in the rollout and in the update);
* $\log\pi_{\mathrm{ref}}(a_t \mid s_t)$ — the frozen SFT model's;
* $V(s_t)$ — the value model's estimate of the return from $s_t$;
* a **response mask** $m_t \in \{0, 1\}$ — 1 on real response tokens (EOS included), 0 on padding.
  Every row is left-aligned: its real tokens are a prefix, padding follows.

Shapes: ``B`` rows (prompt + response pairs), ``T`` response positions, ``V`` vocabulary size.
Masked reductions (:func:`masked_mean`, :func:`masked_whiten`) ignore positions where the mask is 0,
so padding never changes a loss, a statistic or a gradient. The math PPO shares with GRPO (masked
reductions, EOS truncation, log-probs, entropy, KL estimators) lives in :mod:`llmcourse.rl.functional`
and is re-exported here.

The functions, in the order a PPO iteration uses them:

=============================  ==============================================================
:func:`logprobs_from_logits`   $\log\pi(a_t\mid s_t)$ for the tokens actually taken
:func:`kl_per_token`           $k_1$, $k_2$ or $k_3$ estimate of the KL at every response token
:func:`penalize_missing_eos`   subtract a fixed penalty from the scores of responses with no EOS
:func:`kl_penalized_rewards`   $r_t = -\beta\,k_{1,t}$ plus the reward-model score at the last token
:func:`gae_advantages`         GAE($\gamma$, $\lambda$) advantages and returns over masked rows
:func:`masked_whiten`          zero mean / unit variance over the real tokens only
:func:`clipped_policy_loss`    PPO's clipped surrogate (and :func:`clip_fraction`, :func:`approx_kl`)
:func:`clipped_value_loss`     the clipped value loss
:func:`entropy_from_logits`    the policy's per-token entropy (a diagnostic)
:func:`adaptive_kl_update`     Ziegler et al.'s proportional controller for $\beta$
=============================  ==============================================================
"""

from __future__ import annotations

import math

import torch

# the shared RL math, re-exported: PPO's notebook and trainer read them as ``F.masked_mean`` etc.
from llmcourse.rl.functional import (  # noqa: F401
    KL_ESTIMATORS,
    _check_same_shape,
    _float_mask,
    _require_nonempty_rows,
    entropy_from_logits,
    kl_per_token,
    last_token_index,
    last_token_onehot,
    logprobs_from_logits,
    masked_mean,
    masked_sum,
    masked_var,
    only_real,
    truncate_after_eos,
)

__all__ = [
    "masked_sum", "masked_mean", "masked_var", "masked_whiten",
    "truncate_after_eos", "logprobs_from_logits", "entropy_from_logits",
    "kl_per_token", "sequence_kl", "last_token_index", "penalize_missing_eos", "kl_penalized_rewards",
    "gae_advantages", "clipped_policy_loss", "clip_fraction", "approx_kl", "clipped_value_loss",
    "adaptive_kl_update", "AdaptiveKLController", "FixedKLController",
]


# --------------------------------------------------------------------------- masked statistics


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    r"""Whiten over the real tokens of the whole batch: $\hat x_t = \frac{x_t - \mu}{\sqrt{\sigma^2 + \epsilon}}$
    (with ``shift_mean=False`` the mean is added back: only the scale changes).

    $\mu$, $\sigma^2$ are :func:`masked_mean` and :func:`masked_var`, so padding neither shifts nor
    scales the statistics; padded positions of the result are 0. Shapes: x, mask (B, T) -> (B, T).
    """
    _check_same_shape(x=x, mask=mask)
    x = only_real(mask, x)
    mu, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mu) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mu
    return only_real(mask, out)


# --------------------------------------------------------------------------- KL and rewards


def sequence_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor,
                estimator: str = "k1") -> torch.Tensor:
    r"""Per-sequence KL estimate $\sum_t m_t\, k_t$. Shapes: (B, T) each -> (B,)."""
    return kl_per_token(logprobs, ref_logprobs, mask, estimator).sum(dim=-1)


def penalize_missing_eos(scores: torch.Tensor, has_eos: torch.Tensor, penalty: float | None) -> torch.Tensor:
    r"""$s_i - c\,[\text{row } i \text{ has no EOS}]$: responses that ran into the length limit lose a
    fixed amount ``penalty`` = $c$ (``None`` leaves the scores unchanged). Teaches the policy to stop,
    which the reward model alone may not (it scores whatever text it is given).
    Shapes: scores (B,), has_eos (B,) bool -> (B,)."""
    if penalty is None:
        return scores
    return scores - penalty * (~has_eos.bool()).to(scores.dtype)


def kl_penalized_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                         mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    r"""The per-token reward PPO maximises:

    $$r_t = -\beta\,\bigl(\log\pi_\theta(a_t\mid s_t) - \log\pi_{\mathrm{ref}}(a_t\mid s_t)\bigr)\,m_t
           \;+\; [t = t_{\text{last}}]\; r_\phi(x, y)$$

    — a KL penalty (the $k_1$ estimate) on **every** response token, and the reward model's score
    $r_\phi(x, y)$ added once, at the **last** real token $t_{\text{last}}$ (the EOS, or the last token
    when the response was cut). Summed over the response this is exactly
    $r_\phi(x,y) - \beta\log\frac{\pi_\theta(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)}$, the sequence-level
    objective; spreading the penalty per token gives GAE a dense signal. Padding gets 0.
    ``logprobs`` are those of the rollout (no gradient flows through rewards).
    Shapes: scores (B,), logprobs, ref_logprobs, mask (B, T) -> (B, T). Rows whose mask is all
    padding raise a ``ValueError``.
    """
    _check_same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    if scores.shape != logprobs.shape[:1]:
        hint = " — forgot `.squeeze(-1)` on the reward model's output?" if scores.shape == (logprobs.shape[0], 1) else ""
        raise ValueError(f"scores has shape {tuple(scores.shape)}, expected ({logprobs.shape[0]},): one score per row{hint}")
    _require_nonempty_rows(mask, "kl_penalized_rewards")
    logprobs, ref_logprobs = only_real(mask, logprobs, ref_logprobs)
    rewards = -kl_coef * (logprobs - ref_logprobs)
    at_last = last_token_onehot(mask, rewards.dtype)
    return rewards + scores.to(rewards.dtype).unsqueeze(-1) * at_last


# --------------------------------------------------------------------------- advantages


def gae_advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                   gamma: float = 1.0, lam: float = 0.95):
    r"""Generalised advantage estimation (Schulman et al. 2016) over masked rows, computed **backwards**:

    $$\delta_t = r_t + \gamma\, m_{t+1} V(s_{t+1}) - V(s_t), \qquad
      \hat A_t = \delta_t + \gamma\lambda\, m_{t+1}\hat A_{t+1}, \qquad \hat R_t = \hat A_t + V(s_t)$$

    with $m_{T} = 0$: after the last real token the episode is over, so nothing is bootstrapped from
    the value of a padding position (whatever number the value model wrote there). $\gamma=\lambda=1$
    gives reward-to-go minus value; $\lambda=0$ gives the one-step TD error.
    Returns ``(advantages, returns)``, both 0 on padding.
    Shapes: rewards, values, mask (B, T) -> (B, T), (B, T).
    """
    _check_same_shape(rewards=rewards, values=values, mask=mask)
    m = _float_mask(mask, values)
    rewards, values = only_real(mask, rewards, values)
    T = rewards.shape[-1]
    next_value = torch.zeros_like(values[..., 0])
    next_adv = torch.zeros_like(values[..., 0])
    next_mask = torch.zeros_like(values[..., 0])
    advantages = []
    for t in reversed(range(T)):
        delta = rewards[..., t] + gamma * next_mask * next_value - values[..., t]
        next_adv = delta + gamma * lam * next_mask * next_adv
        advantages.append(next_adv)
        next_value, next_mask = values[..., t], m[..., t]
    adv = torch.stack(advantages[::-1], dim=-1) * m
    return adv, (adv + values) * m


# --------------------------------------------------------------------------- PPO losses


def clipped_policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                        mask: torch.Tensor, cliprange: float = 0.2) -> torch.Tensor:
    r"""PPO's clipped surrogate, as a loss to minimise (masked mean over real tokens):

    $$\rho_t = \exp\bigl(\log\pi_\theta(a_t\mid s_t) - \log\pi_{\text{old}}(a_t\mid s_t)\bigr),\qquad
      \mathcal{L}^{\text{CLIP}} = \frac{\sum_t m_t \max\bigl(-\hat A_t\rho_t,\; -\hat A_t\,\mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\bigr)}{\sum_t m_t}$$

    The max of the negated terms is the min of the surrogate objective: a pessimistic bound, so a
    step never gains from pushing $\rho$ beyond $1 \pm \epsilon$ in the direction the advantage favours.
    The ratio comes from a difference of **log**-probs (a ratio of probabilities underflows to 0/0
    for long or unlikely tokens). Shapes: (B, T) each -> scalar.
    """
    _check_same_shape(logprobs=logprobs, old_logprobs=old_logprobs, advantages=advantages, mask=mask)
    logprobs, old_logprobs, advantages = only_real(mask, logprobs, old_logprobs, advantages)
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    return masked_mean(torch.maximum(unclipped, clipped), mask)


def clip_fraction(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                  mask: torch.Tensor, cliprange: float = 0.2) -> torch.Tensor:
    r"""Share of real tokens where the clipped term is the active one (its gradient is 0):
    $\frac{\sum_t m_t [-\hat A_t\,\mathrm{clip}(\rho_t) > -\hat A_t\rho_t]}{\sum_t m_t}$. Shapes: (B, T) each -> scalar."""
    logprobs, old_logprobs, advantages = only_real(mask, logprobs, old_logprobs, advantages)
    ratio = torch.exp(logprobs - old_logprobs)
    clipped_active = (-advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)) > (-advantages * ratio)
    return masked_mean(clipped_active.float(), mask)


def approx_kl(logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""How far one update moved the policy from the rollout policy: the $k_2$ estimate
    $\frac{\sum_t m_t\,\tfrac12(\log\pi_\theta - \log\pi_{\text{old}})^2}{\sum_t m_t}$. Shapes: (B, T) each -> scalar."""
    logprobs, old_logprobs = only_real(mask, logprobs, old_logprobs)
    return masked_mean(0.5 * (logprobs - old_logprobs) ** 2, mask)


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
                       mask: torch.Tensor, cliprange_value: float = 0.2) -> torch.Tensor:
    r"""The clipped value loss of PPO (as in OpenAI's baselines and TRL):

    $$V^{\text{clip}}_t = V_{\text{old}}(s_t) + \mathrm{clip}\bigl(V(s_t) - V_{\text{old}}(s_t), -\epsilon_v, \epsilon_v\bigr),\qquad
      \mathcal{L}^{V} = \tfrac12\,\frac{\sum_t m_t\max\bigl((V(s_t) - \hat R_t)^2, (V^{\text{clip}}_t - \hat R_t)^2\bigr)}{\sum_t m_t}$$

    Shapes: (B, T) each -> scalar."""
    _check_same_shape(values=values, old_values=old_values, returns=returns, mask=mask)
    values, old_values, returns = only_real(mask, values, old_values, returns)
    clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


# --------------------------------------------------------------------------- the KL coefficient


def adaptive_kl_update(kl_coef: float, current_kl: float, target: float, n_steps: int, horizon: float) -> float:
    r"""One step of the adaptive KL controller (Ziegler et al. 2019, "Fine-tuning language models
    from human preferences"):

    $$e = \mathrm{clip}\Bigl(\frac{\mathrm{KL}}{\mathrm{KL}_{\text{target}}} - 1,\; -0.2,\; 0.2\Bigr),\qquad
      \beta \leftarrow \beta\,\Bigl(1 + e\,\frac{n}{H}\Bigr)$$

    ``current_kl`` is the mean per-sequence KL of the last batch, ``n_steps`` = $n$ the number of
    sequences in it, ``horizon`` = $H$. KL above target raises $\beta$ (a stronger pull back to the
    reference), below target lowers it; the clip keeps one noisy batch from moving $\beta$ by more
    than a factor $1 \pm 0.2\,n/H$. Numbers in, number out.
    """
    if not target > 0:
        raise ValueError(f"target must be > 0, got {target}")
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0, got {horizon}")
    if isinstance(current_kl, float) and math.isnan(current_kl):
        raise ValueError("current_kl is NaN; check the log-probs of the rollout")
    error = min(max(current_kl / target - 1.0, -0.2), 0.2)
    return kl_coef * (1.0 + error * n_steps / horizon)


class AdaptiveKLController:
    """Holds $\\beta$ and moves it with :func:`adaptive_kl_update` (or a student's version of it)."""

    def __init__(self, init_kl_coef: float, target: float, horizon: float, update_fn=None):
        self.value = float(init_kl_coef)
        self.target = float(target)
        self.horizon = float(horizon)
        self.update_fn = update_fn or adaptive_kl_update

    def update(self, current_kl: float, n_steps: int) -> float:
        self.value = float(self.update_fn(self.value, current_kl, self.target, n_steps, self.horizon))
        return self.value


class FixedKLController:
    """A constant $\\beta$ (``update`` does nothing)."""

    def __init__(self, kl_coef: float):
        self.value = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> float:
        return self.value
