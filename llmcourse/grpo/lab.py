r"""The task-world GRPO lab: data and settings shared by notebook 08, ``bench/bench_grpo.py`` and the tests.

Notebook 08's run starts from the PPO lab's SFT model (:func:`llmcourse.ppo.lab.load_sft_model`: a short
SFT on demonstrations of which a share end with filler ``" !"``), prompts in the same short template, and
the exact-match checker as the reward — no reward model (:data:`MAIN_CONFIG`, :func:`grpo_rows`).

GRPO's **effect run** (the bench's headline, issue 20) starts from a better SFT model, trained on fresh
problems (:func:`effect_sft_model_path`, :data:`llmcourse.recipes.GRPO_SFT_RECIPE`), and trains on fresh
prompts neither SFT nor the held-out set contains (:func:`effect_rows`), with DAPO's dynamic sampling
(:data:`EFFECT_CONFIG`). Both runs score the same 200 held-out problems.

This module sits above the trainer (it imports the PPO lab for the cached SFT model); the GRPO math
and trainer never import it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Sequence

from llmcourse import models, recipes, tasks
from llmcourse.cache import build_cached
from llmcourse.grpo.trainer import GRPOConfig, evaluate
from llmcourse.ppo import lab as ppo_lab

__all__ = ["MAIN_CONFIG", "EFFECT_CONFIG", "grpo_rows", "load_sft_model", "sft_model_path", "with_",
           "effect_sft_model_path", "load_effect_sft_model", "effect_sft_facts", "effect_rows"]

load_sft_model = ppo_lab.load_sft_model
sft_model_path = ppo_lab.sft_model_path

MAIN_CONFIG = GRPOConfig(**recipes.LAB_GRPO, progress=False)
"""GRPO from the SFT model with the exact-match reward (:data:`llmcourse.recipes.LAB_GRPO`, where the
measured outcomes are noted)."""


def grpo_rows(n_train: int = 2000, n_eval: int = 200) -> tuple[list[dict], list[dict]]:
    """``(train_rows, eval_rows)``: ``{"prompt", "answer", "task"}`` from the SFT training problems and
    from its held-out problems (never trained on, by SFT or GRPO)."""
    train, held = ppo_lab._split()
    if n_train > len(train) or n_eval > len(held):
        raise ValueError(f"the lab has {len(train)} training and {len(held)} held-out problems; "
                         f"asked for {n_train} and {n_eval}")
    return [_row(p) for p in train[:n_train]], [_row(p) for p in held[:n_eval]]


EFFECT_CONFIG = GRPOConfig(**recipes.GRPO_EFFECT, progress=False)
"""GRPO's effect run (:data:`llmcourse.recipes.GRPO_EFFECT`, where the measured outcomes are noted)."""


def _row(p: tasks.Problem) -> dict:
    return {"prompt": ppo_lab.prompt(p.instruction, p.input), "answer": p.answer, "task": p.task}


def _fresh_problems(n: int, seed: int, mix: Sequence[str], exclude: set,
                    repeat: Sequence[str] = ()) -> list[tasks.Problem]:
    """``n`` problems drawn with ``random.Random(seed)`` from the tasks in ``mix`` (a task listed twice is
    drawn twice as often), none of them in ``exclude``; distinct, except those of the tasks in ``repeat``,
    which may be drawn again (add has only 100 problems: kept distinct, it would be 99 among 48,000)."""
    rng, seen, out = random.Random(seed), set(exclude), []
    while len(out) < n:
        p = tasks.sample_problem(rng, list(mix))
        if p not in seen or (p.task in repeat and p not in exclude):
            seen.add(p)
            out.append(p)
    return out


def _effect_sft_problems(recipe: dict = recipes.GRPO_SFT_RECIPE) -> list[tasks.Problem]:
    held = tasks.split_problems(recipe["n_train"], recipe["n_eval"], seed=recipe["split_seed"])[1]
    return _fresh_problems(recipe["n_problems"], recipe["problem_seed"], recipe["mix"], set(held),
                           recipe.get("repeat", ()))


def effect_sft_model_path(progress: bool = False, recipe: dict = recipes.GRPO_SFT_RECIPE) -> Path:
    """The cached SFT model of GRPO's effect run, trained first if needed (:data:`llmcourse.recipes.GRPO_SFT_RECIPE`:
    1,200 steps of :func:`llmcourse.sft.train_sft` on fresh problems, about a minute of CPU); ``recipe``: a
    variant of it (e.g. more steps), cached under its own key."""
    def build(folder: Path) -> dict:
        from llmcourse.sft import SFTConfig, train_sft

        r = recipe
        tok, model = models.load_tokenizer(), models.load_model()
        train_sft(model, tok, [tasks.to_record(p) for p in _effect_sft_problems(r)],
                  SFTConfig(template=r["template"], max_steps=r["max_steps"], learning_rate=r["learning_rate"],
                            per_device_train_batch_size=r["per_device_train_batch_size"], seed=r["seed"],
                            eval_exact_match=False, logging_steps=100, progress=progress))
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        _, held = grpo_rows()
        return {"held_out": evaluate(model, tok, held, max_completion_length=recipes.GRPO_EFFECT["max_completion_length"])}

    return build_cached("grpo-effect-sft", recipes.on_base(recipe), build, marker="llmcourse_sft.json")


def load_effect_sft_model(recipe: dict = recipes.GRPO_SFT_RECIPE):
    """A fresh copy of the effect run's cached SFT model (eval mode)."""
    return models.load_model(effect_sft_model_path(recipe=recipe))


def effect_sft_facts(recipe: dict = recipes.GRPO_SFT_RECIPE) -> dict:
    """Recipe, build time and held-out metrics of the effect run's SFT model."""
    return json.loads((effect_sft_model_path(recipe=recipe) / "llmcourse_sft.json").read_text())


def effect_rows(n_train: int = 20_000, n_eval: int = 200, train_tasks: Sequence[str] = recipes.GRPO_EFFECT_TASKS,
                seed: int = 20_000) -> tuple[list[dict], list[dict]]:
    """``(train_rows, eval_rows)`` of the effect run: ``n_train`` fresh problems of ``train_tasks`` that are
    neither held-out nor among the effect SFT model's problems, and the lab's held-out problems
    (the same as :func:`grpo_rows`'), as ``{"prompt", "answer", "task"}`` rows."""
    _, held = grpo_rows(n_eval=n_eval)
    r = recipes.GRPO_SFT_RECIPE
    exclude = set(tasks.split_problems(r["n_train"], r["n_eval"], seed=r["split_seed"])[1]) | set(_effect_sft_problems())
    return [_row(p) for p in _fresh_problems(n_train, seed, train_tasks, exclude)], held


def with_(config: GRPOConfig = MAIN_CONFIG, **changes) -> GRPOConfig:
    """A copy of a lab config with some fields changed."""
    return dataclasses.replace(config, **changes)
