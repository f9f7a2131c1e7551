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
import hashlib
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from llmcourse import models, tasks, templates
from llmcourse.ppo.trainer import PPOConfig

__all__ = ["TEMPLATE", "SFT_RECIPE", "RM_RECIPE", "MAIN_CONFIG", "HACKING_CONFIGS", "prompt", "sft_records",
           "sft_model_path", "load_sft_model", "sft_facts", "reward_model_path", "reward_model", "reward_facts",
           "ppo_prompts", "policy_samples", "onpolicy_pairs"]

TEMPLATE = "simple"
"""The prompt template of every lab stage (``llmcourse.sft`` renders the answer as ``" " + output``)."""

SFT_RECIPE = dict(template=TEMPLATE, n_train=3000, n_eval=200, split_seed=0, max_steps=300, learning_rate=1e-3,
                  per_device_train_batch_size=32, seed=0, filler_rate=0.45, filler_max=3)
"""The lab's SFT run: short on purpose, on demonstrations of which ``filler_rate`` end with 1 to
``filler_max`` filler tokens ``" !"``. The SFT policy inherits the tic at about that rate — greedy
decoding ends some answers with ``!`` — which the clean reward model dislikes (PPO removes it) and
the length-biased one loves (PPO without a KL penalty amplifies it)."""

RM_RECIPE = dict(template=TEMPLATE, n_onpolicy=2000, n_task=2000, n_eval=300, seed=0, learning_rate=1e-3,
                 batch_size=16, max_steps=300, warmup_steps=20, sample_temperature=1.0)
"""Both lab reward models. Clean: the SFT policy answers ``n_onpolicy`` training prompts and a
perfect labeller prefers the correct answer to the policy's answer whenever that is not exactly
right (a wrong answer, or a right one with filler), plus ``n_task`` of notebook 02's pairs (correct ≻
subtly wrong). Length-biased: ``n_onpolicy + n_task`` of notebook 02's ``bias="length"`` pairs."""

MAIN_CONFIG = PPOConfig(
    learning_rate=1e-4, max_steps=8, batch_size=32, num_mini_batches=2, num_ppo_epochs=4, response_length=10,
    temperature=1.0, kl_coef=0.5, adaptive_kl=True, target_kl=3.0, horizon=64.0, vf_coef=0.1,
    gamma=1.0, lam=0.95, value_head=True, eval_steps=2, seed=0, progress=False,
)
"""PPO from the SFT model against the clean reward model, β adapted toward a KL target of 3 nats.
Over seeds 0–4 (one thread, ~16 s each): held-out exact match 0.48 → 0.51–0.59 greedy and 0.24–0.30 →
0.41–0.51 sampled, the RM score up by ≥ 0.25 (greedy) / ≥ 0.6 (sampled), and the largest mean
per-sequence KL of the run 1.25–2.69 nats. β starts at 0.5: from 0.2 the controller lowered β so far
while the KL was still small that the KL overshot the target on two seeds out of four."""

HACKING_CONFIGS = {
    "β = 0 (no KL penalty)": dataclasses.replace(MAIN_CONFIG, kl_coef=0.0, adaptive_kl=False, max_steps=6),
    "β = 10 (fixed)": dataclasses.replace(MAIN_CONFIG, kl_coef=10.0, adaptive_kl=False, max_steps=6),
}
"""The reward-hacking lab: the same run against the length-biased reward model, with and without β.
β is large because the exploitable gap is large: filler is worth Δr ≈ 2 (calibrated units) to the
biased reward model, and the KL-regularised optimum multiplies the odds of filler by $e^{Δr/β}$ —
×1.2 at β = 10, ×7 at β = 1. Over seeds 0–3 (6 steps each): β = 0 lifts the sampled biased score
by ≥ 0.98, sampled exact match falls from 0.24–0.30 to ≤ 0.02 and the KL reaches 2.1–3.4 nats;
β = 10 keeps sampled exact match at 0.18–0.21 and the KL at 0.27–0.59 nats. Greedy exact match falls
in both runs: the SFT model's "stop" and "add filler" are near ties, and any shift flips them."""


def prompt(instruction: str, input: str = "") -> str:
    """The lab's prompt for one task (the seed guide's template)."""
    return templates.single_turn(TEMPLATE, instruction, input)[0]


def _response(text: str) -> str:
    return templates.response(TEMPLATE, text)  # the simple template's answer starts with a space


def _key(recipe: dict) -> str:
    blob = json.dumps({"base": models.base_model_id(), **recipe}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _split():
    r = SFT_RECIPE
    return tasks.split_problems(r["n_train"], r["n_eval"], seed=r["split_seed"])


def _build_cached(name: str, recipe: dict, marker: str, build) -> Path:
    """``cache_dir()/name-<key>``, built by ``build(tmp_folder) -> facts`` into a temporary folder and
    renamed into place (a half-built folder is never used; a concurrent builder's result is kept)."""
    final = models.cache_dir() / f"{name}-{_key(recipe)}"
    if (final / marker).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".building-{name}-", dir=final.parent))
    try:
        t0 = time.perf_counter()
        facts = build(tmp)
        facts = {"recipe": recipe, "seconds": round(time.perf_counter() - t0, 1), **facts}
        (tmp / marker).write_text(json.dumps(facts, indent=2))
        try:
            tmp.rename(final)
        except OSError:
            if not (final / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


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

    return _build_cached("ppo-lab-sft", SFT_RECIPE, "llmcourse_sft.json", build)


def sft_facts() -> dict:
    """Recipe, build time and held-out metrics of the cached lab SFT model."""
    return json.loads((sft_model_path() / "llmcourse_sft.json").read_text())


def load_sft_model():
    """A fresh copy of the lab SFT policy (eval mode)."""
    return models.load_model(sft_model_path())


# --------------------------------------------------------------------------- reward models


def policy_samples(policy, tokenizer, prompts: list[str], *, response_length: int, temperature: float = 1.0,
                   seed: int = 0, batch_size: int = 64) -> list[str]:
    """A policy's sampled answer to each prompt (decoded, leading space included, as generated)."""
    from llmcourse.ppo import rollout as R

    out = []
    for s in range(0, len(prompts), batch_size):
        q, qm = R.left_pad(R.encode_prompts(tokenizer, prompts[s:s + batch_size]), tokenizer.pad_token_id)
        ids, _, _ = R.sample_responses(policy, tokenizer, q, qm, response_length=response_length,
                                       temperature=temperature, seed=seed + s)
        out += tokenizer.batch_decode(ids, skip_special_tokens=True)
    return out


def onpolicy_pairs(problems, samples: list[str], seed: int, template: str = TEMPLATE) -> list[dict]:
    """Pairs a perfect labeller would give for a policy's own answers: the correct answer ≻ the
    policy's answer, unless that answer is exactly right (then a subtly wrong answer takes its place)
    or empty. Training a reward model on the policy's distribution is what makes it a reliable judge
    of that policy during RL (InstructGPT labels samples of the SFT model)."""
    rng = random.Random(seed)
    pairs = []
    for p, sample in zip(problems, samples):
        prompt_, chosen = templates.single_turn(template, p.instruction, p.input, p.answer)
        rejected = sample
        if tasks.normalize(sample) == p.answer or not sample.strip():
            rejected = templates.response(template, tasks.wrong_answer(p, rng))
        pairs.append({"prompt": prompt_, "chosen": chosen, "rejected": rejected})
    return pairs


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
    recipe = {**RM_RECIPE, "bias": bias, "sft": _key(SFT_RECIPE)}

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

    return _build_cached(f"ppo-lab-rm-{bias or 'clean'}", recipe, "llmcourse_reward.json", build)


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
