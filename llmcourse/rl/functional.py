r"""The math every RL stage shares (PPO, GRPO): masked reductions, EOS truncation, log-probs,
entropy and the per-token KL estimators. Tensors in, tensors out — no models, no I/O, no ``.item()``.

Per response token $t$ of row $i$: the **response mask** $m_t \in \{0, 1\}$ is 1 on real response
tokens (EOS included) and 0 on padding; every row is left-aligned (its real tokens are a prefix).
Masked reductions ignore positions where the mask is 0, so padding never changes a loss, a
statistic or a gradient — whatever is written there, NaN and infinities included: every function
selects the real positions (:func:`only_real`, ``torch.where``) before any arithmetic, because
multiplying by a 0 mask keeps a NaN. Shapes: ``B`` rows, ``T`` response positions, ``V`` vocabulary size.

:mod:`llmcourse.ppo.functional` and :mod:`llmcourse.grpo.functional` build on these (and re-export
the ones their notebooks use); :mod:`llmcourse.rl.rollout` is the model glue around them.
"""

from __future__ import annotations

import torch

__all__ = [
    "KL_ESTIMATORS", "only_real", "masked_sum", "masked_mean", "masked_var", "truncate_after_eos", "logprobs_from_logits",
    "entropy_from_logits", "kl_per_token", "last_token_index", "last_token_onehot",
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


def only_real(mask: torch.Tensor, *xs: torch.Tensor):
    r"""Each ``x`` with its padded positions (``mask`` = 0) set to 0 **by selection**, not by
    multiplication: $0 \times \mathrm{NaN} = \mathrm{NaN}$, and the gradient of $x \cdot m$ at a
    padded $\pm\infty$ is NaN too. After this, whatever a model wrote at padding (NaN and infinities
    included) changes no result and no gradient. One tensor in, one out; several in, a tuple out."""
    keep = mask.bool()
    out = tuple(torch.where(keep, x if x.is_floating_point() else x.float(), 0.0) for x in xs)
    return out[0] if len(out) == 1 else out


def _require_nonempty_rows(mask: torch.Tensor, what: str) -> None:
    empty = (mask.sum(dim=-1) == 0).nonzero().flatten()
    if len(empty):
        rows = empty[:5].tolist()
        raise ValueError(f"{what}: row(s) {rows}{' …' if len(empty) > 5 else ''} of the response mask are all "
                         "padding (no response token at all), so there is no token to give the score to; "
                         "drop those rows, or keep at least the EOS token in every response")


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    r"""$\sum_t m_t x_t$ over ``dim`` (all elements when ``None``); padded values, even NaN, count as 0.
    Shapes: x, mask (B, T)."""
    x = only_real(mask, x)
    return x.sum() if dim is None else x.sum(dim=dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    r"""$\frac{\sum_t m_t x_t}{\sum_t m_t}$ over ``dim`` (all elements when ``None``).

    Shapes: x, mask (B, T) -> scalar (``dim=None``) or (B,) (``dim=-1``). An all-padding mask gives
    0 rather than NaN (the denominator is clamped to 1): nothing to average, nothing to learn.
    """
    x = only_real(mask, x)
    m = _float_mask(mask, x)
    if dim is None:
        return x.sum() / m.sum().clamp(min=1.0)
    return x.sum(dim=dim) / m.sum(dim=dim).clamp(min=1.0)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Population variance over the real tokens: $\frac{\sum_t m_t (x_t-\mu)^2}{\sum_t m_t}$,
    $\mu$ = :func:`masked_mean`. Shapes: x, mask (B, T) -> scalar."""
    x = only_real(mask, x)
    mu = masked_mean(x, mask)
    return masked_mean((x - mu) ** 2, mask)


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


# --------------------------------------------------------------------------- KL


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
    logprobs, ref_logprobs = only_real(mask, logprobs, ref_logprobs)
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        kl = log_ratio
    elif estimator == "k2":
        kl = 0.5 * log_ratio**2
    elif estimator == "k3":
        kl = torch.expm1(-log_ratio) + log_ratio  # (r - 1) - log r with log r = -log_ratio
    else:
        raise ValueError(f"estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")
    return only_real(mask, kl)


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    r"""Index of the rightmost real (mask = 1) token in each row, whatever the padding side.

    $i_b = \max\{t : m_{b,t} = 1\}$, computed as ``argmax(t · mask)``. With right padding this
    equals ``mask.sum(-1) - 1``; with left padding it is ``seq - 1``; neither shortcut works for both.
    Where a reward model's score is read, and where PPO gives it. Shapes: (B, T) -> (B,) long. A row
    with no real token is an error.
    """
    if mask.dim() != 2:
        raise ValueError(f"the mask must have shape (batch, seq); got {tuple(mask.shape)}")
    m = mask.long()
    empty = m.sum(-1) == 0
    if bool(empty.any()):
        i = int(empty.nonzero()[0, 0])
        raise ValueError(f"row {i} of the mask has no real token (all zeros): an empty sequence has no last token "
                         "to read a score at")
    positions = torch.arange(m.shape[-1], device=m.device)
    return (positions * m).argmax(-1)


def last_token_onehot(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""1 at each row's last real token (:func:`last_token_index`), 0 elsewhere: where PPO puts the
    reward model's score, $[t = t_{\text{last}}]$. Shapes: (B, T) -> (B, T) of ``dtype``."""
    return torch.nn.functional.one_hot(last_token_index(mask), num_classes=mask.shape[-1]).to(dtype)
