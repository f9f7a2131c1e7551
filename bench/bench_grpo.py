"""GRPO's effect: held-out exact match per task before and after GRPO from an SFT model, over seeds.

    .venv/bin/python bench/bench_grpo.py [--seeds 0 1 2] [--max-seconds 118] [--notebook]

Default: GRPO's effect run (:data:`llmcourse.recipes.GRPO_EFFECT`, issue 20's goal) — the SFT model of
:data:`llmcourse.recipes.GRPO_SFT_RECIPE` (1,200 SFT steps on fresh problems, built and cached on first
use), the exact-match checker as the reward, fresh training prompts of the tasks the SFT model has not
solved (:func:`llmcourse.grpo.lab.effect_rows`), DAPO's dynamic sampling, a learning rate decaying to 0 over
``--max-seconds`` of training, as many steps as fit in them (generation + update; evaluation excluded).
``--notebook``: notebook 08's run instead (:data:`llmcourse.recipes.LAB_GRPO` from the PPO lab's SFT model, on
that model's training prompts).
``--reward``: reward functions and weights, e.g. ``exact_match:1 position_match:0.5``. ``--sft-steps N``: the
effect run from a variant of its SFT model trained for N steps (cached apart).

Held-out = the labs' 200 held-out problems (never trained on by SFT or GRPO), greedy decoding. Printed:
per task and overall, the SFT model's exact match and GRPO's mean ± std over seeds, each seed's steps,
training seconds (wall) and CPU seconds. Goal (issue 20): ≥ 0.95 per task in ≤ 120 s on 2 cores — run it on
an otherwise idle machine with torch's default threads (one per core): the run trains for a fixed *time*, so a
busy machine or ``OMP_NUM_THREADS=1`` gives it fewer steps (two threads: 671–759 steps in 118 s) and a
lower score.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-seconds", type=float, default=None, help="training budget per seed (default: the recipe's)")
    parser.add_argument("--notebook", action="store_true", help="notebook 08's run (PPO lab's SFT model) instead")
    parser.add_argument("--reward", nargs="+", default=["exact_match:1"], help="name:weight reward functions")
    parser.add_argument("--sft-steps", type=int, default=None,
                        help="effect run: SFT steps of its SFT model (default: GRPO_SFT_RECIPE's; a variant is cached apart)")
    parser.add_argument("--n-eval", type=int, default=200)
    args = parser.parse_args(argv)

    import torch

    from llmcourse import models, recipes
    from llmcourse.grpo import lab, train_grpo

    tok = models.load_tokenizer()
    if args.notebook:
        train, held = lab.grpo_rows(n_eval=args.n_eval)
        base, load = lab.MAIN_CONFIG, lab.load_sft_model
    else:
        train, held = lab.effect_rows(n_eval=args.n_eval)
        recipe = dict(recipes.GRPO_SFT_RECIPE, **({} if args.sft_steps is None else {"max_steps": args.sft_steps}))
        base, load = lab.EFFECT_CONFIG, lambda: lab.load_effect_sft_model(recipe)
        t0 = time.perf_counter()
        facts = lab.effect_sft_facts(recipe)
        print(f"SFT model: {lab.effect_sft_model_path(recipe=recipe)} ({recipe['max_steps']} steps, built in {facts['seconds']:.0f} s; "
              f"{time.perf_counter() - t0:.0f} s to load or build here)")
    names = [r.split(":")[0] for r in args.reward]
    weights = [float(r.split(":")[1]) if ":" in r else 1.0 for r in args.reward]
    changes = {"reward_weights": weights}
    if args.max_seconds is not None:
        changes["max_seconds"] = args.max_seconds
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {len(train)} training prompts, "
          f"{len(held)} held-out; rewards {dict(zip(names, weights))}; config: {lab.with_(base, **changes)}")
    runs, cpu = [], []
    for seed in args.seeds:
        t0, c0 = time.perf_counter(), time.process_time()
        h = train_grpo(load(), tok, train, lab.with_(base, seed=seed, **changes), reward_funcs=names, eval_data=held)
        runs.append(h)
        cpu.append(time.process_time() - c0)
        print(f"seed {seed}: {h[-1]['step']} steps, {h[-1]['seconds']:.1f} s training ({time.perf_counter() - t0:.1f} s "
              f"with evaluations, {cpu[-1]:.1f} s CPU): exact match {h[0]['exact_match']:.3f} → "
              f"{h[-1]['exact_match']:.3f}", flush=True)
    counts = {t: sum(r["task"] == t for r in held) for t in sorted({r["task"] for r in held})}
    print(f"\n| task | held-out problems | SFT | GRPO, mean ± std over {len(runs)} seeds | seeds | goal ≥ 0.95 |")
    print("|---|---|---|---|---|---|")
    for key, n in [("exact_match", len(held))] + [(f"exact_match/{t}", counts[t]) for t in counts]:
        after = [h[-1][key] for h in runs]
        sd = statistics.stdev(after) if len(after) > 1 else 0.0
        name = key.split("/")[1] if "/" in key else "**all**"
        mean = statistics.mean(after)
        print(f"| {name} | {n} | {runs[0][0][key]:.3f} | {mean:.3f} ± {sd:.3f} | {', '.join(f'{a:.3f}' for a in after)} "
              f"| {'met' if mean >= 0.95 else 'missed'} |")
    secs = [h[-1]["seconds"] for h in runs]
    print(f"training seconds per seed (wall): {', '.join(f'{s:.1f}' for s in secs)}; CPU seconds (evaluations "
          f"included): {', '.join(f'{c:.1f}' for c in cpu)}; steps: {', '.join(str(h[-1]['step']) for h in runs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
