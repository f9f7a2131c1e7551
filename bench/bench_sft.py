"""SFT: training throughput vs TRL's SFTTrainer and a bare PyTorch loop, padding efficiency with and
without packing, and the quality figure (held-out exact match before/after SFT from the base model).

Throughput (``--throughput``, default): the embedded base model (fresh copy per run), the same
task-world records rendered with the Alpaca template, the same batch size, steps, learning rate and
``max_length``, fp32, no packing, no evaluation, no saving. TRL gets the data as prompt–completion
pairs with the BOS text in front of the prompt, so both trainers see identical token sequences
(``[BOS] prompt response [EOS]``, loss on response + EOS). TRL runs with ``bf16=False`` and
``gradient_checkpointing=False`` (its defaults — bf16 and activation checkpointing — are much slower
on a CPU; we say so rather than benchmark a strawman), ``report_to="none"``, the tokenizer as
``processing_class`` (otherwise it tries the Hub). The floor is a bare forward + masked loss +
backward + clip + AdamW step over pre-built padded batches.

Timings on a shared machine vary from run to run, so the three contenders run interleaved
(ours, TRL, floor, floor, TRL, ours, …) after a warm-up; the report gives medians and the spread
(min–max) of the per-repeat ratios. Throughput = target tokens per second over the training call
(each trainer's own setup included, tokenisation excluded: both get pre-tokenised data).

Padding efficiency (``--padding``): share of non-pad tokens over one epoch of shuffled batches, padded
per batch vs packed into rows of ``max_length`` (first-fit decreasing).

Quality (``--quality``): held-out exact match of the base model, SFT for a fixed budget, exact match
again (per task), with the training wall time and CPU time. ``--quality-oversample reverse=2,sort=2``
(the default) repeats the training records of the two hard tasks — a data-mixture choice: count and
max are learned in a few steps, reverse and sort need most of the budget. ``""`` trains on the
problems as drawn.

Run:  .venv/bin/python bench/bench_sft.py [--throughput] [--padding] [--quality] [--steps 30] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
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


# --------------------------------------------------------------------------- throughput


def build(args):
    from llmcourse import models, sft, tasks

    tok = models.load_tokenizer()
    base = models.load_model()
    records = tasks.instruction_records(args.steps * args.batch_size + 64, seed=0)
    dataset = sft.SFTDataset(records, tok, template=args.template, max_length=args.max_length)
    return tok, base, records, dataset


def target_tokens_per_example(dataset) -> float:
    return statistics.mean(sum(t != -100 for t in it["labels"][1:]) for it in dataset.items)


def run_ours(base, tok, dataset, args) -> float:
    from llmcourse import sft

    model = copy.deepcopy(base)
    cfg = sft.SFTConfig(learning_rate=args.lr, per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                        logging_steps=args.steps, max_length=args.max_length, mixed_precision="no", seed=0,
                        template=args.template, progress=False, warmup_steps=0)
    t = time.perf_counter()
    sft.train_sft(model, tok, dataset, cfg)
    return time.perf_counter() - t


def trl_dataset(tok, dataset, template):
    from datasets import Dataset

    from llmcourse import sft

    prompts, completions = [], []
    for ex in dataset.examples:
        prompt, response = sft.render(ex, template, tok)
        prompts.append(tok.bos_token + prompt)
        completions.append(response)
    return Dataset.from_dict({"prompt": prompts, "completion": completions})


def trl_trainer(model, tok, data, args, out_dir, bf16: bool = False):
    from trl import SFTConfig, SFTTrainer

    cfg = SFTConfig(output_dir=out_dir, learning_rate=args.lr, per_device_train_batch_size=args.batch_size,
                    max_steps=args.steps, logging_strategy="no", save_strategy="no", report_to="none",
                    bf16=bf16, fp16=False, gradient_checkpointing=False, max_length=args.max_length,
                    packing=False, padding_free=False, completion_only_loss=True, lr_scheduler_type="cosine",
                    warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, dataloader_num_workers=0,
                    use_cpu=not torch.cuda.is_available(), seed=0, disable_tqdm=True)
    return SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok)


def run_trl(base, tok, data, args, out_dir) -> float:
    model = copy.deepcopy(base)
    trainer = trl_trainer(model, tok, data, args, out_dir)  # tokenises the dataset: not timed
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # Trainer prints a metrics dict at the end
        trainer.train()
    return time.perf_counter() - t


def run_floor(base, tok, dataset, args) -> float:
    """Bare loop over pre-built right-padded batches: forward + masked CE + backward + clip + AdamW."""
    from llmcourse import sft

    model = copy.deepcopy(base).train()
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(dataset), generator=g).tolist()
    batches = [sft.pad_collate([dataset[i] for i in order[k * args.batch_size:(k + 1) * args.batch_size]], tok.pad_token_id)
               for k in range(args.steps)]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    t = time.perf_counter()
    for b in batches:
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), b["labels"][:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t


def check_same_sequences(tok, dataset, data, args, out_dir) -> int:
    """How many examples TRL tokenises differently from us (should be 0)."""
    trainer = trl_trainer(copy.deepcopy(base_model_for_check), tok, data, args, out_dir)
    theirs = trainer.train_dataset
    bad = 0
    for ours, row in zip(dataset.items, theirs):
        ids = row["input_ids"]
        if row.get("labels") is not None:  # TRL 1.16 stores labels
            labels = row["labels"]
        else:  # older TRL: a completion mask
            labels = [t if m else -100 for t, m in zip(ids, row["completion_mask"])]
        bad += ids != ours["input_ids"] or labels[1:] != ours["labels"][1:]
    return bad


base_model_for_check = None


def throughput(args):
    import trl

    global base_model_for_check
    tok, base, _, dataset = build(args)
    base_model_for_check = base
    data = trl_dataset(tok, dataset, args.template)
    out_dir = tempfile.mkdtemp(prefix="bench-sft-")
    per_example = target_tokens_per_example(dataset)
    n_targets = per_example * args.steps * args.batch_size
    print(f"torch {torch.__version__}, trl {trl.__version__}, threads {torch.get_num_threads()}, "
          f"{args.steps} steps × {args.batch_size} examples ({args.template} template, "
          f"{per_example:.1f} target tokens/example), fp32")
    print(f"sequences TRL tokenises differently from ours: {check_same_sequences(tok, dataset, data, args, out_dir)} "
          f"of {len(dataset)}")
    warm = argparse.Namespace(**{**vars(args), "steps": 2})
    run_ours(base, tok, dataset, warm)
    run_trl(base, tok, data, warm, out_dir)
    run_floor(base, tok, dataset, warm)
    times = {"ours": [], "trl": [], "floor": []}
    order = ["ours", "trl", "floor"]
    for rep in range(args.repeats):
        for name in (order if rep % 2 == 0 else order[::-1]):
            if name == "ours":
                times[name].append(run_ours(base, tok, dataset, args))
            elif name == "trl":
                times[name].append(run_trl(base, tok, data, args, out_dir))
            else:
                times[name].append(run_floor(base, tok, dataset, args))
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    for k, v in times.items():
        med = statistics.median(v)
        print(f"{k:>5}: median {med:.2f}s = {n_targets / med:,.0f} target tokens/s (min {min(v):.2f}s, max {max(v):.2f}s)")
    ratio = [t / o for o, t in zip(times["ours"], times["trl"])]
    over = [o / f for o, f in zip(times["ours"], times["floor"])]
    print(f"throughput ratio ours/TRL: median {statistics.median(ratio):.2f} "
          f"(per-repeat min {min(ratio):.2f}, max {max(ratio):.2f}; goal ≥ 1.0)")
    print(f"loop overhead, ours vs the bare floor: median {100 * (statistics.median(over) - 1):+.1f}% "
          f"(per-repeat {100 * (min(over) - 1):+.1f}% … {100 * (max(over) - 1):+.1f}%; goal ≤ 10%)")


# --------------------------------------------------------------------------- padding efficiency


def _batches(ds_items, batch_size, collate, grouped: bool, seed: int = 0):
    from llmcourse import sft

    g = torch.Generator().manual_seed(seed)
    if grouped:
        sampler = sft.LengthGroupedBatchSampler([len(x["input_ids"]) for x in ds_items], batch_size, g)
        return [collate([ds_items[i] for i in b]) for b in sampler]
    order = torch.randperm(len(ds_items), generator=g).tolist()
    return [collate([ds_items[i] for i in order[k:k + batch_size]]) for k in range(0, len(order), batch_size)]


def padding(args):
    from functools import partial

    from llmcourse import models, sft, tasks

    tok = models.load_tokenizer()
    records = tasks.instruction_records(args.padding_examples, seed=0)
    pad = partial(sft.pad_collate, pad_token_id=tok.pad_token_id)
    packc = partial(sft.packed_collate, pad_token_id=tok.pad_token_id)
    for template in ("alpaca", "simple"):
        ds = sft.SFTDataset(records, tok, template=template, max_length=args.max_length)
        lengths = [len(it["input_ids"]) for it in ds.items]
        rows = sft.pack_examples(ds.items, args.max_length)
        rows_per_batch = max(1, round(args.batch_size * ds.stats.tokens / len(ds) / args.max_length))
        figures = {
            "padded": sft.padding_efficiency(_batches(ds.items, args.batch_size, pad, False)),
            "padded+grouped": sft.padding_efficiency(_batches(ds.items, args.batch_size, pad, True)),
            "packed": sft.padding_efficiency(_batches(rows, rows_per_batch, packc, False)),
            "packed+grouped": sft.padding_efficiency(_batches(rows, rows_per_batch, packc, True)),
        }
        print(f"{template} template: {len(ds)} examples of {min(lengths)}–{max(lengths)} tokens, batches of "
              f"{args.batch_size} examples or {rows_per_batch} packed rows of ≤{args.max_length} ({len(rows)} rows); "
              "real-token share: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in figures.items())
              + " (goal with packing ≥ 95%)")


# --------------------------------------------------------------------------- quality


def quality(args):
    from llmcourse import models, sft, tasks

    tok = models.load_tokenizer()
    model = models.load_model()
    train, test = tasks.split_problems(args.quality_train, args.quality_test, seed=0)
    weights = {k: int(v) for k, v in (kv.split("=") for kv in args.quality_oversample.split(",") if kv)}
    train_recs = [tasks.to_record(p) for p in train for _ in range(weights.get(p.task, 1))]
    test_recs = [tasks.to_record(p) for p in test]

    def per_task(preds):
        by: dict[str, list[bool]] = {}
        for p, pred in zip(test, preds):
            by.setdefault(p.task, []).append(tasks.normalize(pred) == p.answer)
        return ", ".join(f"{k} {sum(v) / len(v):.0%}" for k, v in sorted(by.items()))

    before = sft.evaluate_exact_match(model, tok, test_recs, template=args.quality_template, max_new_tokens=16)
    print(f"base model, {args.quality_template} prompts, {len(test_recs)} held-out problems: "
          f"exact match {before['exact_match']:.1%} ({per_task(before['predictions'])})")
    cfg = sft.SFTConfig(template=args.quality_template, max_steps=args.quality_steps, learning_rate=args.quality_lr,
                        per_device_train_batch_size=args.quality_batch_size, packing=args.quality_packing,
                        max_length=args.max_length, progress=False, eval_exact_match=False, logging_steps=50, seed=0)
    t, c = time.perf_counter(), time.process_time()
    hist = sft.train_sft(model, tok, train_recs, cfg)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    after = sft.evaluate_exact_match(model, tok, test_recs, template=args.quality_template, max_new_tokens=16)
    print(f"SFT {args.quality_steps} steps × {args.quality_batch_size} (lr {args.quality_lr}, packing {args.quality_packing}, "
          f"oversampled {weights or 'none'}, {len(train_recs)} records from {len(train)} problems): "
          f"{wall:.1f}s wall, {cpu:.1f}s CPU on {torch.get_num_threads()} thread(s); loss "
          f"{hist[0]['loss']:.3f} → {hist[-1]['loss']:.3f}")
    print(f"after SFT: exact match {after['exact_match']:.1%} ({per_task(after['predictions'])})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--padding", action="store_true")
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--template", default="alpaca", choices=["alpaca", "simple"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--padding-examples", type=int, default=2000)
    ap.add_argument("--quality-template", default="simple", choices=["alpaca", "simple"])
    ap.add_argument("--quality-steps", type=int, default=700)
    ap.add_argument("--quality-batch-size", type=int, default=16)
    ap.add_argument("--quality-oversample", default="reverse=2,sort=2", help='e.g. "reverse=2,sort=2"; "" for none')
    ap.add_argument("--quality-lr", type=float, default=3e-3)
    ap.add_argument("--quality-packing", action="store_true")
    ap.add_argument("--quality-train", type=int, default=3000)
    ap.add_argument("--quality-test", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    quiet()
    if not (args.throughput or args.padding or args.quality):
        args.throughput = args.padding = True
    if args.padding:
        padding(args)
    if args.quality:
        quality(args)
    if args.throughput:
        throughput(args)


if __name__ == "__main__":
    main()
