"""GRPO's effect: held-out exact match per task before and after GRPO from the SFT model, over seeds.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_grpo.py [--seeds 0 1 2] [--max-seconds 110]

The GRPO lab's main run (:data:`llmcourse.recipes.LAB_GRPO`): the PPO lab's cached SFT model
(:func:`llmcourse.ppo.lab.sft_model_path`), the exact-match checker as the reward, 8 prompts × 8
completions per step, as many steps as fit in ``--max-seconds`` of training (generation + update;
evaluation excluded). Held-out = the SFT split's held-out problems (never trained on by SFT or GRPO),
greedy decoding. Printed: per task and overall, the SFT model's exact match and GRPO's mean ± std
over seeds, the steps and training seconds of each seed. Goal (issue 20): ≥ 0.95 per task in ≤ 120 s
on 2 cores. The machine this runs on may be shared: training seconds are wall time.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-seconds", type=float, default=None, help="training budget per seed (default: the recipe's)")
    parser.add_argument("--n-eval", type=int, default=200)
    args = parser.parse_args(argv)

    import torch

    from llmcourse import models
    from llmcourse.grpo import lab, train_grpo

    tok = models.load_tokenizer()
    train, held = lab.grpo_rows(n_eval=args.n_eval)
    changes = {} if args.max_seconds is None else {"max_seconds": args.max_seconds}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {len(train)} training prompts, "
          f"{len(held)} held-out; config: {lab.with_(**changes)}")
    runs = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        h = train_grpo(lab.load_sft_model(), tok, train, lab.with_(seed=seed, **changes), eval_data=held)
        runs.append(h)
        print(f"seed {seed}: {h[-1]['step']} steps, {h[-1]['seconds']:.1f} s training ({time.perf_counter() - t0:.1f} s "
              f"with evaluations): exact match {h[0]['exact_match']:.3f} → {h[-1]['exact_match']:.3f}", flush=True)
    counts = {t: sum(r["task"] == t for r in held) for t in sorted({r["task"] for r in held})}
    print(f"\n| task | held-out problems | SFT | GRPO, mean ± std over {len(runs)} seeds | goal ≥ 0.95 |")
    print("|---|---|---|---|---|")
    for key, n in [("exact_match", len(held))] + [(f"exact_match/{t}", counts[t]) for t in counts]:
        after = [h[-1][key] for h in runs]
        sd = statistics.stdev(after) if len(after) > 1 else 0.0
        name = key.split("/")[1] if "/" in key else "**all**"
        mean = statistics.mean(after)
        print(f"| {name} | {n} | {runs[0][0][key]:.3f} | {mean:.3f} ± {sd:.3f} | {'met' if mean >= 0.95 else 'missed'} |")
    secs = [h[-1]["seconds"] for h in runs]
    print(f"training seconds per seed: {', '.join(f'{s:.1f}' for s in secs)}; steps: "
          f"{', '.join(str(h[-1]['step']) for h in runs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
