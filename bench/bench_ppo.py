"""PPO iteration cost: where the time goes (rollout / scoring / update) and the update loop's overhead.

    .venv/bin/python bench/bench_ppo.py [--iterations 6] [--repeats 5] [--threads 2] [--value-model]
    .venv/bin/python bench/bench_ppo.py --hacking [--seeds 0 1 2 3] [--threads 1]

Part 1 — one PPO iteration, split. ``train_ppo`` runs the lab's main configuration (the task world,
the cached SFT policy and reward model of :mod:`llmcourse.ppo.lab`; the embedded base model and an
untrained reward head when ``--base`` is given) for ``--iterations`` steps; the history's timings give,
per iteration (median over iterations after the first):

    generate   sampling the responses (``model.generate``, temperature 1, top-k 0, top-p 1)
    score      the no-grad forward passes: policy (+ value), reference, reward model; rewards and GAE
    update     ``num_ppo_epochs`` × ``num_mini_batches`` optimizer steps (``ppo_update``)

Part 2 — the update step against its floor. On one fixed rollout batch, ``ppo_update`` (the real
update: log-probs, clipped policy and value losses, diagnostics, gradient clipping, AdamW) is timed
against two bare loops over the *same* minibatches and the same model:

    fwd+bwd    the model's own forward + backward with a trivial loss (sum of the chosen tokens'
               logits + values): what no PPO implementation can avoid
    floor      fwd+bwd + AdamW step (the bare PyTorch training loop of DESIGN.md)

Interleaved rounds (A B C, then C B A, …) after a warm-up; reported: median seconds per update and
the median share fwd+bwd / update (loop overhead = 1 − share; goal ≤ 10 %), with min–max over rounds.
TRL has no PPO trainer any more (removed in TRL 0.2x), so there is no TRL column.

``--hacking`` — instead, the figures of :data:`llmcourse.recipes.LAB_HACKING` (the reward-hacking lab of
notebook 03): for each seed, both of its runs (β = 0, β = 10) from the lab's SFT model against the
length-biased reward model, with the held-out evaluation (100 prompts) before and after: the sampled
biased score, sampled and greedy exact match, and the KL to the SFT model at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _median_spread(xs):
    return statistics.median(xs), min(xs), max(xs)


def hacking(args) -> int:
    """recipes.LAB_HACKING's runs over seeds: the biased score, exact match and KL, start → end."""
    import dataclasses

    import torch

    from llmcourse import models
    from llmcourse.ppo import lab, train_ppo

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    tok, sft_path, biased = models.load_tokenizer(), lab.sft_model_path(), lab.reward_model(bias="length")
    prompts, eval_data = lab.ppo_prompts()
    rows: dict[str, list[dict]] = {}
    for seed in args.seeds:
        for name, cfg in lab.HACKING_CONFIGS.items():
            t = time.perf_counter()
            h = train_ppo(models.load_model(sft_path), tok, biased, prompts,
                          dataclasses.replace(cfg, seed=seed, eval_steps=0, progress=False), eval_data=eval_data)
            a, b = h[0], h[-1]
            r = {"seed": seed, "score_gain": b["eval_score_sampled"] - a["eval_score_sampled"],
                 "em_sampled": (a["exact_match_sampled"], b["exact_match_sampled"]),
                 "em_greedy": (a["exact_match"], b["exact_match"]), "kl": b["kl"], "seconds": time.perf_counter() - t}
            rows.setdefault(name, []).append(r)
            print(f"seed {seed} {name}: sampled biased score {a['eval_score_sampled']:+.2f} → {b['eval_score_sampled']:+.2f} "
                  f"(gain {r['score_gain']:+.2f}); exact match sampled {a['exact_match_sampled']:.2f} → "
                  f"{b['exact_match_sampled']:.2f}, greedy {a['exact_match']:.2f} → {b['exact_match']:.2f}; "
                  f"KL {b['kl']:.2f} nats; {r['seconds']:.0f} s", flush=True)
    print(f"\nover seeds {args.seeds}:")
    for name, rs in rows.items():
        def span(xs):
            return f"{min(xs):.2f}–{max(xs):.2f}"
        print(f"  {name}: score gain {span([r['score_gain'] for r in rs])}; sampled exact match "
              f"{span([r['em_sampled'][0] for r in rs])} → {span([r['em_sampled'][1] for r in rs])}; greedy "
              f"{span([r['em_greedy'][0] for r in rs])} → {span([r['em_greedy'][1] for r in rs])}; "
              f"KL {span([r['kl'] for r in rs])} nats")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=6, help="PPO iterations for the split (part 1)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds for the update bench (part 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--value-model", action="store_true",
                        help="a separate value model (copy of the RM) instead of the lab's value head on the policy")
    parser.add_argument("--base", action="store_true", help="embedded base model + untrained RM (no lab cache needed)")
    parser.add_argument("--hacking", action="store_true", help="the reward-hacking lab's figures over --seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="with --hacking")
    args = parser.parse_args(argv)
    if args.hacking:
        return hacking(args)

    import copy
    import dataclasses

    import torch

    from llmcourse import models, training
    from llmcourse.ppo import functional as F
    from llmcourse.ppo import lab
    from llmcourse.ppo import rollout as R
    from llmcourse.ppo.trainer import ppo_update, train_ppo

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    tok = models.load_tokenizer()
    if args.base:
        policy_path, rm = None, models.load_model(kind="reward")
    else:
        policy_path, rm = lab.sft_model_path(), lab.reward_model(bias=None)
    prompts, eval_data = lab.ppo_prompts()
    config = dataclasses.replace(lab.MAIN_CONFIG, max_steps=args.iterations, eval_steps=0, progress=False,
                                 value_head=not args.value_model)
    print(f"config: batch {config.batch_size}, {config.num_mini_batches} minibatches, {config.num_ppo_epochs} epochs, "
          f"response_length {config.response_length}, value {'head' if config.value_head else 'model (copy of RM)'}")

    # ---- part 1: the split of one iteration
    policy = models.load_model(policy_path)
    hist = train_ppo(policy, tok, copy.deepcopy(rm), prompts, config)[1:]
    rows = hist[1:] if len(hist) > 1 else hist  # the first iteration pays warm-up costs
    parts = {k: statistics.median(h[f"time_{k}"] for h in rows) for k in ("generate", "score", "update")}
    total = sum(parts.values())
    print(f"\nPart 1 — seconds per PPO iteration (median of {len(rows)}), batch {config.batch_size}, "
          f"mean response length {statistics.median(h['response_length'] for h in rows):.1f} tokens")
    for k, v in parts.items():
        print(f"  {k:<9} {v:7.3f} s  {100 * v / total:5.1f} %")
    print(f"  {'total':<9} {total:7.3f} s")

    # ---- part 2: ppo_update against its floor, on one fixed batch
    accelerator = training.make_accelerator(mixed_precision="no")
    policy = training.disable_dropout(models.load_model(policy_path))
    ref = copy.deepcopy(policy).eval().requires_grad_(False)
    rm = rm.eval().requires_grad_(False)
    value = None if config.value_head else copy.deepcopy(rm).requires_grad_(True)
    model = R.PolicyAndValue(policy, value)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    model, opt = accelerator.prepare(model, opt)
    model.eval()
    ro = R.collect_rollout(model, ref, rm, tok, prompts[: config.batch_size], response_length=config.response_length,
                           temperature=config.temperature, seed=0, forward_batch_size=config.batch_size // config.num_mini_batches)
    rewards = F.kl_penalized_rewards(ro.scores, ro.logprobs, ro.ref_logprobs, ro.response_mask, config.kl_coef)
    adv, ret = F.gae_advantages(rewards, ro.values, ro.response_mask, config.gamma, config.lam)
    adv = F.masked_whiten(adv, ro.response_mask)
    B, mb = config.batch_size, config.batch_size // config.num_mini_batches

    def minibatches(seed):
        g = torch.Generator().manual_seed(seed)
        for _ in range(config.num_ppo_epochs):
            perm = torch.randperm(B, generator=g)
            for k in range(config.num_mini_batches):
                yield perm[k * mb:(k + 1) * mb]

    def real(seed):
        t0 = time.perf_counter()
        ppo_update(model, opt, accelerator, ro, adv, ret, config, torch.Generator().manual_seed(seed))
        return time.perf_counter() - t0

    def bare(seed, step: bool):
        model.train()
        t0 = time.perf_counter()
        for idx in minibatches(seed):
            logits, values = model(ro.query_ids[idx], ro.query_mask[idx], ro.response_ids[idx], ro.response_mask[idx])
            loss = logits.gather(-1, ro.response_ids[idx].unsqueeze(-1)).sum() * 1e-6 + values.sum() * 1e-6
            loss.backward()
            if step:
                opt.step()
            opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    runs = {"update": lambda s: real(s), "fwd+bwd": lambda s: bare(s, False), "floor": lambda s: bare(s, True)}
    for name, fn in runs.items():  # warm-up
        fn(0)
    times = {k: [] for k in runs}
    order = list(runs)
    for r in range(args.repeats):
        for name in (order if r % 2 == 0 else order[::-1]):
            times[name].append(runs[name](r + 1))
    share = [f / u for f, u in zip(times["fwd+bwd"], times["update"])]
    floor_share = [f / u for f, u in zip(times["floor"], times["update"])]
    n_mb = config.num_ppo_epochs * config.num_mini_batches
    print(f"\nPart 2 — one update ({n_mb} minibatches of {mb}), {args.repeats} interleaved rounds")
    for k in runs:
        med, lo, hi = _median_spread(times[k])
        print(f"  {k:<9} {med:7.3f} s  (min {lo:.3f}, max {hi:.3f})")
    med, lo, hi = _median_spread(share)
    print(f"  model forward+backward share of the update: {100 * med:.1f} %  (min {100 * lo:.1f}, max {100 * hi:.1f})"
          f"  → loop overhead {100 * (1 - med):.1f} %")
    med, lo, hi = _median_spread(floor_share)
    print(f"  bare loop (fwd+bwd+AdamW) share of the update: {100 * med:.1f} %  (min {100 * lo:.1f}, max {100 * hi:.1f})"
          f"  → overhead over the floor {100 * (1 - med):.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
