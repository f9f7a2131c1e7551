r"""GRPO, the math: tensors in, tensors out — no models, no I/O, no ``.item()``.

Group Relative Policy Optimisation (Shao et al. 2024, DeepSeekMath) drops PPO's value model. Each
prompt $x$ is answered $G$ times (a **group**, rows $i = 1..G$ next to each other in the batch); a
verifier scores each completion, $r_i$, and the advantage of every token of completion $i$ is its
reward relative to its group:

$$\hat A_i = \frac{r_i - \operatorname{mean}(r_1..r_G)}{\operatorname{std}(r_1..r_G) + \varepsilon}
\qquad\text{(Dr. GRPO: no division by the std)}$$

Per response token $t$ of completion $i$, with the importance ratio
$\rho_{i,t} = \exp(\log\pi_\theta(a_{i,t}\mid s_{i,t}) - \log\pi_{\text{old}}(a_{i,t}\mid s_{i,t}))$:

$$\ell_{i,t} = -\min\bigl(\rho_{i,t}\hat A_i,\ \mathrm{clip}(\rho_{i,t}, 1-\epsilon_{\text{low}}, 1+\epsilon_{\text{high}})\,\hat A_i\bigr)
             \;+\; \beta\, k_3\bigl(\pi_\theta, \pi_{\text{ref}}\bigr)_{i,t}$$

and the **reduction** (``loss_type``, TRL's names) decides how token losses become one number:

============  =====================================================================  ========================
``grpo``      $\frac1N\sum_i \frac{\sum_t m_{i,t}\ell_{i,t}}{\sum_t m_{i,t}}$          per-sequence mean (length-biased)
``dr_grpo``   $\frac{\sum_{i,t} m_{i,t}\ell_{i,t}}{N\cdot L_{\max}}$                    a constant normaliser
``bnpo``      $\frac{\sum_{i,t} m_{i,t}\ell_{i,t}}{\sum_{i,t} m_{i,t}}$ (this process)  token-level
``dapo``      $\frac{\sum_{i,t} m_{i,t}\ell_{i,t}}{\text{global tokens} / \text{processes}}$  token-level (TRL's default)
============  =====================================================================  ========================

$N$ and the token counts are those of the **whole batch** one optimizer step sees (the accumulation
window), passed as ``num_sequences`` / ``num_tokens`` — so a batch split into micro-batches whose
losses are summed under gradient accumulation gives exactly the loss and gradient of the whole batch
(:func:`grpo_loss` with defaults computes them from the batch it is given: the whole batch case).

Shapes: ``B`` completions (``B = n_prompts · G``, groups contiguous), ``T`` completion positions.
"""

from __future__ import annotations

import torch

from llmcourse.rl.functional import _check_same_shape, _float_mask, kl_per_token, masked_mean, only_real

__all__ = ["LOSS_TYPES", "SCALE_REWARDS", "group_advantages", "zero_variance_groups", "clipped_token_loss",
           "reduce_token_loss", "grpo_loss", "clip_fractions"]

LOSS_TYPES = ("grpo", "dr_grpo", "bnpo", "dapo")
SCALE_REWARDS = ("group", "batch", "none")


def _groups(rewards: torch.Tensor, num_generations: int) -> torch.Tensor:
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D (one reward per completion), got shape {tuple(rewards.shape)}")
    if not isinstance(num_generations, int) or num_generations < 1:
        raise ValueError(f"num_generations must be a positive int, got {num_generations!r}")
    if rewards.numel() % num_generations:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of num_generations={num_generations}; "
                         "the batch must hold G completions of each prompt, next to each other")
    return rewards.float().view(-1, num_generations)


def group_advantages(rewards: torch.Tensor, num_generations: int, scale_rewards: str = "group",
                     eps: float = 1e-4) -> torch.Tensor:
    r"""Group-normalised advantages, one per completion:

    $$\hat A_i = \frac{r_i - \bar r_{g(i)}}{s + \varepsilon},\qquad \bar r_g = \frac1G\sum_{j\in g} r_j$$

    ``scale_rewards="group"``: $s$ = the group's sample standard deviation (Bessel-corrected, as TRL);
    ``"batch"``: the whole batch's; ``"none"``: no division ($s + \varepsilon := 1$, Dr. GRPO, Liu et
    al. 2025: dividing by the std up-weights groups that are almost all right or all wrong). A group
    whose rewards are all equal gets $\hat A = 0$ for every member: it teaches nothing.
    Shapes: rewards (B,) with groups of ``num_generations`` contiguous rows -> (B,) float32.
    """
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, got {scale_rewards!r}")
    g = _groups(rewards, num_generations)
    centred = g - g.mean(dim=1, keepdim=True)
    if scale_rewards == "group":
        std = g.std(dim=1, keepdim=True) if num_generations > 1 else torch.zeros_like(g[:, :1])
        centred = centred / (std + eps)
    elif scale_rewards == "batch":
        std = g.flatten().std() if g.numel() > 1 else g.new_zeros(())
        centred = centred / (std + eps)
    return centred.flatten()


def zero_variance_groups(rewards: torch.Tensor, num_generations: int) -> torch.Tensor:
    r"""Which groups have all-equal rewards (all right or all wrong): their advantages are all 0 and
    they add nothing to the gradient. Shapes: rewards (B,) -> (B / G,) bool."""
    g = _groups(rewards, num_generations)
    return (g == g[:, :1]).all(dim=1)


def clipped_token_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                       epsilon_low: float = 0.2, epsilon_high: float | None = None) -> torch.Tensor:
    r"""The clipped surrogate per token, as a loss:
    $\ell_{i,t} = -\min(\rho_{i,t}\hat A_i,\ \mathrm{clip}(\rho_{i,t}, 1-\epsilon_{\text{low}}, 1+\epsilon_{\text{high}})\hat A_i)$.

    ``epsilon_high=None`` uses ``epsilon_low`` (symmetric clipping); DAPO's **clip-higher** raises it
    (0.28) so an unlikely token with a positive advantage can grow further before the clip stops it.
    The ratio is $\exp$ of a log-prob difference. Padding is *not* masked here (see
    :func:`reduce_token_loss`). Shapes: logprobs, old_logprobs (B, T), advantages (B,) -> (B, T).
    """
    _check_same_shape(logprobs=logprobs, old_logprobs=old_logprobs)
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"advantages has shape {tuple(advantages.shape)}, expected ({logprobs.shape[0]},): one "
                         "advantage per completion, shared by all its tokens")
    epsilon_high = epsilon_low if epsilon_high is None else epsilon_high
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages.to(ratio.dtype).unsqueeze(1)
    return -torch.minimum(ratio * adv, torch.clamp(ratio, 1.0 - epsilon_low, 1.0 + epsilon_high) * adv)


def reduce_token_loss(per_token_loss: torch.Tensor, mask: torch.Tensor, loss_type: str = "dapo", *,
                      max_completion_length: int | None = None, num_sequences: int | float | torch.Tensor | None = None,
                      num_tokens: int | float | torch.Tensor | None = None) -> torch.Tensor:
    r"""Masked token losses -> one scalar, by ``loss_type`` (table in the module docstring).

    ``num_sequences`` ($N$) and ``num_tokens`` are the totals of the whole batch the optimizer step
    covers; ``None`` means "this batch is the whole batch" (its own row count and real-token count).
    Every variant is then a plain sum over completions divided by a constant of the whole batch, so
    the losses of micro-batches **add up** to the whole batch's loss (and so do their gradients).
    ``max_completion_length`` ($L_{\max}$, ``dr_grpo``) defaults to the width ``T`` of the tensor.
    Shapes: per_token_loss, mask (B, T) -> scalar.
    """
    _check_same_shape(per_token_loss=per_token_loss, mask=mask)
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    per_token_loss = only_real(mask, per_token_loss)  # padding's value, even NaN, must not count
    m = _float_mask(mask, per_token_loss)
    n_seq = per_token_loss.shape[0] if num_sequences is None else num_sequences
    if loss_type == "grpo":
        per_seq = (per_token_loss * m).sum(dim=-1) / m.sum(dim=-1).clamp(min=1.0)
        return per_seq.sum() / n_seq
    total = (per_token_loss * m).sum()
    if loss_type == "dr_grpo":
        return total / (n_seq * (max_completion_length or per_token_loss.shape[-1]))
    n_tok = m.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=total.dtype, device=total.device)
    return total / n_tok.clamp(min=1.0)


def grpo_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *,
              loss_type: str = "dapo", epsilon_low: float = 0.2, epsilon_high: float | None = None, beta: float = 0.0,
              ref_logprobs: torch.Tensor | None = None, max_completion_length: int | None = None,
              num_sequences=None, num_tokens=None, use_bias_correction_kl: bool = False) -> torch.Tensor:
    r"""The GRPO loss of a batch: :func:`clipped_token_loss` $+\ \beta\,k_3$ per token, reduced by
    :func:`reduce_token_loss`. $k_3 = \frac{\pi_{\text{ref}}}{\pi_\theta} - \log\frac{\pi_{\text{ref}}}{\pi_\theta} - 1 \ge 0$
    (:func:`~llmcourse.rl.functional.kl_per_token`), needs ``ref_logprobs`` when ``beta > 0``.

    ``use_bias_correction_kl=True`` multiplies $k_3$ by $\rho_{i,t}$ (TRL's default since 2025, from
    DeepSeek-V3.2): the tokens were sampled from $\pi_{\text{old}}$, and the importance weight makes the
    KL gradient the unbiased gradient of $\mathrm{KL}(\pi_\theta\Vert\pi_{\text{ref}})$ — it changes the
    gradient even where $\rho = 1$ in value.

    At the first optimisation step on a batch $\pi_\theta = \pi_{\text{old}}$, so $\rho \equiv 1$ and
    the loss is $-$ (a weighted mean of the advantages) $\approx 0$ — but its gradient,
    $-\sum \hat A_i\,\nabla\log\pi_\theta$, is not. Shapes: (B, T) each, advantages (B,) -> scalar.
    """
    _check_same_shape(logprobs=logprobs, mask=mask)
    # padding selected away before exp(): a NaN/inf there would otherwise come back as a NaN gradient
    logprobs, old_logprobs = only_real(mask, logprobs, old_logprobs)
    per_token = clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high)
    if beta:
        if ref_logprobs is None:
            raise ValueError("beta > 0 needs ref_logprobs (the reference model's log-probs of the same tokens)")
        kl = kl_per_token(logprobs, ref_logprobs, mask, "k3")
        if use_bias_correction_kl:
            kl = kl * torch.exp(logprobs - old_logprobs)
        per_token = per_token + beta * kl
    return reduce_token_loss(per_token, mask, loss_type, max_completion_length=max_completion_length,
                             num_sequences=num_sequences, num_tokens=num_tokens)


def clip_fractions(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                   epsilon_low: float = 0.2, epsilon_high: float | None = None) -> dict[str, torch.Tensor]:
    r"""Share of real tokens whose gradient the clip switched off: ``low`` ($\rho < 1-\epsilon_{\text{low}}$
    with $\hat A < 0$), ``high`` ($\rho > 1+\epsilon_{\text{high}}$ with $\hat A > 0$) and ``region`` (either).
    Shapes: (B, T) each, advantages (B,) -> dict of scalars."""
    epsilon_high = epsilon_low if epsilon_high is None else epsilon_high
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages.unsqueeze(1)
    low = (ratio < 1.0 - epsilon_low) & (adv < 0)
    high = (ratio > 1.0 + epsilon_high) & (adv > 0)
    return {"low": masked_mean(low.float(), mask), "high": masked_mean(high.float(), mask),
            "region": masked_mean((low | high).float(), mask)}
