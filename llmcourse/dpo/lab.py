r"""The task-world DPO recipe: DPO from an SFT model on pairs a perfect labeller gives for its answers.

Notebook 07, ``bench/bench_dpo.py`` and the tests share it:

* :func:`sft_model_path` — the embedded base model after the SFT of ``bench/bench_sft.py --quality``
  (simple template, reverse and sort repeated 2×), built once and cached (folder keyed by the recipe);
* :func:`dpo_problems` / :func:`task_dpo_pairs` — preference pairs on fresh task-world problems (never a
  held-out one): the correct answer ≻ the SFT model's own answer (greedy and sampled) whenever the
  exact-match checker says it is wrong, plus the task world's correct ≻ subtly wrong pairs. Learning from
  the policy's own mistakes is what makes DPO fix *them*;
* :func:`run_task_dpo` — train from a fresh copy of the SFT model and measure held-out exact match,
  per task, before and after.

This module sits above the trainers (it imports ``llmcourse.sft``, ``llmcourse.reward`` and ``llmcourse.rl``); the DPO
math, data and trainer never import it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from llmcourse import models, recipes, tasks, templates
from llmcourse.cache import build_cached
from llmcourse.dpo.trainer import DPOConfig, train_dpo

__all__ = ["TEMPLATE", "SFT_RECIPE", "PAIRS_RECIPE", "DPO_CONFIG", "split", "prompt", "sft_records", "sft_model_path",
           "load_sft_model", "exact_match_by_task", "dpo_problems", "task_dpo_pairs", "run_task_dpo"]

# The recipes live in llmcourse.recipes (one place for every recipe); the lab's names for them:
TEMPLATE = recipes.LAB_TEMPLATE
SFT_RECIPE = recipes.DPO_SFT_RECIPE
PAIRS_RECIPE = recipes.DPO_PAIRS_RECIPE
DPO_CONFIG = DPOConfig(**recipes.DPO_LAB)
"""The lab's DPO run (:data:`llmcourse.recipes.DPO_LAB`)."""


def split():
    """``(train, held_out)`` task-world problems of the SFT recipe (disjoint)."""
    r = SFT_RECIPE
    return tasks.split_problems(r["n_train"], r["n_eval"], seed=r["split_seed"])


def prompt(p: tasks.Problem) -> str:
    """The lab's prompt for one problem (the seed guide's simple template)."""
    return templates.single_turn(TEMPLATE, p.instruction, p.input)[0]


def sft_records(recipe: dict = SFT_RECIPE) -> list[dict[str, str]]:
    """The SFT demonstrations: every training problem, the hard tasks repeated."""
    train, _ = split()
    return [tasks.to_record(p) for p in train for _ in range(recipe["oversample"].get(p.task, 1))]


def sft_model_path(progress: bool = False) -> Path:
    """The cached SFT model's folder, trained first if needed (about a minute on 2 CPU cores)."""
    def build(folder: Path) -> dict:
        from llmcourse.sft import SFTConfig, train_sft

        r = SFT_RECIPE
        tok, model = models.load_tokenizer(), models.load_model()
        train_sft(model, tok, sft_records(r),
                  SFTConfig(template=r["template"], max_steps=r["max_steps"], learning_rate=r["learning_rate"],
                            per_device_train_batch_size=r["per_device_train_batch_size"], seed=r["seed"],
                            eval_exact_match=False, logging_steps=50, progress=progress))
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        return {"held_out": exact_match_by_task(model, tok, split()[1])}

    return build_cached("dpo-lab-sft", recipes.on_base(SFT_RECIPE), build, marker="llmcourse_sft.json")


def load_sft_model():
    """A fresh copy of the cached SFT model (eval mode)."""
    return models.load_model(sft_model_path())


def exact_match_by_task(model, tokenizer, problems, *, max_new_tokens: int = 16) -> dict[str, Any]:
    """Greedy held-out exact match, overall (``"all"``) and per task."""
    preds = models.generate(model, tokenizer, [prompt(p) for p in problems], max_new_tokens=max_new_tokens)
    by: dict[str, list[bool]] = {}
    for p, pred in zip(problems, preds):
        by.setdefault(p.task, []).append(tasks.normalize(pred) == p.answer)
    out: dict[str, Any] = {"all": sum(sum(v) for v in by.values()) / len(problems)}
    out.update({k: sum(v) / len(v) for k, v in sorted(by.items())})
    out["n"] = {k: len(v) for k, v in sorted(by.items())}
    return out


def dpo_problems(n: int, seed: int) -> list:
    """``n`` task-world problems for DPO prompts: fresh draws (seeded), never a held-out problem. Most
    are new to the SFT model too, so its answers to them make the mistakes it makes on unseen problems."""
    held = set(split()[1])
    rng = random.Random(10_000 + seed)
    out: list = []
    while len(out) < n:
        p = tasks.sample_problem(rng)
        if p not in held:
            out.append(p)
    return out


def task_dpo_pairs(model, tokenizer, problems, *, seed: int = 0, recipe: dict = PAIRS_RECIPE) -> list[dict[str, str]]:
    """DPO pairs for ``model``'s own answers to ``problems`` (see the module docstring), prompts and
    responses already rendered in the lab's template (train with ``template=None``)."""
    from llmcourse.reward import onpolicy_pairs, task_pairs
    from llmcourse.rl.rollout import policy_samples

    rng = random.Random(seed)
    prompts = [prompt(p) for p in problems]
    answers = [models.generate(model, tokenizer, prompts, max_new_tokens=recipe["response_length"])]
    answers[0] = [" " + a.lstrip() for a in answers[0]]  # the simple template's answer starts with a space
    for k in range(recipe["n_samples"]):
        answers.append(policy_samples(model, tokenizer, prompts, response_length=recipe["response_length"],
                                      temperature=recipe["sample_temperature"], seed=seed * 1000 + k))
    pairs, seen = [], set()
    for sampled in answers:
        wrong = [(p, a) for p, a in zip(problems, sampled) if tasks.normalize(a) != p.answer and a.strip()]
        for pair in onpolicy_pairs([p for p, _ in wrong], [a for _, a in wrong], rng.randrange(10**9), template=TEMPLATE):
            key = (pair["prompt"], pair["rejected"].strip())
            if key not in seen:
                seen.add(key)
                pairs.append(pair)
    pairs += task_pairs(recipe["n_task"], seed + 101, template=TEMPLATE)
    random.Random(seed).shuffle(pairs)
    return pairs


def run_task_dpo(seed: int = 0, *, config: DPOConfig | None = None, recipe: dict = PAIRS_RECIPE,
                 loss_fn=None, progress: bool = False) -> dict[str, Any]:
    """DPO from a fresh copy of the cached SFT model with ``seed`` (pairs, sampling and batch order;
    ``loss_fn`` replaces the preference loss, e.g. for an ablation);
    returns held-out exact match after DPO (overall and per task), wall and CPU seconds of pair building
    and of training (CPU seconds of a one-thread run are what it takes on an idle core), the number of
    pairs, the history and the model."""
    from dataclasses import replace

    config = replace(config or DPO_CONFIG, seed=seed)
    tok = models.load_tokenizer(sft_model_path())
    model = load_sft_model()
    _, held = split()
    problems = dpo_problems(recipe["n_problems"], seed)
    t0, c0 = time.perf_counter(), time.process_time()
    pairs = task_dpo_pairs(model, tok, problems, seed=seed, recipe=recipe)
    t1, c1 = time.perf_counter(), time.process_time()
    history = train_dpo(model, tok, pairs, config, loss_fn=loss_fn, progress=progress)
    t2, c2 = time.perf_counter(), time.process_time()
    return {"seed": seed, "pairs": len(pairs), "pair_seconds": round(t1 - t0, 1), "pair_cpu_seconds": round(c1 - c0, 1),
            "train_seconds": round(t2 - t1, 1), "train_cpu_seconds": round(c2 - c1, 1),
            "after": exact_match_by_task(model, tok, held), "history": history, "model": model}
