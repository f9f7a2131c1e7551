r"""The task-world PPO lab: the SFT policy and reward models PPO starts from, and the lab's settings.

Notebook 03, ``bench/bench_ppo.py`` and the tests share one recipe:

* :func:`sft_model_path` — the embedded base model after supervised fine-tuning on the task world
  (:func:`llmcourse.sft.train_sft`, Alpaca template), deliberately *short* so PPO has room to
  improve on it; built once and cached next to the base model (``$LLMCOURSE_CACHE`` or
  ``~/.cache/llmcourse``), keyed by the recipe;
* :func:`reward_model` — the task-world reward model, clean (``bias=None``) or with the planted
  length bias (``bias="length"``: it likes filler ``" !"`` tokens), from
  :func:`llmcourse.reward.train_task_reward_model` (cached by that module);
* :func:`ppo_prompts` — training prompts and held-out ``{"prompt", "answer"}`` records, disjoint, in
  the same Alpaca format;
* :data:`MAIN_CONFIG` (PPO with the adaptive KL controller) and :data:`HACKING_CONFIGS` (β = 0
  against a fixed β > 0, for the reward-hacking lab).

This module sits above the trainers (it imports ``llmcourse.sft`` and ``llmcourse.reward``); the PPO
math and trainer never import it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from llmcourse import models, tasks, templates
from llmcourse.ppo.trainer import PPOConfig

__all__ = ["SFT_RECIPE", "MAIN_CONFIG", "HACKING_CONFIGS", "sft_records", "sft_model_path", "load_sft_model",
           "RM_RECIPE", "clean_reward_model_path", "reward_model", "ppo_prompts", "sft_facts"]

SFT_RECIPE = dict(n_train=3000, n_eval=200, split_seed=0, max_steps=300, learning_rate=1e-3,
                  per_device_train_batch_size=32, seed=0, filler_rate=0.45, filler_max=3)
"""The lab's SFT run: short on purpose (held-out exact match ≈ 0.4), and its demonstrations carry a
verbal tic — ``filler_rate`` of them end with 1–``filler_max`` filler tokens ``" !"`` (sloppy
demonstrations happen). The SFT policy inherits the tic at about that rate: the clean reward model
dislikes it (PPO removes it), the length-biased one loves it (PPO without a KL penalty amplifies it)."""

MAIN_CONFIG = PPOConfig(
    learning_rate=1e-4, max_steps=12, batch_size=32, num_mini_batches=2, num_ppo_epochs=4, response_length=12,
    temperature=1.0, kl_coef=0.05, adaptive_kl=True, target_kl=2.0, horizon=320.0, vf_coef=0.1,
    gamma=1.0, lam=0.95, eval_steps=4, seed=0, progress=False,
)
"""PPO from the SFT model against the clean reward model, β adapted toward a KL target."""

HACKING_CONFIGS = {
    "β = 0 (no KL penalty)": dataclasses.replace(MAIN_CONFIG, kl_coef=0.0, adaptive_kl=False),
    "β = 0.2 (fixed)": dataclasses.replace(MAIN_CONFIG, kl_coef=0.2, adaptive_kl=False),
}
"""The reward-hacking lab: the same run against the length-biased reward model, with and without β."""


def _key(recipe: dict) -> str:
    blob = json.dumps({"base": models.BASE_VERSION, **recipe}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _sft_split(recipe: dict):
    return tasks.split_problems(recipe["n_train"], recipe["n_eval"], seed=recipe["split_seed"])


def sft_records(recipe: dict = SFT_RECIPE) -> list[dict[str, str]]:
    """The lab's SFT demonstrations: task-world records, ``filler_rate`` of them with a trailing tic."""
    import random

    rng = random.Random(recipe["seed"] + 17)
    train, _ = _sft_split(recipe)
    out = []
    for p in train:
        rec = tasks.to_record(p)
        if rng.random() < recipe["filler_rate"]:
            rec["output"] += tasks.FILLER * rng.randint(1, recipe["filler_max"])
        out.append(rec)
    return out


def sft_model_path(progress: bool = False) -> Path:
    """The cached lab SFT model's folder, training it first if needed (≈ 300 optimizer steps; the
    folder is written atomically, so a half-built one is never used)."""
    final = models.cache_dir() / f"ppo-lab-sft-{_key(SFT_RECIPE)}"
    if (final / "llmcourse_sft.json").is_file():
        return final
    from llmcourse.sft import SFTConfig, train_sft

    r = SFT_RECIPE
    train, held = _sft_split(r)
    t0 = time.perf_counter()
    tok, model = models.load_tokenizer(), models.load_model()
    history = train_sft(model, tok, sft_records(r),
                        SFTConfig(max_steps=r["max_steps"], learning_rate=r["learning_rate"],
                                  per_device_train_batch_size=r["per_device_train_batch_size"], seed=r["seed"],
                                  template="alpaca", logging_steps=50, progress=progress),
                        eval_data=[tasks.to_record(p) for p in held])
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-ppo-lab-sft-", dir=final.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        facts = {"recipe": r, "seconds": round(time.perf_counter() - t0, 1),
                 "eval": [h for h in history if "eval_exact_match" in h][-1]}
        (tmp / "llmcourse_sft.json").write_text(json.dumps(facts, indent=2))
        try:
            tmp.rename(final)
        except OSError:  # another process finished first: keep theirs
            if not (final / "llmcourse_sft.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def sft_facts() -> dict:
    """Recipe, build time and held-out metrics of the cached lab SFT model."""
    return json.loads((sft_model_path() / "llmcourse_sft.json").read_text())


def load_sft_model():
    """A fresh copy of the lab SFT policy (eval mode)."""
    return models.load_model(sft_model_path())


RM_RECIPE = dict(n_onpolicy=2000, n_task=2000, n_eval=300, seed=0, learning_rate=1e-3, batch_size=16,
                 max_steps=300, warmup_steps=20, sample_temperature=1.0)
"""The lab's clean reward model, collected the way InstructGPT collected comparisons: the SFT policy
answers ``n_onpolicy`` training prompts, and a perfect labeller prefers the correct answer to the
policy's answer whenever that one is not exactly right (a wrong answer, or a right one with filler);
plus ``n_task`` of notebook 02's pairs (correct ≻ subtly wrong). Initialised from the SFT model."""


def _sft_samples(problems, r: dict, seed: int) -> list[str]:
    from llmcourse.ppo import rollout as R

    tok, policy = models.load_tokenizer(), load_sft_model()
    out = []
    for s in range(0, len(problems), 64):
        chunk = problems[s:s + 64]
        q, qm = R.left_pad(R.encode_prompts(tok, [templates.alpaca_prompt(p.instruction, p.input) for p in chunk]),
                           tok.pad_token_id)
        ids, mask, _ = R.sample_responses(policy, tok, q, qm, response_length=12,
                                          temperature=r["sample_temperature"], seed=seed + s)
        out += tok.batch_decode(ids, skip_special_tokens=True)
    return out


def _onpolicy_pairs(problems, samples, seed: int) -> list[dict]:
    import random

    rng = random.Random(seed)
    pairs = []
    for p, sample in zip(problems, samples):
        rejected = sample if tasks.normalize(sample) != p.answer else tasks.wrong_answer(p, rng)
        if not rejected.strip():
            rejected = tasks.wrong_answer(p, rng)
        pairs.append({"prompt": templates.alpaca_prompt(p.instruction, p.input), "chosen": p.answer,
                      "rejected": rejected})
    return pairs


def _clean_reward_pairs(r: dict):
    from llmcourse.reward import task_preference_data

    train_problems, _ = _sft_split(SFT_RECIPE)
    on = train_problems[: r["n_onpolicy"] + 200]
    pairs = _onpolicy_pairs(on, _sft_samples(on, r, r["seed"]), r["seed"] + 1)
    task_train, task_held = task_preference_data(r["n_task"], r["n_eval"], seed=r["seed"], bias=None)
    return pairs[: r["n_onpolicy"]] + task_train, task_held, pairs[r["n_onpolicy"]:]


def clean_reward_model_path(progress: bool = False) -> Path:
    """The cached lab clean reward model's folder, training it first if needed (notebook 02's trainer,
    :func:`llmcourse.reward.train_reward_model`, from the lab SFT model with a seeded head)."""
    final = models.cache_dir() / f"ppo-lab-rm-clean-{_key(RM_RECIPE)}"
    if (final / "llmcourse_reward.json").is_file():
        return final
    from llmcourse.reward import (RewardConfig, evaluate_reward_model, reward_model_from_causal_lm,
                                  save_reward_model, train_reward_model)

    r = RM_RECIPE
    t0 = time.perf_counter()
    train, held, onpolicy_held = _clean_reward_pairs(r)
    tok, model = models.load_tokenizer(), reward_model_from_causal_lm(load_sft_model(), seed=r["seed"])
    history = train_reward_model(model, tok, train, RewardConfig(learning_rate=r["learning_rate"],
                                 per_device_train_batch_size=r["batch_size"], max_steps=r["max_steps"],
                                 warmup_steps=r["warmup_steps"], seed=r["seed"], logging_steps=50),
                                 eval_pairs=held, progress=progress)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-ppo-lab-rm-", dir=final.parent))
    try:
        save_reward_model(model, tok, tmp, overwrite=True)
        facts = {"recipe": r, "seconds": round(time.perf_counter() - t0, 1),
                 "eval": [h for h in history if "eval_accuracy" in h][-1],
                 "onpolicy_accuracy": evaluate_reward_model(model, tok, onpolicy_held)["accuracy"]}
        (tmp / "llmcourse_reward.json").write_text(json.dumps(facts, indent=2))
        try:
            tmp.rename(final)
        except OSError:
            if not (final / "llmcourse_reward.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def reward_model(bias: str | None = None, calibrate: bool = True, progress: bool = False):
    r"""The lab's reward model, trained once and cached: ``bias=None`` → the clean one
    (:func:`clean_reward_model_path`: prefers correct answers, dislikes filler); ``bias="length"`` →
    notebook 02's length-biased one (:func:`llmcourse.reward.train_task_reward_model`: loves filler).

    ``calibrate=True`` rescales its scores to mean 0 and standard deviation 1 on the lab's SFT
    demonstrations (:func:`llmcourse.reward.calibrate_reward_model`, folded into the head), as is
    usual before RL: the scale of the score sets how strong a given β is (the KL-regularised optimum
    is $\pi^*(y\mid x) \propto \pi_{\mathrm{ref}}(y\mid x)\,e^{r(x,y)/eta}$), so calibrated rewards make
    β comparable across reward models."""
    from llmcourse.reward import calibrate_reward_model, load_reward_model, train_task_reward_model

    if bias is None:
        rm = load_reward_model(clean_reward_model_path(progress=progress))
    elif bias == "length":
        rm = train_task_reward_model(bias, cache=True, progress=progress).model
    else:
        raise ValueError(f"bias must be None or 'length', got {bias!r}")
    if calibrate:
        recs = sft_records()[:256]
        calibrate_reward_model(rm, models.load_tokenizer(), [templates.alpaca_prompt(r["instruction"], r["input"]) for r in recs],
                               [r["output"] for r in recs])
    return rm


def ppo_prompts(n_train: int = 1000, n_eval: int = 100, template=templates.alpaca_prompt):
    """``(train_prompts, eval_data)``: prompt strings for PPO from the SFT training problems, and
    held-out ``{"prompt", "answer"}`` records from the SFT held-out problems (never trained on)."""
    train, held = _sft_split(SFT_RECIPE)
    if n_train > len(train) or n_eval > len(held):
        raise ValueError(f"the lab has {len(train)} training and {len(held)} held-out problems; "
                         f"asked for {n_train} and {n_eval}")
    prompts = [template(p.instruction, p.input) for p in train[:n_train]]
    eval_data = [{"prompt": template(p.instruction, p.input), "answer": p.answer} for p in held[:n_eval]]
    return prompts, eval_data
