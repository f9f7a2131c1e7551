"""Reward-model training throughput: llmcourse vs TRL's RewardTrainer vs a bare PyTorch loop; and
whether our Bradley–Terry loss agrees with TRL's on the same scores.

Same model (the embedded base with a seeded one-output head, fresh copy per run), same pre-tokenised
pairs (``[BOS] prompt response [EOS]``, Alpaca prompts from the task world — TRL gets them as
``chosen_ids``/``rejected_ids`` columns so both train on identical sequences), same batch size,
learning rate, number of steps, fp32. TRL runs with ``bf16=False`` and ``gradient_checkpointing=False``
(its defaults are bf16 + checkpointing, which are much slower on a CPU), no evaluation, no saving,
``report_to="none"``, the tokenizer as ``processing_class``.

Timings on a shared machine vary run to run, so the three contenders run interleaved
(ours, TRL, floor, floor, TRL, ours, …) after a warm-up, and the report gives medians with the spread
(min–max) over the repeats. Throughput = pairs per second over the whole training call, including each
trainer's own setup (our dataset tokenisation; TRL's Trainer/dataloader setup).

Quality (``--quality``): the task-world recipe :func:`llmcourse.reward.train_task_reward_model` from
the embedded base model, clean and ``bias="length"``: held-out pairwise accuracy and margin along the
run (with the training seconds at each evaluation), wall and CPU time, and how much each model likes
the planted filler.

Run:  .venv/bin/python bench/bench_reward.py [--throughput] [--quality] [--steps 20] [--repeats 5]
                                             [--batch-size 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import torch


def build(args):
    from llmcourse import models, reward

    tok = models.load_tokenizer()
    base = reward.load_reward_model(seed=0)
    train, _ = reward.task_preference_data(args.steps * args.batch_size + 64, 10, seed=0)
    return tok, base, train


def run_ours(base, tok, pairs, args, share_prompt: bool = True) -> float:
    from llmcourse import reward

    model = copy.deepcopy(base)
    cfg = reward.RewardConfig(learning_rate=args.lr, per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                              logging_steps=args.steps, mixed_precision="no", seed=0, share_prompt=share_prompt)
    t = time.perf_counter()
    reward.train_reward_model(model, tok, pairs, cfg, progress=False)
    return time.perf_counter() - t


def trl_dataset(tok, pairs):
    from datasets import Dataset

    from llmcourse import reward

    return Dataset.from_dict({
        "chosen_ids": [reward.encode_response(tok, p["prompt"], p["chosen"]) for p in pairs],
        "rejected_ids": [reward.encode_response(tok, p["prompt"], p["rejected"]) for p in pairs],
    })


def trl_trainer(model, tok, dataset, args, out_dir, bf16: bool = False):
    from trl import RewardConfig, RewardTrainer

    cfg = RewardConfig(output_dir=out_dir, learning_rate=args.lr, per_device_train_batch_size=args.batch_size,
                       max_steps=args.steps, logging_steps=args.steps, save_strategy="no", report_to="none",
                       bf16=bf16, fp16=False, gradient_checkpointing=False, disable_dropout=True, max_length=256,
                       lr_scheduler_type="cosine", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
                       dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(), seed=0,
                       disable_tqdm=True)
    from transformers.trainer_callback import PrinterCallback

    trainer = RewardTrainer(model=model, args=cfg, train_dataset=dataset, processing_class=tok)
    trainer.remove_callback(PrinterCallback)  # its per-log prints are not part of the measurement
    return trainer


def run_trl(base, tok, dataset, args, out_dir) -> float:
    model = copy.deepcopy(base)
    t = time.perf_counter()
    trl_trainer(model, tok, dataset, args, out_dir).train()
    return time.perf_counter() - t


def run_floor(base, tok, pairs, args) -> float:
    """A bare loop over pre-built batches: forward (2B rows) + Bradley–Terry + backward + AdamW step."""
    from llmcourse import reward

    model = copy.deepcopy(base).train()
    ds = reward.PreferenceDataset(pairs, tok, 256)
    coll = reward.PreferenceCollator(tok.pad_token_id)
    batches = [coll(ds.examples[i * args.batch_size:(i + 1) * args.batch_size]) for i in range(args.steps)]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    t = time.perf_counter()
    for b in batches:
        scores = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, 0]
        n = scores.shape[0] // 2
        loss = torch.nn.functional.softplus(-(scores[:n] - scores[n:])).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t


def loss_agreement(base, tok, dataset, args, out_dir) -> tuple[float, float]:
    """Max absolute and relative |ours − TRL| of the loss on the same float32 scores (random, gaps up
    to ~1e4, margins, centring)."""
    from llmcourse import reward

    trainer = trl_trainer(copy.deepcopy(base), tok, dataset, args, out_dir)

    class Fixed(torch.nn.Module):  # a "model" whose logits are the scores we choose
        def __init__(self, scores):
            super().__init__()
            self.scores = scores

        def forward(self, **_):
            from types import SimpleNamespace

            return SimpleNamespace(logits=self.scores[:, None])

    gen = torch.Generator().manual_seed(0)
    worst_abs, worst_rel = 0.0, 0.0
    for case in range(40):
        b = int(torch.randint(1, 33, (1,), generator=gen))
        scale = [1.0, 10.0, 1e3, 1e4][case % 4]
        c, r = torch.randn(b, generator=gen) * scale, torch.randn(b, generator=gen) * scale
        inputs = {"input_ids": torch.zeros(2 * b, 3, dtype=torch.long), "attention_mask": torch.ones(2 * b, 3, dtype=torch.long)}
        margin = None
        if case % 3 == 1:
            margin = torch.rand(b, generator=gen) * 2
            inputs["margin"] = margin
        coef = 0.01 if case % 5 == 2 else None
        trainer.args.center_rewards_coefficient = coef
        theirs = trainer.compute_loss(Fixed(torch.cat([c, r])), dict(inputs))
        ours = reward.bradley_terry_loss(c, r, margin, center_coef=coef or 0.0)
        diff = float((theirs - ours).abs())
        worst_abs = max(worst_abs, diff)
        worst_rel = max(worst_rel, diff / max(1e-12, float(ours.abs())))
    return worst_abs, worst_rel


def quality(args):
    from llmcourse import reward

    for bias in (None, "length"):
        t, c = time.perf_counter(), time.process_time()
        run = reward.train_task_reward_model(bias, progress=False)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        curve = ", ".join(f"step {h['step']}: {h['eval_accuracy']:.1%} at {h['elapsed']:.0f}s"
                          for h in run.history if "eval_accuracy" in h)
        m = run.metrics
        print(f"[{bias or 'clean'}] held-out accuracy {m['accuracy']:.1%} on {m['eval_pairs']} pairs, margin {m['margin']:.2f}; "
              f"training {m['train_seconds']:.0f}s wall ({m['steps']} steps); whole call {wall:.0f}s wall, {cpu:.0f}s CPU")
        print(f"[{bias or 'clean'}] curve: {curve}")
        print(f"[{bias or 'clean'}] answer + filler beats answer: {m['filler_preference']:.1%}; "
              f"wrong answer + filler beats correct answer: {m['filler_over_correct']:.1%}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--throughput", action="store_true", help="the throughput comparison (default when nothing is chosen)")
    ap.add_argument("--quality", action="store_true", help="train the task-world reward models and report accuracy")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import datasets
    import tempfile

    datasets.disable_progress_bars()
    if args.quality:
        quality(args)
        if not args.throughput:
            return
    import trl

    tok, base, pairs = build(args)
    dataset = trl_dataset(tok, pairs)
    out_dir = tempfile.mkdtemp(prefix="bench-reward-")
    print(f"torch {torch.__version__}, trl {trl.__version__}, threads {args.threads}, "
          f"{args.steps} steps × {args.batch_size} pairs, fp32")
    # warm-up (allocator, kernels, lazy imports)
    run_ours(base, tok, pairs[: 2 * args.batch_size], argparse.Namespace(**{**vars(args), "steps": 2}))
    run_trl(base, tok, dataset.select(range(2 * args.batch_size)), argparse.Namespace(**{**vars(args), "steps": 2}), out_dir)
    # "unshared": our trainer scoring whole sequences (share_prompt=False) — what it silently did on
    # transformers 5.25 before the shared-prompt path learned the backbone's new `cache` argument
    times = {"ours": [], "trl": [], "floor": [], "unshared": []}
    order = ["ours", "trl", "floor", "unshared"]
    for rep in range(args.repeats):
        for name in (order if rep % 2 == 0 else order[::-1]):
            if name in ("ours", "unshared"):
                times[name].append(run_ours(base, tok, pairs, args, share_prompt=name == "ours"))
            elif name == "trl":
                times[name].append(run_trl(base, tok, dataset, args, out_dir))
            else:
                times[name].append(run_floor(base, tok, pairs, args))
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    n_pairs = args.steps * args.batch_size
    for k, v in times.items():
        print(f"{k:>8}: median {statistics.median(v):.2f}s  ({n_pairs / statistics.median(v):.1f} pairs/s; "
              f"min {min(v):.2f}s, max {max(v):.2f}s)")
    ratios = [t / o for o, t in zip(times["ours"], times["trl"])]
    floor = [f / o for o, f in zip(times["ours"], times["floor"])]
    print(f"throughput ratio ours/TRL: median {statistics.median(ratios):.2f} (per-repeat min {min(ratios):.2f}, "
          f"max {max(ratios):.2f}; goal ≥ 1.0)")
    print(f"bare-loop floor time / our time: median {statistics.median(floor):.2f} "
          f"(min {min(floor):.2f}, max {max(floor):.2f}; 1.0 = as fast as the bare loop)")
    shared = [u / o for o, u in zip(times["ours"], times["unshared"])]
    print(f"prompt sharing: time without / with: median {statistics.median(shared):.2f} "
          f"(min {min(shared):.2f}, max {max(shared):.2f})")
    worst_abs, worst_rel = loss_agreement(base, tok, dataset, args, out_dir)
    print(f"loss agreement with TRL's compute_loss on 40 float32 score batches (gaps up to ~1e4, margins, "
          f"centring): max |diff| = {worst_abs:.2e}, max relative |diff| = {worst_rel:.2e}")


if __name__ == "__main__":
    main()
