"""DPO: its effect on the task world (held-out exact match over seeds), and side by side with TRL's
``DPOTrainer`` (loss agreement on the same batches, throughput against a bare PyTorch floor).

Quality (``--quality``, default): the cached SFT model of ``llmcourse.dpo.lab`` (``bench_sft.py
--quality``'s recipe), then for each seed: pairs from fresh task-world problems (never a held-out one)
— the correct answer ≻ the SFT model's own greedy and sampled answers whenever the exact-match checker
says they are wrong, plus correct ≻ subtly wrong pairs — and ``llmcourse.dpo.lab.DPO_CONFIG``. The
table gives greedy held-out exact match per task, SFT vs DPO (mean ± std over seeds), the seconds
spent building pairs (sampling) and training. Run each seed with one thread (``OMP_NUM_THREADS=1``) on
a shared machine: the figures are wall time on whatever the machine was doing.

TRL (``--trl``): the same model (the SFT model as policy, the base model as a distinct frozen
reference so that losses are not all log 2), the same pairs in the simple template, the same batch
size, fp32. TRL gets prompts with the BOS text in front and appends the EOS text itself, so both see
identical token ids (checked). *Agreement*: for ``--agree-batches`` batches, our
``dpo_loss(sequence_logprobs(...))`` against TRL's ``compute_loss`` on the same pairs — max relative
difference of the losses and of the gradient norms. *Throughput*: ``train_dpo`` vs
``DPOTrainer.train()`` for ``--steps`` steps each (reference model run every step in both), and a
floor — bare forward of policy and reference + DPO loss + backward + AdamW over pre-built batches —
interleaved (ours, TRL, floor, floor, TRL, ours, …) after a warm-up; medians and the spread of the
per-repeat ratios. TRL runs with ``bf16=False``, ``gradient_checkpointing=False``, ``report_to="none"``,
the tokenizer as ``processing_class`` (its bf16/checkpointing defaults are much slower on a CPU).

``--variant sft_only`` trains the same chosen answers with the SFT term alone (no preference loss), the
control that says what the preference term adds; ``--variant dpo_only`` drops the SFT term.

Run:  OMP_NUM_THREADS=1 .venv/bin/python bench/bench_dpo.py [--quality] [--variant rpo] [--seeds 0 1 2] [--trl] [--steps 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import statistics
import tempfile
import time
import warnings

import torch


def quiet():
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass


# --------------------------------------------------------------------------- quality


def _no_preference_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    return policy_chosen_logps.sum() * 0.0  # zero, with a gradient path; the trainer adds the SFT term


def quality(args):
    from llmcourse import models
    from llmcourse.dpo import lab

    path = lab.sft_model_path(progress=True)
    facts = __import__("json").loads((path / "llmcourse_sft.json").read_text())
    sft = facts["held_out"]
    print(f"SFT model {path.name}: built in {facts['seconds']} s; held-out exact match {sft['all']:.3f} "
          f"(problems per task: {sft['n']})")
    config, loss_fn = lab.DPO_CONFIG, None
    if args.variant == "dpo_only":  # no SFT term on the chosen answers
        config = dataclasses.replace(config, rpo_alpha=None)
    elif args.variant == "sft_only":  # the SFT term alone, on the same chosen answers: what DPO adds to it
        loss_fn = _no_preference_loss
    print(f"variant: {args.variant}")
    runs = []
    for seed in args.seeds:
        r = lab.run_task_dpo(seed, config=config, loss_fn=loss_fn)
        runs.append(r)
        print(f"seed {seed}: {r['pairs']} pairs built in {r['pair_seconds']} s wall / {r['pair_cpu_seconds']} s CPU, "
              f"trained in {r['train_seconds']} s wall / {r['train_cpu_seconds']} s CPU ({torch.get_num_threads()} thread(s)); "
              f"held-out exact match {r['after']['all']:.3f}", flush=True)
    keys = ["all"] + [k for k in sft["n"]]
    print(f"\n| task | held-out problems | SFT | {args.variant} (mean ± std over seeds " + ", ".join(map(str, args.seeds)) + ") | Δ |")
    print("|---|---|---|---|---|")
    for k in keys:
        vals = [r["after"][k] for r in runs]
        mean, std = statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)
        n = sum(sft["n"].values()) if k == "all" else sft["n"][k]
        print(f"| {k} | {n} | {sft[k]:.3f} | {mean:.3f} ± {std:.3f} | {mean - sft[k]:+.3f} |")
    print(f"\ntraining seconds per seed, wall: {[r['train_seconds'] for r in runs]}, CPU: "
          f"{[r['train_cpu_seconds'] for r in runs]} (CPU seconds of a one-thread run = its time on an idle core); "
          f"pair building (sampling), wall: {[r['pair_seconds'] for r in runs]}, CPU: {[r['pair_cpu_seconds'] for r in runs]}")
    print(f"config: {lab.DPO_CONFIG}\npairs: {lab.PAIRS_RECIPE}")


# --------------------------------------------------------------------------- TRL side by side


def _setup(args):
    from llmcourse import models, reward
    from llmcourse.dpo import lab

    tok = models.load_tokenizer(lab.sft_model_path())
    policy = lab.load_sft_model()
    ref = models.load_model()
    n = max(args.steps, args.agree_batches) * args.batch_size + 64
    pairs = reward.task_pairs(n, seed=1, template="simple")
    return tok, policy, ref, pairs


def _trl_trainer(policy, ref, tok, pairs, args, steps: int, out: str, bf16: bool = False):
    """TRL's ``DPOTrainer`` with our settings (also used by ``gpu_check.py``, on any device)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    ds = Dataset.from_list([{"prompt": tok.bos_token + p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]}
                            for p in pairs])
    cfg = DPOConfig(output_dir=out, per_device_train_batch_size=args.batch_size, max_steps=steps, learning_rate=args.lr,
                    beta=0.1, bf16=bf16, use_cpu=not torch.cuda.is_available(), gradient_checkpointing=False, report_to="none", logging_steps=10_000,
                    save_strategy="no", disable_tqdm=True, lr_scheduler_type="constant", warmup_steps=0,
                    max_grad_norm=1.0, weight_decay=0.0, dataloader_num_workers=0, seed=0, max_length=None,
                    pad_to_multiple_of=None)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return DPOTrainer(model=policy, ref_model=ref, args=cfg, train_dataset=ds, processing_class=tok)


def agreement(args, tok, policy, ref, pairs, echo=print) -> dict:
    """Our DPO loss and gradient against TRL's ``compute_loss`` on ``args.agree_batches`` identical
    batches of ``args.batch_size`` pairs, fp32, on the device TRL's trainer puts the model on (``ref``
    is moved there too). Returns the figures; ``echo`` prints each batch's line."""
    from llmcourse import dpo

    with tempfile.TemporaryDirectory() as out:
        trainer = _trl_trainer(copy.deepcopy(policy), copy.deepcopy(ref), tok, pairs, args, 1, out)
        ours = dpo.DPODataset(pairs, tok)
        collate = dpo.DPOCollator(tok.pad_token_id)
        rows = trainer.train_dataset
        same = all(list(rows[i]["prompt_ids"]) + list(rows[i]["chosen_ids"]) == ours[i]["chosen"]["input_ids"]
                   and list(rows[i]["prompt_ids"]) + list(rows[i]["rejected_ids"]) == ours[i]["rejected"]["input_ids"]
                   for i in range(len(ours)))
        echo(f"token ids identical for all {len(ours)} pairs: {same}")
        model = trainer.model
        model.train()
        device = next(model.parameters()).device
        ref_model = trainer.ref_model.to(device)
        rel_loss, rel_grad, losses = [], [], []
        for k in range(args.agree_batches):
            idx = list(range(k * args.batch_size, (k + 1) * args.batch_size))
            trl_batch = trainer._prepare_inputs(trainer.data_collator([rows[i] for i in idx]))  # to the device
            model.zero_grad()
            with contextlib.redirect_stdout(io.StringIO()):
                trl_loss = trainer.compute_loss(model, trl_batch)
            trl_loss.backward()
            g_trl = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).clone()
            model.zero_grad()
            b = {key: v.to(device) for key, v in collate([ours[i] for i in idx]).items()}
            fwd = lambda m: dpo.sequence_logprobs(m(input_ids=b["input_ids"], attention_mask=b["attention_mask"],  # noqa: E731
                                                    use_cache=False).logits, b["labels"])
            lp = fwd(model)
            with torch.no_grad():
                rl = fwd(ref_model)
            B = len(idx)
            our_loss = dpo.dpo_loss(lp[:B], lp[B:], rl[:B], rl[B:], beta=0.1)
            our_loss.backward()
            g_ours = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
            losses.append((our_loss.item(), trl_loss.item()))
            rel_loss.append(abs(our_loss.item() - trl_loss.item()) / abs(trl_loss.item()))
            rel_grad.append(float((g_ours - g_trl).norm() / g_trl.norm()))
            echo(f"  batch {k}: ours {our_loss.item():.7f}  TRL {trl_loss.item():.7f}  rel diff {rel_loss[-1]:.2e}; "
                 f"gradient rel diff ‖g_ours − g_TRL‖/‖g_TRL‖ {rel_grad[-1]:.2e}")
        echo(f"loss agreement over {args.agree_batches} batches of {args.batch_size} pairs: max relative difference "
             f"{max(rel_loss):.2e} (goal ≤ 1e-5); gradients: max {max(rel_grad):.2e}")
    return {"token_ids_identical": same, "device": str(device), "losses_ours_trl": losses,
            "max_rel_loss": max(rel_loss), "max_rel_grad": max(rel_grad)}


def _floor(policy, ref, batches, args) -> float:
    from llmcourse import dpo

    model = copy.deepcopy(policy).train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    t = time.perf_counter()
    for b in batches:
        lp = dpo.sequence_logprobs(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False).logits, b["labels"])
        with torch.no_grad():
            rl = dpo.sequence_logprobs(ref(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False).logits, b["labels"])
        B = lp.shape[0] // 2
        loss = dpo.dpo_loss(lp[:B], lp[B:], rl[:B], rl[B:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t


def throughput(args, tok, policy, ref, pairs) -> None:
    from llmcourse import dpo

    ours_pairs = pairs[: args.steps * args.batch_size]
    ds = dpo.DPODataset(ours_pairs, tok)
    collate = dpo.DPOCollator(tok.pad_token_id)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(ds), generator=gen).tolist()
    batches = [collate([ds[i] for i in order[s:s + args.batch_size]]) for s in range(0, len(order), args.batch_size)]

    def run_ours() -> float:
        model = copy.deepcopy(policy)
        cfg = dpo.DPOConfig(learning_rate=args.lr, per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                            logging_steps=10_000, min_lr_ratio=1.0, max_length=10_000)
        t = time.perf_counter()
        dpo.train_dpo(model, tok, ours_pairs, cfg, ref_model=ref, progress=False)
        return time.perf_counter() - t

    def run_trl() -> float:
        with tempfile.TemporaryDirectory() as out:
            trainer = _trl_trainer(copy.deepcopy(policy), ref, tok, ours_pairs, args, args.steps, out)
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                trainer.train()
            return time.perf_counter() - t

    def run_floor() -> float:
        return _floor(policy, ref, batches, args)

    contenders = {"ours": run_ours, "TRL": run_trl, "floor": run_floor}
    for f in contenders.values():  # warm-up
        f()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(args.repeats):
        for name in (list(contenders) if r % 2 == 0 else list(reversed(contenders))):
            times[name].append(contenders[name]())
    pairs_per_s = {k: [args.steps * args.batch_size / t for t in v] for k, v in times.items()}
    for k, v in pairs_per_s.items():
        print(f"  {k:5s}: median {statistics.median(v):.1f} pairs/s (runs {', '.join(f'{x:.1f}' for x in v)})")
    vs_trl = [o / t for o, t in zip(times["TRL"], times["ours"])]
    vs_floor = [o / f for o, f in zip(times["ours"], times["floor"])]
    trl_floor = [t / f for t, f in zip(times["TRL"], times["floor"])]
    print(f"ours vs TRL: {statistics.median(vs_trl):.2f}× (per repeat {min(vs_trl):.2f}–{max(vs_trl):.2f}); "
          f"ours / floor time: {statistics.median(vs_floor):.2f} ({min(vs_floor):.2f}–{max(vs_floor):.2f}); "
          f"TRL / floor time: {statistics.median(trl_floor):.2f} ({min(trl_floor):.2f}–{max(trl_floor):.2f}); "
          f"{args.steps} steps × {args.batch_size} pairs, {torch.get_num_threads()} thread(s), busy shared machine")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variant", default="rpo", choices=["rpo", "dpo_only", "sft_only"],
                    help="rpo: the lab's recipe (DPO + SFT term); dpo_only: without the SFT term; sft_only: the SFT term alone")
    ap.add_argument("--trl", action="store_true")
    ap.add_argument("--no-throughput", action="store_true", help="with --trl: loss agreement only")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--agree-batches", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4)
    args = ap.parse_args()
    quiet()
    if not (args.quality or args.trl):
        args.quality = True
    if args.quality:
        quality(args)
    if args.trl:
        tok, policy, ref, pairs = _setup(args)
        agreement(args, tok, policy, ref, pairs)
        if not args.no_throughput:
            throughput(args, tok, policy, ref, pairs)


if __name__ == "__main__":
    main()
