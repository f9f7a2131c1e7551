r"""The SFT objective: causal-LM cross-entropy over response tokens only (pure tensor math).

For one example with prompt $X$ and response tokens $y_1 \dots y_k$ (EOS included as $y_k$), the
seed guide writes the loss as a **sum** over the response:

$$\mathcal{L}_{\text{seq}}(\theta) = -\sum_{i=1}^{k} \log p_\theta(y_i \mid X, y_{<i}).$$

Over a batch there are two natural reductions, and they are not the same objective:

* **sum per sequence, averaged over sequences** — $\frac{1}{B}\sum_b \mathcal{L}_{\text{seq}}^{(b)}$:
  long answers weigh more (a 40-token answer contributes 40 terms), and the loss scale grows with
  answer length, so the learning rate must fit the data;
* **mean per target token** — $\frac{\sum_b \sum_i \ell_{b,i}}{\sum_b k_b}$: every target token
  weighs the same wherever it sits, and the loss is a per-token NLL comparable across datasets
  (this is what ``transformers``' ``labels=`` loss and TRL compute; our default).

With gradient accumulation over micro-batches $m = 1..M$ the per-token mean of the *whole window*
is $\sum_m S_m / \sum_m N_m$ ($S_m$ = summed NLL, $N_m$ = target tokens of micro-batch $m$) — not
the mean of the $M$ micro-batch means, which over-weights micro-batches with few target tokens.
:func:`window_normalised_loss` does it right.

**The shift.** A causal LM's logits at position $t$ predict the token at $t+1$, so the loss pairs
``logits[:, :-1]`` with ``labels[:, 1:]``. Labels are ``-100`` (:data:`IGNORE_INDEX`) wherever no
loss is wanted: prompt, padding, non-assistant chat turns.

Shapes: ``logits`` ``(batch, seq, vocab)``, ``labels`` ``(batch, seq)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100

__all__ = ["IGNORE_INDEX", "shift_logits_and_labels", "token_nll", "target_mask", "sft_loss",
           "window_normalised_loss"]


def _check_shapes(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if logits.dim() != 3:
        raise ValueError(f"logits must be (batch, seq, vocab), got shape {tuple(logits.shape)}")
    if labels.shape != logits.shape[:2]:
        hint = ""
        if labels.shape[:1] == logits.shape[:1] and labels.shape[-1] == logits.shape[1] - 1:
            hint = " — labels look already shifted; pass unshifted labels, the loss shifts them itself"
        raise ValueError(f"labels shape {tuple(labels.shape)} does not match logits (batch, seq) = "
                         f"{tuple(logits.shape[:2])}{hint}")


def shift_logits_and_labels(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Pair each position's prediction with the *next* token: ``logits[:, :-1]``, ``labels[:, 1:]``.

    Shapes: ``(B, T, V), (B, T) -> (B, T-1, V), (B, T-1)``.
    """
    _check_shapes(logits, labels)
    return logits[:, :-1, :], labels[:, 1:]


def target_mask(labels: torch.Tensor) -> torch.Tensor:
    """``True`` where a shifted label is a target (not :data:`IGNORE_INDEX`). Shape ``(B, T-1)``."""
    return labels[:, 1:] != IGNORE_INDEX


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""Per-token negative log-likelihood $\ell_{b,t} = -\log p_\theta(y_{b,t+1} \mid y_{b,\le t})$,
    ``0`` at ignored positions.

    Computed in float32 (stable log-softmax even when the model runs in bf16). The logits of ignored
    positions are replaced by 0 before the softmax (selected away, not multiplied): a NaN or an
    infinity a model writes at padding would otherwise come back as a NaN gradient.
    Shapes: ``(B, T, V), (B, T) -> (B, T-1)``.
    """
    shifted_logits, shifted_labels = shift_logits_and_labels(logits, labels)
    shifted_logits = torch.where((shifted_labels != IGNORE_INDEX).unsqueeze(-1), shifted_logits, 0.0)
    nll = F.cross_entropy(shifted_logits.float().reshape(-1, shifted_logits.shape[-1]),
                          shifted_labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none")
    return nll.view(shifted_labels.shape)


def sft_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Masked causal-LM cross-entropy over the target (response) tokens.

    * ``"mean"`` — mean per target token, $\frac{\sum_{b,t} m_{b,t}\,\ell_{b,t}}{\sum_{b,t} m_{b,t}}$
      (scalar);
    * ``"sum"`` — $\sum_{b,t} m_{b,t}\,\ell_{b,t}$ (scalar; divide by a window's target count for
      gradient accumulation);
    * ``"sequence"`` — the seed's per-example sum, $\mathcal{L}_b = \sum_t m_{b,t}\,\ell_{b,t}$, shape ``(B,)``.

    $m_{b,t} = [y_{b,t+1} \ne -100]$. Raises ``ValueError`` for ``"mean"`` when the batch has no
    target token at all (a 0/0 that would otherwise be a NaN loss — usually every response was
    truncated away, or the labels mask everything).
    Shapes: ``(B, T, V), (B, T) -> ()`` or ``(B,)``.
    """
    nll = token_nll(logits, labels)
    if reduction == "sequence":
        return nll.sum(dim=1)
    if reduction == "sum":
        return nll.sum()
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean', 'sum' or 'sequence', got {reduction!r}")
    n_targets = target_mask(labels).sum()
    if not bool(n_targets > 0):
        raise ValueError("no target tokens in this batch (every label is -100): nothing to learn; "
                         "check that responses survive truncation and that labels are not all masked")
    return nll.sum() / n_targets


def window_normalised_loss(micro_batch_mean: torch.Tensor, micro_batch_targets: torch.Tensor | int,
                           window_targets: torch.Tensor | int) -> torch.Tensor:
    r"""Rescale a micro-batch's per-token mean so that summing over the accumulation window gives the
    window's per-token mean: $\bar\ell_m \cdot N_m / \sum_{m'} N_{m'}$.

    Works with any loss function that returns a per-token mean (a student's included).
    Shapes: scalars.
    """
    return micro_batch_mean * (micro_batch_targets / window_targets)
