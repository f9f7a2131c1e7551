"""``llmcourse demo``: the main job, stage by stage, on the embedded default (or your model/data).

Today: load (or build) the base model, generate the task world, and measure what the base model does
on it — plain-text continuations (it knows the operations) vs. instruction prompts (it never saw the
format: ≈ 0 exact match). The SFT → reward model → PPO stages plug in below as they land.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from llmcourse import models, tasks, templates
from llmcourse.report import atomic_report_dir


@dataclass
class DemoConfig:
    model: str | None = None
    """A Hugging Face model name or local folder; ``None`` = the embedded base model."""
    data: str | None = None
    """An Alpaca / Dolly / chat / preference JSON or JSONL file; ``None`` = the task world."""
    output: str = "demo-report"
    """Report folder (refused if it exists, unless ``force`` and it is an earlier report)."""
    seed: int = 0
    """Seed for data generation, sampling and training."""
    quick: bool = False
    """A fast setting for tests: fewer examples and steps."""
    force: bool = False
    """Replace an earlier report at ``output``."""
    n_eval: int = 200
    """Held-out task-world problems evaluated per model."""

    def __post_init__(self):
        if self.n_eval < 1:
            raise ValueError(f"n_eval must be ≥ 1, got {self.n_eval}")
        if self.quick:
            self.n_eval = min(self.n_eval, 40)


def evaluate_instruction_following(model, tokenizer, problems: list[tasks.Problem], max_new_tokens: int = 12) -> dict:
    """Exact match of answers to Alpaca-formatted prompts, overall and per task, plus samples."""
    prompts = [templates.alpaca_prompt(p.instruction, p.input) for p in problems]
    outputs = models.generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    per_task: dict[str, list[bool]] = {}
    for p, o in zip(problems, outputs):
        per_task.setdefault(p.task, []).append(tasks.normalize(o) == p.answer)
    return {
        "exact_match": tasks.exact_match(outputs, [p.answer for p in problems]),
        "per_task": {t: sum(v) / len(v) for t, v in sorted(per_task.items())},
        "samples": [{"task": p.task, "input": p.input, "answer": p.answer, "output": o}
                    for p, o in list(zip(problems, outputs))[:8]],
    }


def evaluate_plain_text(model, tokenizer, problems: list[tasks.Problem], seed: int = 0) -> dict:
    """Exact match when the same problems are posed as plain sentences (the pre-training style)."""
    rng = random.Random(seed)
    prompts, refs = [], []
    for p in problems:
        sentence = tasks.plain_sentence(p, rng)
        head = sentence.rsplit(f" {p.answer} .", 1)[0]
        prompts.append(head)
        refs.append(p.answer)
    outs = [o.replace(" .", "").strip() for o in models.generate(model, tokenizer, prompts, max_new_tokens=12)]
    return {"exact_match": tasks.exact_match(outs, refs)}


def run_demo(config: DemoConfig) -> Path:
    """Run the pipeline and write the report folder; returns its path."""
    from llmcourse import plots

    t0 = time.perf_counter()
    out = Path(config.output)
    with atomic_report_dir(out, force=config.force) as tmp:
        print(f"[1/1] base model: {'embedded' if config.model is None else config.model}")
        tokenizer = models.load_tokenizer(config.model)
        model = models.load_model(config.model)
        models.check_tokenizer(tokenizer)
        _, held_out = tasks.split_problems(0, config.n_eval, seed=config.seed + 1000)
        base = evaluate_instruction_following(model, tokenizer, held_out)
        plain = evaluate_plain_text(model, tokenizer, held_out, seed=config.seed)
        results = {
            "config": asdict(config),
            "parameters": models.count_parameters(model),
            "base": {"instruction_exact_match": base["exact_match"], "plain_text_exact_match": plain["exact_match"],
                     "per_task": base["per_task"]},
            "seconds": round(time.perf_counter() - t0, 1),
        }
        table = [
            "| model | exact match (instruction prompts) | exact match (plain-text prompts) |",
            "|---|---|---|",
            f"| base | {base['exact_match']:.2f} | {plain['exact_match']:.2f} |",
        ]
        (tmp / "results.json").write_text(json.dumps(results, indent=2))
        (tmp / "report.md").write_text(
            "# llmcourse demo report\n\n" + "\n".join(table) + "\n\n"
            "The base model was pre-trained on plain sentences about the task world; it has never seen an "
            "instruction format, so it fails instruction prompts until SFT teaches the format.\n\n"
            "![exact match per task](exact_match.png)\n\nSamples: [samples.md](samples.md)\n"
        )
        lines = ["# Sample generations (base model, Alpaca prompts)", "",
                 "| task | input | answer | base output |", "|---|---|---|---|"]
        lines += [f"| {s['task']} | `{s['input']}` | `{s['answer']}` | `{s['output']!r}` |" for s in base["samples"]]
        (tmp / "samples.md").write_text("\n".join(lines) + "\n")
        fig = plots.plot_bars(base["per_task"], title="Base model: exact match per task (instruction prompts)",
                              ylabel="exact match")
        fig.savefig(tmp / "exact_match.png", dpi=110)
        print("\n".join(table))
    print(f"report written to {out.resolve()} ({time.perf_counter() - t0:.1f} s)")
    return out
