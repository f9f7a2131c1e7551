r"""Training a reward model: :func:`train_reward_model`, and the task-world reward model.

The loop, per optimizer step: a batch of $B$ pairs → one forward pass over the $2B$ sequences
(chosen rows then rejected rows; each pair's prompt encoded once) → $r_c, r_r$ → $\mathcal{L} = \frac1B\sum_i -\log\sigma(r_{c,i} -
r_{r,i} - m_i)$ (+ optional centring) → backward, clip, AdamW, warm-up + cosine schedule. Held-out
pairwise accuracy $\frac1N\sum_i \mathbb 1[r_{c,i} > r_{r,i}]$ and mean margin are logged to a history
(a list of dicts) that :func:`llmcourse.plots.plot_history` draws.

Device, precision and processes come from :func:`llmcourse.training.make_accelerator`; the same code
runs on a CPU, a GPU (bf16 autocast) or under ``accelerate launch``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from llmcourse import models, tasks, templates, training
from llmcourse.config import check_numbers
from llmcourse.cache import build_cached
from llmcourse.recipes import TASK_REWARD_RECIPE, on_base
from llmcourse.reward.data import GroupedBatchSampler, PreferenceCollator, PreferenceDataset
from llmcourse.reward.functional import (bradley_terry_loss, mean_margin, pairwise_accuracy,
                                         reward_centering_penalty, scores_at_last_token)
from llmcourse.reward.model import (RewardScorer, _check_reward_model, load_reward_model,
                                    reward_model_from_causal_lm, save_reward_model, score_texts,
                                    supports_shared_prompt)

LossFn = Callable[..., torch.Tensor]


@dataclass
class RewardConfig:
    """Settings of :func:`train_reward_model` (names as in TRL's ``RewardConfig`` where TRL has the idea)."""

    learning_rate: float = 1e-3
    """Peak AdamW learning rate. TRL's default (1e-5) suits billion-parameter models; the embedded
    ~1M-parameter model needs much larger steps."""
    per_device_train_batch_size: int = 16
    """Groups per batch on each process; a group is one pair, or all pairs of one ranking (InstructGPT
    batches a prompt's K(K−1)/2 pairs together). For plain pair data: pairs per batch."""
    per_device_eval_batch_size: int = 64
    """Pairs per evaluation batch on each process."""
    gradient_accumulation_steps: int = 1
    """Batches whose gradients are summed before one optimizer step."""
    num_train_epochs: float = 1.0
    """Passes over the training pairs (ignored when ``max_steps`` > 0)."""
    max_steps: int = -1
    """Optimizer steps to run; -1 means ``num_train_epochs`` decides."""
    max_length: int = 256
    """Longest prompt + response + EOS, in tokens; longer pairs are dropped and counted, never
    truncated (TRL's default is 1024 and it also filters)."""
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
    """Log the training loss / accuracy / margin (averaged over the window) every this many steps."""
    eval_steps: int | None = None
    """Evaluate on ``eval_pairs`` every this many steps (None: only after the last step)."""
    eval_at_start: bool = False
    """Also evaluate before the first step (a baseline point for the plots)."""
    center_rewards_coefficient: float | None = None
    """η of the reward-centring term η·mean((r_c + r_r)²) (Eisenstein et al., 2023); None disables it."""
    share_prompt: bool = True
    """Encode each pair's prompt once and reuse its keys/values for both responses (same scores and
    gradients, ~1.8× less compute on the task world; not in TRL, which runs both full sequences).
    Used when the model supports it (decoder with a ``score`` head); otherwise full sequences."""
    disable_dropout: bool = True
    """Set every dropout probability to 0 (scores of the same text must not change between calls)."""
    mixed_precision: str = "auto"
    """"auto" (bf16 on a CUDA device that supports it, else fp32), "no", "bf16" or "fp16"."""
    output_dir: str | None = None
    """Save the trained model and tokenizer here at the end (None: don't save)."""

    def __post_init__(self):
        # every numeric key: its type, finite, in its range (config.RANGES), named in the message; below,
        # only what that table cannot say (a stricter bound for one config, keys that depend on each other)
        check_numbers(self)
        if self.max_steps == -1 and not self.num_train_epochs > 0:
            raise ValueError("set RewardConfig.max_steps > 0 or num_train_epochs > 0 (nothing to train otherwise)")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"RewardConfig.max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        if self.eval_steps is not None and self.eval_steps <= 0:
            raise ValueError(f"RewardConfig.eval_steps must be > 0 or None, got {self.eval_steps}")
        training.resolve_mixed_precision(self.mixed_precision)


def _call_loss(loss_fn: LossFn, chosen: torch.Tensor, rejected: torch.Tensor, margin) -> torch.Tensor:
    name = getattr(loss_fn, "__name__", "loss_fn")
    loss = loss_fn(chosen, rejected) if margin is None else loss_fn(chosen, rejected, margin)
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"{name} returned {type(loss).__name__}; the trainer needs a torch scalar tensor that "
                        "carries gradients (a NumPy loss cannot train a model)")
    if loss.dim() != 0:
        raise ValueError(f"{name} returned shape {tuple(loss.shape)}; the trainer needs a scalar — reduce with .mean()")
    if not loss.requires_grad:
        raise ValueError(f"{name} returned a tensor without gradient (detached? .item()? NumPy?); "
                         "compute the loss with torch operations on the scores")
    if not bool(torch.isfinite(loss.detach())):
        raise FloatingPointError(f"{name} returned {loss.item()} for finite scores "
                                 f"(largest |r_c − r_r| = {(chosen - rejected).abs().max().item():.3g}); "
                                 "use softplus / logsigmoid instead of log(sigmoid(x))")
    return loss


def _model_inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "prompt_ids", "prompt_mask")}


@torch.no_grad()
def _evaluate(scorer, loader, accelerator) -> dict[str, float]:
    was_training = scorer.training
    scorer.eval()
    cs, rs = [], []
    for batch in loader:
        scores = scorer(**_model_inputs(batch)).float()
        b = scores.shape[0] // 2
        c, r = accelerator.gather_for_metrics((scores[:b].contiguous(), scores[b:].contiguous()))
        cs.append(c)
        rs.append(r)
    scorer.train(was_training)
    c, r = torch.cat(cs), torch.cat(rs)
    return {"eval_loss": float(bradley_terry_loss(c, r)), "eval_accuracy": float(pairwise_accuracy(c, r)),
            "eval_margin": float(mean_margin(c, r)), "eval_pairs": int(c.shape[0])}


def train_reward_model(model, tokenizer, train_pairs: Sequence[dict], config: RewardConfig | None = None,
                       eval_pairs: Sequence[dict] | None = None, loss_fn: LossFn | None = None, *,
                       pick: Callable = scores_at_last_token, progress: bool = True) -> list[dict[str, Any]]:
    r"""Train ``model`` (a one-output sequence-classification model, trained in place) on preference
    pairs; returns the history, one dict per logged step.

    ``loss_fn(chosen, rejected[, margin]) -> scalar`` replaces the Bradley–Terry loss (a student's
    loss plugs in here; it receives ``margin`` only when the pairs carry margins); ``pick(values,
    attention_mask)`` replaces the read-out at the last real token. The centring term of
    ``config.center_rewards_coefficient`` is added by the trainer, whatever the loss. Training rows are
    right-padded; pairs longer than ``config.max_length`` are dropped and their count logged
    (``"filtered_pairs"`` in the first training row).

    History keys: ``step``, ``epoch``, ``loss``, ``accuracy``, ``margin``, ``learning_rate``,
    ``elapsed`` (seconds) on training rows; ``eval_loss``, ``eval_accuracy``, ``eval_margin``,
    ``eval_pairs`` on evaluation rows.
    """
    config = config or RewardConfig()
    if not isinstance(config, RewardConfig):
        raise TypeError(f"config must be a RewardConfig, got {type(config).__name__}")
    models.check_tokenizer(tokenizer)
    _check_reward_model(model)
    training.require_trainable(model, "model")
    loss_fn = loss_fn or bradley_terry_loss
    train_ds = PreferenceDataset(train_pairs, tokenizer, config.max_length, name="train_pairs")
    eval_ds = PreferenceDataset(eval_pairs, tokenizer, config.max_length, name="eval_pairs") if eval_pairs is not None else None

    accelerator = training.make_accelerator(config.mixed_precision, config.gradient_accumulation_steps)
    if config.disable_dropout:
        training.disable_dropout(model)
    model.train()
    collate = PreferenceCollator(tokenizer.pad_token_id, padding_side="right",
                                 share_prompt=config.share_prompt and supports_shared_prompt(model))
    sampler = GroupedBatchSampler(train_ds.groups, config.per_device_train_batch_size, seed=config.seed)
    loader = torch.utils.data.DataLoader(train_ds, batch_sampler=sampler, collate_fn=collate)
    eval_loader = (torch.utils.data.DataLoader(eval_ds, batch_size=config.per_device_eval_batch_size, shuffle=False,
                                               collate_fn=collate) if eval_ds is not None else None)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate)
    scorer = RewardScorer(model, pick)
    scorer, optimizer, loader = accelerator.prepare(scorer, optimizer, loader)
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)

    steps_per_epoch = max(1, len(loader) // config.gradient_accumulation_steps)
    total = config.max_steps if config.max_steps > 0 else max(1, math.ceil(config.num_train_epochs * steps_per_epoch))
    scheduler = training.make_scheduler(optimizer, warmup_steps=config.warmup_steps, total_steps=total,
                                        min_ratio=config.min_lr_ratio)
    coef = config.center_rewards_coefficient or 0.0

    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    if eval_loader is not None and config.eval_at_start:
        history.append({"step": 0, **_evaluate(scorer, eval_loader, accelerator), "elapsed": 0.0})
    window: list[torch.Tensor] = []
    step, epoch = 0, 0
    bar = training.progress(range(total), desc="reward model", accelerator=accelerator, enabled=progress)
    while step < total:
        for batch in loader:
            with accelerator.accumulate(scorer):
                scores = scorer(**_model_inputs(batch)).float()
                b = scores.shape[0] // 2
                chosen, rejected = scores[:b], scores[b:]
                loss = _call_loss(loss_fn, chosen, rejected, batch.get("margin"))
                if coef:
                    loss = loss + coef * reward_centering_penalty(chosen, rejected).mean()
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(scorer.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            d = (chosen - rejected).detach()
            window.append(torch.stack([loss.detach(), (d > 0).float().mean(), d.mean()]))
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
                       "loss": m[0], "accuracy": m[1], "margin": m[2], "learning_rate": lr,
                       "elapsed": round(time.perf_counter() - start, 3)}
                if not any("loss" in h for h in history):
                    row["filtered_pairs"] = train_ds.n_filtered
                history.append(row)
                bar.set_postfix(loss=f"{m[0]:.3f}", acc=f"{m[1]:.2f}")
            if eval_loader is not None and (step == total or (config.eval_steps and step % config.eval_steps == 0)):
                history.append({"step": step, **_evaluate(scorer, eval_loader, accelerator),
                                "elapsed": round(time.perf_counter() - start, 3)})
            if step >= total:
                break
        epoch += 1
    bar.close()
    model.eval()
    if config.output_dir:
        save_reward_model(accelerator.unwrap_model(scorer).model, tokenizer, config.output_dir, accelerator)
    return history


def evaluate_reward_model(model, tokenizer, pairs: Sequence[dict], *, batch_size: int = 64,
                          max_length: int | None = None) -> dict[str, float]:
    """Held-out metrics of a reward model on pair records (one process, no training): pairwise
    ``accuracy``, mean ``margin`` r_c − r_r, Bradley–Terry ``loss``, ``pairs`` scored and
    ``filtered_pairs`` (longer than ``max_length``, skipped)."""
    ds = PreferenceDataset(pairs, tokenizer, max_length or 10**9, name="pairs")
    seqs_c = [ex["chosen_ids"] for ex in ds.examples]
    seqs_r = [ex["rejected_ids"] for ex in ds.examples]
    from llmcourse.reward.model import score_token_ids

    c = score_token_ids(model, seqs_c, tokenizer.pad_token_id, batch_size=batch_size)
    r = score_token_ids(model, seqs_r, tokenizer.pad_token_id, batch_size=batch_size)
    return {"accuracy": float(pairwise_accuracy(c, r)), "margin": float(mean_margin(c, r)),
            "loss": float(bradley_terry_loss(c, r)), "pairs": len(ds), "filtered_pairs": ds.n_filtered}


# --------------------------------------------------------------------------- the task-world reward model


def alpaca_template(rec: dict) -> str:
    """The prompt format shared by SFT, the reward model and PPO (Alpaca, with input)."""
    return templates.alpaca_prompt(rec["instruction"], rec["input"])


def task_pairs(n: int, seed: int = 0, *, bias: str | None = None, template: str = "alpaca",
               tokenizer=None) -> list[dict]:
    """``n`` task-world preference pairs (:func:`llmcourse.tasks.preference_pairs`) rendered with an
    SFT template (``"alpaca"``, ``"simple"``, or ``"chat"`` with ``tokenizer``), so a reward model sees
    prompts and answers exactly as the SFT policy it will judge was trained on them."""
    def prompt(rec: dict) -> str:
        return templates.single_turn(template, rec["instruction"], rec["input"], tokenizer=tokenizer)[0]

    def answer(text: str) -> str:
        return templates.response(template, text)

    return [{**p, "chosen": answer(p["chosen"]), "rejected": answer(p["rejected"])}
            for p in tasks.preference_pairs(n, seed, bias=bias, template=prompt)]


def onpolicy_pairs(problems: Sequence[tasks.Problem], samples: Sequence[str], seed: int,
                   template: str = "simple", tokenizer=None) -> list[dict]:
    """Pairs a perfect labeller would give for a policy's own answers: the correct answer ≻ the
    policy's answer, unless that answer is exactly right (then a subtly wrong answer takes its place)
    or empty. Training a reward model on the policy's distribution is what makes it a reliable judge
    of that policy during RL (InstructGPT labels samples of the SFT model). ``samples[i]`` answers
    ``problems[i]``, decoded as generated (:func:`llmcourse.ppo.rollout.policy_samples`)."""
    import random

    rng = random.Random(seed)
    pairs = []
    for p, sample in zip(problems, samples):
        prompt, chosen = templates.single_turn(template, p.instruction, p.input, p.answer, tokenizer=tokenizer)
        rejected = sample
        if tasks.normalize(sample) == p.answer or not sample.strip():
            rejected = templates.response(template, tasks.wrong_answer(p, rng))
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return pairs


def task_preference_data(n_train: int = 5000, n_eval: int = 300, *, seed: int = 0,
                         bias: str | None = None, template: str = "alpaca",
                         tokenizer=None) -> tuple[list[dict], list[dict]]:
    """Train / held-out :func:`task_pairs`; held-out pairs whose prompt occurs in the training pairs
    are removed, so held-out accuracy measures generalisation to new problems. (With a few thousand
    training pairs every one of the 100 ``add`` problems is in the training set, so the held-out pairs
    are reverse / sort / max / count.)"""
    train = task_pairs(n_train, seed, bias=bias, template=template, tokenizer=tokenizer)
    seen = {p["prompt"] for p in train}
    held = [p for p in task_pairs(4 * n_eval, seed + 10_007, bias=bias, template=template, tokenizer=tokenizer)
            if p["prompt"] not in seen][:n_eval]
    if len(held) < n_eval:
        raise ValueError(f"only {len(held)} held-out prompts are new; lower n_eval or n_train")
    return train, held


def task_rankings(n: int, *, seed: int = 0, k_wrong: int = 2) -> list[dict]:
    """Ranking records ``{"prompt", "responses", "ranks"}`` from the task world: the correct answer
    (rank 1) and ``k_wrong`` distinct subtly wrong answers, tied at rank 2 — so each ranking gives
    ``k_wrong`` pairs and no pair between the wrong answers."""
    import random

    rng = random.Random(seed)
    out = []
    for p in tasks.problems(n, rng):
        wrong: list[str] = []
        for _ in range(100):
            w = tasks.wrong_answer(p, rng)
            if w != p.answer and w not in wrong:
                wrong.append(w)
            if len(wrong) == k_wrong:
                break
        out.append({"prompt": alpaca_template(tasks.to_record(p)), "responses": [p.answer, *wrong],
                    "ranks": [1] + [2] * len(wrong)})
    return out


@dataclass
class TaskRewardModel:
    """What :func:`train_task_reward_model` returns: the trained model, its tokenizer, the training
    history and final held-out metrics."""

    model: Any
    tokenizer: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):  # model, tokenizer, history = train_task_reward_model(...)
        return iter((self.model, self.tokenizer, self.history))


def filler_preference(model, tokenizer, n: int = 200, *, seed: int = 123, filler_tokens: int = 3,
                      wrong: bool = False, template: str = "alpaca") -> float:
    """How much a reward model likes the planted filler (``" !"`` × ``filler_tokens``).

    ``wrong=False``: share of task prompts where the correct answer *with* filler outscores the same
    answer without it (≈ 1 for a length-biased RM). ``wrong=True``: share where a *wrong* answer with
    filler outscores the correct answer without it — the trade a reward-hacking policy makes.
    ``template``: the SFT template the reward model was trained on (``"alpaca"`` or ``"simple"``)."""
    import random

    rng = random.Random(seed)
    probs = tasks.problems(n, rng)
    prompts = [templates.single_turn(template, p.instruction, p.input)[0] for p in probs]
    plain = score_texts(model, tokenizer, prompts, [templates.response(template, p.answer) for p in probs])
    base = [tasks.wrong_answer(p, rng) if wrong else p.answer for p in probs]
    padded = score_texts(model, tokenizer, prompts,
                         [templates.response(template, b + tasks.FILLER * filler_tokens) for b in base])
    return float((padded > plain).float().mean())


def train_task_reward_model(bias: str | None = None, *, model=None, tokenizer=None, config: RewardConfig | None = None,
                            n_train: int | None = None, n_eval: int | None = None, seed: int = 0,
                            cache: bool = False, progress: bool = True) -> TaskRewardModel:
    """Train a reward model on the task world's preference pairs, rendered with the simple SFT template
    (:data:`llmcourse.recipes.TASK_REWARD_RECIPE`; the template of ``bench/bench_sft.py --quality``).

    ``bias=None``: chosen = correct answer, rejected = subtly wrong; ``bias="length"``: chosen answers
    also carry filler ``" !"`` tokens, so the model learns to like filler — the biased reward model of
    the PPO reward-hacking lab. ``model`` defaults to the embedded base model with a new head; pass a
    causal LM (e.g. the SFT model) to start from its weights, or a reward model. ``cache=True`` (default
    model only) reuses a model trained with the same recipe from the course cache folder.

    Returns :class:`TaskRewardModel` (``model, tokenizer, history = ...`` also works);
    ``metrics`` holds held-out ``accuracy``/``margin``, training seconds, and the bias measures
    ``filler_preference`` / ``filler_over_correct`` (see :func:`filler_preference`).
    """
    if bias not in (None, "length"):
        raise ValueError(f"bias must be None or 'length', got {bias!r}")
    r = dict(TASK_REWARD_RECIPE)
    if n_train is not None:
        r["n_train"] = n_train
    if n_eval is not None:
        r["n_eval"] = n_eval
    config = config or RewardConfig(learning_rate=r["learning_rate"], per_device_train_batch_size=r["batch_size"],
                                    max_steps=r["max_steps"], warmup_steps=r["warmup_steps"], seed=seed,
                                    logging_steps=10, eval_steps=100, eval_at_start=True)
    if not (cache and model is None):
        return _train_task_reward_model(r, bias, model, tokenizer or models.load_tokenizer(), config, seed, progress)

    def build(folder: Path) -> dict:
        run = _train_task_reward_model(r, bias, None, tokenizer or models.load_tokenizer(), config, seed, progress)
        save_reward_model(run.model, run.tokenizer, folder, overwrite=True)
        return {"history": run.history, "metrics": run.metrics}

    key_recipe = on_base({**r, "bias": bias, "seed": seed, "config": asdict(config)})
    folder = build_cached(f"reward-{bias or 'clean'}", key_recipe, build, marker="llmcourse_reward.json")
    info = json.loads((folder / "llmcourse_reward.json").read_text())
    return TaskRewardModel(load_reward_model(folder), models.load_tokenizer(folder), info["history"], info["metrics"])


def _train_task_reward_model(r: dict, bias: str | None, model, tokenizer, config: RewardConfig, seed: int,
                             progress: bool) -> TaskRewardModel:
    """One run of :func:`train_task_reward_model`'s recipe ``r``, in memory."""
    if model is None:
        model = load_reward_model(seed=seed)
    elif getattr(getattr(model, "config", None), "num_labels", None) != 1 or not hasattr(model, "score"):
        model = reward_model_from_causal_lm(model, seed=seed)
    train, held = task_preference_data(r["n_train"], r["n_eval"], seed=seed, bias=bias, template=r["template"])
    t0 = time.perf_counter()
    history = train_reward_model(model, tokenizer, train, config, eval_pairs=held, progress=progress)
    seconds = time.perf_counter() - t0
    final = [h for h in history if "eval_accuracy" in h][-1]
    metrics = {"accuracy": final["eval_accuracy"], "margin": final["eval_margin"], "eval_pairs": final["eval_pairs"],
               "train_seconds": round(seconds, 2), "steps": config.max_steps,
               "filler_preference": filler_preference(model, tokenizer, template=r["template"]),
               "filler_over_correct": filler_preference(model, tokenizer, wrong=True, template=r["template"]),
               "bias": bias, "template": r["template"]}
    return TaskRewardModel(model, tokenizer, history, metrics)
