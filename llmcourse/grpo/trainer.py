r"""GRPO, the trainer: :func:`train_grpo` reads top to bottom like one step of the algorithm.

Every step:

1. **generate** — draw ``generation_batch_size / num_generations`` prompts, repeat each
   ``num_generations`` ($G$) times (a group, contiguous rows) and sample one completion per row
   with the shared RL layer (:mod:`llmcourse.rl.rollout`: left padding, temperature sampling, cut
   after EOS, position ids from the mask; each group's prompt run once, its cache shared); with
   ``dynamic_sampling`` (DAPO), more rounds of fresh prompts until the batch holds only groups whose
   rewards differ (:func:`generate_dynamic_batch`);
2. **reward** — decode the completions and score them with the reward functions
   (:mod:`llmcourse.grpo.rewards`, TRL's ``reward_fn(prompts, completions, **columns)``), summed
   with ``reward_weights``;
3. **advantages** — group-normalised (:func:`~llmcourse.grpo.functional.group_advantages`);
4. **optimise** — ``num_iterations`` passes over the batch; each pass is ``steps_per_generation``
   optimizer steps, each accumulating gradients over micro-batches of
   ``per_device_train_batch_size`` completions. The loss of a micro-batch is normalised by the
   totals of its optimizer step's window (sequences and tokens), so the accumulated gradient is the
   whole window's whatever the micro-batch size (:func:`~llmcourse.grpo.functional.grpo_loss`).
   With more than one optimizer step per batch the importance ratio $\rho = \pi_\theta/\pi_{\text{old}}$
   is measured against the log-probs taken right after generation.

The exercise functions of notebook 08 plug in (``advantages_fn``, ``loss_fn``): a student's
implementation then trains the real model. Field names follow TRL's ``GRPOConfig``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch

from llmcourse import tasks, training
from llmcourse.config import check_numbers
from llmcourse.grpo import functional as G
from llmcourse.grpo import rewards as RW
from llmcourse.rl import functional as F
from llmcourse.rl import rollout as R

__all__ = ["GRPOConfig", "GRPOBatch", "train_grpo", "generate_batch", "generate_dynamic_batch", "select_groups",
           "grpo_update", "evaluate"]


@dataclass
class GRPOConfig:
    """Settings of :func:`train_grpo`; names and defaults follow TRL's ``GRPOConfig`` where TRL has the concept."""

    learning_rate: float = 1e-5
    """AdamW peak learning rate. TRL: 1e-6 for real models; the embedded tiny model wants ~1e-4."""
    lr_scheduler_type: str = "constant"
    """``constant``, or ``linear``: decay to 0 over the run, as TRL's default. With ``max_seconds`` the run's
    progress is the larger of steps / ``max_steps`` and seconds / ``max_seconds``, so the decay ends when the
    run does whichever limit stops it."""
    max_steps: int = 20
    """GRPO steps (one generated batch and its optimisation each)."""
    num_generations: int = 8
    """G, completions per prompt (TRL: 8)."""
    generation_batch_size: int = 64
    """Completions generated per step per process (a multiple of ``num_generations``)."""
    per_device_train_batch_size: int = 16
    """Completions per micro-batch (one forward/backward); micro-batches of one optimizer step are
    accumulated. Changes memory and speed, never the loss or the gradient."""
    steps_per_generation: int = 1
    """Optimizer steps per pass over a generated batch (it is split into this many windows)."""
    num_iterations: int = 1
    """μ, passes over each generated batch (TRL: 1). Above 1 the policy moves away from the one that
    sampled, and the importance ratio and clipping matter."""
    loss_type: str = "dapo"
    """Reduction of the token losses: ``grpo``, ``dr_grpo``, ``bnpo`` or ``dapo`` (TRL's default)."""
    epsilon: float = 0.2
    """ε, the lower clip (and the upper one unless ``epsilon_high`` is set)."""
    epsilon_high: float | None = None
    """Upper clip ε_high (DAPO's clip-higher: 0.28); None: = ``epsilon``."""
    beta: float = 0.0
    """Weight of the k3 KL to the reference model (TRL: 0.0, no reference model is loaded)."""
    use_bias_correction_kl: bool = False
    """Multiply the k3 KL term by the importance ratio ρ (TRL's default is True; the GRPO paper's loss,
    and this default, add β·k3 as it is). Only matters when ``beta > 0``."""
    scale_rewards: str = "group"
    """Advantage scaling: ``group`` (divide by the group's std), ``batch`` or ``none`` (Dr. GRPO)."""
    max_completion_length: int = 16
    """Maximum new tokens per completion (also the ``dr_grpo`` normaliser L_max)."""
    temperature: float = 1.0
    """Sampling temperature; every log-prob uses logits / temperature."""
    max_grad_norm: float = 1.0
    """Gradient clipping (global L2 norm)."""
    reward_weights: list[float] | None = None
    """Weight of each reward function (None: all 1)."""
    eval_steps: int = 5
    """Evaluate (greedy decoding, exact match per task) every this many steps, and before the first
    and after the last; 0 = only before and after."""
    logging_steps: int = 1
    """Append a history entry every this many steps."""
    seed: int = 0
    """Seeds prompt order and generation (no global RNG is touched)."""
    mixed_precision: str = "auto"
    """Passed to :func:`llmcourse.training.make_accelerator` (bf16 on CUDA, fp32 on CPU)."""
    progress: bool = True
    """Show a tqdm bar (main process only)."""
    max_seconds: float | None = None
    """Stop after the step that crosses this many seconds of training (evaluation excluded)."""
    dynamic_sampling: bool = False
    """DAPO's dynamic sampling: keep only the groups whose rewards differ (a group of all-equal rewards
    has zero advantages and adds nothing to the gradient), sampling further rounds of fresh prompts
    until ``generation_batch_size`` completions of such groups are collected. After
    ``max_sampling_rounds`` rounds the batch is topped up with zero-variance groups."""
    sampling_batch_size: int | None = None
    """Completions sampled per round of dynamic sampling (a multiple of ``num_generations``; None: =
    ``generation_batch_size``). Larger rounds sample faster per completion."""
    max_sampling_rounds: int = 8
    """At most this many sampling rounds per step with ``dynamic_sampling``."""

    def __post_init__(self):
        # every numeric key: its type, finite, in its range (config.RANGES), named in the message; below,
        # only what that table cannot say (a stricter bound for one config, keys that depend on each other)
        check_numbers(self)
        for name in ("max_steps", "max_grad_norm"):  # no epochs to fall back on (-1); no "no clipping" (0)
            if not getattr(self, name) > 0:
                raise ValueError(f"GRPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.num_generations < 2:
            raise ValueError("GRPOConfig.num_generations must be >= 2: a group of one has no relative advantage")
        if self.generation_batch_size % self.num_generations:
            raise ValueError(f"GRPOConfig.generation_batch_size={self.generation_batch_size} is not a multiple of "
                             f"num_generations={self.num_generations}")
        window, rest = divmod(self.generation_batch_size, self.steps_per_generation)
        if rest or window % self.per_device_train_batch_size:
            raise ValueError(f"GRPOConfig: generation_batch_size={self.generation_batch_size} must split into "
                             f"steps_per_generation={self.steps_per_generation} windows of a multiple of "
                             f"per_device_train_batch_size={self.per_device_train_batch_size} completions")
        if self.sampling_batch_size is not None and (
                not isinstance(self.sampling_batch_size, int) or self.sampling_batch_size <= 0
                or self.sampling_batch_size % self.num_generations):
            raise ValueError(f"GRPOConfig.sampling_batch_size={self.sampling_batch_size!r} must be None or a positive "
                             f"multiple of num_generations={self.num_generations}")
        if self.lr_scheduler_type not in ("constant", "linear"):
            raise ValueError(f"GRPOConfig.lr_scheduler_type={self.lr_scheduler_type!r}: expected 'constant' or 'linear'")
        if self.loss_type not in G.LOSS_TYPES:
            raise ValueError(f"GRPOConfig.loss_type must be one of {G.LOSS_TYPES}, got {self.loss_type!r}")
        if self.scale_rewards not in G.SCALE_REWARDS:
            raise ValueError(f"GRPOConfig.scale_rewards must be one of {G.SCALE_REWARDS}, got {self.scale_rewards!r}")

    @property
    def on_policy(self) -> bool:
        """One optimizer step per generated batch: π_θ = π_old when the loss is computed."""
        return self.num_iterations == 1 and self.steps_per_generation == 1


@dataclass
class GRPOBatch:
    """One generated batch: ``B`` completions in groups of G contiguous rows."""

    query_ids: torch.Tensor  # (B, P) left-padded prompt ids
    query_mask: torch.Tensor  # (B, P)
    completion_ids: torch.Tensor  # (B, T) cut after the first EOS
    completion_mask: torch.Tensor  # (B, T) 1 on completion tokens, EOS included
    has_eos: torch.Tensor  # (B,) bool
    rewards: torch.Tensor  # (B,) weighted sum of the reward functions
    rewards_per_func: torch.Tensor  # (B, n_funcs)
    advantages: torch.Tensor  # (B,)
    old_logprobs: torch.Tensor | None = None  # (B, T) log π_old, None when on-policy (then = the update's, detached)
    ref_logprobs: torch.Tensor | None = None  # (B, T) log π_ref, only when beta > 0
    prompts: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    sampled_zero_std: float | None = None  # dynamic sampling: share of zero-variance groups among all sampled
    sampling_rounds: int = 1  # dynamic sampling: rounds sampled to fill the batch

    def __len__(self) -> int:
        return self.query_ids.shape[0]


# --------------------------------------------------------------------------- data


def _check_rows(rows, what: str) -> list[dict]:
    if isinstance(rows, (str, Mapping)) or not isinstance(rows, Sequence):
        raise TypeError(f"{what} must be a list of {{'prompt': ..., <columns>}} dicts")
    out = []
    for i, r in enumerate(rows):
        if isinstance(r, str):
            r = {"prompt": r}
        if not isinstance(r, Mapping) or not isinstance(r.get("prompt"), str) or not r["prompt"].strip():
            raise ValueError(f"{what}[{i}] must be a dict with a non-empty string 'prompt' (got {r!r})")
        out.append(dict(r))
    if not out:
        raise ValueError(f"{what} is empty")
    keys = set(out[0])
    for i, r in enumerate(out):
        if set(r) != keys:
            raise ValueError(f"{what}[{i}] has columns {sorted(r)} but {what}[0] has {sorted(keys)}; every row needs "
                             "the same columns (they are passed to the reward functions)")
    return out


def _completions_text(tokenizer, ids: torch.Tensor, mask: torch.Tensor) -> list[str]:
    return tokenizer.batch_decode(ids.masked_fill(mask == 0, tokenizer.pad_token_id), skip_special_tokens=True)


# --------------------------------------------------------------------------- generation


@torch.no_grad()
def generate_batch(policy, tokenizer, rows: Sequence[Mapping], config: GRPOConfig, *, seed: int, ref_model=None,
                   reward_funcs: Sequence = ("exact_match",), advantages_fn: Callable | None = None) -> GRPOBatch:
    """Steps 1–3 of a GRPO step for ``rows`` (one dict per prompt): G completions each, their rewards
    and group-normalised advantages, and π_old / π_ref log-probs when the update needs them."""
    device = next(policy.parameters()).device
    G_ = config.num_generations
    prompts = [r["prompt"] for r in rows for _ in range(G_)]
    columns = {k: [r[k] for r in rows for _ in range(G_)] for k in rows[0] if k != "prompt"}
    q, qm = R.left_pad(R.encode_prompts(tokenizer, prompts), tokenizer.pad_token_id, device)
    ids, mask, has_eos = R.sample_responses(policy, tokenizer, q, qm, response_length=config.max_completion_length,
                                            temperature=config.temperature, seed=seed, group_size=G_)
    completions = _completions_text(tokenizer, ids, mask)
    per_func = torch.tensor(RW.compute_rewards(reward_funcs, prompts, completions, columns), device=device).T
    weights = torch.tensor(config.reward_weights or [1.0] * per_func.shape[1], device=device)
    if weights.numel() != per_func.shape[1]:
        raise ValueError(f"reward_weights has {weights.numel()} weights for {per_func.shape[1]} reward functions")
    rewards = (per_func * weights).sum(dim=1)
    advantages = (advantages_fn or G.group_advantages)(rewards, G_, config.scale_rewards)
    old = ref = None
    if not config.on_policy:
        old = R.response_logprobs(policy, q, qm, ids, mask, config.temperature) * mask
    if config.beta:
        ref = R.response_logprobs(ref_model, q, qm, ids, mask, config.temperature) * mask
    return GRPOBatch(q, qm, ids, mask, has_eos, rewards, per_func, advantages.to(device).float(), old, ref,
                     prompts, completions)


def select_groups(batches: Sequence[GRPOBatch], picks: Sequence[tuple[int, int]], num_generations: int,
                  pad_token_id: int) -> GRPOBatch:
    """One batch made of whole groups of other batches: ``picks`` lists ``(batch index, group index)``
    in order. Prompts are left-padded again to the widest (completions share one width,
    ``max_completion_length``)."""
    if not picks:
        raise ValueError("select_groups: nothing picked")
    width = max(batches[b].query_ids.shape[1] for b, _ in picks)

    def rows(b: int, g: int) -> slice:
        return slice(g * num_generations, (g + 1) * num_generations)

    def left(t: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(t, (width - t.shape[1], 0), value=value)

    def cat(name: str, value: int | None = None) -> torch.Tensor | None:
        parts = [getattr(batches[b], name) for b, _ in picks]
        if any(p is None for p in parts):
            return None
        parts = [p[rows(b, g)] for p, (b, g) in zip(parts, picks)]
        return torch.cat([left(p, value) for p in parts] if value is not None else parts)

    return GRPOBatch(cat("query_ids", pad_token_id), cat("query_mask", 0), cat("completion_ids"),
                     cat("completion_mask"), cat("has_eos"), cat("rewards"), cat("rewards_per_func"),
                     cat("advantages"), cat("old_logprobs"), cat("ref_logprobs"),
                     [x for b, g in picks for x in batches[b].prompts[rows(b, g)]],
                     [x for b, g in picks for x in batches[b].completions[rows(b, g)]])


def generate_dynamic_batch(policy, tokenizer, next_rows: Callable[[int], list], config: GRPOConfig, *, seed: int,
                           ref_model=None, reward_funcs: Sequence = ("exact_match",),
                           advantages_fn: Callable | None = None) -> GRPOBatch:
    """DAPO's dynamic sampling: rounds of :func:`generate_batch` on ``next_rows(n)`` (``n`` fresh prompts
    each round, ``sampling_batch_size / G`` of them) until ``generation_batch_size / G`` groups with
    unequal rewards are collected, at most ``max_sampling_rounds`` rounds; short of that, the batch is
    topped up with zero-variance groups in sampling order. Advantages are those of each group (with
    ``scale_rewards="batch"``, of its round). Round 0 uses ``seed``, as :func:`generate_batch` would."""
    G_ = config.num_generations
    need = config.generation_batch_size // G_
    per_round = (config.sampling_batch_size or config.generation_batch_size) // G_
    batches: list[GRPOBatch] = []
    keep: list[tuple[int, int]] = []
    spare: list[tuple[int, int]] = []
    zero = []
    for r in range(config.max_sampling_rounds):
        b = generate_batch(policy, tokenizer, next_rows(per_round), config, seed=seed + r * 7_919_000_003,
                           ref_model=ref_model, reward_funcs=reward_funcs, advantages_fn=advantages_fn)
        batches.append(b)
        z = G.zero_variance_groups(b.rewards, G_).tolist()
        zero += z
        keep += [(r, g) for g, flat in enumerate(z) if not flat]
        spare += [(r, g) for g, flat in enumerate(z) if flat]
        if len(keep) >= need:
            break
    picks = (keep + spare)[:need]
    out = select_groups(batches, picks, G_, tokenizer.pad_token_id)
    out.sampled_zero_std = sum(zero) / len(zero)
    out.sampling_rounds = len(batches)
    return out


# --------------------------------------------------------------------------- optimisation


def _window_totals(batch: GRPOBatch, idx: slice, config: GRPOConfig, accelerator) -> tuple[int, torch.Tensor]:
    """(sequences, tokens) that normalise one optimizer step's loss: this process's window, except for
    ``dapo`` whose token count is the global window's ÷ processes (TRL's convention)."""
    tokens = batch.completion_mask[idx].sum().float()
    if config.loss_type == "dapo" and accelerator.num_processes > 1:
        tokens = accelerator.gather(tokens.reshape(1)).sum() / accelerator.num_processes
    return len(range(*idx.indices(len(batch)))), tokens


def grpo_update(model, optimizer, accelerator, batch: GRPOBatch, config: GRPOConfig, *,
                loss_fn: Callable | None = None, where: str = "") -> dict[str, torch.Tensor]:
    r"""Step 4: ``num_iterations`` × ``steps_per_generation`` optimizer steps on one generated batch,
    each accumulating the gradients of its micro-batches. Returns per-step diagnostics stacked:
    ``loss`` (the window's loss — the sum of its micro-batch losses), ``grad_norm``, ``entropy``,
    ``clip_low`` / ``clip_high`` / ``clip_region``, ``kl`` (k3 to the reference, when β > 0),
    ``first_ratio_dev`` (max |ρ − 1| on the first micro-batch: 0 unless sampling and update disagree)."""
    loss_fn = loss_fn or G.grpo_loss
    # passed only when on, so a student's loss without the option still plugs in
    extra = {"use_bias_correction_kl": True} if config.use_bias_correction_kl and config.beta else {}
    B = len(batch)
    window = B // config.steps_per_generation
    mb = config.per_device_train_batch_size
    keys = ("loss", "grad_norm", "entropy", "clip_low", "clip_high", "clip_region", "kl")
    stats: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    first_ratio_dev = None
    model.train()
    for it in range(config.num_iterations):
        for w in range(config.steps_per_generation):
            win = slice(w * window, (w + 1) * window)
            n_seq, n_tok = _window_totals(batch, win, config, accelerator)
            acc = {k: torch.zeros((), device=batch.advantages.device) for k in keys}
            for s in range(win.start, win.stop, mb):
                i = slice(s, s + mb)
                m = batch.completion_mask[i]
                with accelerator.autocast():
                    logits = R.response_logits(model, batch.query_ids[i], batch.query_mask[i], batch.completion_ids[i], m)
                logp = F.logprobs_from_logits(logits, batch.completion_ids[i], config.temperature) * m
                old = logp.detach() if batch.old_logprobs is None else batch.old_logprobs[i]
                ref = None if batch.ref_logprobs is None else batch.ref_logprobs[i]
                loss = loss_fn(logp, old, batch.advantages[i], m, loss_type=config.loss_type,
                               epsilon_low=config.epsilon, epsilon_high=config.epsilon_high, beta=config.beta,
                               ref_logprobs=ref, max_completion_length=config.max_completion_length,
                               num_sequences=n_seq, num_tokens=n_tok, **extra)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"GRPO loss is {loss.item()} {where}at iteration {it}, window {w}, micro-batch starting at row "
                        f"{s}; a loss function produced NaN/inf — e.g. a ratio of probabilities instead of "
                        "exp(log-prob difference), or a division by a zero token count")
                accelerator.backward(loss)
                with torch.no_grad():
                    share = m.sum() / n_tok.clamp(min=1)  # token-weighted statistics over the window
                    if first_ratio_dev is None:
                        first_ratio_dev = ((torch.exp(logp - old) - 1).abs() * m).max()
                    acc["loss"] += loss.detach()
                    acc["entropy"] += F.masked_mean(F.entropy_from_logits(logits, config.temperature), m) * share
                    cf = G.clip_fractions(logp, old, batch.advantages[i], m, config.epsilon, config.epsilon_high)
                    for k in ("low", "high", "region"):
                        acc[f"clip_{k}"] += cf[k] * share
                    if ref is not None:
                        acc["kl"] += F.masked_mean(F.kl_per_token(logp, ref, m, "k3"), m) * share
            acc["grad_norm"] = torch.as_tensor(accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)).float()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            for k in keys:
                stats[k].append(acc[k].detach().float())
    out = {k: torch.stack(v) for k, v in stats.items()}
    out["first_ratio_dev"] = first_ratio_dev
    return out


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(policy, tokenizer, eval_data: Sequence[Mapping], *, max_completion_length: int, batch_size: int = 128,
             accelerator=None) -> dict[str, float]:
    """Greedy answers to held-out ``[{"prompt", "answer"(, "task")}]`` rows: ``exact_match`` overall,
    ``exact_match/<task>`` per task when rows have a ``task``, ``eval_length`` (tokens, EOS included)
    and ``eval_eos_rate``. Under several processes each scores its share and the results are gathered."""
    from accelerate.utils import gather_object

    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    mine = list(eval_data)[rank::world]
    device = next(policy.parameters()).device
    rows: list[tuple[str, float, float, float]] = []
    for s in range(0, len(mine), batch_size):
        chunk = mine[s:s + batch_size]
        q, qm = R.left_pad(R.encode_prompts(tokenizer, [r["prompt"] for r in chunk]), tokenizer.pad_token_id, device)
        ids, mask, has_eos = R.sample_responses(policy, tokenizer, q, qm, response_length=max_completion_length,
                                                do_sample=False)
        texts = _completions_text(tokenizer, ids, mask)
        for rec, text, n, eos in zip(chunk, texts, mask.sum(-1).tolist(), has_eos.tolist()):
            rows.append((rec.get("task", ""), float(tasks.normalize(text) == tasks.normalize(rec["answer"])),
                         float(n), float(eos)))
    if world > 1:
        rows = gather_object(rows)
    n = max(1, len(rows))
    out = {"exact_match": sum(r[1] for r in rows) / n if rows else math.nan,
           "eval_length": sum(r[2] for r in rows) / n, "eval_eos_rate": sum(r[3] for r in rows) / n}
    for task in sorted({r[0] for r in rows if r[0]}):
        hits = [r[1] for r in rows if r[0] == task]
        out[f"exact_match/{task}"] = sum(hits) / len(hits)
    return out


# --------------------------------------------------------------------------- the trainer


def train_grpo(policy, tokenizer, train_data, config: GRPOConfig | None = None, *, reward_funcs=("exact_match",),
               ref_model=None, eval_data=None, advantages_fn: Callable | None = None,
               loss_fn: Callable | None = None, eval_fn: Callable | None = None) -> list[dict]:
    r"""Fine-tune ``policy`` (in place) with GRPO; return the history.

    * ``policy`` — a causal LM (the SFT model); ``tokenizer`` its tokenizer (PAD and EOS required);
    * ``train_data`` — rows ``{"prompt": str, <columns>}`` (e.g. ``answer``, ``task``); the columns
      reach the reward functions as keyword arguments;
    * ``reward_funcs`` — names in the registry (:mod:`llmcourse.grpo.rewards`) or callables
      ``f(prompts, completions, **columns) -> list[float]``, weighted by ``config.reward_weights``;
    * ``ref_model`` — the frozen reference for the KL term (only when ``config.beta > 0``; default a
      copy of ``policy`` as given); only read (:func:`llmcourse.training.frozen`): moved to the device,
      put in eval mode, its ``requires_grad`` flags and dropout settings left as given;
    * ``eval_data`` — ``[{"prompt", "answer"(, "task")}]`` for held-out greedy exact match;
    * ``advantages_fn`` / ``loss_fn`` — replacements for :func:`~llmcourse.grpo.functional.group_advantages`
      and :func:`~llmcourse.grpo.functional.grpo_loss` with the same signatures;
    * ``eval_fn`` — ``eval_fn(policy) -> dict`` of numbers, called at every evaluation (as ``eval_data``'s,
      also without it) with the policy in eval mode; its keys join the history entry (a caller's own
      measures over the run, e.g. the KL to a fixed model or a reward model's score).

    History, one dict per logged step (health metrics): ``reward``, ``reward_std`` (mean of the
    groups' stds), ``reward/<func>``, ``frac_zero_std`` (share of groups with equal rewards; with
    ``dynamic_sampling`` among every group sampled, the rewards being the kept batch's),
    ``sampling_rounds``, ``learning_rate`` (the step's),
    ``entropy``, ``clip_low`` / ``clip_high`` / ``clip_region``, ``kl`` (β > 0), ``loss``,
    ``grad_norm``, ``completion_length`` (mean, ``_min``, ``_max``), ``eos_rate``,
    ``first_ratio_dev``, ``time_generate`` / ``time_update`` and ``seconds`` (cumulative training
    time); on evaluation steps :func:`evaluate`'s keys. Step 0 is the starting policy.
    """
    config = config or GRPOConfig()
    if not isinstance(config, GRPOConfig):
        raise TypeError(f"config must be a GRPOConfig, got {type(config).__name__}")
    from llmcourse import models

    models.check_tokenizer(tokenizer)
    rows = _check_rows(train_data, "train_data")
    eval_rows = None if eval_data is None else _check_rows(eval_data, "eval_data")
    if eval_rows is not None and any("answer" not in r for r in eval_rows):
        raise ValueError("eval_data rows need an 'answer' for exact match")
    given = [reward_funcs] if isinstance(reward_funcs, str) or callable(reward_funcs) else list(reward_funcs)
    names = [f if isinstance(f, str) else getattr(f, "__name__", f"reward_{k}") for k, f in enumerate(given)]
    reward_funcs = [RW.get_reward(f) for f in given]

    accelerator = training.make_accelerator(mixed_precision=config.mixed_precision)
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    training.require_trainable(policy, "policy")
    if config.beta:  # the reference is only read, under no_grad (the caller's flags and dropout left alone)
        ref_model = training.frozen(ref_model if ref_model is not None else copy.deepcopy(policy), device)
    model = training.disable_dropout(policy)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    n_prompts = config.generation_batch_size // config.num_generations
    prompt_gen = torch.Generator().manual_seed(config.seed)
    order: list[int] = []

    def next_rows(n: int = n_prompts) -> list[dict]:
        nonlocal order
        need = n * world
        while len(order) < need:  # epochs over the shuffled prompts
            order += torch.randperm(len(rows), generator=prompt_gen).tolist()
        take, order = order[:need], order[need:]
        return [rows[i] for i in take[rank * n:(rank + 1) * n]]

    def run_eval() -> dict:
        if eval_rows is None and eval_fn is None:
            return {}
        unwrapped.eval()
        out = {} if eval_rows is None else evaluate(unwrapped, tokenizer, eval_rows, accelerator=accelerator,
                                                    max_completion_length=config.max_completion_length)
        return {**out, **(eval_fn(unwrapped) if eval_fn is not None else {})}

    history: list[dict] = [{"step": 0, "seconds": 0.0, **run_eval()}]
    bar = training.progress(range(1, config.max_steps + 1), desc="GRPO", accelerator=accelerator,
                            enabled=config.progress)
    seconds = 0.0
    for step in bar:
        t0 = time.perf_counter()
        unwrapped.eval()
        seed = (config.seed * 1_000_003 + step) * world + rank
        if config.dynamic_sampling:
            batch = generate_dynamic_batch(unwrapped, tokenizer, next_rows, config, seed=seed, ref_model=ref_model,
                                           reward_funcs=reward_funcs, advantages_fn=advantages_fn)
        else:
            batch = generate_batch(unwrapped, tokenizer, next_rows(), config, seed=seed, ref_model=ref_model,
                                   reward_funcs=reward_funcs, advantages_fn=advantages_fn)
        t1 = time.perf_counter()
        if config.lr_scheduler_type == "linear":  # progress before this step, toward whichever limit ends the run
            done = max((step - 1) / config.max_steps, seconds / config.max_seconds if config.max_seconds else 0.0)
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * max(0.0, 1.0 - done)
        stats = grpo_update(model, optimizer, accelerator, batch, config, loss_fn=loss_fn, where=f"at step {step} ")
        t2 = time.perf_counter()
        seconds += t2 - t0
        last = step == config.max_steps or (config.max_seconds is not None and seconds >= config.max_seconds)

        if step % config.logging_steps == 0 or last:
            lengths = batch.completion_mask.sum(-1).float()
            groups = batch.rewards.view(-1, config.num_generations)
            means = {
                "reward": batch.rewards,
                "reward_std": groups.std(dim=1),
                **{f"reward/{n}": batch.rewards_per_func[:, k] for k, n in enumerate(names)},
                "frac_zero_std": (G.zero_variance_groups(batch.rewards, config.num_generations).float()
                                  if batch.sampled_zero_std is None
                                  else torch.tensor(batch.sampled_zero_std, device=batch.rewards.device)),
                **{k: v for k, v in stats.items() if k != "first_ratio_dev" and (k != "kl" or config.beta)},
                "completion_length": lengths,
            }
            m = training.read_metrics(accelerator, {**means, "eos_rate": batch.has_eos},  # one read per step
                                      max={"completion_length_max": lengths, "first_ratio_dev": stats["first_ratio_dev"]},
                                      min={"completion_length_min": lengths})
            entry = {
                "step": step,
                **{k: m[k] for k in means},
                **{k: m[k] for k in ("completion_length_min", "completion_length_max", "eos_rate", "first_ratio_dev")},
                "sampling_rounds": batch.sampling_rounds,
                "learning_rate": optimizer.param_groups[0]["lr"],
                "time_generate": t1 - t0,
                "time_update": t2 - t1,
                "seconds": seconds,
            }
            if last or (config.eval_steps and step % config.eval_steps == 0):
                entry.update(run_eval())
            history.append(entry)
            bar.set_postfix(reward=f"{entry['reward']:.2f}", zero_std=f"{entry['frac_zero_std']:.2f}")
        if last:
            break
    unwrapped.eval()
    return history
