"""``llmcourse demo``: the main job — base model → SFT → reward model → PPO, measured at every stage.

1. **base**: the embedded model pre-trained on plain sentences (or ``--model``); it knows the
   operations but has never seen an instruction format (≈ 0 exact match);
2. **SFT** on task-world records in the seed guide's short template (or ``--data`` instruction
   records) teaches the format;
3. **reward model** from the SFT weights on task-world preference pairs plus pairs a perfect labeller
   gives the SFT model's own samples (or ``--data`` preference records), then calibrated to mean 0 /
   std 1 on preferred answers;
4. **PPO** from the SFT model against that reward model, with a KL penalty toward the SFT model
   (β adapted toward a KL target, the PPO lab's main-run settings).

The report folder gets a table (exact match and reward-model score for base / SFT / PPO, the reward
model's held-out accuracy, the final KL), the training curves as PNG, and sample generations side by
side. It is written aside and renamed into place at the end, so an interrupted run leaves no report
that looks complete.
"""

from __future__ import annotations

import copy
import json
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from llmcourse import models, recipes, tasks, templates, training
from llmcourse.pretrained import is_registered
from llmcourse.config import check_numbers
from llmcourse.report import atomic_report_dir, check_output_dir


@dataclass
class DemoConfig:
    """Settings of the demo run itself (the stages' own settings are ``SFTConfig``, ``RewardConfig``,
    ``PPOConfig``, overridable from a ``--config`` file with sections ``[sft]``, ``[reward]``, ``[ppo]``,
    ``[demo]``)."""

    model: str | None = None
    """A Hugging Face model name or local folder; ``None`` = the embedded base model."""
    data: str | None = None
    """An Alpaca / Dolly / chat file (used for SFT) or a preference file (used for the reward model)."""
    output: str = "demo-report"
    """Report folder (refused if it exists, unless ``force`` and it is an earlier report)."""
    seed: int = 0
    """Seed for data, sampling and training: the same seed gives the same numbers on a CPU."""
    seeds: int = 1
    """PPO runs from the same SFT and reward models, with seeds ``seed … seed + seeds - 1``; with more
    than one the table shows PPO's mean ± std (sample std) over them."""
    quick: bool = False
    """A fast setting for tests: small data and few steps (numbers are not meaningful)."""
    force: bool = False
    """Replace an earlier llmcourse report at ``output``."""
    n_train: int = 4000
    """Task-world instruction records for SFT."""
    n_eval: int = 200
    """Held-out task-world problems every model is evaluated on."""
    n_onpolicy: int = 1000
    """Reward-model pairs labelled on the SFT model's own samples (correct answer ≻ its answer), added
    to the task-world pairs: a reward model that has seen the policy's mistakes judges them during PPO."""
    template: str = "auto"
    """The prompt format of every stage: ``"simple"`` (the seed guide's ``Instruction:/Input:/Output:``,
    short, so training is fast), ``"alpaca"`` (Alpaca's preamble, about three times as many tokens),
    ``"chat"`` (the model's own chat template, ``tokenizer.apply_chat_template``: SFT masks all but the
    assistant's answer; the reward model and PPO see the same prompts) or ``"auto"``: ``"chat"`` for a
    registered pretrained chat model, ``"simple"`` otherwise."""

    def __post_init__(self):
        check_numbers(self)  # every numeric key: a finite number in its range, named in the message
        if self.seeds < 1:
            raise ValueError(f"seeds must be ≥ 1, got {self.seeds}")
        if self.n_eval < 1 or self.n_train < 1:
            raise ValueError(f"n_train and n_eval must be ≥ 1, got {self.n_train}, {self.n_eval}")
        if self.template == "auto":
            self.template = "chat" if is_registered(self.model) else "simple"
        if self.template not in ("simple", "alpaca", "chat"):
            raise ValueError(f"template must be 'simple', 'alpaca', 'chat' or 'auto', got {self.template!r}")


def stage_configs(demo: DemoConfig) -> dict:
    """Default SFT / reward / PPO settings for the demo: the tuned task-world recipes
    (:data:`llmcourse.recipes.DEMO_SFT`, ``DEMO_REWARD``, ``DEMO_PPO``), or tiny ones with ``quick``; for a
    registered pretrained ``model``, :data:`llmcourse.recipes.DEMO_PRETRAINED`'s rates and sizes on top."""
    from llmcourse.ppo import PPOConfig
    from llmcourse.reward import RewardConfig
    from llmcourse.sft import SFTConfig

    sft, reward, ppo = ((recipes.DEMO_QUICK_SFT, recipes.DEMO_QUICK_REWARD, recipes.DEMO_QUICK_PPO) if demo.quick
                        else (recipes.DEMO_SFT, recipes.DEMO_REWARD, recipes.DEMO_PPO))
    if is_registered(demo.model):  # a real pretrained model: its own rates (the tiny model's ones collapse it)
        per_model = recipes.DEMO_PRETRAINED
        sft, reward, ppo = ({**per_model[k], **v} if demo.quick else {**v, **per_model[k]}
                            for k, v in (("sft", sft), ("reward", reward), ("ppo", ppo)))
    return {"sft": SFTConfig(**{**sft, "template": demo.template, "seed": demo.seed}),
            "reward": RewardConfig(**{**reward, "seed": demo.seed}),
            "ppo": PPOConfig(**{**ppo, "seed": demo.seed})}


def demo_settings(given: dict, config_path: str | None = None) -> tuple[DemoConfig, dict]:
    """The demo's settings from command-line values and an optional ``--config`` file: ``(DemoConfig,
    stage overrides)``. Command-line values win over ``[demo]``; each of ``[sft]``, ``[reward]``,
    ``[ppo]`` changes only the keys it names, on top of the recipe in force (``--quick`` or the full
    one, with ``--seed``). Every error names the file, the section and the key."""
    from llmcourse.config import override, read_sections
    from llmcourse.ppo import PPOConfig
    from llmcourse.reward import RewardConfig
    from llmcourse.sft import SFTConfig

    if not config_path:
        return DemoConfig(**given), {}
    sections = read_sections(config_path, {"demo": DemoConfig, "sft": SFTConfig, "reward": RewardConfig,
                                           "ppo": PPOConfig})
    # "auto" is resolved from the model, so it must reach the config together with the model
    demo = override(DemoConfig(), {"template": "auto", **sections.get("demo", {}), **given}, where=f"{config_path}[demo]")
    presets = stage_configs(demo)
    return demo, {k: override(presets[k], sections[k], where=f"{config_path}[{k}]")
                  for k in ("sft", "reward", "ppo") if k in sections}


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


def _truncation_line(t: dict) -> str:
    """What max_length did to the training data, in one line of the report."""
    return (f"training data within max_length: SFT {t['sft_examples_kept']} examples kept, "
            f"{t['sft_examples_truncated']} truncated (cut at {t['sft_max_length']} tokens, EOS lost; "
            f"[sft] truncation = 'drop' drops them instead), {t['sft_examples_dropped']} dropped; reward model "
            f"{t['reward_pairs_dropped']} pairs over {t['reward_max_length']} tokens dropped (never truncated)")


def _sample_table(problems, columns: dict[str, list[str]]) -> str:
    head = "| task | input | answer | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (3 + len(columns))]
    for i, p in enumerate(problems):
        cells = " | ".join(f"`{columns[c][i]!r}`" for c in columns)
        lines.append(f"| {p.task} | `{p.input}` | `{p.answer}` | {cells} |")
    return "\n".join(lines)


def run_demo(config: DemoConfig, overrides: dict | None = None) -> dict:
    """Run the four stages and write the report; returns the results dict (also ``results.json``).

    ``overrides``: whole stage configs (``{"sft": SFTConfig(...)}``) used instead of the recipe's; to
    change a few keys of the recipe, start from it: ``config.override(stage_configs(demo)["sft"],
    {"learning_rate": 1e-3})`` (what ``--config`` does)."""
    from llmcourse import plots
    from llmcourse.ppo import train_ppo
    from llmcourse.rl.rollout import policy_samples
    from llmcourse.ppo.trainer import evaluate as evaluate_policy
    from llmcourse.ppo.trainer import prompts_from_records
    from llmcourse.reward import onpolicy_pairs, task_preference_data, train_reward_model
    from llmcourse.reward.model import calibrate_reward_model, reward_model_from_causal_lm
    from llmcourse.sft import train_sft

    t0 = time.perf_counter()
    cfgs = {**stage_configs(config), **(overrides or {})}
    if cfgs["sft"].template != config.template:
        raise ValueError(f"[sft] template = {cfgs['sft'].template!r} differs from the demo's template "
                         f"{config.template!r}; set `template` in [demo] instead — every stage uses it")
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
        tmp = Path(tmp)
        seconds: dict[str, float] = {}
        # ---------------------------------------------------------------- data
        # the user's file is checked whole before anything loads; then the tokenizer ("chat" renders with it)
        user = _split_user_data(config.data, config.seed, config.template) if config.data else None
        print(f"[1/4] base model: {'embedded' if config.model is None else config.model}")
        tokenizer = models.load_tokenizer(config.model)
        if config.template == "chat" and not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"template = 'chat', but the tokenizer of {config.model or 'the embedded model'} has no chat "
                             "template; set template = 'simple' or 'alpaca' in the --config file's [demo] section")
        n_train = 64 if config.quick else config.n_train
        n_eval = min(config.n_eval, 24) if config.quick else config.n_eval
        train_problems, held_out = tasks.split_problems(n_train, n_eval, seed=config.seed)
        sft_train = [tasks.to_record(p) for p in train_problems]
        sft_eval = None
        pref_train, pref_eval = task_preference_data(256 if config.quick else 3000, 64 if config.quick else 300,
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
                data_note = f"reward model on {config.data} ({len(train_part)} train / {len(eval_part)} held-out pairs)"
            else:
                sft_train, sft_eval = train_part, eval_part
                data_note = f"SFT on {config.data} ({len(train_part)} train / {len(eval_part)} held-out records)"
        eval_data = prompts_from_records([tasks.to_record(p) for p in held_out], template=prompt)

        # ---------------------------------------------------------------- stage 0: base
        base = models.load_model(config.model)
        models.ensure_pad_token(tokenizer, base)
        models.check_tokenizer(tokenizer)

        # ---------------------------------------------------------------- stage 1: SFT
        print("[2/4] supervised fine-tuning")
        s0 = time.perf_counter()
        sft_model = copy.deepcopy(base)
        sft_cfg = cfgs["sft"] if sft_eval is None else replace(cfgs["sft"], eval_at_start=True)  # a baseline
        sft_history = train_sft(sft_model, tokenizer, sft_train, sft_cfg, eval_data=sft_eval)
        seconds["sft"] = time.perf_counter() - s0

        # ---------------------------------------------------------------- stage 2: reward model
        print("[3/4] reward model (initialised from the SFT model)")
        s0 = time.perf_counter()
        if onpolicy:  # a labeller judges the SFT model's answers to training prompts
            shown_rm = train_problems[: 32 if config.quick else config.n_onpolicy]
            samples = policy_samples(sft_model, tokenizer, [prompt(p.instruction, p.input) for p in shown_rm],
                                     response_length=cfgs["ppo"].response_length, seed=config.seed)
            pref_train = onpolicy_pairs(shown_rm, samples, config.seed, template=config.template,
                                        tokenizer=tokenizer) + pref_train
        reward_model = reward_model_from_causal_lm(copy.deepcopy(sft_model), seed=config.seed)
        rm_history = train_reward_model(reward_model, tokenizer, pref_train, cfgs["reward"], eval_pairs=pref_eval)
        # mean 0 / std 1 on preferred answers, as usual before RL: β then means the same thing
        # whatever scale the reward model's head happened to learn
        ref = pref_train[:256]
        calibrate_reward_model(reward_model, tokenizer, [p["prompt"] for p in ref], [p["chosen"] for p in ref])
        seconds["reward"] = time.perf_counter() - s0
        rm_evals = [h for h in rm_history if "eval_accuracy" in h]

        # ---------------------------------------------------------------- stage 3: PPO
        print("[4/4] PPO against the reward model, KL-penalised toward the SFT model")
        ppo_prompts = [prompt(p.instruction, p.input) for p in train_problems]
        ppo_runs = []  # (policy, history, seconds) per seed, all from the same SFT and reward models
        for seed in range(cfgs["ppo"].seed, cfgs["ppo"].seed + config.seeds):
            s0 = time.perf_counter()
            # train_ppo froze sft_model in place as the reference of the previous seed's run: unfreeze the copy
            run_policy = copy.deepcopy(sft_model).requires_grad_(True)
            # evaluated on the held-out prompts during the run (the exact-match curve of the report's PPO plot)
            run_history = train_ppo(run_policy, tokenizer, reward_model, ppo_prompts, replace(cfgs["ppo"], seed=seed),
                                    ref_model=sft_model, eval_data=eval_data)
            ppo_runs.append((run_policy, run_history, time.perf_counter() - s0))
        policy, ppo_history, _ = ppo_runs[0]  # the first seed's run: the training curves and samples
        seconds["ppo"] = sum(t for *_, t in ppo_runs)

        # ---------------------------------------------------------------- evaluation, same held-out prompts
        length = cfgs["ppo"].response_length
        table = {}
        def scores(m):
            return evaluate_policy(m, tokenizer, reward_model, eval_data, response_length=length,
                                   temperature=cfgs["ppo"].temperature, seed=config.seed)
        for name, m in (("base", base), ("SFT", sft_model)):
            table[name] = scores(m)
        ppo_rows = [{**scores(m), "kl": [e for e in h if "kl" in e][-1]["kl"], "seconds": t} for m, h, t in ppo_runs]
        table["PPO"] = {k: statistics.fmean(r[k] for r in ppo_rows) for k in ppo_rows[0]}
        ppo_std = {k: statistics.stdev(r[k] for r in ppo_rows) if len(ppo_rows) > 1 else None for k in ppo_rows[0]}
        kl_to_sft = {"base": None, "SFT": 0.0, "PPO": table["PPO"]["kl"]}
        stage_seconds = {"base": None, "SFT": seconds["sft"], "PPO": table["PPO"]["seconds"]}
        results = {
            "config": asdict(config),
            "stages": {k: asdict(v) for k, v in cfgs.items()},
            "data": data_note,
            "table": {k: {"exact_match": v["exact_match"], "exact_match_sampled": v["exact_match_sampled"],
                          "rm_score": v["eval_score"], "rm_score_sampled": v["eval_score_sampled"],
                          "kl_to_sft": kl_to_sft[k], "seconds": stage_seconds[k]} for k, v in table.items()},
            "reward_model_accuracy": rm_evals[-1]["eval_accuracy"] if rm_evals else None,
            "final_kl": kl_to_sft["PPO"],
            "ppo_seeds": {"n": len(ppo_rows), "std": ppo_std, "runs": ppo_rows},
            "seconds": {k: round(v, 1) for k, v in {**seconds, "total": time.perf_counter() - t0}.items()},
        }
        first_sft = next(h for h in sft_history if "loss" in h)
        first_rm = next((h for h in rm_history if "filtered_pairs" in h), {})
        results["truncation"] = {
            "sft_max_length": cfgs["sft"].max_length, "sft_policy": cfgs["sft"].truncation,
            "sft_examples_kept": first_sft["examples"], "sft_examples_truncated": first_sft["truncated_examples"],
            "sft_examples_dropped": first_sft["dropped_examples"],
            "reward_max_length": cfgs["reward"].max_length, "reward_pairs_dropped": first_rm.get("filtered_pairs", 0)}
        if sft_eval is not None:  # the user's held-out records: loss before (step 0) and after SFT
            evals = [h for h in sft_history if "eval_loss" in h]
            results["sft_eval_loss_before"], results["sft_eval_loss"] = evals[0]["eval_loss"], evals[-1]["eval_loss"]

        def cell(x, fmt):
            return "—" if x is None else format(x, fmt)
        rows = ["| model | exact match (greedy) | exact match (sampled) | RM score (greedy) | KL to SFT (nats) | "
                "training time (s) |", "|---|---|---|---|---|---|"]
        def pm(k, key, fmt):  # PPO's mean ± std over seeds when there are several
            mean = {"exact_match": table[k]["exact_match"], "exact_match_sampled": table[k]["exact_match_sampled"],
                    "eval_score": table[k]["eval_score"], "kl": kl_to_sft[k], "seconds": stage_seconds[k]}[key]
            sd = ppo_std.get(key) if k == "PPO" else None
            return cell(mean, fmt) + (f" ± {format(sd, fmt.lstrip('+'))}" if sd is not None else "")
        rows += [f"| {k}{f' ({len(ppo_rows)} seeds)' if k == 'PPO' and len(ppo_rows) > 1 else ''} | "
                 + " | ".join(pm(k, key, fmt) for key, fmt in (("exact_match", ".2f"), ("exact_match_sampled", ".2f"),
                                                                ("eval_score", "+.2f"), ("kl", ".3f"), ("seconds", ".0f")))
                 + " |" for k in table]
        acc = results["reward_model_accuracy"]
        rows += ["", f"reward model held-out pairwise accuracy: {acc:.3f}" if acc is not None else
                 "reward model: no held-out pairs", f"final mean per-sequence KL(PPO ‖ SFT): {kl_to_sft['PPO']:.3f} nats",
                 _truncation_line(results["truncation"]),
                 *([f"held-out loss on {config.data} (per target token): base {results['sft_eval_loss_before']:.3f} → "
                    f"SFT {results['sft_eval_loss']:.3f}"] if sft_eval is not None else []),
                 f"wall time: {results['seconds']['total']:.0f} s (SFT {seconds['sft']:.0f} s, RM {seconds['reward']:.0f} s, "
                 f"PPO {seconds['ppo']:.0f} s)"]
        table_md = "\n".join(rows)

        # ---------------------------------------------------------------- report files
        (tmp / "results.json").write_text(json.dumps(results, indent=2))
        more = [(f"ppo_seed{cfgs['ppo'].seed + i}", h) for i, (_, h, _) in enumerate(ppo_runs) if i]
        for name, hist in (("sft", sft_history), ("reward", rm_history), ("ppo", ppo_history), *more):
            (tmp / f"history_{name}.json").write_text(json.dumps(hist, indent=1))
        import matplotlib.pyplot as plt

        runs = {f"PPO seed {cfgs['ppo'].seed + i}": h for i, (_, h, _) in enumerate(ppo_runs)}
        figures = {
            "sft_loss.png": plots.plot_history(sft_history, ["loss"], title="SFT"),
            "reward.png": plots.plot_history(rm_history, ["loss", "eval_accuracy"], title="Reward model"),
            "ppo.png": plots.plot_history(ppo_history, ["score", "kl", "exact_match", "exact_match_sampled"],
                                          title="PPO (exact match on the held-out prompts)"),
            "overoptimisation.png": plots.plot_overoptimisation(
                runs, title="Over-optimisation: reward-model score vs exact match against KL from the SFT model")}
        for name, fig in figures.items():
            fig.savefig(tmp / name, dpi=100)
            plt.close(fig)  # only ours: a notebook calling run_demo keeps its own figures
        shown = held_out[:10]
        prompts = [prompt(p.instruction, p.input) for p in shown]
        columns = {name: models.generate(m, tokenizer, prompts, max_new_tokens=length)
                   for name, m in (("base", base), ("SFT", sft_model), ("PPO", policy))}
        samples_md = "# Sample generations (greedy, held-out prompts)\n\n" + _sample_table(shown, columns) + "\n"
        if sft_eval:  # the user's own held-out prompts, answered by each model next to the reference answer
            from llmcourse.sft.data import render

            mine = sft_eval[:10]
            user_prompts = [render(e, config.template, tokenizer)[0] for e in mine]
            answers = {name: models.generate(m, tokenizer, user_prompts, max_new_tokens=length)
                       for name, m in (("base", base), ("SFT", sft_model), ("PPO", policy))}
            lines = ["| instruction | reference | " + " | ".join(answers) + " |", "|" + "---|" * (2 + len(answers))]
            lines += [f"| `{e.instruction!r}` | `{e.output!r}` | " + " | ".join(f"`{answers[k][i]!r}`" for k in answers) + " |"
                      for i, e in enumerate(mine)]
            samples_md += f"\n## Held-out records of {config.data}\n\n" + "\n".join(lines) + "\n"
        (tmp / "samples.md").write_text(samples_md)
        (tmp / "report.md").write_text(
            "# llmcourse demo report\n\n"
            f"Data: {data_note}. Evaluated on {len(held_out)} held-out task-world problems ({config.template} prompts, greedy).\n\n"
            + table_md + "\n\n![SFT loss](sft_loss.png)\n\n![reward model](reward.png)\n\n![PPO](ppo.png)\n\n![over-optimisation](overoptimisation.png)\n\n"
            "Samples side by side: [samples.md](samples.md). Raw numbers: `results.json`, `history_*.json`.\n"
        )
        if main:
            print()
            print(table_md)
    if main:
        print(f"\nreport written to {out.resolve()}")
    return results
