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
so padding never changes a loss, a statistic or a gradient.

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

__all__ = [
    "masked_sum", "masked_mean", "masked_var", "masked_whiten",
    "truncate_after_eos", "logprobs_from_logits", "entropy_from_logits",
    "kl_per_token", "sequence_kl", "last_token_index", "penalize_missing_eos", "kl_penalized_rewards",
    "gae_advantages", "clipped_policy_loss", "clip_fraction", "approx_kl", "clipped_value_loss",
    "adaptive_kl_update", "AdaptiveKLController", "FixedKLController",
]

KL_ESTIMATORS = ("k1", "k2", "k3")


# --------------------------------------------------------------------------- checks


def _check_same_shape(**tensors: torch.Tensor) -> None:
    names = list(tensors)
    first = tensors[names[0]]
    for name in names[1:]:
        t = tensors[name]
        if t.shape != first.shape:
            hint = ""
            if t.dim() == first.dim() + 1 and t.shape[-1] == 1:
                hint = f" (a trailing dimension of size 1 — forgot `{name}.squeeze(-1)`?)"
            elif first.dim() == t.dim() + 1 and first.shape[-1] == 1:
                hint = f" (a trailing dimension of size 1 — forgot `{names[0]}.squeeze(-1)`?)"
            raise ValueError(f"{name} has shape {tuple(t.shape)} but {names[0]} has shape {tuple(first.shape)}; "
                             f"all per-token tensors must be (batch, response_length){hint}")


def _float_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.to(dtype=like.dtype if like.is_floating_point() else torch.float32)


def _require_nonempty_rows(mask: torch.Tensor, what: str) -> None:
    empty = (mask.sum(dim=-1) == 0).nonzero().flatten()
    if len(empty):
        rows = empty[:5].tolist()
        raise ValueError(f"{what}: row(s) {rows}{' …' if len(empty) > 5 else ''} of the response mask are all "
                         "padding (no response token at all), so there is no token to give the score to; "
                         "drop those rows, or keep at least the EOS token in every response")


# --------------------------------------------------------------------------- masked statistics


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    r"""$\sum_t m_t x_t$ over ``dim`` (all elements when ``None``). Shapes: x, mask (B, T)."""
    m = _float_mask(mask, x)
    return (x * m).sum() if dim is None else (x * m).sum(dim=dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    r"""$\frac{\sum_t m_t x_t}{\sum_t m_t}$ over ``dim`` (all elements when ``None``).

    Shapes: x, mask (B, T) -> scalar (``dim=None``) or (B,) (``dim=-1``). An all-padding mask gives
    0 rather than NaN (the denominator is clamped to 1): nothing to average, nothing to learn.
    """
    m = _float_mask(mask, x)
    if dim is None:
        return (x * m).sum() / m.sum().clamp(min=1.0)
    return (x * m).sum(dim=dim) / m.sum(dim=dim).clamp(min=1.0)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Population variance over the real tokens: $\frac{\sum_t m_t (x_t-\mu)^2}{\sum_t m_t}$,
    $\mu$ = :func:`masked_mean`. Shapes: x, mask (B, T) -> scalar."""
    mu = masked_mean(x, mask)
    return masked_mean((x - mu) ** 2, mask)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    r"""Whiten over the real tokens of the whole batch: $\hat x_t = \frac{x_t - \mu}{\sqrt{\sigma^2 + \epsilon}}$
    (with ``shift_mean=False`` the mean is added back: only the scale changes).

    $\mu$, $\sigma^2$ are :func:`masked_mean` and :func:`masked_var`, so padding neither shifts nor
    scales the statistics; padded positions of the result are 0. Shapes: x, mask (B, T) -> (B, T).
    """
    _check_same_shape(x=x, mask=mask)
    mu, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mu) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mu
    return out * _float_mask(mask, x)


# --------------------------------------------------------------------------- responses and log-probs


def truncate_after_eos(response_ids: torch.Tensor, eos_token_id: int, pad_token_id: int):
    r"""Cut every response after its first EOS: tokens after it become ``pad_token_id``.

    Returns ``(ids, mask, has_eos)``: ``mask`` is 1 on the real tokens **including** the EOS (the EOS
    is an action the policy took and is rewarded for), ``has_eos`` says whether the row emitted one.
    A row without EOS keeps all its tokens (it hit the length limit).
    Shapes: response_ids (B, T) -> ids (B, T) long, mask (B, T) long, has_eos (B,) bool.

    >>> ids, mask, has_eos = truncate_after_eos(torch.tensor([[5, 2, 7], [5, 6, 7]]), eos_token_id=2, pad_token_id=0)
    >>> ids.tolist(), mask.tolist(), has_eos.tolist()
    ([[5, 2, 0], [5, 6, 7]], [[1, 1, 0], [1, 1, 1]], [True, False])
    """
    is_eos = response_ids == eos_token_id
    # number of EOS tokens strictly before position t; a token is kept while that count is 0
    eos_before = torch.cumsum(is_eos.long(), dim=-1) - is_eos.long()
    mask = (eos_before == 0).long()
    ids = response_ids.masked_fill(mask == 0, pad_token_id)
    return ids, mask, is_eos.any(dim=-1)


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    r"""Log-probability of each taken token under the temperature-scaled policy:

    $$\log\pi(a_t \mid s_t) = \frac{z_{t,a_t}}{\tau} - \log\sum_{v} \exp\frac{z_{t,v}}{\tau}$$

    ``logits[:, t]`` must be the logits that *predicted* ``tokens[:, t]`` (i.e. already shifted by
    one). Sampling at temperature $\tau$ draws from $\mathrm{softmax}(z/\tau)$, so the log-probs of
    both the rollout and the update must divide by the same $\tau$, or the first ratio is not 1.
    Computed in float32 (bf16 log-softmax loses the small differences PPO's ratio is made of).
    Shapes: logits (B, T, V), tokens (B, T) -> (B, T).
    """
    if logits.shape[:-1] != tokens.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not line up with tokens {tuple(tokens.shape)}; "
                         "expected logits (B, T, V) for tokens (B, T) — slice logits[:, prompt_len - 1 : -1] "
                         "so position t holds the prediction of response token t")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return torch.gather(logp, -1, tokens.long().unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    r"""Entropy of the temperature-scaled policy at every position,
    $H_t = -\sum_v p_{t,v}\log p_{t,v} = \log\sum_v e^{z_{t,v}/\tau} - \sum_v p_{t,v}\, z_{t,v}/\tau$.
    Shapes: logits (B, T, V) -> (B, T)."""
    z = logits.float() / temperature
    p = torch.softmax(z, dim=-1)
    return torch.logsumexp(z, dim=-1) - (p * z).sum(dim=-1)


# --------------------------------------------------------------------------- KL and rewards


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor,
                 estimator: str = "k1") -> torch.Tensor:
    r"""A per-token estimate of $\mathrm{KL}(\pi_\theta \,\Vert\, \pi_{\mathrm{ref}})$ on the sampled tokens,
    0 on padding. With $\log\rho_t = \log\pi_\theta(a_t\mid s_t) - \log\pi_{\mathrm{ref}}(a_t\mid s_t)$
    and $r_t = \pi_{\mathrm{ref}}/\pi_\theta = e^{-\log\rho_t}$ (Schulman, "Approximating KL divergence"):

    * ``"k1"``: $k_1 = \log\rho_t$ — unbiased, can be negative on a single token;
    * ``"k2"``: $k_2 = \tfrac12(\log\rho_t)^2$ — biased, low variance, always $\ge 0$;
    * ``"k3"``: $k_3 = (r_t - 1) - \log r_t$ — unbiased and always $\ge 0$.

    Summed over a response, $\sum_t k_{1,t} = \log\frac{\pi_\theta(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)}$:
    the sequence-level KL of the objective is the expectation of the sum of per-token log-ratios.
    Shapes: logprobs, ref_logprobs, mask (B, T) -> (B, T).
    """
    _check_same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        kl = log_ratio
    elif estimator == "k2":
        kl = 0.5 * log_ratio**2
    elif estimator == "k3":
        kl = torch.expm1(-log_ratio) + log_ratio  # (r - 1) - log r with log r = -log_ratio
    else:
        raise ValueError(f"estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")
    return kl * _float_mask(mask, kl)


def sequence_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor,
                estimator: str = "k1") -> torch.Tensor:
    r"""Per-sequence KL estimate $\sum_t m_t\, k_t$. Shapes: (B, T) each -> (B,)."""
    return kl_per_token(logprobs, ref_logprobs, mask, estimator).sum(dim=-1)


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    r"""Index of the last real token of every row, $\max\{t : m_t = 1\}$. Shapes: mask (B, T) -> (B,) long.
    Rows that are all padding raise a ``ValueError`` (they have no last token)."""
    _require_nonempty_rows(mask, "last_token_index")
    positions = torch.arange(mask.shape[-1], device=mask.device)
    return torch.where(mask.bool(), positions, -1).max(dim=-1).values


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
    m = _float_mask(mask, logprobs)
    rewards = -kl_coef * (logprobs - ref_logprobs) * m
    last = last_token_index(mask)
    at_last = torch.nn.functional.one_hot(last, num_classes=mask.shape[-1]).to(rewards.dtype)
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
    values = values * m
    rewards = rewards * m
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
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    return masked_mean(torch.maximum(unclipped, clipped), mask)


def clip_fraction(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                  mask: torch.Tensor, cliprange: float = 0.2) -> torch.Tensor:
    r"""Share of real tokens where the clipped term is the active one (its gradient is 0):
    $\frac{\sum_t m_t [-\hat A_t\,\mathrm{clip}(\rho_t) > -\hat A_t\rho_t]}{\sum_t m_t}$. Shapes: (B, T) each -> scalar."""
    ratio = torch.exp(logprobs - old_logprobs)
    clipped_active = (-advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)) > (-advantages * ratio)
    return masked_mean(clipped_active.float(), mask)


def approx_kl(logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""How far one update moved the policy from the rollout policy: the $k_2$ estimate
    $\frac{\sum_t m_t\,\tfrac12(\log\pi_\theta - \log\pi_{\text{old}})^2}{\sum_t m_t}$. Shapes: (B, T) each -> scalar."""
    return masked_mean(0.5 * (logprobs - old_logprobs) ** 2, mask)


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
                       mask: torch.Tensor, cliprange_value: float = 0.2) -> torch.Tensor:
    r"""The clipped value loss of PPO (as in OpenAI's baselines and TRL):

    $$V^{\text{clip}}_t = V_{\text{old}}(s_t) + \mathrm{clip}\bigl(V(s_t) - V_{\text{old}}(s_t), -\epsilon_v, \epsilon_v\bigr),\qquad
      \mathcal{L}^{V} = \tfrac12\,\frac{\sum_t m_t\max\bigl((V(s_t) - \hat R_t)^2, (V^{\text{clip}}_t - \hat R_t)^2\bigr)}{\sum_t m_t}$$

    Shapes: (B, T) each -> scalar."""
    _check_same_shape(values=values, old_values=old_values, returns=returns, mask=mask)
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
