r"""Your own scaling law: train a sweep of tiny causal LMs on the task world's text and record
(N, D, held-out loss) rows for :func:`llmcourse.scaling.fit_chinchilla`.

The recipe, and why:

* **data** — the task world's plain pre-training sentences (:func:`llmcourse.tasks.pretraining_text`),
  tokenised with the embedded tokenizer, joined as ``<bos> sentence <eos>`` and cut into blocks of
  ``block_size`` tokens, so a token budget $D$ is exact (steps × batch × block, no padding). Every
  model reads the same stream in the same order and never sees a block twice (Chinchilla's laws
  assume one epoch). Held-out loss is measured on blocks from text drawn with a different seed;
* **models** — Llama-style decoders from :func:`llmcourse.models.tiny_config`, one per
  ``(hidden_size, num_layers)``; $N$ counts all parameters (Chinchilla's convention; the tied
  embedding is counted once) and each row also carries the non-embedding count (Kaplan's);
* **one run per size, a cool-down branch per budget** — learning rate: linear warm-up, then
  constant; for each budget $D_k$ the run is copied at $0.8\,D_k$ tokens and the copy's learning rate
  decays linearly to zero over the last $0.2\,D_k$ tokens before evaluation. Each row then comes
  from a run that saw exactly $D_k$ tokens and ended with an annealed learning rate — which a
  cosine schedule sized for $D_k$ also gives (Hoffmann et al. 2022 stress matching the schedule to
  the budget) — at about 1.2× the cost of the longest run instead of the sum of all budgets
  (the warm-up–stable–decay schedule; Hägele et al. 2024, arXiv:2405.18392).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from llmcourse.config import AT_LEAST_ONE, UNIT, check_numbers

__all__ = ["ScalingSweepConfig", "QUICK_SWEEP", "NOTEBOOK_SWEEP", "run_scaling_sweep", "sweep_arrays"]


@dataclass(frozen=True)
class ScalingSweepConfig:
    """What to train in :func:`run_scaling_sweep`; validated on creation."""

    sizes: tuple[tuple[int, int], ...] = ((8, 1), (16, 1), (32, 1), (48, 1))
    """Models as ``(hidden_size, num_layers)``; heads = hidden_size // 8 (head width 8)."""
    token_budgets: tuple[int, ...] = (16_384, 32_768, 65_536, 131_072, 262_144)
    """Training tokens $D$ per row; each is rounded down to whole optimiser steps."""
    block_size: int = 64
    """Tokens per training sequence."""
    batch_size: int = 8
    """Sequences per optimiser step (so one step = batch_size × block_size tokens). Small, so even
    the smallest budget gets a few dozen steps."""
    learning_rate: float = 1e-2
    """Peak (= stable-phase) AdamW learning rate of a model ``reference_width`` wide."""
    reference_width: int | None = 32
    """If set, a model ``hidden_size`` wide trains at ``learning_rate × reference_width / hidden_size``
    (wider models take smaller Adam steps, as in µP); ``None`` = one rate for all sizes."""
    warmup_steps: int = 5
    """Linear warm-up steps at the start of each size's run."""
    cooldown_fraction: float = 0.2
    """Share of each budget spent decaying the learning rate linearly to zero."""
    eval_tokens: int = 16_384
    """Held-out tokens per evaluation (rounded down to whole blocks)."""
    vocab_size: int = 512
    """Vocabulary of the embedded BPE tokenizer built for the sweep."""
    seed: int = 0
    """Seeds the tokenizer, the text, the weight initialisation and nothing else."""
    num_threads: int | None = 1
    """Torch CPU threads during the sweep (restored afterwards); ``None`` leaves torch's setting.
    Models this small gain little from a second thread, and a single thread avoids the large
    slowdown of spinning OpenMP threads when other processes share the cores."""

    def __post_init__(self):
        check_numbers(self, {"cooldown_fraction": UNIT, **dict.fromkeys(
            ("block_size", "eval_tokens", "vocab_size", "reference_width", "num_threads"), AT_LEAST_ONE)})
        if not self.sizes:
            raise ValueError("ScalingSweepConfig.sizes is empty; give at least one (hidden_size, num_layers)")
        for i, size in enumerate(self.sizes):
            if (not isinstance(size, tuple) or len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size)
                    or size[0] % 8):
                raise ValueError(f"ScalingSweepConfig.sizes[{i}] = {size!r}; expected (hidden_size, num_layers), "
                                 "positive ints with hidden_size a multiple of 8 (heads are 8 wide)")
        if len(set(self.sizes)) != len(self.sizes):
            raise ValueError(f"ScalingSweepConfig.sizes has duplicates: {self.sizes}")
        step = self.batch_size * self.block_size
        for name in ("block_size", "batch_size", "warmup_steps", "eval_tokens", "vocab_size"):
            if getattr(self, name) < (0 if name == "warmup_steps" else 1):
                raise ValueError(f"ScalingSweepConfig.{name} = {getattr(self, name)!r} must be positive")
        budgets = list(self.token_budgets)
        if not budgets or budgets != sorted(set(budgets)):
            raise ValueError(f"ScalingSweepConfig.token_budgets = {self.token_budgets!r}; give distinct budgets in "
                             "ascending order")
        for d in budgets:
            if d < 5 * step or d // step <= self.warmup_steps:
                raise ValueError(f"token budget {d} is under 5 optimiser steps (or inside the warm-up) at "
                                 f"{step} tokens/step; raise it or shrink batch_size × block_size")
        if not 0 < self.cooldown_fraction <= 1:
            raise ValueError(f"ScalingSweepConfig.cooldown_fraction = {self.cooldown_fraction!r}; must be in (0, 1]")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"ScalingSweepConfig.learning_rate = {self.learning_rate!r}; must be > 0")
        if self.reference_width is not None and self.reference_width < 1:
            raise ValueError(f"ScalingSweepConfig.reference_width = {self.reference_width!r}; use ≥ 1 or None")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"ScalingSweepConfig.num_threads = {self.num_threads!r}; use ≥ 1 or None")
        if self.eval_tokens < self.block_size:
            raise ValueError(f"ScalingSweepConfig.eval_tokens = {self.eval_tokens} is less than one block "
                             f"({self.block_size} tokens)")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size


NOTEBOOK_SWEEP = ScalingSweepConfig()
"""4 sizes × 5 budgets = 20 runs; about a minute of CPU time (one thread)."""
QUICK_SWEEP = ScalingSweepConfig(sizes=((8, 1), (16, 1)), token_budgets=(2_048, 4_096), block_size=32,
                                 batch_size=8, warmup_steps=2, eval_tokens=1_024)
"""2 sizes × 2 budgets, for tests: a few seconds."""


def _token_blocks(tokenizer, texts: list[str], block_size: int, n_blocks: int, what: str) -> torch.Tensor:
    """``<bos> text <eos>`` joined and cut into ``n_blocks`` rows of ``block_size`` ids, shape (n_blocks, block)."""
    wrapped = [tokenizer.bos_token + t + tokenizer.eos_token for t in texts]
    ids = tokenizer(wrapped, add_special_tokens=False)["input_ids"]
    flat = [i for row in ids for i in row]
    if len(flat) < n_blocks * block_size:
        raise RuntimeError(f"the {what} text gave {len(flat)} tokens, fewer than the {n_blocks * block_size} needed")
    return torch.tensor(flat[: n_blocks * block_size], dtype=torch.long).view(n_blocks, block_size)


@torch.no_grad()
def _held_out_loss(model, blocks: torch.Tensor, batch_size: int) -> float:
    """Mean next-token cross-entropy (nats) over every predicted token of ``blocks`` (equal-length rows)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        x = blocks[start : start + batch_size]
        n_pred = x.numel() - x.shape[0]  # the first token of each row has no prediction
        total += model(input_ids=x, labels=x).loss.item() * n_pred
        count += n_pred
    model.train()
    return total / count


def _train_steps(model, opt, blocks, first_step, n_steps, batch_size, lr_at) -> None:
    for step in range(first_step, first_step + n_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        x = blocks[step * batch_size : (step + 1) * batch_size]
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)


def run_scaling_sweep(config: ScalingSweepConfig = NOTEBOOK_SWEEP, *, progress: bool = True) -> list[dict]:
    r"""Train every size on every token budget (see the module docstring) and return one row per run:

    ``{"N", "N_non_embedding", "D", "loss", "hidden_size", "num_layers", "steps", "seconds"}`` with
    ``N`` all parameters, ``D`` training tokens, ``loss`` held-out cross-entropy in nats/token and
    ``seconds`` the wall time of that size's whole run (shared by its rows). Same config and seed →
    the same rows on the same machine and library versions. CPU or whatever device the model is on;
    uses the default torch device.
    """
    old_threads = torch.get_num_threads()
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    try:
        return _run_sweep(config, progress)
    finally:
        torch.set_num_threads(old_threads)


def _run_sweep(cfg: ScalingSweepConfig, progress: bool) -> list[dict]:
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from llmcourse import models, tasks

    step_tokens = cfg.tokens_per_step
    budget_steps = [d // step_tokens for d in cfg.token_budgets]
    total_steps = budget_steps[-1]
    tokenizer = models.build_tokenizer(cfg.seed, cfg.vocab_size)
    n_train_blocks = total_steps * cfg.batch_size
    n_eval_blocks = cfg.eval_tokens // cfg.block_size

    def sentences_for(n_blocks: int, seed: int) -> list[str]:  # ≈ 13 tokens a sentence: 1 per 8 is a margin
        return tasks.pretraining_text(n_blocks * cfg.block_size // 8 + 64, seed=seed)

    train = _token_blocks(tokenizer, sentences_for(n_train_blocks, cfg.seed + 1), cfg.block_size, n_train_blocks,
                          "training")
    held_out = _token_blocks(tokenizer, sentences_for(n_eval_blocks, cfg.seed + 2), cfg.block_size, n_eval_blocks,
                             "held-out")

    rows: list[dict] = []
    bar = tqdm(total=len(cfg.sizes) * len(budget_steps), desc="scaling sweep", disable=not progress)
    for hidden, layers in cfg.sizes:
        t0 = time.perf_counter()
        model_cfg = models.tiny_config(tokenizer, hidden_size=hidden, num_layers=layers, num_heads=hidden // 8,
                                       max_position_embeddings=cfg.block_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # transformers initialises weights from the global RNG: fork it
            level = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            try:
                model = AutoModelForCausalLM.from_config(model_cfg)
            finally:
                hf_logging.set_verbosity(level)
        model.train()
        peak_lr = cfg.learning_rate * (cfg.reference_width / hidden if cfg.reference_width else 1.0)

        def stable_lr(step: int, _peak=peak_lr) -> float:
            return _peak * min(1.0, (step + 1) / max(1, cfg.warmup_steps))

        n_total = models.count_parameters(model)
        n_embed = model.get_input_embeddings().weight.numel()
        opt = torch.optim.AdamW(model.parameters(), lr=peak_lr, betas=(0.9, 0.95), weight_decay=0.0)
        done = 0  # steps the main (constant-rate) run has taken
        size_rows = []
        for d_steps in budget_steps:
            cool = max(1, round(cfg.cooldown_fraction * d_steps))
            branch_at = d_steps - cool
            _train_steps(model, opt, train, done, branch_at - done, cfg.batch_size, stable_lr)
            done = branch_at
            branch = copy.deepcopy(model)
            branch_opt = torch.optim.AdamW(branch.parameters(), lr=peak_lr, betas=(0.9, 0.95), weight_decay=0.0)
            branch_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
            peak = stable_lr(branch_at)

            def decay(step: int, _start=branch_at, _cool=cool, _peak=peak) -> float:
                return _peak * (1.0 - (step - _start + 1) / (_cool + 1))

            _train_steps(branch, branch_opt, train, branch_at, cool, cfg.batch_size, decay)
            loss = _held_out_loss(branch, held_out, cfg.batch_size * 4)
            if not math.isfinite(loss):
                raise RuntimeError(f"model {hidden}×{layers} diverged at D = {d_steps * step_tokens} tokens "
                                   f"(held-out loss {loss}); lower ScalingSweepConfig.learning_rate "
                                   f"(this model's rate: {peak_lr:.3g})")
            size_rows.append({"N": n_total, "N_non_embedding": n_total - n_embed, "D": d_steps * step_tokens,
                              "loss": loss, "hidden_size": hidden, "num_layers": layers, "steps": d_steps})
            del branch, branch_opt
            bar.update(1)
            bar.set_postfix(N=n_total, D=d_steps * step_tokens, loss=f"{loss:.3f}")
        seconds = round(time.perf_counter() - t0, 2)
        rows += [{**r, "seconds": seconds} for r in size_rows]
    bar.close()
    return rows


def sweep_arrays(rows: list[dict], n_key: str = "N") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, D, loss)`` arrays from :func:`run_scaling_sweep` rows, ready for ``fit_chinchilla``.
    ``n_key="N_non_embedding"`` uses Kaplan's parameter count instead of Chinchilla's."""
    if not rows:
        raise ValueError("no sweep rows; run run_scaling_sweep(...) first")
    missing = [k for k in (n_key, "D", "loss") if k not in rows[0]]
    if missing:
        raise ValueError(f"sweep rows lack {missing}; expected rows from run_scaling_sweep (keys {sorted(rows[0])})")
    return (np.array([r[n_key] for r in rows], dtype=np.float64), np.array([r["D"] for r in rows], dtype=np.float64),
            np.array([r["loss"] for r in rows], dtype=np.float64))
