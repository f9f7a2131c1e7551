"""``llmcourse demo``: the main job — base model → SFT → {PPO with a reward model, DPO, GRPO with a
verifier}, every method from the same SFT model, measured the same way.

1. **base**: the embedded model pre-trained on plain sentences (or ``--model``); it knows the
   operations but has never seen an instruction format (≈ 0 exact match);
2. **SFT** on task-world records in the seed guide's short template (or ``--data`` instruction
   records) teaches the format;
3. **preference pairs**: a perfect labeller judges the SFT model's own samples (correct answer ≻ its
   answer), plus task-world pairs (or ``--data`` preference records); the **reward model** is trained
   on them from the SFT weights, then calibrated to mean 0 / std 1 on preferred answers;
4. from the SFT model, each ``--seeds`` times: **PPO** against that reward model with a KL penalty
   toward the SFT model; **DPO** on the reward model's own training pairs (the same preferences, no
   reward model); **GRPO** with the exact-match checker as the reward (a verifier, no reward model).

Every model is measured by one function (:func:`measure`) on the same held-out problems: exact match
(greedy and sampled), the reward model's score, and the KL to the SFT model on sampled answers
(:func:`llmcourse.rl.rollout.sampled_kl`); PPO and GRPO are also measured during their first seed's run,
for the over-optimisation plot. ``--stages`` selects a subset (:func:`parse_stages` says what needs
what). The report (:mod:`llmcourse.demo_report`) is written aside and renamed into place at the end,
so an interrupted run leaves no report that looks complete.
"""

from __future__ import annotations

import copy
import random
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from llmcourse import models, recipes, tasks, templates, training
from llmcourse.pretrained import is_registered
from llmcourse.config import check_numbers
from llmcourse.report import atomic_report_dir, check_output_dir

STAGES = ("sft", "reward", "ppo", "dpo", "grpo")
"""What ``--stages`` may name, in the order they run."""
METHODS = {"ppo": "PPO", "dpo": "DPO", "grpo": "GRPO"}
"""The post-SFT methods (run ``--seeds`` times each) and their names in the report."""
NEEDS = {"ppo": "reward"}
"""A stage that needs another: PPO optimises the reward model's score."""
DEMO_SIZES = dict(seeds=3, n_eval=200, n_eval_pairs=300, n_onpolicy=1000)
"""The demo's sizes when :class:`DemoConfig` leaves them ``None`` (a registered pretrained model has its own:
:data:`llmcourse.recipes.DEMO_PRETRAINED`'s ``"demo"``)."""


def parse_stages(text: str) -> tuple[tuple[str, ...], list[str]]:
    """``--stages`` (comma-separated names of :data:`STAGES`, any order; ``base`` also accepted) →
    ``(stages to run in order, notes)``. The base model and SFT always run — every method starts from
    the SFT model and is compared with it — and a stage another one needs is added (:data:`NEEDS`); each
    addition is a note. Without ``reward`` the table has no reward-model score; DPO still trains on the
    same labelled pairs (they come from the SFT model's samples, not from the reward model)."""
    if not isinstance(text, str):
        raise ValueError(f"stages must be a comma-separated string such as 'sft,ppo', got {text!r}")
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in (*STAGES, "base")]
    if unknown or not names:
        raise ValueError(f"stages: unknown stage name(s) {unknown or [text]}; valid: base, {', '.join(STAGES)} "
                         "(comma-separated, e.g. --stages sft,ppo)")
    wanted, notes = set(names) - {"base"}, []
    if "sft" not in wanted:
        notes.append("sft added: every method starts from the SFT model and is compared with it")
        wanted.add("sft")
    for stage, need in NEEDS.items():
        if stage in wanted and need not in wanted:
            notes.append(f"{need} added: {stage} needs it")
            wanted.add(need)
    return tuple(s for s in STAGES if s in wanted), notes


@dataclass
class DemoConfig:
    """Settings of the demo run itself (the stages' own settings are ``SFTConfig``, ``RewardConfig``,
    ``PPOConfig``, ``DPOConfig``, ``GRPOConfig``, overridable from a ``--config`` file with sections
    ``[sft]``, ``[reward]``, ``[ppo]``, ``[dpo]``, ``[grpo]``, ``[demo]``)."""

    model: str | None = None
    """A Hugging Face model name or local folder; ``None`` = the embedded base model."""
    data: str | None = None
    """An Alpaca / Dolly / chat file (used for SFT) or a preference file (used for the reward model)."""
    output: str = "demo-report"
    """Report folder (refused if it exists, unless ``force`` and it is an earlier report)."""
    seed: int = 0
    """Seed for data, sampling and training: the same seed gives the same numbers on a CPU."""
    seeds: int | None = None
    """Each post-SFT method (PPO, DPO, GRPO) runs from the same SFT model (and reward model) with seeds
    ``seed … seed + seeds - 1``; with more than one the table shows its mean ± std (sample std).
    ``None``: 3, or the registered pretrained model's default (:data:`llmcourse.recipes.DEMO_PRETRAINED`'s
    ``"demo"``: 1 — a 135M model on 2 CPU cores)."""
    stages: str = ",".join(STAGES)
    """The stages to run, comma-separated (:func:`parse_stages`): e.g. ``"sft,ppo"`` or ``"sft,dpo,grpo"``."""
    quick: bool = False
    """A fast setting for tests: small data and few steps (numbers are not meaningful)."""
    force: bool = False
    """Replace an earlier llmcourse report at ``output``."""
    n_train: int = 4000
    """Task-world instruction records for SFT."""
    n_eval: int | None = None
    """Held-out task-world problems every model is evaluated on (``None``: 200, or the registered
    pretrained model's default)."""
    n_eval_pairs: int | None = None
    """Held-out task-world preference pairs the reward model and DPO are scored on (``None``: 300, or the
    registered pretrained model's default); a preference ``--data`` file's own held-out pairs replace them."""
    n_onpolicy: int | None = None
    """Reward-model pairs labelled on the SFT model's own samples (correct answer ≻ its answer), added
    to the task-world pairs: a reward model that has seen the policy's mistakes judges them during PPO
    (``None``: 1000, or the registered pretrained model's default)."""
    template: str = "auto"
    """The prompt format of every stage: ``"simple"`` (the seed guide's ``Instruction:/Input:/Output:``,
    short, so training is fast), ``"alpaca"`` (Alpaca's preamble, about three times as many tokens),
    ``"chat"`` (the model's own chat template, ``tokenizer.apply_chat_template``: SFT masks all but the
    assistant's answer; the reward model and PPO see the same prompts) or ``"auto"``: ``"chat"`` for a
    registered pretrained chat model, ``"simple"`` otherwise."""

    def __post_init__(self):
        check_numbers(self)  # every numeric key: a finite number in its range, named in the message
        # sizes left unset: the tiny model's, or a registered pretrained model's (a CPU run in minutes, not hours)
        sizes = {**DEMO_SIZES, **(recipes.DEMO_PRETRAINED["demo"] if is_registered(self.model) else {})}
        for key, value in sizes.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.seeds < 1:
            raise ValueError(f"seeds must be ≥ 1, got {self.seeds}")
        if self.n_eval < 1 or self.n_train < 1 or self.n_eval_pairs < 1:
            raise ValueError(f"n_train, n_eval and n_eval_pairs must be ≥ 1, got {self.n_train}, {self.n_eval}, "
                             f"{self.n_eval_pairs}")
        if self.template == "auto":
            self.template = "chat" if is_registered(self.model) else "simple"
        if self.template not in ("simple", "alpaca", "chat"):
            raise ValueError(f"template must be 'simple', 'alpaca', 'chat' or 'auto', got {self.template!r}")
        parse_stages(self.stages)


def stage_configs(demo: DemoConfig) -> dict:
    """Default settings of every stage for the demo: the tuned task-world recipes
    (:data:`llmcourse.recipes.DEMO_SFT`, ``DEMO_REWARD``, ``DEMO_PPO``, ``DEMO_DPO``, ``DEMO_GRPO``), or the
    tiny ``DEMO_QUICK_*`` ones with ``quick``; for a registered pretrained ``model``,
    :data:`llmcourse.recipes.DEMO_PRETRAINED`'s rates and sizes on top (with ``quick``, only its rates, and
    :data:`llmcourse.recipes.DEMO_PRETRAINED_QUICK`)."""
    from llmcourse.dpo import DPOConfig
    from llmcourse.grpo import GRPOConfig
    from llmcourse.ppo import PPOConfig
    from llmcourse.reward import RewardConfig
    from llmcourse.sft import SFTConfig

    names = ("sft", "reward", "ppo", "dpo", "grpo")
    chosen = dict(zip(names, (recipes.DEMO_QUICK_SFT, recipes.DEMO_QUICK_REWARD, recipes.DEMO_QUICK_PPO,
                              recipes.DEMO_QUICK_DPO, recipes.DEMO_QUICK_GRPO) if demo.quick else
                      (recipes.DEMO_SFT, recipes.DEMO_REWARD, recipes.DEMO_PPO, recipes.DEMO_DPO, recipes.DEMO_GRPO)))
    if is_registered(demo.model):  # a real pretrained model: its own rates (the tiny model's ones collapse it)
        per_model = recipes.DEMO_PRETRAINED
        for k, v in chosen.items():
            mine = per_model.get(k, {})
            # --quick keeps its few steps and small batches, but never the tiny model's learning rate
            rate = {"learning_rate": mine["learning_rate"]} if "learning_rate" in mine else {}
            quick = recipes.DEMO_PRETRAINED_QUICK.get(k, {})
            chosen[k] = {**mine, **v, **rate, **quick} if demo.quick else {**v, **mine}
    return {"sft": SFTConfig(**{**chosen["sft"], "template": demo.template, "seed": demo.seed}),
            "reward": RewardConfig(**{**chosen["reward"], "seed": demo.seed}),
            "ppo": PPOConfig(**{**chosen["ppo"], "seed": demo.seed}),
            "dpo": DPOConfig(**{**chosen["dpo"], "seed": demo.seed}),
            "grpo": GRPOConfig(**{**chosen["grpo"], "seed": demo.seed})}


def demo_settings(given: dict, config_path: str | None = None) -> tuple[DemoConfig, dict]:
    """The demo's settings from command-line values and an optional ``--config`` file: ``(DemoConfig,
    stage overrides)``. Command-line values win over ``[demo]``; each of ``[sft]``, ``[reward]``,
    ``[ppo]``, ``[dpo]``, ``[grpo]`` changes only the keys it names, on top of the recipe in force
    (``--quick`` or the full one, with ``--seed``). Every error names the file, the section and the key."""
    from llmcourse.config import override, read_sections
    from llmcourse.dpo import DPOConfig
    from llmcourse.grpo import GRPOConfig
    from llmcourse.ppo import PPOConfig
    from llmcourse.reward import RewardConfig
    from llmcourse.sft import SFTConfig

    if not config_path:
        return DemoConfig(**given), {}
    sections = read_sections(config_path, {"demo": DemoConfig, "sft": SFTConfig, "reward": RewardConfig,
                                           "ppo": PPOConfig, "dpo": DPOConfig, "grpo": GRPOConfig})
    # "auto" and the sizes left unset are resolved from the model, so they must reach the config with the model
    unset = {"template": "auto", **dict.fromkeys(DEMO_SIZES)}
    demo = override(DemoConfig(), {**unset, **sections.get("demo", {}), **given}, where=f"{config_path}[demo]")
    presets = stage_configs(demo)
    return demo, {k: override(presets[k], sections[k], where=f"{config_path}[{k}]")
                  for k in presets if k in sections}


def _split_user_data(path: str, seed: int, template: str):
    """Read and check **every** record of a ``--data`` file, then shuffle and split it: instruction
    examples for SFT, or preference pairs (any shape :mod:`llmcourse.preferences` reads) for the reward
    model. Checking comes first, so an error names the record's own line (or index) and field, and
    comes before any model is loaded. With ``"chat"`` preference pairs stay :class:`PreferencePair`
    objects (the tokenizer's chat template renders them, once it is loaded) and chats may have several
    exchanges (the template renders the earlier ones into the prompt)."""
    from llmcourse.preferences import read_preference_records, render_pair
    from llmcourse.records import RecordError, iter_records
    from llmcourse.sft.data import load_examples

    first = next(iter_records(path), None)  # the first record says which kind of file this is
    if first is None:
        raise RecordError(f"{path}: no records found")
    first = first.record
    if {"chosen", "rejected"} <= set(first) or "preferred_output" in first:
        kind = "preference"
        items = read_preference_records(path)
        if template != "chat":
            items = [render_pair(p, template) for p in items]
    else:
        kind = "instruction"
        items = load_examples(path)
        for ex in items:
            if ex.history and template != "chat":
                raise RecordError(
                    f"{ex.where}: a multi-turn chat ({len(ex.history) // 2 + 1} exchanges); the demo trains every stage "
                    f"on single-exchange {template!r} prompts — set template = \"chat\" in [demo] (the model's chat "
                    "template renders whole chats), or keep only the last exchange of each chat")
    if len(items) < 2:
        raise ValueError(f"{path}: needs at least 2 records (one to train, one held out), found {len(items)}")
    random.Random(seed).shuffle(items)
    n_eval = max(1, len(items) // 10)
    return kind, items[n_eval:], items[:n_eval]


def _user_prompts(kind: str, eval_part: list, rendered: list, template: str, tokenizer) -> list:
    """The user's held-out records as the report shows them (:class:`llmcourse.demo_report.UserPrompt`):
    instruction records with their output, preference pairs with their preferred answer; ``rendered``:
    the pairs as the stages read them (the prompt the models are given)."""
    from llmcourse.demo_report import UserPrompt
    from llmcourse.sft.data import render

    if kind == "instruction":
        return [UserPrompt(e.instruction + (f" {e.input}" if e.input else ""), e.output, "reference",
                           render(e, template, tokenizer)[0]) for e in eval_part]
    out = []
    for raw, pair in zip(eval_part, rendered):
        asked = getattr(raw, "prompt", pair["prompt"])  # a PreferencePair (chat) or a rendered dict
        shown = asked if isinstance(asked, str) else asked[-1][1]  # a conversation: its last user turn
        out.append(UserPrompt(shown, pair["chosen"], "preferred", pair["prompt"]))
    return out


def measure(model, sft_model, tokenizer, reward_model, eval_data: list[dict], *, response_length: int,
            temperature: float, seed: int) -> dict[str, float]:
    """One model on the held-out prompts, the same way for every method: ``exact_match`` (greedy),
    ``exact_match_sampled`` (one sample at ``temperature``), the reward model's score of both
    (``eval_score``, ``eval_score_sampled``; absent without a reward model), ``eval_length``,
    ``eval_eos_rate``, and ``kl_to_sft`` — :func:`llmcourse.rl.rollout.sampled_kl` of ``model`` from
    ``sft_model`` on the same prompts (nats per answer; 0 for the SFT model itself)."""
    from llmcourse.ppo.trainer import evaluate
    from llmcourse.rl.rollout import sampled_kl

    was_training = model.training
    model.eval()
    out = evaluate(model, tokenizer, reward_model, eval_data, response_length=response_length,
                   temperature=temperature, seed=seed)
    out["kl_to_sft"] = sampled_kl(model, sft_model, tokenizer, [r["prompt"] for r in eval_data],
                                  response_length=response_length, temperature=temperature, seed=seed)
    model.train(was_training)
    return out


def run_demo(config: DemoConfig, overrides: dict | None = None) -> dict:
    """Run the stages and write the report; returns the results dict (also ``results.json``).

    ``overrides``: whole stage configs (``{"sft": SFTConfig(...)}``) used instead of the recipe's; to
    change a few keys of the recipe, start from it: ``config.override(stage_configs(demo)["sft"],
    {"learning_rate": 1e-3})`` (what ``--config`` does)."""
    from llmcourse import demo_report
    from llmcourse.dpo import train_dpo
    from llmcourse.grpo import train_grpo
    from llmcourse.ppo import train_ppo
    from llmcourse.ppo.trainer import prompts_from_records
    from llmcourse.reward import onpolicy_pairs, task_preference_data, train_reward_model
    from llmcourse.reward.model import calibrate_reward_model, reward_model_from_causal_lm
    from llmcourse.rl.rollout import policy_samples
    from llmcourse.sft import train_sft

    t0, cpu0 = time.perf_counter(), time.process_time()
    stages, stage_notes = parse_stages(config.stages)
    for note in stage_notes:
        print(f"[demo] --stages: {note}")
    cfgs = {**stage_configs(config), **(overrides or {})}
    if cfgs["sft"].template != config.template:
        raise ValueError(f"[sft] template = {cfgs['sft'].template!r} differs from the demo's template "
                         f"{config.template!r}; set `template` in [demo] instead — every stage uses it")
    if cfgs["dpo"].template is not None:
        raise ValueError(f"[dpo] template = {cfgs['dpo'].template!r}: the demo's DPO pairs are already rendered in "
                         f"the demo's template ({config.template!r}); set `template` in [demo] instead")
    if config.model is not None and not is_registered(config.model) and cfgs["sft"].learning_rate > 1e-4:
        print(f"[demo] note: --model {config.model} trains at the embedded model's rates (SFT {cfgs['sft'].learning_rate:g}), "
              "tuned for a 0.8M model trained from scratch; they usually collapse a pretrained model. For one, set "
              "learning_rate in [sft]/[reward]/[ppo] of a --config file (e.g. recipes.DEMO_PRETRAINED: 2e-5 / 1e-5 / 1e-6)")

    def prompt(instruction: str, input: str = "") -> str:  # after the tokenizer is loaded ("chat" needs it)
        return templates.single_turn(config.template, instruction, input, tokenizer=tokenizer)[0]
    out = Path(config.output)
    # Under a launcher every process trains; only the main one writes the report. Every process checks
    # the output folder first, so a refusal stops them all before any collective operation.
    check_output_dir(out, config.force)
    main = training.world_info()["rank"] == 0
    with (atomic_report_dir(out, force=config.force) if main else tempfile.TemporaryDirectory()) as tmp:
        seconds: dict[str, float] = {}
        # ---------------------------------------------------------------- data
        # the user's file is checked whole before anything loads; then the tokenizer ("chat" renders with it)
        user = _split_user_data(config.data, config.seed, config.template) if config.data else None
        print(f"[base] {'embedded' if config.model is None else config.model}")
        tokenizer = models.load_tokenizer(config.model)
        if config.template == "chat" and not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"template = 'chat', but the tokenizer of {config.model or 'the embedded model'} has no chat "
                             "template; set template = 'simple' or 'alpaca' in the --config file's [demo] section")
        n_train = 64 if config.quick else config.n_train
        n_eval = min(config.n_eval, 24) if config.quick else config.n_eval
        train_problems, held_out = tasks.split_problems(n_train, n_eval, seed=config.seed)
        sft_train = [tasks.to_record(p) for p in train_problems]
        sft_eval = None
        n_pairs_eval = min(config.n_eval_pairs, 64) if config.quick else config.n_eval_pairs
        pref_train, pref_eval = task_preference_data(256 if config.quick else 3000, n_pairs_eval,
                                                     seed=config.seed, template=config.template, tokenizer=tokenizer)
        data_note = "task world (generated)"
        onpolicy = not config.data and config.n_onpolicy > 0
        if user:
            kind, train_part, eval_part = user
            if kind == "preference":
                if config.template == "chat":  # rendered by the tokenizer's chat template, now loaded
                    from llmcourse.preferences import render_pair

                    train_part, eval_part = ([render_pair(p, "chat", tokenizer) for p in part] for part in user[1:])
                pref_train, pref_eval = train_part, eval_part
                data_note = (f"reward model on {config.data} ({len(train_part)} train / {len(eval_part)} held-out pairs), "
                             "DPO on the same pairs, PPO on their prompts")
            else:
                sft_train, sft_eval = train_part, eval_part
                data_note = f"SFT on {config.data} ({len(train_part)} train / {len(eval_part)} held-out records)"
        eval_data = prompts_from_records([tasks.to_record(p) for p in held_out], template=prompt)
        # every model answers with the same length limit and sampling temperature (PPO's)
        length, temperature = cfgs["ppo"].response_length, cfgs["ppo"].temperature

        # ---------------------------------------------------------------- base
        base = models.load_model(config.model)
        models.ensure_pad_token(tokenizer, base)
        models.check_tokenizer(tokenizer)

        # ---------------------------------------------------------------- SFT
        print("[sft] supervised fine-tuning")
        s0 = time.perf_counter()
        sft_model = copy.deepcopy(base)
        sft_cfg = cfgs["sft"] if sft_eval is None else replace(cfgs["sft"], eval_at_start=True)  # a baseline
        histories = {"sft": train_sft(sft_model, tokenizer, sft_train, sft_cfg, eval_data=sft_eval)}
        seconds["sft"] = time.perf_counter() - s0
        sft_model.eval().requires_grad_(False)  # the fixed point every method starts from and is measured against

        # ---------------------------------------------------------------- preference pairs, reward model
        if onpolicy and ({"reward", "dpo"} & set(stages)):  # a labeller judges the SFT model's answers to training prompts
            shown_rm = train_problems[: 32 if config.quick else config.n_onpolicy]
            samples = policy_samples(sft_model, tokenizer, [prompt(p.instruction, p.input) for p in shown_rm],
                                     response_length=length, seed=config.seed)
            pref_train = onpolicy_pairs(shown_rm, samples, config.seed, template=config.template,
                                        tokenizer=tokenizer) + pref_train
        reward_model = None
        if "reward" in stages:
            print("[reward] reward model (initialised from the SFT model)")
            s0 = time.perf_counter()
            reward_model = reward_model_from_causal_lm(copy.deepcopy(sft_model).requires_grad_(True), seed=config.seed)
            histories["reward"] = train_reward_model(reward_model, tokenizer, pref_train, cfgs["reward"], eval_pairs=pref_eval)
            # mean 0 / std 1 on preferred answers, as usual before RL: β then means the same thing
            # whatever scale the reward model's head happened to learn
            ref = pref_train[:256]
            calibrate_reward_model(reward_model, tokenizer, [p["prompt"] for p in ref], [p["chosen"] for p in ref])
            reward_model.eval().requires_grad_(False)
            seconds["reward"] = time.perf_counter() - s0

        eval_seconds = [0.0]  # time spent measuring during the runs, taken out of their training time

        def measured(model) -> dict[str, float]:
            e0 = time.perf_counter()
            row = measure(model, sft_model, tokenizer, reward_model, eval_data, response_length=length,
                          temperature=temperature, seed=config.seed)
            eval_seconds[0] += time.perf_counter() - e0
            return row

        # ---------------------------------------------------------------- the methods, from the SFT model
        # PPO optimises the reward model where it learnt: on the user's prompts when it learnt the user's pairs
        ppo_prompts = (list(dict.fromkeys(p["prompt"] for p in pref_train)) if user and user[0] == "preference"
                       else [prompt(p.instruction, p.input) for p in train_problems])
        grpo_rows = [{"prompt": prompt(p.instruction, p.input), "answer": p.answer, "task": p.task} for p in train_problems]

        def train(method: str, policy, seed: int, during) -> list[dict]:
            """One run of ``method`` from a trainable copy of the SFT model; ``during``: measure during the run."""
            cfg = replace(cfgs[method], seed=seed)
            if method == "ppo":
                return train_ppo(policy, tokenizer, reward_model, ppo_prompts, cfg, ref_model=sft_model, eval_fn=during)
            if method == "dpo":
                return train_dpo(policy, tokenizer, pref_train, cfg, eval_pairs=pref_eval, ref_model=sft_model,
                                 progress=True)
            return train_grpo(policy, tokenizer, grpo_rows, cfg, eval_fn=during)

        runs: dict[str, list[dict]] = {}  # per method, one dict per seed: model, history, seconds, row
        for method in (m for m in METHODS if m in stages):
            print(f"[{method}] {demo_report.METHOD_LINES[method]}")
            runs[method] = []
            for i, seed in enumerate(range(config.seed, config.seed + config.seeds)):
                policy = copy.deepcopy(sft_model).requires_grad_(True)
                s0, spent = time.perf_counter(), eval_seconds[0]
                # the first seed's RL run is measured during training: the over-optimisation curves
                history = train(method, policy, seed, measured if i == 0 and method != "dpo" else None)
                train_s = time.perf_counter() - s0 - (eval_seconds[0] - spent)
                policy.eval()
                runs[method].append({"seed": seed, "model": policy, "history": history, "seconds": train_s,
                                     "row": measured(policy)})
            seconds[method] = sum(r["seconds"] for r in runs[method])

        # ---------------------------------------------------------------- measure, report
        rows = {"base": measured(base), "SFT": measured(sft_model)}
        rm_evals = [h for h in histories.get("reward", []) if "eval_accuracy" in h]
        results = demo_report.results_dict(
            config=config, stages=stages, stage_notes=stage_notes, cfgs=cfgs, data_note=data_note, rows=rows,
            runs=runs, seconds={**seconds, "total": time.perf_counter() - t0, "cpu_total": time.process_time() - cpu0},
            reward_accuracy=rm_evals[-1]["eval_accuracy"] if rm_evals else None, sft_history=histories["sft"],
            reward_history=histories.get("reward"), n_pairs=len(pref_train), sft_eval=sft_eval)
        results["n_eval"] = len(held_out)
        if user:
            results["data_kind"] = user[0]  # "instruction" or "preference": what the report leads with
            results["user_held_out"] = len(user[2])
        shown = held_out[:10]
        user_eval = _user_prompts(user[0], user[2], pref_eval, config.template, tokenizer) if user else None
        models_shown = {"base": base, "SFT": sft_model, **{METHODS[m]: r[0]["model"] for m, r in runs.items()}}
        demo_report.write(Path(tmp), results, histories, runs, models_shown, tokenizer,
                          samples=[(p, prompt(p.instruction, p.input)) for p in shown], user_eval=user_eval,
                          template=config.template, length=length, data=config.data, main=main)
    if main:
        print(f"\nreport written to {out.resolve()}")
    return results
