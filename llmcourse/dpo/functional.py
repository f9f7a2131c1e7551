r"""DPO, the math: tensors in, tensors out — no models, no I/O, no ``.item()``.

**From RLHF to DPO** (Rafailov et al., 2023). RLHF maximises reward under a KL leash to the
reference (SFT) policy,

$$\max_{\pi}\ \mathbb{E}_{x,\,y\sim\pi}\bigl[r(x,y)\bigr] - \beta\,\mathrm{KL}\bigl(\pi(\cdot\mid x)\,\Vert\,\pi_{\mathrm{ref}}(\cdot\mid x)\bigr),$$

whose maximiser has a closed form, $\pi^*(y\mid x) = \frac{1}{Z(x)}\pi_{\mathrm{ref}}(y\mid x)\,e^{r(x,y)/\beta}$.
Solved for the reward, $r(x,y) = \beta\log\frac{\pi^*(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)} + \beta\log Z(x)$;
put into the Bradley–Terry likelihood $P(y_w \succ y_l) = \sigma(r_w - r_l)$, $Z(x)$ cancels and the
policy itself is fitted to the preferences:

$$\mathcal{L}_{\mathrm{DPO}} = -\log\sigma\Bigl(\beta\bigl[(\log\pi_\theta(y_w\mid x)-\log\pi_{\mathrm{ref}}(y_w\mid x))
 - (\log\pi_\theta(y_l\mid x)-\log\pi_{\mathrm{ref}}(y_l\mid x))\bigr]\Bigr).$$

$\log\pi(y\mid x)$ is the **sum** of the per-token log-probabilities of the response tokens only
(prompt and padding masked out). Shapes: ``B`` pairs, ``T`` positions, ``V`` vocabulary.

The functions, in the order one step uses them:

================================  ==========================================================
:func:`sequence_logprobs`         $\log\pi(y\mid x) = \sum_t m_t \log\pi(y_t\mid x, y_{<t})$ (or the mean)
:func:`dpo_logits`                $\Delta = (\log\pi_\theta^w - \log\pi_{\mathrm{ref}}^w) - (\log\pi_\theta^l - \log\pi_{\mathrm{ref}}^l)$
:func:`dpo_loss`                  $-(1-\varepsilon)\log\sigma(\beta\Delta) - \varepsilon\log\sigma(-\beta\Delta)$
:func:`ipo_loss`                  $(\Delta - \frac{1}{2\beta})^2$ (IPO, on per-token mean log-probs)
:func:`robust_dpo_loss`           the unbiased noisy-label estimator of Chowdhury et al. (2024)
:func:`preference_loss`           one of the above by TRL's ``loss_type`` name
:func:`implicit_rewards`          $\hat r = \beta(\log\pi_\theta - \log\pi_{\mathrm{ref}})$
:func:`reward_accuracy`           share of pairs with $\hat r_w > \hat r_l$
:func:`reward_margin`             mean of $\hat r_w - \hat r_l$
================================  ==========================================================
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["IGNORE_INDEX", "LOSS_TYPES", "AVERAGED_LOSS_TYPES", "sequence_logprobs", "dpo_logits", "dpo_loss",
           "ipo_loss", "robust_dpo_loss", "preference_loss", "implicit_rewards", "reward_accuracy", "reward_margin"]

IGNORE_INDEX = -100
LOSS_TYPES = ("sigmoid", "sigmoid_norm", "ipo", "robust")
"""TRL's names: ``sigmoid`` (DPO, with optional label smoothing = cDPO), ``sigmoid_norm`` (DPO on
length-normalised log-probs), ``ipo``, ``robust``."""
AVERAGED_LOSS_TYPES = ("sigmoid_norm", "ipo")
"""Loss types whose log-probs are per-token means rather than sums (TRL does the same for IPO)."""
REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- checks


def _check_logps(**tensors: torch.Tensor) -> None:
    names = list(tensors)
    first = tensors[names[0]]
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of one log-probability per pair, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} has dtype {t.dtype}; log-probabilities must be floating point")
        if t.dim() != 1:
            hint = " — pass one summed log-prob per sequence (B,), not per-token values (B, T)" if t.dim() == 2 else ""
            raise ValueError(f"{name} must have shape (batch,), got {tuple(t.shape)}{hint}")
        if t.shape != first.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)} but {names[0]} has {tuple(first.shape)}; "
                             "every log-prob tensor holds one value per pair")
    if first.shape[0] == 0:
        raise ValueError("empty batch: no (chosen, rejected) pairs")


def _check_beta(beta: float) -> None:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta must be a number > 0 (the strength of the KL leash; TRL's default is 0.1), got {beta!r}")


def _reduce(per_pair: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "none":
        return per_pair
    return per_pair.mean() if reduction == "mean" else per_pair.sum()


# --------------------------------------------------------------------------- sequence log-probabilities


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor, average: bool = False) -> torch.Tensor:
    r"""Log-probability of each row's response under the model: the masked sum (or mean) of per-token
    log-probs over the response tokens.

    $$\log\pi(y\mid x) = \sum_{t} m_t\,\log\operatorname{softmax}(z_t)[y_{t+1}], \qquad m_t = [\,y_{t+1} \ne -100\,]$$

    ``logits[:, t]`` predicts the token at ``t + 1``, so ``logits[:, :-1]`` is paired with
    ``labels[:, 1:]``; ``labels`` are the input ids with ``-100`` on the prompt and the padding (the
    SFT convention), so neither counts. ``average=True`` divides by the number of response tokens
    $\sum_t m_t$ (length-normalised: IPO, ``sigmoid_norm``). The log-softmax runs in float32 even when
    the model runs in bf16. A row without any response token is an error (its log-prob would be a
    silent 0).

    Shapes: logits (B, T, V), labels (B, T) -> (B,).
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be (batch, seq, vocab), got shape {tuple(logits.shape)}")
    if labels.shape != logits.shape[:2]:
        hint = (" — labels look already shifted; pass unshifted labels (the function shifts them)"
                if labels.dim() == 2 and labels.shape[1] == logits.shape[1] - 1 else "")
        raise ValueError(f"labels shape {tuple(labels.shape)} does not match logits (batch, seq) = "
                         f"{tuple(logits.shape[:2])}{hint}")
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    n = mask.sum(-1)
    if bool((n == 0).any()):
        row = int((n == 0).nonzero()[0, 0])
        raise ValueError(f"row {row} has no response token (its labels are all -100): its log-prob would be 0; "
                         "check that the response survived truncation")
    # padding selected away before the softmax and the sum (0 × NaN is NaN): whatever a model writes
    # at a masked position changes neither the log-prob nor its gradient
    shifted = torch.where(mask.unsqueeze(-1), logits[:, :-1], 0.0)
    logp = -F.cross_entropy(shifted.float().transpose(1, 2), targets.masked_fill(~mask, 0), reduction="none")
    total = torch.where(mask, logp, 0.0).sum(-1)
    return total / n if average else total


# --------------------------------------------------------------------------- losses


def dpo_logits(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
               ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor) -> torch.Tensor:
    r"""$\Delta = (\log\pi_\theta(y_w\mid x) - \log\pi_{\mathrm{ref}}(y_w\mid x)) - (\log\pi_\theta(y_l\mid x) - \log\pi_{\mathrm{ref}}(y_l\mid x))$,
    the quantity every DPO-family loss is a function of. Shapes: four (B,) -> (B,)."""
    _check_logps(policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                 ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
    return (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float = 0.1, *,
             label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    r"""The DPO loss, stable for any finite log-probs, with optional label smoothing (cDPO).

    $$\ell_i = -(1-\varepsilon)\log\sigma(\beta\Delta_i) - \varepsilon\log\sigma(-\beta\Delta_i),
      \qquad \mathcal{L} = \tfrac1B\sum_i \ell_i$$

    with $\Delta$ from :func:`dpo_logits` and $\varepsilon$ = ``label_smoothing`` (the probability
    that a label is flipped; 0 is plain DPO). ``F.logsigmoid`` never forms $e^{|x|}$: the naive
    ``torch.log(torch.sigmoid(x))`` gives ``-inf`` and a NaN gradient at $\beta\Delta = -200$ in
    float32. The gradient with respect to $\log\pi_\theta(y_w\mid x)$ is $-\beta\,\sigma(-\beta\Delta)$
    (ε = 0): pairs already ranked by a wide margin stop pushing.

    Shapes: four (B,) -> scalar (``reduction="none"``: (B,)).
    """
    _check_beta(beta)
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing!r}")
    z = beta * dpo_logits(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    per_pair = -F.logsigmoid(z)
    if label_smoothing:
        per_pair = (1 - label_smoothing) * per_pair - label_smoothing * F.logsigmoid(-z)
    return _reduce(per_pair, reduction)


def ipo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float = 0.1, *,
             reduction: str = "mean") -> torch.Tensor:
    r"""IPO (Azar et al., 2023): regress the log-ratio gap onto a fixed target instead of pushing it to
    infinity, $\ell_i = \bigl(\Delta_i - \frac{1}{2\beta}\bigr)^2$.

    With deterministic preferences DPO's optimum has $\Delta \to \infty$ (the leash stops holding);
    IPO's squared loss keeps it at $1/(2\beta)$. Use per-token **mean** log-probs
    (``sequence_logprobs(..., average=True)``), as the paper and TRL do. Shapes: four (B,) -> scalar.
    """
    _check_beta(beta)
    d = dpo_logits(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    return _reduce((d - 1 / (2 * beta)) ** 2, reduction)


def robust_dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
                    ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float = 0.1, *,
                    label_smoothing: float = 0.1, reduction: str = "mean") -> torch.Tensor:
    r"""Robust DPO (Chowdhury et al., 2024): an unbiased estimate of the clean-label loss when each
    label is flipped with probability $\varepsilon$,

    $$\ell_i = \frac{-(1-\varepsilon)\log\sigma(\beta\Delta_i) + \varepsilon\log\sigma(-\beta\Delta_i)}{1 - 2\varepsilon}.$$

    Unlike label smoothing (:func:`dpo_loss` with ``label_smoothing``), which pulls $\Delta$ toward a
    finite optimum, this keeps DPO's optimum and corrects the gradient's bias. Shapes: four (B,) -> scalar.
    """
    _check_beta(beta)
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing!r}")
    z = beta * dpo_logits(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    per_pair = (-(1 - label_smoothing) * F.logsigmoid(z) + label_smoothing * F.logsigmoid(-z)) / (1 - 2 * label_smoothing)
    return _reduce(per_pair, reduction)


def preference_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
                    ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float = 0.1, *,
                    loss_type: str = "sigmoid", label_smoothing: float = 0.0) -> torch.Tensor:
    r"""The loss named by TRL's ``loss_type``: ``"sigmoid"`` and ``"sigmoid_norm"`` → :func:`dpo_loss`
    (the caller passes mean log-probs for ``sigmoid_norm``), ``"ipo"`` → :func:`ipo_loss`,
    ``"robust"`` → :func:`robust_dpo_loss`. Shapes: four (B,) -> scalar."""
    args = (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)
    if loss_type in ("sigmoid", "sigmoid_norm"):
        return dpo_loss(*args, label_smoothing=label_smoothing)
    if loss_type == "ipo":
        return ipo_loss(*args)
    if loss_type == "robust":
        return robust_dpo_loss(*args, label_smoothing=label_smoothing)
    raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")


# --------------------------------------------------------------------------- what the policy learned


def implicit_rewards(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    r"""DPO's implicit reward $\hat r(x, y) = \beta\,(\log\pi_\theta(y\mid x) - \log\pi_{\mathrm{ref}}(y\mid x))$
    (the reward the policy is optimal for, up to a per-prompt constant). A metric, so no gradient
    flows: the result is detached. Shapes: (B,), (B,) -> (B,)."""
    _check_beta(beta)
    _check_logps(policy_logps=policy_logps, ref_logps=ref_logps)
    return beta * (policy_logps - ref_logps).detach()


def reward_accuracy(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    r"""Share of pairs whose chosen response has the higher implicit reward,
    $\frac1B\sum_i \mathbb{1}[\hat r_{w,i} > \hat r_{l,i}]$ (a tie counts as wrong: at the start of
    training, when $\pi_\theta = \pi_{\mathrm{ref}}$, the accuracy is 0). Shapes: (B,), (B,) -> scalar."""
    _check_logps(chosen_rewards=chosen_rewards, rejected_rewards=rejected_rewards)
    return (chosen_rewards > rejected_rewards).float().mean()


def reward_margin(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    r"""Mean implicit-reward gap $\frac1B\sum_i (\hat r_{w,i} - \hat r_{l,i}) = \beta\,\bar\Delta$.
    Shapes: (B,), (B,) -> scalar."""
    _check_logps(chosen_rewards=chosen_rewards, rejected_rewards=rejected_rewards)
    return (chosen_rewards - rejected_rewards).float().mean()
