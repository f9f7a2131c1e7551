r"""The task-world PPO lab: the SFT policy and reward models PPO starts from, and the lab's settings.

Notebook 03, ``bench/bench_ppo.py`` and the tests share one recipe, built once and cached next to
the base model (``$LLMCOURSE_CACHE`` or ``~/.cache/llmcourse``, folders keyed by the recipe):

* :func:`sft_model_path` — the embedded base model after a *short* supervised fine-tuning on the
  task world (:func:`llmcourse.sft.train_sft`). Its demonstrations are sloppy on purpose: a share of
  them end with filler (``"4 1 3 ! !"``), and the SFT policy inherits the tic;
* :func:`reward_model_path` — two reward models trained with notebook 02's trainer
  (:func:`llmcourse.reward.train_reward_model`), both initialised from the SFT model as InstructGPT
  did: the **clean** one learned from comparisons of the SFT policy's own answers with the correct
  answer (so it dislikes the tic and the policy's typical mistakes); the **length-biased** one learned
  from notebook 02's biased pairs (chosen answers carry filler: it *loves* the tic);
* :func:`ppo_prompts` — training prompts and held-out ``{"prompt", "answer"}`` records, disjoint;
* :data:`MAIN_CONFIG` (PPO with the adaptive KL controller) and :data:`HACKING_CONFIGS` (β = 0
  against a fixed β > 0, for the reward-hacking lab).

Every stage uses the seed guide's short template (``Instruction: …\nInput: …\nOutput:``; the answer
follows after a space) rather than Alpaca's preamble: a 20-token prompt instead of 57 makes each
PPO step about 2.5× cheaper, which is what fits the lab into a CPU minute.

This module sits above the trainers (it imports ``llmcourse.sft`` and ``llmcourse.reward``); the PPO
math and trainer never import it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

from llmcourse import models, recipes, tasks, templates
from llmcourse.cache import build_cached, recipe_key
from llmcourse.rl.rollout import policy_samples
from llmcourse.ppo.trainer import PPOConfig
from llmcourse.reward import onpolicy_pairs

__all__ = ["TEMPLATE", "SFT_RECIPE", "RM_RECIPE", "MAIN_CONFIG", "HACKING_CONFIGS", "prompt", "sft_records",
           "sft_model_path", "load_sft_model", "sft_facts", "reward_model_path", "reward_model", "reward_facts",
           "ppo_prompts", "policy_samples", "onpolicy_pairs", "notebook_models"]

# The recipes live in llmcourse.recipes (one place for every recipe); the lab's names for them:
TEMPLATE = recipes.LAB_TEMPLATE
SFT_RECIPE = recipes.LAB_SFT_RECIPE
RM_RECIPE = recipes.LAB_RM_RECIPE

MAIN_CONFIG = PPOConfig(**recipes.LAB_PPO, progress=False)
"""PPO from the SFT model against the clean reward model, β adapted toward a KL target of 3 nats
(:data:`llmcourse.recipes.LAB_PPO`, where the measured outcomes are noted)."""

HACKING_CONFIGS = {name: dataclasses.replace(MAIN_CONFIG, **changes) for name, changes in recipes.LAB_HACKING.items()}
"""The reward-hacking lab: the main run against the length-biased reward model, with β = 0 and with a
fixed large β (:data:`llmcourse.recipes.LAB_HACKING`, where the reasons and outcomes are noted)."""


def prompt(instruction: str, input: str = "") -> str:
    """The lab's prompt for one task (the seed guide's template)."""
    return templates.single_turn(TEMPLATE, instruction, input)[0]


def _response(text: str) -> str:
    return templates.response(TEMPLATE, text)  # the simple template's answer starts with a space


def _split():
    r = SFT_RECIPE
    return tasks.split_problems(r["n_train"], r["n_eval"], seed=r["split_seed"])


# --------------------------------------------------------------------------- SFT


def sft_records(recipe: dict = SFT_RECIPE) -> list[dict[str, str]]:
    """The lab's SFT demonstrations: task-world records, ``filler_rate`` of them with a trailing tic."""
    rng = random.Random(recipe["seed"] + 17)
    train, _ = _split()
    out = []
    for p in train:
        rec = tasks.to_record(p)
        if rng.random() < recipe["filler_rate"]:
            rec["output"] += tasks.FILLER * rng.randint(1, recipe["filler_max"])
        out.append(rec)
    return out


def sft_model_path(progress: bool = False) -> Path:
    """The cached lab SFT model's folder, trained first if needed (300 steps of :func:`llmcourse.sft.train_sft`)."""
    def build(folder: Path) -> dict:
        from llmcourse.sft import SFTConfig, train_sft

        r = SFT_RECIPE
        _, held = _split()
        tok, model = models.load_tokenizer(), models.load_model()
        history = train_sft(model, tok, sft_records(r),
                            SFTConfig(max_steps=r["max_steps"], learning_rate=r["learning_rate"],
                                      per_device_train_batch_size=r["per_device_train_batch_size"], seed=r["seed"],
                                      template=r["template"], logging_steps=50, progress=progress),
                            eval_data=[tasks.to_record(p) for p in held])
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        return {"eval": [h for h in history if "eval_exact_match" in h][-1]}

    return build_cached("ppo-lab-sft", recipes.on_base(SFT_RECIPE), build, marker="llmcourse_sft.json")


def sft_facts() -> dict:
    """Recipe, build time and held-out metrics of the cached lab SFT model."""
    return json.loads((sft_model_path() / "llmcourse_sft.json").read_text())


def load_sft_model():
    """A fresh copy of the lab SFT policy (eval mode)."""
    return models.load_model(sft_model_path())


# --------------------------------------------------------------------------- reward models


def _sft_samples(problems, temperature: float, seed: int) -> list[str]:
    """The lab SFT policy's sampled answers."""
    return policy_samples(load_sft_model(), models.load_tokenizer(), [prompt(p.instruction, p.input) for p in problems],
                          response_length=MAIN_CONFIG.response_length, temperature=temperature, seed=seed)


def _task_pairs(n: int, seed: int, bias: str | None) -> list[dict]:
    from llmcourse.reward import task_pairs

    return task_pairs(n, seed, bias=bias, template=TEMPLATE)


def _reward_pairs(r: dict, bias: str | None):
    """``(train, held_out)`` pairs of one lab reward model."""
    held = _task_pairs(r["n_eval"], r["seed"] + 10_007, bias)
    if bias == "length":
        return _task_pairs(r["n_onpolicy"] + r["n_task"], r["seed"], "length"), held
    train_problems, _ = _split()
    on = train_problems[: r["n_onpolicy"] + 200]
    pairs = onpolicy_pairs(on, _sft_samples(on, r["sample_temperature"], r["seed"]), r["seed"] + 1)
    # the last 200 on-policy pairs are held out: does the RM judge the policy's own answers?
    return pairs[: r["n_onpolicy"]] + _task_pairs(r["n_task"], r["seed"], None), held + pairs[r["n_onpolicy"]:]


def reward_model_path(bias: str | None = None, progress: bool = False) -> Path:
    """The cached lab reward model's folder (``bias=None``: clean; ``"length"``: length-biased),
    trained first if needed with :func:`llmcourse.reward.train_reward_model` from the SFT model."""
    if bias not in (None, "length"):
        raise ValueError(f"bias must be None or 'length', got {bias!r}")
    recipe = recipes.on_base({**RM_RECIPE, "bias": bias, "sft": recipe_key(recipes.on_base(SFT_RECIPE))})

    def build(folder: Path) -> dict:
        from llmcourse.reward import (RewardConfig, evaluate_reward_model, reward_model_from_causal_lm,
                                      save_reward_model, train_reward_model)

        r = RM_RECIPE
        train, held = _reward_pairs(r, bias)
        tok, model = models.load_tokenizer(), reward_model_from_causal_lm(load_sft_model(), seed=r["seed"])
        train_reward_model(model, tok, train, RewardConfig(learning_rate=r["learning_rate"],
                           per_device_train_batch_size=r["batch_size"], max_steps=r["max_steps"],
                           warmup_steps=r["warmup_steps"], seed=r["seed"], logging_steps=50), progress=progress)
        save_reward_model(model, tok, folder, overwrite=True)
        recs = tasks.instruction_records(200, seed=r["seed"] + 3)
        plain = [{"prompt": prompt(x["instruction"], x["input"]), "chosen": _response(x["output"]),
                  "rejected": _response(x["output"] + tasks.FILLER * 2)} for x in recs]
        return {"accuracy": evaluate_reward_model(model, tok, held)["accuracy"],
                "prefers_plain_to_filler": evaluate_reward_model(model, tok, plain)["accuracy"]}

    return build_cached(f"ppo-lab-rm-{bias or 'clean'}", recipe, build, marker="llmcourse_reward.json")


def reward_facts(bias: str | None = None) -> dict:
    """Recipe, build time, held-out accuracy and filler preference of a cached lab reward model."""
    return json.loads((reward_model_path(bias) / "llmcourse_reward.json").read_text())


def reward_model(bias: str | None = None, calibrate: bool = True, progress: bool = False):
    r"""A lab reward model (:func:`reward_model_path`), loaded.

    ``calibrate=True`` rescales its scores to mean 0 and standard deviation 1 on the lab's SFT
    demonstrations (:func:`llmcourse.reward.calibrate_reward_model`, folded into the head), as is
    usual before RL: the scale of the score sets how strong a given β is (the KL-regularised optimum
    is $\pi^*(y\mid x) \propto \pi_{\mathrm{ref}}(y\mid x)\,e^{r(x,y)/\beta}$), so calibrated rewards make
    β comparable across reward models."""
    from llmcourse.reward import calibrate_reward_model, load_reward_model

    rm = load_reward_model(reward_model_path(bias, progress=progress))
    if calibrate:
        recs = sft_records()[:256]
        calibrate_reward_model(rm, models.load_tokenizer(), [prompt(r["instruction"], r["input"]) for r in recs],
                               [_response(r["output"]) for r in recs])
    return rm


# --------------------------------------------------------------------------- prompts


def ppo_prompts(n_train: int = 1000, n_eval: int = 100):
    """``(train_prompts, eval_data)``: prompt strings for PPO from the SFT training problems, and
    held-out ``{"prompt", "answer"}`` records from the SFT held-out problems (never trained on)."""
    train, held = _split()
    if n_train > len(train) or n_eval > len(held):
        raise ValueError(f"the lab has {len(train)} training and {len(held)} held-out problems; "
                         f"asked for {n_train} and {n_eval}")
    prompts = [prompt(p.instruction, p.input) for p in train[:n_train]]
    eval_data = [{"prompt": prompt(p.instruction, p.input), "answer": p.answer} for p in held[:n_eval]]
    return prompts, eval_data


# --------------------------------------------------------------------------- what notebook 03 loads


def notebook_models(progress: bool = True) -> list[Path]:
    """The cached models notebook 03 loads (the base model, the lab's SFT policy and both reward
    models), built first where missing — a few minutes once per machine. Graded kernels see the cache
    read-only, so the course tooling calls this before grading the notebook."""
    return [models.base_model_path(progress=progress), sft_model_path(progress=progress),
            reward_model_path(None, progress=progress), reward_model_path("length", progress=progress)]
