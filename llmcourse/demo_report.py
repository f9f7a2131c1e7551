"""The demo's report: the results dict, the main table, the verdicts computed from the numbers, the
budgets, the figures and the sample generations (:func:`llmcourse.demo.run_demo` trains; this module
only writes what it measured)."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

from llmcourse import models

METHOD_LINES = {
    "ppo": "PPO against the reward model, KL-penalised toward the SFT model",
    "dpo": "DPO on the reward model's training pairs (the same preferences), SFT model as reference",
    "grpo": "GRPO with the exact-match checker as the reward (a verifier, no reward model)",
}
NAMES = {"ppo": "PPO", "dpo": "DPO", "grpo": "GRPO"}
ROW_KEYS = {"exact_match": "exact_match", "exact_match_sampled": "exact_match_sampled", "rm_score": "eval_score",
            "rm_score_sampled": "eval_score_sampled", "kl_to_sft": "kl_to_sft"}
"""A table row's keys ← :func:`llmcourse.demo.measure`'s keys."""
TITLES = {
    "loss": "training loss", "eval_accuracy": "held-out pairwise accuracy", "score": "RM score of training samples",
    "kl": "KL to SFT, training batch (nats)", "exact_match": "held-out exact match (greedy)",
    "eval_score": "held-out RM score (greedy)", "kl_to_sft": "KL to SFT, held-out samples (nats)",
    "reward": "exact-match reward of training samples", "eval_reward_accuracy": "held-out implicit-reward accuracy",
    "eval_reward_margin": "held-out implicit-reward margin", "logps_chosen": "log-prob of chosen answers (train)",
}


def truncation_line(t: dict) -> str:
    """What max_length did to the training data, in one line of the report."""
    return (f"training data within max_length: SFT {t['sft_examples_kept']} examples kept, "
            f"{t['sft_examples_truncated']} truncated (cut at {t['sft_max_length']} tokens, EOS lost; "
            f"[sft] truncation = 'drop' drops them instead), {t['sft_examples_dropped']} dropped; reward model "
            f"{t['reward_pairs_dropped']} pairs over {t['reward_max_length']} tokens dropped (never truncated)")


def _row(m: dict, seconds: float | None) -> dict:
    return {**{k: m.get(src) for k, src in ROW_KEYS.items()}, "seconds": seconds}


def _mean_std(rows: list[dict]) -> tuple[dict, dict]:
    keys = [k for k in rows[0] if k != "seed"]
    mean = {k: None if any(r[k] is None for r in rows) else statistics.fmean(r[k] for r in rows) for k in keys}
    std = {k: statistics.stdev(r[k] for r in rows) if len(rows) > 1 and mean[k] is not None else None for k in keys}
    return mean, std


def _budget(method: str, cfg, history: list[dict], n_pairs: int, seconds: float) -> dict:
    """Steps, examples and training seconds of one run (the first seed's)."""
    steps = max(h.get("step", 0) for h in history)
    if method == "ppo":
        text = (f"{steps} iterations × {cfg.batch_size} prompts = {steps * cfg.batch_size} sampled answers "
                f"(≤ {cfg.response_length} tokens), {cfg.num_ppo_epochs} PPO epochs each, lr {cfg.learning_rate:g}")
    elif method == "dpo":
        seen = steps * cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps
        text = (f"{steps} steps × {cfg.per_device_train_batch_size} pairs = {seen} pairs seen, of {n_pairs} "
                f"({seen / max(1, n_pairs):.2f} epochs), β {cfg.beta:g}, RPO α {cfg.rpo_alpha}, lr {cfg.learning_rate:g}")
    else:
        n_prompts = cfg.generation_batch_size // cfg.num_generations
        text = (f"{steps} steps × {n_prompts} prompts × {cfg.num_generations} answers = "
                f"{steps * cfg.generation_batch_size} sampled answers (≤ {cfg.max_completion_length} tokens), "
                f"lr {cfg.learning_rate:g}")
    return {"steps": steps, "text": text, "seconds_per_seed": seconds}


def _verdict(name: str, runs: list[dict], sft: float) -> str:
    """How a method's greedy exact match compares with SFT's, decided from the numbers: outside the
    seeds' noise when the difference exceeds two standard errors of the mean over seeds."""
    xs = [r["exact_match"] for r in runs]
    mean, d = statistics.fmean(xs), statistics.fmean(xs) - sft
    if len(xs) < 2:
        return (f"{name} {mean:.3f} vs SFT {sft:.3f} (Δ {d:+.3f}): one seed, so no noise estimate — "
                "run --seeds 3 to tell a difference from noise")
    sd = statistics.stdev(xs)
    two_se = 2 * sd / math.sqrt(len(xs))
    if abs(d) <= two_se:
        how = "within the seeds' noise: no better and no worse than SFT"
    else:
        how = "outside the seeds' noise: " + ("better than SFT" if d > 0 else "worse than SFT")
    return f"{name} {mean:.3f} ± {sd:.3f} vs SFT {sft:.3f} (Δ {d:+.3f}, 2 standard errors {two_se:.3f}): {how}"


def _run_course(name: str, history: list[dict]) -> str | None:
    """Proxy and truth at the first and the last measurement of a run: where they part ways."""
    ev = [h for h in history if "exact_match" in h and "kl_to_sft" in h]
    if len(ev) < 2:
        return None
    a, b = ev[0], ev[-1]
    rm = (f"the reward-model score {a['eval_score']:+.2f} → {b['eval_score']:+.2f}, " if "eval_score" in a else "")
    parted = ("eval_score" in a and b["eval_score"] > a["eval_score"] and b["exact_match"] < a["exact_match"])
    return (f"over {name}'s first-seed run ({len(ev)} measurements): {rm}exact match {a['exact_match']:.2f} → "
            f"{b['exact_match']:.2f}, KL to SFT {a['kl_to_sft']:.2f} → {b['kl_to_sft']:.2f} nats"
            + (" — the proxy rose while the truth fell: over-optimisation" if parted else "")
            + " (overoptimisation.png)")


def _grpo_health(history: list[dict]) -> str | None:
    """When GRPO had nothing to learn from: every sampled group's answers scored alike (the advantage of a
    group with equal rewards is 0 for each answer, so its gradient is 0)."""
    steps = [h for h in history if "frac_zero_std" in h]
    if not steps or statistics.fmean(h["frac_zero_std"] for h in steps) < 0.99:
        return None
    reward = statistics.fmean(h["reward"] for h in steps if "reward" in h) if any("reward" in h for h in steps) else None
    kind = ("all wrong" if reward == 0 else "all right" if reward == 1 else "equal")
    return (f"GRPO learnt nothing: in every one of its {len(steps)} steps every group's answers scored alike ({kind}), "
            "so every advantage was 0 — the SFT model must answer some prompts right, some of the time, for a verifier "
            "to teach it (train SFT on this format first, or use prompts it sometimes solves)")


def results_dict(*, config, stages, stage_notes, cfgs, data_note, rows, runs, seconds, reward_accuracy, sft_history,
                 reward_history, n_pairs, sft_eval) -> dict:
    """Every number of the run, as ``results.json`` stores it."""
    table = {"base": _row(rows["base"], None), "SFT": _row(rows["SFT"], seconds["sft"])}
    methods = {}
    for method, seed_runs in runs.items():
        per_seed = [{"seed": r["seed"], **_row(r["row"], r["seconds"])} for r in seed_runs]
        mean, std = _mean_std(per_seed)
        table[NAMES[method]] = mean
        first = seed_runs[0]
        methods[NAMES[method]] = {"n": len(per_seed), "std": std, "runs": per_seed,
                                  "budget": _budget(method, cfgs[method], first["history"], n_pairs,
                                                    statistics.fmean(r["seconds"] for r in seed_runs)),
                                  "verdict": _verdict(NAMES[method], per_seed, table["SFT"]["exact_match"]),
                                  "course": _run_course(NAMES[method], first["history"]),
                                  "health": _grpo_health(first["history"]) if method == "grpo" else None}
        if method == "dpo":
            evals = [h for h in first["history"] if "eval_reward_accuracy" in h]
            methods["DPO"]["implicit_reward_accuracy"] = evals[-1]["eval_reward_accuracy"] if evals else None
    results = {
        "config": asdict(config), "stages_run": list(stages), "stage_notes": stage_notes,
        "stages": {k: asdict(v) for k, v in cfgs.items()}, "data": data_note, "table": table, "methods": methods,
        "reward_model_accuracy": reward_accuracy, "preference_pairs": n_pairs,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    first_sft = next(h for h in sft_history if "loss" in h)
    first_rm = next((h for h in reward_history or [] if "filtered_pairs" in h), {})
    results["truncation"] = {
        "sft_max_length": cfgs["sft"].max_length, "sft_policy": cfgs["sft"].truncation,
        "sft_examples_kept": first_sft["examples"], "sft_examples_truncated": first_sft["truncated_examples"],
        "sft_examples_dropped": first_sft["dropped_examples"],
        "reward_max_length": cfgs["reward"].max_length, "reward_pairs_dropped": first_rm.get("filtered_pairs", 0)}
    if sft_eval is not None:  # the user's held-out records: loss before (step 0) and after SFT
        evals = [h for h in sft_history if "eval_loss" in h]
        results["sft_eval_loss_before"], results["sft_eval_loss"] = evals[0]["eval_loss"], evals[-1]["eval_loss"]
    return results


def table_markdown(results: dict) -> str:
    """The main table (mean ± sample std over seeds for the post-SFT methods), then the verdicts, the
    budgets and the other figures of the run."""
    def cell(name, key, fmt):
        x = results["table"][name][key]
        sd = results["methods"].get(name, {}).get("std", {}).get(key)
        return "—" if x is None else format(x, fmt) + (f" ± {format(sd, fmt.lstrip('+'))}" if sd is not None else "")
    lines = ["| model | exact match (greedy) | exact match (sampled) | RM score (greedy) | KL to SFT (nats) | "
             "training time (s) |", "|---|---|---|---|---|---|"]
    for name in results["table"]:
        n = results["methods"].get(name, {}).get("n", 1)
        label = f"{name} ({n} seeds)" if n > 1 else name
        lines.append(f"| {label} | " + " | ".join(cell(name, k, f) for k, f in (
            ("exact_match", ".3f"), ("exact_match_sampled", ".3f"), ("rm_score", "+.2f"), ("kl_to_sft", ".3f"),
            ("seconds", ".0f"))) + " |")
    m = results["methods"]
    if m:
        lines += ["", "Compared with SFT (greedy exact match; outside the noise = the difference exceeds two standard "
                  "errors of the mean over seeds):", ""]
        lines += [f"- {v['verdict']}" + (f"; {v['course']}" if v["course"] else "")
                  + (f". {v['health']}" if v.get("health") else "") for v in m.values()]
        lines += ["", "Budget of each run (per seed; training time excludes the measurements during the run):", ""]
        lines += [f"- {k}: {v['budget']['text']}; {v['budget']['seconds_per_seed']:.0f} s" for k, v in m.items()]
    acc = results["reward_model_accuracy"]
    kind = results.get("data_kind")
    if kind != "preference":  # a preference file's accuracies lead the report (user_data_markdown)
        where = " (task-world pairs)" if kind else ""
        lines += ["", f"reward model held-out pairwise accuracy{where}: {acc:.3f}" if acc is not None
                  else "reward model: not trained (--stages) — no RM score"]
    if kind != "preference" and m.get("DPO", {}).get("implicit_reward_accuracy") is not None:
        lines.append(f"DPO implicit-reward held-out accuracy on the same held-out pairs: "
                     f"{m['DPO']['implicit_reward_accuracy']:.3f} (first seed)")
    lines.append(f"preference pairs (reward model and DPO): {results['preference_pairs']}")
    lines.append("KL to SFT: one answer per held-out prompt sampled from the model, Σ_t log π − log π_SFT over its "
                 "tokens, averaged (llmcourse.rl.rollout.sampled_kl) — the same for every method")
    lines.append(truncation_line(results["truncation"]))
    s = results["seconds"]
    parts = ", ".join(f"{k.upper() if k != 'reward' else 'RM'} {v:.0f} s" for k, v in s.items()
                      if k not in ("total", "cpu_total"))
    lines.append(f"wall time: {s['total']:.0f} s ({parts}; the rest is measuring); CPU time {s['cpu_total']:.0f} s")
    return "\n".join(lines)


PROBE_HEADING = "## Task-world probe — not your data"
"""With ``--data``, the heading of the main table: it measures the generated task world, not the user's file."""


def user_data_markdown(results: dict, user_samples: str | None) -> str:
    """With ``--data``, what was measured on the user's own file, which leads the report: the held-out loss
    before and after SFT (an instruction file), or the reward model's and DPO's accuracy on the held-out
    pairs (a preference file), then the user's held-out prompts answered by each model
    (``user_samples``, a markdown table, when there is one)."""
    data, m = results["config"]["data"], results["methods"]
    lines = [f"## Measured on your data: {data}", ""]
    if "sft_eval_loss" in results:
        lines.append(f"- held-out loss on {data} (per target token, lower is better): base "
                     f"{results['sft_eval_loss_before']:.3f} → SFT {results['sft_eval_loss']:.3f}")
    if results.get("data_kind") == "preference":
        acc = results["reward_model_accuracy"]
        lines.append(f"- reward model pairwise accuracy on the held-out pairs of {data}: {acc:.3f}" if acc is not None
                     else "- reward model: not trained (--stages) — no accuracy on your pairs")
        if m.get("DPO", {}).get("implicit_reward_accuracy") is not None:
            lines.append(f"- DPO implicit-reward accuracy on the same held-out pairs: "
                         f"{m['DPO']['implicit_reward_accuracy']:.3f} (first seed)")
        lines.append(f"- preference pairs (reward model and DPO): {results['preference_pairs']} from {data}")
        n = results.get("user_held_out")
        if n is not None and n < 20:  # one pair moves the accuracy by 1/n
            lines.append(f"- only {n} held-out pair{'s' if n > 1 else ''} (a tenth of the file): one pair moves an accuracy "
                         f"by {1 / n:.2f}, too few to tell skill from luck — a bigger file gives a firmer figure")
    else:
        lines.append(f"- the reward model and DPO trained on task-world pairs ({data} holds no preference pairs): "
                     "their accuracy is in the probe below")
    if user_samples:
        lines += ["", f"Held-out records of {data}, answered by each model (greedy):", "", user_samples]
    return "\n".join(lines)


def probe_note(results: dict) -> str:
    """With ``--data``, what the task-world table below measures, and why a model trained on other data
    scores ≈ 0 there."""
    return (f"{PROBE_HEADING}\n\nThe table below measures the generated task world (arithmetic and string tasks in "
            f"its own answer format, {results['n_eval']} held-out problems), not {results['config']['data']}: a model "
            "that was never taught this format (a pretrained one, or one fine-tuned on your data only) scores ≈ 0 on it, "
            "whatever it learnt from your data.")


def _sample_table(problems, columns: dict[str, list[str]]) -> str:
    head = "| task | input | answer | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (3 + len(columns))]
    for i, p in enumerate(problems):
        cells = " | ".join(f"`{columns[c][i]!r}`" for c in columns)
        lines.append(f"| {p.task} | `{p.input}` | `{p.answer}` | {cells} |")
    return "\n".join(lines)


def _figures(results: dict, histories: dict, runs: dict) -> dict:
    from llmcourse import plots

    def history(name, keys, title):
        return plots.plot_history(histories[name], keys, title=title, labels=TITLES)
    figs = {"sft_loss.png": history("sft", ["loss"], "SFT")}
    if "reward" in histories:
        figs["reward.png"] = history("reward", ["loss", "eval_accuracy"], "Reward model")
    first = {m: r[0] for m, r in runs.items()}
    scored = results["reward_model_accuracy"] is not None
    if "ppo" in first:
        figs["ppo.png"] = plots.plot_history(first["ppo"]["history"], ["score", "kl", "exact_match", "eval_score", "kl_to_sft"],
                                             title=f"PPO, seed {first['ppo']['seed']}", labels=TITLES)
    if "dpo" in first:
        figs["dpo.png"] = plots.plot_history(first["dpo"]["history"], ["loss", "logps_chosen", "eval_reward_accuracy",
                                                                      "eval_reward_margin"],
                                             title=f"DPO, seed {first['dpo']['seed']}", labels=TITLES)
    if "grpo" in first:
        keys = ["reward", "exact_match", *(["eval_score"] if scored else []), "kl_to_sft"]
        figs["grpo.png"] = plots.plot_history(first["grpo"]["history"], keys, title=f"GRPO, seed {first['grpo']['seed']}",
                                              labels=TITLES)
    rl = {f"{NAMES[m]} (seed {first[m]['seed']})": first[m]["history"] for m in ("ppo", "grpo") if m in first}
    if rl:
        figs["overoptimisation.png"] = plots.plot_overoptimisation(
            rl, title="Over-optimisation: proxy (reward model) and truth (exact match) against KL from the SFT model")
    return figs


class UserPrompt(NamedTuple):
    """One of the user's held-out records as the report shows it: ``shown`` (what the user wrote: the
    instruction, or the pair's last user turn), ``reference`` (the record's answer, or the preferred one),
    ``label`` (which of the two ``reference`` is) and ``prompt`` (the text the models are given, rendered)."""

    shown: str
    reference: str
    label: str
    prompt: str


USER_LENGTH = 32
"""New tokens each model may write for the user's held-out prompts (the probe's limit is the RL stages'
answer length, a few tokens: too short for a sentence)."""


def write(folder: Path, results: dict, histories: dict, runs: dict, models_shown: dict, tokenizer, *, samples,
          user_eval: list[UserPrompt] | None, template: str, length: int, data: str | None, main: bool) -> None:
    """Write ``results.json``, ``history_*.json``, the figures, ``samples.md`` and ``report.md`` to
    ``folder``; print the table when ``main``. ``user_eval``: the user's held-out records (``--data``), the
    first 10 answered greedily by every model in ``models_shown``."""
    import matplotlib.pyplot as plt

    table_md = table_markdown(results)
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    for name, hist in histories.items():
        (folder / f"history_{name}.json").write_text(json.dumps(hist, indent=1))
    for method, seed_runs in runs.items():
        for r in seed_runs:
            suffix = "" if r is seed_runs[0] else f"_seed{r['seed']}"
            (folder / f"history_{method}{suffix}.json").write_text(json.dumps(r["history"], indent=1))
    figures = _figures(results, histories, runs)
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)  # only ours: a notebook calling run_demo keeps its own figures
    shown = [p for p, _ in samples]
    columns = {name: models.generate(m, tokenizer, [q for _, q in samples], max_new_tokens=length)
               for name, m in models_shown.items()}
    samples_md = "# Sample generations (greedy, held-out prompts, first seed)\n\n" + _sample_table(shown, columns) + "\n"
    user_samples = None
    if user_eval:  # the user's own held-out prompts, answered by each model next to the reference answer
        mine = user_eval[:10]
        # the user's answers are sentences, not task-world tokens: a longer limit than the probe's
        answers = {name: models.generate(m, tokenizer, [u.prompt for u in mine], max_new_tokens=max(length, USER_LENGTH))
                   for name, m in models_shown.items()}
        lines = [f"| prompt | {mine[0].label} | " + " | ".join(answers) + " |", "|" + "---|" * (2 + len(answers))]
        lines += [f"| `{u.shown!r}` | `{u.reference!r}` | " + " | ".join(f"`{answers[k][i]!r}`" for k in answers) + " |"
                  for i, u in enumerate(mine)]
        user_samples = "\n".join(lines)
        samples_md += f"\n## Held-out records of {data}\n\n" + user_samples + "\n"
    (folder / "samples.md").write_text(samples_md)
    notes = "".join(f" ({n})" for n in results["stage_notes"])
    seeds = results["config"]["seeds"]
    # with --data the user's own measurements lead; the task-world table follows, labelled as a probe
    lead = user_data_markdown(results, user_samples) + "\n\n" + probe_note(results) + "\n\n" if data else ""
    (folder / "report.md").write_text(
        "# llmcourse demo report\n\n"
        f"Data: {results['data']}. Stages: {', '.join(results['stages_run'])}{notes}; each post-SFT method from the same "
        f"SFT model with {seeds} seed{'s' if seeds > 1 else ''}. "
        + ("The task-world probe is evaluated" if data else "Evaluated") + f" on {results['n_eval']} held-out task-world "
        f"problems ({template} prompts, answers up to {length} tokens, greedy and "
        "sampled).\n\n" + lead + table_md + "\n\n"
        + "".join(f"![{name[:-4]}]({name})\n\n" for name in figures)
        + "Samples side by side: [samples.md](samples.md). Raw numbers: `results.json`, `history_*.json`.\n")
    if main:
        print()
        print((user_data_markdown(results, None) + "\n\n" + probe_note(results) + "\n\n" if data else "") + table_md)
