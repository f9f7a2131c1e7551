r"""Training with DPO: :func:`train_dpo`, a readable loop on Accelerate.

Per optimizer step: a batch of $B$ pairs → one forward pass of the policy over the $2B$ sequences
(chosen rows, then rejected rows) → $\log\pi_\theta(y_w\mid x)$, $\log\pi_\theta(y_l\mid x)$ by
:func:`~llmcourse.dpo.functional.sequence_logprobs` → the reference's log-probs (a frozen copy of
the starting model run under ``no_grad``, or values computed once before training with
``precompute_ref_log_probs``) → the loss named by ``loss_type`` → backward, clip, AdamW, warm-up +
cosine schedule. The history logs the loss, the implicit rewards $\hat r = \beta(\log\pi_\theta -
\log\pi_{\mathrm{ref}})$ of chosen and rejected responses, their accuracy and margin, and the
policy's own log-probs of both (a falling chosen log-prob under a growing margin is *likelihood
displacement*, notebook 07).

Device, precision and processes come from :func:`llmcourse.training.make_accelerator`: the same code
runs on a CPU, a GPU (bf16 autocast) or under ``accelerate launch`` / ``torchrun``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import torch

from llmcourse import models, training
from llmcourse.config import check_numbers
from llmcourse.dpo.data import DPOCollator, DPODataset
from llmcourse.dpo.functional import (AVERAGED_LOSS_TYPES, LOSS_TYPES, implicit_rewards, preference_loss,
                                      reward_accuracy, reward_margin, sequence_logprobs)

__all__ = ["DPOConfig", "train_dpo", "evaluate_dpo", "reference_logps"]


@dataclass
class DPOConfig:
    """Settings of :func:`train_dpo` (TRL's ``DPOConfig`` names where TRL has the idea)."""

    beta: float = 0.1
    """β, the strength of the KL leash to the reference: larger keeps the policy closer (TRL's default)."""
    loss_type: str = "sigmoid"
    """``"sigmoid"`` (DPO), ``"sigmoid_norm"`` (DPO on per-token mean log-probs), ``"ipo"`` or ``"robust"``."""
    label_smoothing: float = 0.0
    """ε, the assumed probability that a preference label is flipped (cDPO for ``sigmoid``, the
    noise rate for ``robust``); 0 is plain DPO."""
    rpo_alpha: float | None = None
    """α of RPO (Pang et al., 2024): add α × the per-token negative log-likelihood of the chosen
    responses to the loss, which keeps their likelihood from falling while the margin grows
    (likelihood displacement); None: plain preference loss (TRL's default). TRL 0.x called it
    ``rpo_alpha``; TRL 1.x writes the same sum as ``loss_type=["sigmoid", "sft"]``, ``loss_weights=[1, α]``."""
    learning_rate: float = 1e-4
    """Peak AdamW learning rate. TRL's default (1e-6) suits billion-parameter models; the embedded
    ~1M-parameter model needs larger steps."""
    per_device_train_batch_size: int = 16
    """Pairs per batch on each process (each pair is two sequences)."""
    per_device_eval_batch_size: int = 64
    """Pairs per evaluation batch on each process."""
    gradient_accumulation_steps: int = 1
    """Batches whose gradients are summed before one optimizer step."""
    num_train_epochs: float = 1.0
    """Passes over the training pairs (ignored when ``max_steps`` > 0)."""
    max_steps: int = -1
    """Optimizer steps to run; -1 means ``num_train_epochs`` decides."""
    max_length: int = 256
    """Longest prompt + response + EOS, in tokens; longer pairs are dropped and counted, not truncated."""
    template: str | Callable | None = None
    """How a pair's prompt is rendered: ``None`` (as given), ``"alpaca"``, ``"simple"``, ``"chat"`` (the
    tokenizer's chat template) or a function (:func:`llmcourse.dpo.data.render_pair`)."""
    precompute_ref_log_probs: bool = False
    """Compute the reference log-probs of every pair once before training (then the reference model
    is not run again); the same numbers, one reference forward per pair instead of one per step."""
    warmup_steps: int = 0
    """Steps of linear learning-rate warm-up before the cosine decay."""
    min_lr_ratio: float = 0.1
    """Learning rate at the end of the cosine decay, as a fraction of the peak."""
    max_grad_norm: float | None = 1.0
    """Gradient-norm clipping threshold (None: no clipping)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    seed: int = 0
    """Seed of the batch shuffling (a ``torch.Generator``, never the global RNG)."""
    logging_steps: int = 10
    """Log the training metrics (averaged over the window) every this many steps."""
    eval_steps: int | None = None
    """Evaluate on ``eval_pairs`` every this many steps (None: only after the last step)."""
    eval_at_start: bool = False
    """Also evaluate before the first step."""
    disable_dropout: bool = True
    """Set every dropout probability to 0 in the policy and the reference (TRL does the same)."""
    mixed_precision: str = "auto"
    """"auto" (bf16 on a CUDA device that supports it, else fp32), "no", "bf16" or "fp16"."""
    output_dir: str | None = None
    """Save the trained model and tokenizer here at the end (None: don't save)."""

    def __post_init__(self):
        # every numeric key: its type, finite, in its range (config.RANGES), named in the message; below,
        # only what that table cannot say (a stricter bound for one config, keys that depend on each other)
        check_numbers(self)
        if not self.beta > 0:  # RANGES allows β = 0 (PPO, GRPO: no KL term); DPO divides nothing by it but learns nothing
            raise ValueError(f"DPOConfig.beta must be > 0, got {self.beta!r}")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"DPOConfig.loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if self.label_smoothing and self.loss_type not in ("sigmoid", "sigmoid_norm", "robust"):
            raise ValueError(f"DPOConfig.label_smoothing has no meaning for loss_type={self.loss_type!r}")
        if self.rpo_alpha is not None and not self.rpo_alpha >= 0:
            raise ValueError(f"DPOConfig.rpo_alpha must be ≥ 0 or None, got {self.rpo_alpha!r}")
        if self.max_steps == -1 and not self.num_train_epochs > 0:
            raise ValueError("set DPOConfig.max_steps > 0 or num_train_epochs > 0 (nothing to train otherwise)")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"DPOConfig.max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        if self.eval_steps is not None and self.eval_steps <= 0:
            raise ValueError(f"DPOConfig.eval_steps must be > 0 or None, got {self.eval_steps}")
        training.resolve_mixed_precision(self.mixed_precision)

    @property
    def average_log_probs(self) -> bool:
        """Whether this loss type uses per-token mean log-probs instead of sums."""
        return self.loss_type in AVERAGED_LOSS_TYPES


LogpsFn = Callable[..., torch.Tensor]


def _logps(model, batch: dict, logps_fn: LogpsFn, average: bool) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    return logps_fn(logits, batch["labels"], average) if average else logps_fn(logits, batch["labels"])


def _check_loss(loss, name: str, delta: torch.Tensor) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"{name} returned {type(loss).__name__}; the trainer needs a torch scalar that carries gradients")
    if loss.dim() != 0:
        raise ValueError(f"{name} returned shape {tuple(loss.shape)}; the trainer needs a scalar — reduce with .mean()")
    if not loss.requires_grad:
        raise ValueError(f"{name} returned a tensor without gradient (detached? .item()? computed from the "
                         "reference log-probs only?); the loss must depend on the policy's log-probs")
    if not bool(torch.isfinite(loss.detach())):
        raise FloatingPointError(f"{name} returned {loss.item()} (largest |Δ| = {delta.abs().max().item():.3g}); "
                                 "use F.logsigmoid(x) instead of torch.log(torch.sigmoid(x))")
    return loss


def _chosen_nll(chosen_logps: torch.Tensor, chosen_labels: torch.Tensor, average: bool) -> torch.Tensor:
    r"""RPO's term: $-\frac{\sum_i \log\pi_\theta(y_{w,i}\mid x_i)}{\sum_i |y_{w,i}|}$, the chosen responses'
    negative log-likelihood per token (the SFT loss on them)."""
    counts = (chosen_labels[:, 1:] != -100).sum(-1).to(chosen_logps.dtype)
    total = (chosen_logps * counts).sum() if average else chosen_logps.sum()
    return -total / counts.sum()


@torch.no_grad()
def reference_logps(ref_model, loader, accelerator=None, *, logps_fn: LogpsFn = sequence_logprobs,
                    average: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference model's log-probs of every pair of a (not shuffled) loader: ``(chosen, rejected)``,
    each (N,) float32 on the CPU, in the loader's order."""
    was_training = ref_model.training
    ref_model.eval()
    cs, rs = [], []
    device = next(ref_model.parameters()).device
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        with accelerator.autocast() if accelerator is not None else contextlib.nullcontext():
            lp = _logps(ref_model, batch, logps_fn, average).float()
        b = lp.shape[0] // 2
        cs.append(lp[:b].cpu())
        rs.append(lp[b:].cpu())
    ref_model.train(was_training)
    return torch.cat(cs), torch.cat(rs)


def _frozen_copy(model) -> torch.nn.Module:
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref.eval()


@torch.no_grad()
def _evaluate(model, loader, accelerator, logps_fn: LogpsFn, rewards_fn, loss_fn, config: DPOConfig) -> dict[str, float]:
    was_training = model.training
    model.eval()
    pcs, prs, rcs, rrs = [], [], [], []
    for batch in loader:
        lp = _logps(model, batch, logps_fn, config.average_log_probs).float()
        b = lp.shape[0] // 2
        gathered = accelerator.gather_for_metrics((lp[:b].contiguous(), lp[b:].contiguous(),
                                                   batch["ref_chosen_logps"], batch["ref_rejected_logps"]))
        for acc, x in zip((pcs, prs, rcs, rrs), gathered):
            acc.append(x)
    model.train(was_training)
    pc, pr, rc, rr = (torch.cat(x) for x in (pcs, prs, rcs, rrs))
    with torch.enable_grad():  # the loss function may check for gradients; give it a leaf that has one
        loss = loss_fn(pc.clone().requires_grad_(True), pr, rc, rr, config.beta)
    wc, wr = rewards_fn(pc, rc, config.beta), rewards_fn(pr, rr, config.beta)
    return {"eval_loss": float(loss), "eval_reward_accuracy": float(reward_accuracy(wc, wr)),
            "eval_reward_margin": float(reward_margin(wc, wr)), "eval_logps_chosen": float(pc.mean()),
            "eval_logps_rejected": float(pr.mean()), "eval_pairs": int(pc.shape[0])}


def train_dpo(model, tokenizer, train_pairs, config: DPOConfig | None = None, eval_pairs=None, *,
              ref_model=None, loss_fn: Callable | None = None, logps_fn: LogpsFn | None = None,
              rewards_fn: Callable | None = None, progress: bool = True) -> list[dict[str, Any]]:
    r"""Train the causal LM ``model`` (in place) with DPO on preference pairs; returns the history.

    ``train_pairs`` / ``eval_pairs``: anything :class:`~llmcourse.dpo.data.DPODataset` reads (a file,
    pair records, conversational pairs, rankings). ``ref_model``: the frozen reference
    $\pi_{\mathrm{ref}}$; ``None`` makes a frozen copy of ``model`` as it is now (the usual choice: the
    SFT model). The reference must not be ``model`` itself — with $\pi_{\mathrm{ref}} = \pi_\theta$,
    $\Delta \equiv 0$ and nothing is learned. A given reference is only read
    (:func:`llmcourse.training.frozen`): moved to the device and put in eval mode, its ``requires_grad``
    flags, dropout settings and weights left as they were. ``model`` needs trainable parameters.

    Students' functions plug in with the references' signatures:
    ``logps_fn(logits, labels[, average])`` replaces :func:`~llmcourse.dpo.functional.sequence_logprobs`
    (also for the reference's log-probs), ``loss_fn(policy_chosen, policy_rejected, ref_chosen,
    ref_rejected, beta) -> scalar`` replaces the loss of ``config.loss_type``, and
    ``rewards_fn(policy_logps, ref_logps, beta)`` replaces
    :func:`~llmcourse.dpo.functional.implicit_rewards` in the logged metrics.

    History keys: ``step``, ``epoch``, ``loss``, ``rewards_chosen``, ``rewards_rejected``,
    ``reward_accuracy``, ``reward_margin``, ``logps_chosen``, ``logps_rejected``, ``learning_rate``,
    ``elapsed`` on training rows (``filtered_pairs`` on the first); ``eval_loss``,
    ``eval_reward_accuracy``, ``eval_reward_margin``, ``eval_logps_chosen``, ``eval_logps_rejected``,
    ``eval_pairs`` on evaluation rows.
    """
    config = config or DPOConfig()
    if not isinstance(config, DPOConfig):
        raise TypeError(f"config must be a DPOConfig, got {type(config).__name__}")
    if ref_model is model:
        raise ValueError("ref_model is the model being trained: the reference must stay frozen at the starting "
                         "point (with π_ref = π_θ the log-ratio gap is always 0). Pass ref_model=None for a frozen copy")
    training.require_trainable(model, "model")
    models.check_tokenizer(tokenizer)
    logps_fn = logps_fn or sequence_logprobs
    rewards_fn = rewards_fn or implicit_rewards
    loss_name = getattr(loss_fn, "__name__", "loss_fn") if loss_fn is not None else config.loss_type
    loss_fn = loss_fn or partial(preference_loss, loss_type=config.loss_type, label_smoothing=config.label_smoothing)
    avg = config.average_log_probs

    train_ds = DPODataset(train_pairs, tokenizer, template=config.template, max_length=config.max_length, name="train_pairs")
    eval_ds = (DPODataset(eval_pairs, tokenizer, template=config.template, max_length=config.max_length, name="eval_pairs")
               if eval_pairs is not None else None)
    accelerator = training.make_accelerator(config.mixed_precision, config.gradient_accumulation_steps)
    if config.disable_dropout:
        training.disable_dropout(model)
    # a copy of the model (dropout already off) or the caller's reference, read under no_grad in eval mode
    ref = _frozen_copy(model) if ref_model is None else ref_model
    training.frozen(ref, accelerator.device)

    # the reference never changes: its log-probs of the held-out pairs are computed once; of the
    # training pairs once too with precompute_ref_log_probs, else at every step next to the policy's
    collate = DPOCollator(tokenizer.pad_token_id)
    for ds, wanted in ((train_ds, config.precompute_ref_log_probs), (eval_ds, eval_ds is not None)):
        if wanted:
            plain = torch.utils.data.DataLoader(ds, batch_size=config.per_device_eval_batch_size, collate_fn=collate)
            ds.set_reference_logps(*reference_logps(ref, plain, accelerator, logps_fn=logps_fn, average=avg))
    if config.precompute_ref_log_probs:
        ref = None  # not needed any more

    model.train()
    gen = torch.Generator().manual_seed(config.seed)
    loader = torch.utils.data.DataLoader(train_ds, batch_size=config.per_device_train_batch_size, shuffle=True,
                                         generator=gen, collate_fn=collate)
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    eval_loader = None
    if eval_ds is not None:
        eval_loader = accelerator.prepare(torch.utils.data.DataLoader(
            eval_ds, batch_size=config.per_device_eval_batch_size, collate_fn=collate))

    steps_per_epoch = max(1, len(loader) // config.gradient_accumulation_steps)
    total = config.max_steps if config.max_steps > 0 else max(1, math.ceil(config.num_train_epochs * steps_per_epoch))
    scheduler = training.make_scheduler(optimizer, warmup_steps=config.warmup_steps, total_steps=total,
                                        min_ratio=config.min_lr_ratio)

    def evaluate(step: int) -> None:
        row = _evaluate(model, eval_loader, accelerator, logps_fn, rewards_fn, loss_fn, config)
        history.append({"step": step, **row, "elapsed": round(time.perf_counter() - start, 3)})

    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    if eval_loader is not None and config.eval_at_start:
        evaluate(0)
    window: list[torch.Tensor] = []
    step, epoch = 0, 0
    bar = training.progress(range(total), desc="DPO", accelerator=accelerator, enabled=progress)
    while step < total:
        for batch in loader:
            with accelerator.accumulate(model):
                policy = _logps(model, batch, logps_fn, avg).float()
                b = policy.shape[0] // 2
                pc, pr = policy[:b], policy[b:]
                if ref is None:
                    rc, rr = batch["ref_chosen_logps"], batch["ref_rejected_logps"]
                else:
                    with torch.no_grad():
                        refs = _logps(ref, batch, logps_fn, avg).float()
                    rc, rr = refs[:b], refs[b:]
                loss = _check_loss(loss_fn(pc, pr, rc, rr, config.beta), loss_name, (pc - rc - pr + rr).detach())
                if config.rpo_alpha:
                    loss = loss + config.rpo_alpha * _chosen_nll(pc, batch["labels"][:b], avg)
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            wc, wr = rewards_fn(pc.detach(), rc, config.beta), rewards_fn(pr.detach(), rr, config.beta)
            window.append(torch.stack([loss.detach(), wc.mean(), wr.mean(), reward_accuracy(wc, wr),
                                       reward_margin(wc, wr), pc.detach().mean(), pr.detach().mean()]))
            if not accelerator.sync_gradients:
                continue
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            step += 1
            bar.update(1)
            if step % config.logging_steps == 0 or step == total:
                m = accelerator.reduce(torch.stack(window).mean(0), reduction="mean").tolist()
                window = []
                row = {"step": step, "epoch": round(epoch + min(1.0, (step % steps_per_epoch or steps_per_epoch) / steps_per_epoch), 3),
                       "loss": m[0], "rewards_chosen": m[1], "rewards_rejected": m[2], "reward_accuracy": m[3],
                       "reward_margin": m[4], "logps_chosen": m[5], "logps_rejected": m[6], "learning_rate": lr,
                       "elapsed": round(time.perf_counter() - start, 3)}
                if not any("loss" in h for h in history):
                    row["filtered_pairs"] = train_ds.n_filtered
                history.append(row)
                bar.set_postfix(loss=f"{m[0]:.3f}", acc=f"{m[3]:.2f}")
            if eval_loader is not None and (step == total or (config.eval_steps and step % config.eval_steps == 0)):
                evaluate(step)
            if step >= total:
                break
        epoch += 1
    bar.close()
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.eval()
    if config.output_dir:
        training.save_checkpoint(unwrapped, tokenizer, config.output_dir, accelerator)
    return history


def evaluate_dpo(model, tokenizer, pairs, ref_model, *, config: DPOConfig | None = None) -> dict[str, float]:
    """Held-out DPO metrics of ``model`` against ``ref_model`` on preference pairs (one process, no
    training): ``loss``, ``reward_accuracy``, ``reward_margin``, ``logps_chosen``, ``logps_rejected``, ``pairs``."""
    config = config or DPOConfig()
    ds = DPODataset(pairs, tokenizer, template=config.template, max_length=config.max_length)
    loader = torch.utils.data.DataLoader(ds, batch_size=config.per_device_eval_batch_size, collate_fn=DPOCollator(tokenizer.pad_token_id))
    avg = config.average_log_probs
    pc, pr = reference_logps(model, loader, average=avg)
    rc, rr = reference_logps(ref_model, loader, average=avg)
    wc, wr = implicit_rewards(pc, rc, config.beta), implicit_rewards(pr, rr, config.beta)
    loss = preference_loss(pc, pr, rc, rr, config.beta, loss_type=config.loss_type, label_smoothing=config.label_smoothing)
    return {"loss": float(loss), "reward_accuracy": float(reward_accuracy(wc, wr)), "reward_margin": float(reward_margin(wc, wr)),
            "logps_chosen": float(pc.mean()), "logps_rejected": float(pr.mean()), "pairs": len(ds)}
