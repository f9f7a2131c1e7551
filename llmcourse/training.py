"""Shared training plumbing: device and precision in one place, schedules, progress, checkpoints.

Every trainer (SFT, reward model, PPO) builds its :class:`accelerate.Accelerator` with
:func:`make_accelerator`, so the same loop runs on a CPU, one GPU with bf16 autocast, or several
processes under ``accelerate launch`` / ``torchrun`` — the launcher, not this code, decides.
"""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from typing import Iterable

import torch


def default_device() -> torch.device:
    """CUDA when present, else CPU (Apple ``mps`` is left to Accelerate's own detection)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_mixed_precision(mixed_precision: str = "auto") -> str:
    """``"auto"`` → ``"bf16"`` on a CUDA device that supports it, else ``"no"`` (fp32 on CPU)."""
    if mixed_precision not in ("auto", "no", "bf16", "fp16"):
        raise ValueError(f"mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', got {mixed_precision!r}")
    if mixed_precision != "auto":
        return mixed_precision
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def make_accelerator(mixed_precision: str = "auto", gradient_accumulation_steps: int = 1, cpu: bool = False):
    """The one place a trainer gets its device, precision and process group from.

    Under a launcher (``torchrun``, ``accelerate launch``) on a machine without CUDA, Accelerate only
    joins the gloo process group when told it runs on the CPU; without ``cpu=True`` every process
    would train alone and each would think it is the main one.
    """
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.state import AcceleratorState

    if not torch.cuda.is_available() and world_info()["world_size"] > 1:
        cpu = True
    precision = resolve_mixed_precision(mixed_precision)
    if AcceleratorState._shared_state.get("_mixed_precision", precision) != precision:
        # Accelerate keeps one precision per process and refuses a second one (fp32 SFT, then a bf16 run
        # in the same notebook); forget it as transformers' Trainer does. The process group is kept.
        AcceleratorState._reset_state()
    # non_blocking: a blocking host-to-device copy of each batch tensor waits for the device to finish
    # all queued work (a synchronisation per tensor per step); an asynchronous one is queued in order
    return Accelerator(mixed_precision=precision, gradient_accumulation_steps=gradient_accumulation_steps, cpu=cpu,
                       dataloader_config=DataLoaderConfiguration(non_blocking=True))


def read_metrics(accelerator, mean: dict[str, torch.Tensor], max: dict[str, torch.Tensor] | None = None,
                 min: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
    """Means (and maxima, minima) of device tensors over every process, read back in one transfer.

    Reading each metric alone (``.item()``) makes the host wait for the device once per metric; a
    training step that logs a dozen of them would stall a dozen times. Every process must hold the
    same number of elements of each tensor: the mean of the processes' means is then the mean over all.
    Returns ``{name: float}`` in the order mean, max, min.
    """
    groups = [(mean, torch.mean), (max or {}, torch.amax), (min or {}, torch.amin)]
    row = torch.stack([v.detach().float().reshape(-1).mean() if op is torch.mean else op(v.detach().float())
                       for d, op in groups for v in d.values()])
    table = accelerator.gather(row[None])  # (processes, metrics)
    out, k = [], 0
    for d, op in groups:
        out.append(op(table[:, k:k + len(d)], dim=0))
        k += len(d)
    return dict(zip([name for d, _ in groups for name in d], torch.cat(out).tolist()))


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    r"""Learning-rate multiplier: linear warm-up to 1, then cosine decay to ``min_ratio``.

    $m(s) = \frac{s+1}{w}$ for $s < w$, else $m_{\min} + (1-m_{\min})\,\tfrac12\bigl(1+\cos\pi\frac{s-w}{S-w}\bigr)$.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, min_ratio: float = 0.1):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, warmup_steps=warmup_steps, total_steps=total_steps, min_ratio=min_ratio)
    )


def progress(iterable: Iterable, *, desc: str, accelerator=None, total: int | None = None, enabled: bool = True):
    """A tqdm bar on the main process only (other ranks stay quiet)."""
    from tqdm.auto import tqdm

    main = accelerator is None or accelerator.is_main_process
    return tqdm(iterable, desc=desc, total=total, disable=not (enabled and main), dynamic_ncols=True)


def disable_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Set every dropout probability to 0 (RLHF needs deterministic log-probs for the same tokens)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        # Some architectures (OPT, BART, Whisper) call ``F.dropout(x, p=self.dropout)`` with a float attribute
        # instead of an ``nn.Dropout`` module: zero those too (``layerdrop`` skips whole layers at random).
        for attr, value in list(vars(module).items()):
            if type(value) is float and ("dropout" in attr or attr.endswith("_pdrop") or attr == "layerdrop"):
                setattr(module, attr, 0.0)
    for name in ("attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop", "dropout"):
        if hasattr(model, "config") and hasattr(model.config, name):
            setattr(model.config, name, 0.0)
    return model


def accepts(module: torch.nn.Module, arg: str) -> bool:
    """True when ``module.forward`` takes a keyword ``arg`` (False when its signature cannot be read)."""
    try:
        return arg in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


def cache_argument(module: torch.nn.Module) -> str | None:
    """The name under which ``module.forward`` takes a key/value cache: ``cache`` (transformers ≥ 5.25, where
    ``past_key_values`` is deprecated) or ``past_key_values`` (earlier); ``None`` when neither."""
    return next((name for name in ("cache", "past_key_values") if accepts(module, name)), None)


def returned_cache(out):
    """The key/value cache a forward pass with ``use_cache=True`` returned, under either name."""
    return out.cache if getattr(out, "cache", None) is not None else out.past_key_values


def require_trainable(model: torch.nn.Module, name: str) -> None:
    """Refuse a model to train that has no parameter with ``requires_grad``: the optimizer would have
    nothing to update and the run would look like training while changing nothing (or, in PPO, only
    the value model). ``name`` is the argument's name in the message."""
    params = list(model.parameters())
    if not any(p.requires_grad for p in params):
        raise ValueError(f"{name} has no trainable parameter: requires_grad is False on all {len(params)} of its "
                         f"parameters, so training would change nothing. A model used as a frozen reference or "
                         f"loaded frozen is like this; call {name}.requires_grad_(True) first")


def frozen(model: torch.nn.Module, device) -> torch.nn.Module:
    """``model`` as a trainer reads it without training it (a reference, a reward model): moved to
    ``device`` and put in eval mode (which turns dropout off), nothing else. Its ``requires_grad`` flags
    and dropout settings stay as the caller left them — the trainers run it under ``torch.no_grad``,
    which is what keeps it out of the graph — so the same object can be trained again afterwards."""
    return model.to(device).eval()


def save_checkpoint(model, tokenizer, path: str | Path, accelerator=None, *, overwrite: bool = False) -> Path | None:
    """Save weights (safetensors) and tokenizer on the main process only; returns the folder there.

    Refuses to write into a non-empty folder unless ``overwrite`` (a user's files are never replaced
    silently).
    """
    path = Path(path)
    if accelerator is not None:
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            return None
        model = accelerator.unwrap_model(model)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path}: folder exists and is not empty; choose another path or pass overwrite=True")
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return path


def world_info() -> dict:
    """Rank / world size as set by a launcher (for logs and tests)."""
    return {"rank": int(os.environ.get("RANK", 0)), "world_size": int(os.environ.get("WORLD_SIZE", 1))}
