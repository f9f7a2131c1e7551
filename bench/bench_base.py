"""Base-model recipes side by side: build time and what each base model knows.

Each recipe is ``models.BASE_RECIPE`` with some fields replaced. Every build goes into its own
throw-away folder (the course cache is left alone); the report gives the build's own seconds and the
base model's exact match per task when asked in its own plain-text format (the prompt is a
pre-training sentence cut before its answer: "the list 6 0 1 8 reversed is"). That is what SFT has to
work with: a base model that cannot sort in plain text will not sort after a minute of SFT either.

The default compares the current recipe with the loss on every token (``loss_on="all"``, the base
model of session 4) and on the answers only (the current recipe).

Run:  .venv/bin/python bench/bench_base.py [--recipe '{"steps": 400}' ...] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time

import torch

from llmcourse import models, tasks

LOSS_ON_ALL = {"loss_on": "all"}


def plain_prompts(problems: list[tasks.Problem], seed: int = 0) -> list[str]:
    """Each problem's pre-training sentence, cut just before its answer (:func:`llmcourse.tasks.plain_prompt`)."""
    rng = random.Random(seed)
    return [tasks.plain_prompt(p, rng) for p in problems]


def plain_accuracy(path, n: int) -> dict[str, float]:
    model, tok = models.load_model(path), models.load_tokenizer(path)
    out = {}
    for task in tasks.TASKS:
        probs = tasks.problems(n, seed=7, tasks=[task])
        gens = models.generate(model, tok, plain_prompts(probs), max_new_tokens=16)
        # the sentence goes on after the answer (" ."): keep the answer's words only
        preds = [" ".join(g.split()[: len(p.answer.split())]) for g, p in zip(gens, probs)]
        out[task] = tasks.exact_match(preds, [p.answer for p in probs])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", action="append", type=json.loads,
                    help="fields of BASE_RECIPE to replace, as JSON; repeat for several (default: loss on every token, and the current)")
    ap.add_argument("--n", type=int, default=200, help="problems per task")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    recipes = args.recipe or [LOSS_ON_ALL, {}]
    print(f"torch {torch.__version__}, threads {args.threads}, {args.n} problems per task, current recipe {models.BASE_RECIPE}")
    for change in recipes:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            facts = models.pretrain_base_model(tmp, recipe=change, progress=False)
            wall = time.perf_counter() - t0
            acc = plain_accuracy(tmp, args.n)
        name = json.dumps(change) if change else "current"
        print(f"{name}: build {facts['seconds']:.1f} s ({wall:.1f} s wall), {facts['parameters']:,} parameters, "
              f"final loss {facts['final_loss']:.3f}; plain-text exact match: "
              + ", ".join(f"{k} {v:.1%}" for k, v in acc.items()), flush=True)


if __name__ == "__main__":
    main()
