"""GPU check: every trainer on an accelerator, in fp32 and bf16 autocast, against the CPU and TRL.

One prepared run (≤ 8 minutes on one GPU) that records, for each trainer of the package (SFT, reward
model, PPO; DPO and GRPO when the package has them):

* **agreement** — fp32 losses of the first steps on the device against the same steps computed on
  this machine's CPU, in a child process that sees no GPU (same weights, same batches: the data order
  comes from seeded CPU generators). PPO samples differently on each device, so its check is one
  ``ppo_update`` on a fixed rollout collected once on the CPU. Tolerance: relative difference
  ≤ ``FIRST_STEP_RTOL`` on the first step (the same weights, only the order of float32 sums differs)
  and ≤ ``LATER_STEPS_RTOL`` after optimizer steps (Adam divides each gradient coordinate by its own
  running scale, which amplifies rounding in small coordinates), plus ``ATOL`` for losses near zero;
* the same steps **in bf16 autocast** (their distance to fp32, for information);
* **throughput** in steady state (after warm-up steps): steps/s and tokens/s, fp32 and bf16, and the
  **peak device memory**;
* **host–device synchronisations per training step**, from PyTorch's sync debug mode
  (``torch.cuda.set_sync_debug_mode``) and from counting reads of device tensors on the host
  (``.item()``, ``bool()``, ``float()``, ``.tolist()``, ``.cpu()`` …), each listed by the source line
  that caused it; per step = (count over 2n steps − count over n steps) / n, so set-up is excluded.
  On a CPU only the host reads are counted (they would be synchronisations on a GPU);
* **TRL side by side** on the same device: ``SFTTrainer`` and ``RewardTrainer`` with the same model,
  data, batch size and steps (TRL has no PPO trainer any more);
* **DPO against TRL's** ``DPOTrainer`` (``dpo_trl``): fp32 loss and gradient on identical batches
  (the PPO lab's SFT model as policy, the base model as reference: losses are not all log 2), and
  throughput with the settings of the DPO row, fp32 and bf16;
* **the sync fixes, A/B in one process** (``sync_ab``): each trainer's syncs (host reads on a CPU) per
  step and fp32 steps/s with the fixes as they are and with them undone by :func:`sync_fixes_undone`
  (every ``non_blocking=True`` copy made blocking — Accelerate's batch copies, the RL layer's padding,
  PPO's permutation — and ``training.read_metrics`` reading each metric alone). The SFT target count
  on the host and the single check of the Bradley–Terry loss have no switch: their "before" is the
  separate-process run recorded in ``bench/README.md``;
* **the reward model with and without prompt sharing** (``reward_share``: ``RewardConfig.share_prompt``
  on, off, and TRL's ``RewardTrainer``, interleaved, fp32 and bf16);
* **a SmolLM2-135M-shaped model** (its published shape, random weights: the GPU machine can neither
  download the registered model nor carry its 98 MB file) for SFT throughput where the GPU has real
  work to do (skipped on a CPU).

Each section runs in ``try``/``except``: an error is recorded in the JSON and the run goes on. The
end of the output is a table; the JSON has every figure.

``--only dpo_trl,sync_ab,reward_share`` runs just those sections (any of :data:`SECTIONS`).

Run:  python bench/gpu_check.py [--device cuda|cpu] [--out FILE.json] [--quick] [--only SECTIONS]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import dataclasses
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

FIRST_STEP_RTOL = 1e-5
LATER_STEPS_RTOL = 1e-3
ATOL = 1e-6
BENCH = Path(__file__).resolve().parent
SECTIONS = ("agreement", "bf16", "throughput", "syncs", "trl", "big", "profile", "reference", "dpo_trl", "sync_ab",
            "reward_share")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda when present")
    ap.add_argument("--out", default="bench-results/gpu_check.json", help="the JSON file to write")
    ap.add_argument("--steps", type=int, default=6, help="steps compared with the CPU (fp32) and run in bf16")
    ap.add_argument("--warmup", type=int, default=10, help="steps before the throughput clock starts")
    ap.add_argument("--timed", type=int, default=200, help="SFT / reward steps timed for throughput "
                    "(PPO: a twentieth as many iterations, GRPO a tenth as many steps)")
    ap.add_argument("--sync-steps", type=int, default=10, help="n of the sync count (runs n and 2n steps)")
    ap.add_argument("--big", choices=["auto", "yes", "no"], default="auto",
                    help="the SmolLM2-135M-shaped section (auto: on a GPU only)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: " + ",".join(SECTIONS))
    ap.add_argument("--only", default="", help="comma-separated sections to run, all others skipped "
                    "(e.g. dpo_trl,sync_ab,reward_share)")
    ap.add_argument("--precisions", default="no,bf16", help="mixed_precision values to run (default: no,bf16)")
    ap.add_argument("--quick", action="store_true", help="tiny step counts (the test suite's setting)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    ap.add_argument("--render", metavar="JSON", help="print the Markdown tables of an earlier run's JSON and exit")
    ap.add_argument("--before", metavar="JSON", help="with --render: a run of the code before a change (syncs, speed)")
    # internal: the CPU reference child process
    ap.add_argument("--reference-out", help=argparse.SUPPRESS)
    ap.add_argument("--rollout", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.timed, args.sync_steps = 2, 1, 6, 1
        if args.big == "auto":
            args.big = "no"
    args.skip = {s for s in args.skip.split(",") if s}
    only = {s for s in args.only.split(",") if s}
    unknown = (args.skip | only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; the sections are {','.join(SECTIONS)}")
    if only:
        args.skip |= set(SECTIONS) - only
    args.precisions = [p for p in args.precisions.split(",") if p]
    return args


# --------------------------------------------------------------------------- small helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def quiet() -> None:
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def free(device) -> None:
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_mib(device) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None


def rel_diffs(a: list[float], b: list[float]) -> list[float]:
    return [abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b)]


def agree(device_losses: list[float], cpu_losses: list[float]) -> dict:
    """Step-by-step comparison of two loss curves with the stated tolerances."""
    if len(device_losses) != len(cpu_losses) or not cpu_losses:
        return {"ok": False, "why": f"{len(device_losses)} device losses vs {len(cpu_losses)} CPU losses"}
    ok = all(abs(x - y) <= ATOL + (FIRST_STEP_RTOL if i == 0 else LATER_STEPS_RTOL) * abs(y)
             for i, (x, y) in enumerate(zip(device_losses, cpu_losses)))
    rel = rel_diffs(device_losses, cpu_losses)
    return {"ok": ok, "first_step_rel": rel[0], "max_rel": max(rel),
            "max_abs": max(abs(x - y) for x, y in zip(device_losses, cpu_losses)),
            "device": device_losses, "cpu": cpu_losses}


def short_site(filename: str, lineno: int) -> str:
    p = filename.replace("\\", "/")
    for marker in ("site-packages/", "/llmcourse/", "/bench/"):
        if marker in p:
            head = "" if marker == "site-packages/" else marker.strip("/") + "/"
            p = head + p.split(marker, 1)[1]
            break
    return f"{p}:{lineno}"


# --------------------------------------------------------------------------- counting synchronisations


HOST_READS = {"item", "__bool__", "__float__", "__int__", "__index__", "tolist", "cpu", "numpy", "nonzero"}


def _host_read_mode(device_type: str, sites: collections.Counter, syncs: collections.Counter):
    """A TorchFunctionMode that counts, by calling source line, reads of tensor values on the host and
    (on CUDA, sync debug mode on) the synchronisations each torch call caused."""
    import torch
    from torch.overrides import TorchFunctionMode

    class HostReads(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            f = sys._getframe(1)
            hit = name in HOST_READS or (name == "__getitem__" and len(args) > 1 and isinstance(args[1], torch.Tensor)
                                         and args[1].dtype == torch.bool)
            if hit and args and isinstance(args[0], torch.Tensor) and args[0].device.type == device_type:
                site = short_site(f.f_code.co_filename, f.f_lineno)
                if not site.startswith("torch/optim/"):  # Adam's step counter: a CPU tensor on every device
                    sites[f"{site} {f.f_code.co_name} {name}"] += 1
            if device_type != "cuda":
                return func(*args, **(kwargs or {}))
            with warnings.catch_warnings(record=True) as rec:  # the sync warnings of this call, by its caller
                warnings.simplefilter("always")
                out = func(*args, **(kwargs or {}))
            n = sum("synchroniz" in str(w.message).lower() for w in rec)
            if n:
                syncs[f"{short_site(f.f_code.co_filename, f.f_lineno)} {f.f_code.co_name} {name}"] += n
            return out

    return HostReads()


@contextlib.contextmanager
def count_syncs(device):
    """Yields ``{"host_reads": Counter, "cuda_syncs": Counter}`` filled when the block ends."""
    import torch

    out = {"host_reads": collections.Counter(), "cuda_syncs": collections.Counter()}
    with contextlib.ExitStack() as stack:
        if device.type == "cuda":
            rec = stack.enter_context(warnings.catch_warnings(record=True))
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            stack.callback(torch.cuda.set_sync_debug_mode, "default")
        else:
            rec = []
        stack.enter_context(_host_read_mode(device.type, out["host_reads"], out["cuda_syncs"]))
        yield out
    for w in rec:  # synchronisations outside any torch call the mode saw (e.g. in a C++ backward)
        if "synchroniz" in str(w.message).lower():
            out["cuda_syncs"]["(outside a Python-level torch call)"] += 1


def per_step_syncs(run, n: int, device) -> dict:
    """Syncs of one training step: (count over 2n steps − count over n steps) / n, per site."""
    counts = []
    for steps in (n, 2 * n):
        with count_syncs(device) as c:
            run(steps)
        counts.append(c)
    out = {}
    for kind in ("host_reads", "cuda_syncs"):
        a, b = counts[0][kind], counts[1][kind]
        sites = {k: round((b[k] - a.get(k, 0)) / n, 2) for k in b if b[k] != a.get(k, 0)}
        out[kind] = {"per_step": round((sum(b.values()) - sum(a.values())) / n, 2),
                     "setup": sum(a.values()) - (sum(b.values()) - sum(a.values())),
                     "sites_per_step": dict(sorted(sites.items(), key=lambda kv: -kv[1]))}
    if device.type != "cuda":
        out["cuda_syncs"] = None
    return out


def _read_metrics_one_by_one(accelerator, mean, max=None, min=None) -> dict[str, float]:
    """``training.read_metrics`` as it was before the fix: the same figures, each read back alone."""
    import torch

    out = {}
    for d, op in ((mean, torch.mean), (max or {}, torch.amax), (min or {}, torch.amin)):
        for name, v in d.items():
            own = v.detach().float().reshape(-1).mean() if op is torch.mean else op(v.detach().float())
            out[name] = op(accelerator.gather(own[None])).item()  # one device → host read per metric
    return out


@contextlib.contextmanager
def sync_fixes_undone():
    """The switchable host–device synchronisation fixes, undone for the block: every copy asked for
    with ``non_blocking=True`` (Accelerate's batch copies, ``rl.rollout.left_pad``, PPO's minibatch
    permutation) is made blocking, and ``training.read_metrics`` reads each metric alone."""
    from torch.overrides import TorchFunctionMode

    from llmcourse import training

    class BlockingCopies(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if kwargs and kwargs.get("non_blocking"):
                kwargs = {**kwargs, "non_blocking": False}
            return func(*args, **(kwargs or {}))

    saved = training.read_metrics
    training.read_metrics = _read_metrics_one_by_one
    try:
        with BlockingCopies():
            yield
    finally:
        training.read_metrics = saved


def sync_ab(check, n: int, device, warmup: int, timed: int) -> dict:
    """Syncs per step (host reads on a CPU) and fp32 steps/s of one trainer with the sync fixes as they
    are ("fixed") and undone ("undone"), in this process; the timings interleaved fixed, undone, undone,
    fixed (medians)."""
    def variant(name):
        return contextlib.nullcontext() if name == "fixed" else sync_fixes_undone()

    out: dict = {"n": n}
    for name in ("fixed", "undone"):
        with variant(name):
            out[name] = per_step_syncs(check.sync_run, n, device)
    speed: dict[str, list[float]] = {"fixed": [], "undone": []}
    for name in ("fixed", "undone", "undone", "fixed"):
        with variant(name):
            speed[name].append(check.throughput("no", warmup, timed)["steps_per_s"])
    for name, v in speed.items():
        out[name]["steps_per_s"] = statistics.median(v)
        out[name]["steps_per_s_runs"] = v
    out["speedup"] = out["fixed"]["steps_per_s"] / out["undone"]["steps_per_s"]
    return out


def reward_share(timed_check, precision: str, warmup: int, timed: int, device, with_trl: bool) -> dict:
    """The reward model's throughput with prompt sharing on and off (and TRL's ``RewardTrainer``),
    interleaved on, off, TRL, TRL, off, on; medians of tokens/s (both full sequences of each pair
    counted, as TRL processes them, so the three are comparable)."""
    on, off = timed_check(True), timed_check(False)
    runs: dict[str, list[dict]] = {"share_on": [], "share_off": [], "trl": []}
    order = ["share_on", "share_off"] + (["trl", "trl"] if with_trl else []) + ["share_off", "share_on"]
    for name in order:
        free(device)
        if name == "trl":
            r = trl_throughput("reward", on, precision, warmup, timed, device)
        else:
            r = (on if name == "share_on" else off).throughput(precision, warmup, timed)
        r["peak_mib"] = peak_mib(device)
        runs[name].append(r)
    out: dict = {}
    for name, rs in runs.items():
        if rs:
            out[name] = {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in rs),
                         "steps_per_s": statistics.median(r["steps_per_s"] for r in rs),
                         "peak_mib": max((r["peak_mib"] or 0) for r in rs) if device.type == "cuda" else None,
                         "tokens_per_s_runs": [r["tokens_per_s"] for r in rs]}
    out["on_vs_off"] = out["share_on"]["tokens_per_s"] / out["share_off"]["tokens_per_s"]
    if "trl" in out:
        out["on_vs_trl"] = out["share_on"]["tokens_per_s"] / out["trl"]["tokens_per_s"]
        out["off_vs_trl"] = out["share_off"]["tokens_per_s"] / out["trl"]["tokens_per_s"]
    return out


def dpo_trl_agreement(check, device, batches: int) -> dict:
    """Our DPO loss and gradient against TRL's ``DPOTrainer.compute_loss`` on identical batches, fp32,
    on ``device``: the PPO lab's SFT model as policy, the base model as reference (``bench_dpo.agreement``)."""
    sys.path.insert(0, str(BENCH))
    import bench_dpo

    from llmcourse import models
    from llmcourse.grpo import lab

    ns = argparse.Namespace(lr=check.lr, batch_size=check.batch_size, agree_batches=batches)
    lines: list[str] = []
    with contextlib.redirect_stdout(io.StringIO()):
        out = bench_dpo.agreement(ns, check.tok, lab.load_sft_model(), models.load_model(),
                                  check.pairs[:batches * check.batch_size], echo=lines.append)
    out["lines"] = lines
    if out["device"].split(":")[0] != device.type:
        raise RuntimeError(f"TRL put the model on {out['device']}, not on {device}")
    if not out["token_ids_identical"]:
        raise AssertionError("TRL and our DPO dataset tokenise the pairs differently: the losses are not comparable")
    return out


# --------------------------------------------------------------------------- the trainers


class SFTCheck:
    """``llmcourse.sft.train_sft`` on task-world records (simple template)."""

    name = "sft"
    unit = "tokens"

    def __init__(self, batch_size: int = 32, n_records: int = 4000, without_mask: bool = False):
        from llmcourse import models, sft, tasks

        self.tok = models.load_tokenizer()
        self.batch_size = batch_size
        self.collate_fn = None
        if without_mask:
            # right padding + a causal model: no real token attends to a pad, so the attention mask
            # changes nothing for the loss; without it transformers needs no mask checks (host reads)
            self.name = "sft_nomask"
            pad = self.tok.pad_token_id
            self.collate_fn = lambda items: {k: v for k, v in sft.pad_collate(items, pad).items() if k != "attention_mask"}
        records = tasks.instruction_records(n_records, seed=0)
        self.dataset = sft.SFTDataset(records, self.tok, template="simple", max_length=128)
        items = self.dataset.items
        self.tokens_per_example = statistics.mean(len(it["input_ids"]) for it in items)
        self.targets_per_example = statistics.mean(sum(t != -100 for t in it["labels"][1:]) for it in items)
        self.records = records

    def model(self):
        from llmcourse import models

        return models.load_model()

    def run(self, precision: str, steps: int, logging_steps: int, model=None) -> list[dict]:
        from llmcourse import sft

        cfg = sft.SFTConfig(learning_rate=1e-3, per_device_train_batch_size=self.batch_size, max_steps=steps,
                            logging_steps=logging_steps, max_length=128, mixed_precision=precision, seed=0,
                            template="simple", progress=False, warmup_steps=0)
        return sft.train_sft(model if model is not None else self.model(), self.tok, self.dataset, cfg,
                             collate_fn=self.collate_fn)

    def losses(self, precision: str, steps: int) -> list[float]:
        return [h["loss"] for h in self.run(precision, steps, 1) if "loss" in h]

    def throughput(self, precision: str, warmup: int, timed: int, model=None) -> dict:
        hist = [h for h in self.run(precision, warmup + timed, warmup, model) if "loss" in h]
        a, b = hist[0], hist[-1]  # rows at the end of the warm-up and of the timed steps (each after a sync)
        sec, steps = b["seconds"] - a["seconds"], b["step"] - a["step"]
        ex = steps * self.batch_size
        return {"steps": steps, "seconds": round(sec, 4), "steps_per_s": steps / sec,
                "tokens_per_s": ex * self.tokens_per_example / sec,
                "target_tokens_per_s": (b["target_tokens"] - a["target_tokens"]) / sec}

    def sync_steps(self, n: int) -> int:
        return n

    def sync_run(self, steps: int) -> None:
        self.run("no", steps, 10)


class RewardCheck:
    """``llmcourse.reward.train_reward_model`` on task-world pairs (simple template)."""

    name = "reward"
    unit = "tokens"

    def __init__(self, batch_size: int = 16, n_pairs: int = 3000, share_prompt: bool = True, pairs=None):
        from llmcourse import models, reward

        self.tok = models.load_tokenizer()
        self.batch_size = batch_size
        self.share_prompt = share_prompt
        self.pairs = pairs if pairs is not None else reward.task_preference_data(n_pairs, 10, seed=0, template="simple")[0]
        ds = reward.PreferenceDataset(self.pairs, self.tok, 256)
        # tokens of both full sequences, as a trainer without prompt sharing (TRL) processes them
        self.tokens_per_pair = statistics.mean(len(e["chosen_ids"]) + len(e["rejected_ids"]) for e in ds.examples)

    def model(self):
        from llmcourse import reward

        return reward.load_reward_model(seed=0)

    def run(self, precision: str, steps: int, logging_steps: int, model=None) -> list[dict]:
        from llmcourse import reward

        cfg = reward.RewardConfig(learning_rate=1e-3, per_device_train_batch_size=self.batch_size, max_steps=steps,
                                  logging_steps=logging_steps, mixed_precision=precision, seed=0,
                                  share_prompt=self.share_prompt)
        return reward.train_reward_model(model if model is not None else self.model(), self.tok, self.pairs, cfg,
                                         progress=False)

    def losses(self, precision: str, steps: int) -> list[float]:
        return [h["loss"] for h in self.run(precision, steps, 1) if "loss" in h]

    def throughput(self, precision: str, warmup: int, timed: int, model=None) -> dict:
        hist = [h for h in self.run(precision, warmup + timed, warmup, model) if "loss" in h]
        a, b = hist[0], hist[-1]
        sec, steps = b["elapsed"] - a["elapsed"], b["step"] - a["step"]
        pairs = steps * self.batch_size
        return {"steps": steps, "seconds": round(sec, 4), "steps_per_s": steps / sec, "pairs_per_s": pairs / sec,
                "tokens_per_s": pairs * self.tokens_per_pair / sec}

    def sync_steps(self, n: int) -> int:
        return n

    def sync_run(self, steps: int) -> None:
        self.run("no", steps, 10)


class DPOCheck:
    """``llmcourse.dpo.train_dpo`` from the base model on the task-world pairs (prompts rendered already)."""

    name = "dpo"
    unit = "tokens"
    lr = 1e-4

    def __init__(self, batch_size: int = 16, n_pairs: int = 3000):
        from llmcourse import models, reward

        self.tok = models.load_tokenizer()
        self.batch_size = batch_size
        self.pairs, _ = reward.task_preference_data(n_pairs, 10, seed=0, template="simple")
        ds = reward.PreferenceDataset(self.pairs, self.tok, 256)
        self.tokens_per_pair = statistics.mean(len(e["chosen_ids"]) + len(e["rejected_ids"]) for e in ds.examples)

    def model(self):
        from llmcourse import models

        return models.load_model()

    def run(self, precision: str, steps: int, logging_steps: int, model=None) -> list[dict]:
        from llmcourse.dpo import DPOConfig, train_dpo

        cfg = DPOConfig(learning_rate=self.lr, per_device_train_batch_size=self.batch_size, max_steps=steps,
                        logging_steps=logging_steps, mixed_precision=precision, seed=0)
        return train_dpo(model if model is not None else self.model(), self.tok, self.pairs, cfg, progress=False)

    losses = RewardCheck.losses
    throughput = RewardCheck.throughput
    sync_steps = RewardCheck.sync_steps
    sync_run = RewardCheck.sync_run


class PPOCheck:
    """``llmcourse.ppo.train_ppo``: the base model as policy, a fresh reward model (base + new head)."""

    name = "ppo"
    unit = "response tokens"

    def __init__(self, batch_size: int = 32, response_length: int = 16):
        from llmcourse import models, tasks
        from llmcourse.ppo import lab, prompts_from_records

        self.tok = models.load_tokenizer()
        self.batch_size = batch_size
        self.response_length = response_length
        self.prompts = [r["prompt"] for r in prompts_from_records(tasks.instruction_records(512, seed=1), lab.prompt)]

    def config(self, precision: str, steps: int):
        from llmcourse.ppo import PPOConfig

        return PPOConfig(learning_rate=1e-4, max_steps=steps, batch_size=self.batch_size, num_mini_batches=2,
                         num_ppo_epochs=2, response_length=self.response_length, mixed_precision=precision,
                         progress=False, eval_steps=0, seed=0)

    def models(self):
        from llmcourse import models, reward

        return models.load_model(), reward.load_reward_model(seed=0)

    def run(self, precision: str, steps: int) -> list[dict]:
        from llmcourse.ppo import train_ppo

        policy, rm = self.models()
        return train_ppo(policy, self.tok, rm, self.prompts, self.config(precision, steps))

    def throughput(self, precision: str, warmup: int, timed: int, model=None) -> dict:
        # train_ppo logs no clock: time whole calls of `warmup` and `warmup + timed` iterations and subtract
        warmup, timed = max(1, warmup // 5), max(2, timed // 20)  # a PPO iteration is 4 optimizer steps + sampling
        self.run(precision, 1)  # one-time costs (kernels, allocator) out of both timed calls
        times, hists = [], []
        for steps in (warmup, warmup + timed):
            t = time.perf_counter()
            hists.append(self.run(precision, steps))
            times.append(time.perf_counter() - t)
        sec = times[1] - times[0]
        rows = [h for h in hists[1] if h.get("step", 0) > warmup]
        tokens = sum(h["response_length"] for h in rows) * self.batch_size
        return {"steps": timed, "seconds": round(sec, 4), "steps_per_s": timed / sec,
                "episodes_per_s": timed * self.batch_size / sec, "tokens_per_s": tokens / sec,
                "generate_share": sum(h["time_generate"] for h in rows) / sec}

    def sync_steps(self, n: int) -> int:
        return max(1, n // 5)  # a PPO iteration is num_ppo_epochs × num_mini_batches optimizer steps

    def sync_run(self, steps: int) -> None:
        self.run("no", steps)

    # ---- agreement on a fixed rollout (sampling differs between devices, the update must not)

    def make_rollout(self, path: str) -> None:
        """Collect one rollout on the CPU and save it with its advantages and returns."""
        import torch

        from llmcourse.ppo import functional as F
        from llmcourse.ppo import rollout as R
        from llmcourse import training

        policy, rm = self.models()
        ref = copy.deepcopy(policy)
        pv = R.PolicyAndValue(training.disable_dropout(policy), copy.deepcopy(rm)).eval()
        ro = R.collect_rollout(pv, ref.eval(), rm.eval(), self.tok, self.prompts[:self.batch_size],
                               response_length=self.response_length, temperature=1.0, seed=0)
        rewards = F.kl_penalized_rewards(ro.scores, ro.logprobs, ro.ref_logprobs, ro.response_mask, 0.05)
        adv, ret = F.gae_advantages(rewards, ro.values, ro.response_mask, 1.0, 0.95)
        tensors = {f.name: getattr(ro, f.name) for f in dataclasses.fields(ro) if isinstance(getattr(ro, f.name), torch.Tensor)}
        torch.save({"rollout": tensors, "advantages": F.masked_whiten(adv, ro.response_mask), "returns": ret}, path)

    def update_losses(self, precision: str, path: str) -> list[float]:
        """``ppo_update`` (2 epochs × 2 minibatches) on the saved rollout: policy + vf_coef·value loss per minibatch."""
        import torch

        from llmcourse import training
        from llmcourse.ppo import ppo_update
        from llmcourse.ppo import rollout as R

        saved = torch.load(path)
        cfg = self.config(precision, 1)
        policy, rm = self.models()
        model = R.PolicyAndValue(training.disable_dropout(policy), training.disable_dropout(rm))
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
        accelerator = training.make_accelerator(precision)
        model, optimizer = accelerator.prepare(model, optimizer)
        dev = accelerator.device
        batch = R.Rollout(**{k: v.to(dev) for k, v in saved["rollout"].items()})
        stats = ppo_update(model, optimizer, accelerator, batch, saved["advantages"].to(dev), saved["returns"].to(dev),
                           cfg, torch.Generator().manual_seed(1))
        return (stats["policy_loss"] + cfg.vf_coef * stats["value_loss"]).tolist()


class GRPOCheck:
    """``llmcourse.grpo.train_grpo``: the GRPO lab's start (the PPO lab's SFT model), its prompts, the
    exact-match reward (the base model answers nothing right: every group would have zero advantage)."""

    name = "grpo"
    unit = "completion tokens"

    def __init__(self, batch_size: int = 64, num_generations: int = 8, completion_length: int = 16):
        from llmcourse import models
        from llmcourse.grpo import lab

        self.tok = models.load_tokenizer()
        self.batch_size, self.num_generations, self.completion_length = batch_size, num_generations, completion_length
        self.rows, _ = lab.grpo_rows(1000, 10)

    def model(self):
        from llmcourse.grpo import lab

        return lab.load_sft_model()

    def config(self, precision: str, steps: int, **changes):
        from llmcourse.grpo import GRPOConfig

        kw = dict(learning_rate=1e-4, max_steps=steps, num_generations=self.num_generations,
                  generation_batch_size=self.batch_size, per_device_train_batch_size=self.batch_size,
                  max_completion_length=self.completion_length, loss_type="dapo", mixed_precision=precision,
                  progress=False, eval_steps=0, seed=0)
        return GRPOConfig(**{**kw, **changes})

    def run(self, precision: str, steps: int) -> list[dict]:
        from llmcourse.grpo import train_grpo

        return train_grpo(self.model(), self.tok, self.rows, self.config(precision, steps))

    def throughput(self, precision: str, warmup: int, timed: int, model=None) -> dict:
        # train_grpo's history has a training clock ("seconds"; each step ends in a device read)
        warmup, timed = max(1, warmup // 2), max(2, timed // 10)
        hist = self.run(precision, warmup + timed)
        sec = hist[-1]["seconds"] - hist[warmup]["seconds"]
        rows = [h for h in hist if h.get("step", 0) > warmup]
        tokens = sum(h["completion_length"] for h in rows) * self.batch_size
        return {"steps": timed, "seconds": round(sec, 4), "steps_per_s": timed / sec,
                "completions_per_s": timed * self.batch_size / sec, "tokens_per_s": tokens / sec,
                "generate_share": sum(h["time_generate"] for h in rows) / sec}

    def sync_steps(self, n: int) -> int:
        return max(1, n // 2)

    def sync_run(self, steps: int) -> None:
        self.run("no", steps)

    # ---- agreement on a fixed generated batch (off-policy, with the KL term: every path of the update)

    def update_config(self, precision: str):
        return self.config(precision, 1, generation_batch_size=32, per_device_train_batch_size=8,
                           steps_per_generation=2, num_iterations=2, beta=0.04)

    def make_rollout(self, path: str) -> None:
        import torch

        from llmcourse.grpo import generate_batch

        cfg = self.update_config("no")
        policy = self.model()
        batch = generate_batch(policy, self.tok, self.rows[:cfg.generation_batch_size // cfg.num_generations], cfg,
                               seed=0, ref_model=copy.deepcopy(policy))
        torch.save({f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)
                    if isinstance(getattr(batch, f.name), torch.Tensor)}, path)

    def update_losses(self, precision: str, path: str) -> list[float]:
        """``grpo_update`` (2 passes × 2 optimizer steps of 2 micro-batches) on the saved batch: the loss per step."""
        import torch

        from llmcourse import training
        from llmcourse.grpo.trainer import GRPOBatch, grpo_update

        saved = torch.load(path)
        cfg = self.update_config(precision)
        policy = training.disable_dropout(self.model())
        optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
        accelerator = training.make_accelerator(precision)
        policy, optimizer = accelerator.prepare(policy, optimizer)
        batch = GRPOBatch(**{k: v.to(accelerator.device) for k, v in saved.items()})
        return grpo_update(policy, optimizer, accelerator, batch, cfg)["loss"].tolist()


# --------------------------------------------------------------------------- TRL side by side


def trl_throughput(kind: str, check, precision: str, warmup: int, timed: int, device, model=None) -> dict:
    """TRL's SFTTrainer / RewardTrainer / DPOTrainer / GRPOTrainer on the same model, data and batch
    size, timed between the end of the warm-up step and the last step (a device sync at both marks)."""
    import torch
    from transformers import TrainerCallback

    sys.path.insert(0, str(BENCH))
    import bench_dpo
    import bench_reward
    import bench_sft

    marks: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (warmup, warmup + timed):
                sync(device)
                marks[state.global_step] = time.perf_counter()

    ns = argparse.Namespace(lr=getattr(check, "lr", 1e-3), batch_size=check.batch_size, steps=warmup + timed,
                            max_length=128)
    out_dir = tempfile.mkdtemp(prefix="gpu-check-trl-")
    bf16 = precision == "bf16"
    if kind == "sft":
        data = bench_sft.trl_dataset(check.tok, check.dataset, "simple")
        trainer = bench_sft.trl_trainer(model if model is not None else check.model(), check.tok, data, ns, out_dir,
                                        bf16=bf16)
        per_example = check.tokens_per_example
    elif kind == "reward":
        data = bench_reward.trl_dataset(check.tok, check.pairs)
        trainer = bench_reward.trl_trainer(check.model(), check.tok, data, ns, out_dir, bf16=bf16)
        per_example = check.tokens_per_pair
    elif kind == "dpo":  # the reference is a frozen copy of the starting model, run every step, as in ours
        policy = check.model()
        trainer = bench_dpo._trl_trainer(policy, copy.deepcopy(policy), check.tok, check.pairs[:ns.steps * ns.batch_size],
                                         ns, ns.steps, out_dir, bf16=bf16)
        per_example = check.tokens_per_pair
    else:  # GRPO: the settings of GRPOCheck.config (TRL names), one optimizer step per generated batch
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer

        from llmcourse.grpo import exact_match_reward

        cfg = GRPOConfig(output_dir=out_dir, report_to="none", use_cpu=device.type == "cpu", bf16=bf16,
                         save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, learning_rate=1e-4,
                         max_steps=warmup + timed, per_device_train_batch_size=check.batch_size,
                         num_generations=check.num_generations, max_completion_length=check.completion_length,
                         loss_type="dapo", beta=0.0, temperature=1.0, top_k=0, top_p=1.0,
                         lr_scheduler_type="constant", warmup_steps=0)
        data = Dataset.from_list([{"prompt": r["prompt"], "answer": r["answer"]} for r in check.rows])
        trainer = GRPOTrainer(model=check.model(), reward_funcs=[exact_match_reward], args=cfg,
                              train_dataset=data, processing_class=check.tok)
        per_example = None
    trainer.add_callback(Clock())
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train()
    sec = marks[warmup + timed] - marks[warmup]
    ex = timed * check.batch_size
    out = {"steps": timed, "seconds": round(sec, 4), "steps_per_s": timed / sec}
    if per_example is not None:
        out["tokens_per_s"] = ex * per_example / sec
    else:  # completion tokens from TRL's own log of the timed steps
        lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
        out["completions_per_s"] = ex / sec
        if lengths:
            out["tokens_per_s"] = statistics.mean(lengths[warmup:] or lengths) * ex / sec
    del trainer
    torch.cuda.empty_cache() if device.type == "cuda" else None
    return out


# --------------------------------------------------------------------------- the SmolLM2-135M shape


def smollm2_shaped_model(tok):
    """SmolLM2-135M's published shape (30 layers × 576, 9 heads / 3 KV heads, MLP 1536, vocabulary 49152,
    tied embeddings) with random weights: the real weights are not in the package."""
    import torch
    from transformers import AutoModelForCausalLM

    from llmcourse import models

    cfg = models.tiny_config(tok, hidden_size=576, num_layers=30, num_heads=9, intermediate_size=1536,
                             num_key_value_heads=3, vocab_size=49152, max_position_embeddings=2048)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg)


# --------------------------------------------------------------------------- where the time goes


def profile(run, device) -> dict:
    """``torch.profiler`` over ``run()``: the operators with the most device time and the most host
    time (self), and the device's busy share of the wall time (kernels summed; the profiler's own
    overhead inflates the wall time, so the share is a lower bound)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    t = time.perf_counter()
    with torch_profile(activities=acts) as prof:
        run()
        sync(device)
    wall = time.perf_counter() - t
    ev = prof.key_averages()

    def dev_self(e):
        return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0) or 0

    def dev_total(e):
        return getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0) or 0

    busy = sum(dev_self(e) for e in ev if str(getattr(e, "device_type", "")).endswith("CUDA")) / 1e6  # kernels only
    top_dev = sorted(ev, key=dev_total, reverse=True)[:12]
    top_cpu = sorted(ev, key=lambda e: e.self_cpu_time_total, reverse=True)[:12]
    return {"wall_s": round(wall, 3), "device_busy_s": round(busy, 3), "device_busy_share": round(busy / wall, 3),
            "top_device_ms": [(e.key, round(dev_total(e) / 1e3, 2), e.count) for e in top_dev],
            "top_host_self_ms": [(e.key, round(e.self_cpu_time_total / 1e3, 2), e.count) for e in top_cpu]}


# --------------------------------------------------------------------------- the CPU reference (child process)


def reference(args) -> None:
    """fp32 losses of the agreement steps on the CPU, written to ``args.reference_out``."""
    out: dict = {}
    makers = [SFTCheck, RewardCheck] + ([DPOCheck] if have("llmcourse.dpo") else [])
    for make in makers:
        try:
            out[make.name] = make().losses("no", args.steps)
        except Exception:
            out[make.name] = {"error": traceback.format_exc(limit=4)}
    for name, make in (("ppo", PPOCheck), ("grpo", GRPOCheck)):
        if not Path(f"{args.rollout}.{name}").exists():
            continue
        try:
            out[name] = make().update_losses("no", f"{args.rollout}.{name}")
        except Exception:
            out[name] = {"error": traceback.format_exc(limit=4)}
    Path(args.reference_out).write_text(json.dumps(out))


def start_reference(args, tmp: Path, rollout: str):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": os.environ.get("GPU_CHECK_REF_THREADS", "4")}
    out = tmp / "reference.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--device", "cpu", "--steps", str(args.steps),
           "--reference-out", str(out), "--rollout", rollout]
    log_file = open(tmp / "reference.log", "w")
    return subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT), out, tmp / "reference.log"


# --------------------------------------------------------------------------- the run


class Report:
    def __init__(self, path: Path):
        self.path = path
        self.data: dict = {"sections": {}, "errors": []}

    def section(self, name: str):
        report = self

        @contextlib.contextmanager
        def block():
            t = time.perf_counter()
            log(f"{name} …")
            entry = report.data["sections"].setdefault(name, {})
            try:
                yield entry
                entry["ok"] = True
            except Exception as exc:
                entry["ok"] = False
                entry["error"] = f"{type(exc).__name__}: {exc}"
                report.data["errors"].append({"section": name, "traceback": traceback.format_exc(limit=6)})
                log(f"{name}: FAILED {type(exc).__name__}: {exc}")
            entry["seconds"] = round(time.perf_counter() - t, 2)
            report.save()

        return block()

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1, default=str))


def trl_missing() -> str | None:
    """Why TRL cannot be used here, or None."""
    try:
        import trl  # noqa: F401
    except Exception as exc:
        return f"TRL not importable: {type(exc).__name__}: {exc}"
    return None


def have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def environment(device) -> dict:
    import accelerate
    import torch
    import transformers

    env = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "python": platform.python_version(),
           "torch": torch.__version__, "transformers": transformers.__version__, "accelerate": accelerate.__version__,
           "device": device.type, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    for name in ("trl", "datasets"):
        try:
            env[name] = __import__(name).__version__
        except Exception as exc:
            env[name] = f"not available ({type(exc).__name__})"
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                   bf16_supported=torch.cuda.is_bf16_supported(), cuda=torch.version.cuda,
                   matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    return env


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        before = json.loads(Path(args.before).read_text())["sections"] if args.before else {}
        print_markdown(json.loads(Path(args.render).read_text()), before)
        return 0
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported: the whole run sees no GPU
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    quiet()
    if args.reference_out:
        reference(args)
        return 0
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device is visible", file=sys.stderr)
        return 2
    big = args.big == "yes" or (args.big == "auto" and device.type == "cuda")
    report = Report(Path(args.out))
    R = report.data
    t_start = time.perf_counter()
    with report.section("environment") as e:
        e.update(environment(device))
        e["settings"] = {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()}
        e["tolerance"] = {"first_step_rtol": FIRST_STEP_RTOL, "later_steps_rtol": LATER_STEPS_RTOL, "atol": ATOL}
        log(f"device {device}: {e.get('gpu', platform.processor() or 'CPU')}; torch {e['torch']}, "
            f"transformers {e['transformers']}, trl {e['trl']}")

    checks = {}
    with report.section("setup") as e:
        checks = {"sft": SFTCheck(), "reward": RewardCheck(), "ppo": PPOCheck()}
        if have("llmcourse.grpo"):
            checks["grpo"] = GRPOCheck()
        if have("llmcourse.dpo"):
            checks["dpo"] = DPOCheck()
        if device.type == "cuda":  # an experiment: right-padded SFT batches without the attention mask
            checks["sft_nomask"] = SFTCheck(without_mask=True)
        e["sft"] = {"batch_size": checks["sft"].batch_size, "tokens_per_example": checks["sft"].tokens_per_example,
                    "target_tokens_per_example": checks["sft"].targets_per_example}
        e["reward"] = {"batch_size": checks["reward"].batch_size, "tokens_per_pair": checks["reward"].tokens_per_pair}
        e["ppo"] = {"batch_size": checks["ppo"].batch_size, "response_length": checks["ppo"].response_length,
                    "mini_batches": 2, "ppo_epochs": 2}
        if "grpo" in checks:
            g = checks["grpo"]
            e["grpo"] = {"completions_per_step": g.batch_size, "num_generations": g.num_generations,
                         "completion_length": g.completion_length}

    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    rollout = str(tmp / "rollout.pt")
    ref = None
    if "reference" not in args.skip and checks:
        with report.section("reference_start"):
            for name in ("ppo", "grpo"):
                if name in checks:
                    checks[name].make_rollout(f"{rollout}.{name}")
            ref = start_reference(args, tmp, rollout)

    # ---- fp32 and bf16 losses on the device
    dev_losses: dict[str, dict[str, list[float]]] = {}
    for name, check in checks.items():
        if name not in ("sft", "reward", "dpo", "ppo", "grpo"):
            continue
        for precision in args.precisions:
            if ("agreement" if precision == "no" else "bf16") in args.skip:
                continue
            with report.section(f"losses_{name}_{'fp32' if precision == 'no' else 'bf16'}") as e:
                free(device)
                if name in ("ppo", "grpo"):
                    path = f"{rollout}.{name}"
                    if not Path(path).exists():
                        check.make_rollout(path)
                    losses = check.update_losses(precision, path)
                else:
                    losses = check.losses(precision, args.steps)
                dev_losses.setdefault(name, {})[precision] = losses
                e["losses"] = losses
                e["peak_mib"] = peak_mib(device)
        if "no" in dev_losses.get(name, {}) and "bf16" in dev_losses.get(name, {}):
            b16, f32 = dev_losses[name]["bf16"], dev_losses[name]["no"]
            R["sections"][f"losses_{name}_bf16"].update(max_rel_vs_fp32=max(rel_diffs(b16, f32)),
                                                        max_abs_vs_fp32=max(abs(x - y) for x, y in zip(b16, f32)))
    report.save()

    # ---- throughput and peak memory
    if "throughput" not in args.skip:
        for name, check in checks.items():
            for precision in args.precisions:
                with report.section(f"throughput_{name}_{'fp32' if precision == 'no' else 'bf16'}") as e:
                    free(device)
                    e.update(check.throughput(precision, args.warmup, args.timed))
                    e["peak_mib"] = peak_mib(device)

    # ---- synchronisations per step
    if "syncs" not in args.skip:
        for name, check in checks.items():
            with report.section(f"syncs_{name}") as e:
                n = check.sync_steps(args.sync_steps)
                e["n"] = n
                e.update(per_step_syncs(check.sync_run, n, device))

    # ---- TRL side by side
    no_trl = trl_missing()
    if no_trl and not {"trl", "dpo_trl", "reward_share"} <= args.skip:
        R["sections"]["trl"] = {"ok": True, "skipped": no_trl}
    if "trl" not in args.skip:
        if not no_trl:
            for name in ("sft", "reward", "grpo"):
                if name not in checks:
                    continue
                for precision in args.precisions:
                    with report.section(f"trl_{name}_{'fp32' if precision == 'no' else 'bf16'}") as e:
                        free(device)
                        e.update(trl_throughput(name, checks[name], precision, args.warmup, args.timed, device))
                        e["peak_mib"] = peak_mib(device)

    # ---- DPO against TRL's DPOTrainer: loss and gradient on identical batches (fp32), throughput
    if "dpo_trl" not in args.skip and "dpo" in checks and not no_trl:
        with report.section("dpo_trl_agreement") as e:
            free(device)
            e.update(dpo_trl_agreement(checks["dpo"], device, batches=2 if args.quick else 4))
        for precision in args.precisions:
            tag = "fp32" if precision == "no" else "bf16"
            for who in ("ours", "trl", "trl", "ours"):  # interleaved: a drifting machine favours neither
                with report.section(f"dpo_trl_{who}_{tag}") as e:
                    free(device)
                    r = (checks["dpo"].throughput(precision, args.warmup, args.timed) if who == "ours" else
                         trl_throughput("dpo", checks["dpo"], precision, args.warmup, args.timed, device))
                    r["peak_mib"] = peak_mib(device)
                    e.setdefault("runs", []).append(r)
                    e.update({k: statistics.median(x[k] for x in e["runs"]) for k in ("steps_per_s", "tokens_per_s")})
                    e["peak_mib"] = r["peak_mib"]

    # ---- the sync fixes, on and undone, in this process
    if "sync_ab" not in args.skip:
        for name in ("sft", "reward", "dpo", "ppo", "grpo"):
            if name in checks:
                with report.section(f"sync_ab_{name}") as e:
                    free(device)
                    check = checks[name]
                    e.update(sync_ab(check, check.sync_steps(args.sync_steps), device, args.warmup, args.timed))

    # ---- the reward model with prompt sharing on and off, TRL beside them
    if "reward_share" not in args.skip and "reward" in checks:
        pairs = checks["reward"].pairs

        def reward_check(share: bool) -> RewardCheck:
            return checks["reward"] if share else RewardCheck(share_prompt=False, pairs=pairs)

        for precision in args.precisions:
            with report.section(f"reward_share_{'fp32' if precision == 'no' else 'bf16'}") as e:
                e.update(reward_share(reward_check, precision, args.warmup, args.timed, device, with_trl=not no_trl))

    # ---- SmolLM2-135M shape (random weights)
    if big and "big" not in args.skip and "sft" in checks:
        big_sft = SFTCheck(batch_size=128)
        for precision in args.precisions:
            tag = "fp32" if precision == "no" else "bf16"
            with report.section(f"big_sft_{tag}") as e:
                free(device)
                model = smollm2_shaped_model(big_sft.tok)
                e["parameters"] = sum(p.numel() for p in model.parameters())
                e["batch_size"] = big_sft.batch_size
                e.update(big_sft.throughput(precision, 5, 30, model=model))
                e["peak_mib"] = peak_mib(device)
                del model
            if "trl" not in args.skip and not no_trl:
                with report.section(f"big_trl_sft_{tag}") as e:
                    free(device)
                    model = smollm2_shaped_model(big_sft.tok)
                    e.update(trl_throughput("sft", big_sft, precision, 5, 30, device, model=model))
                    e["peak_mib"] = peak_mib(device)
                    del model

    # ---- where the time goes (profiler), on a GPU
    if device.type == "cuda" and "profile" not in args.skip:
        for precision in args.precisions:
            tag = "fp32" if precision == "no" else "bf16"
            if "reward" in checks:
                with report.section(f"profile_reward_{tag}") as e:
                    e.update(profile(lambda: checks["reward"].run(precision, 20, 20), device))
            if big and "big" not in args.skip:
                with report.section(f"profile_big_sft_{tag}") as e:
                    free(device)
                    model, prof_sft = smollm2_shaped_model(checks["sft"].tok), SFTCheck(batch_size=128, n_records=1000)
                    # the model's move to the GPU (prepare) is inside the profile: take enough steps to dwarf it
                    e.update(profile(lambda: prof_sft.run(precision, 12, 12, model=model), device))
                    del model

    # ---- the CPU reference: compare
    if ref is not None:
        proc, ref_out, ref_log = ref
        with report.section("agreement") as e:
            rc = proc.wait(timeout=600)
            if rc != 0 or not ref_out.exists():
                raise RuntimeError(f"CPU reference exited {rc}: {ref_log.read_text()[-2000:]}")
            cpu = json.loads(ref_out.read_text())
            for name, losses in cpu.items():
                if isinstance(losses, dict):
                    e[name] = {"ok": False, "why": "CPU reference failed", "error": losses["error"]}
                elif "no" not in dev_losses.get(name, {}):
                    e[name] = {"ok": False, "why": "no device losses"}
                else:
                    e[name] = agree(dev_losses[name]["no"], losses)
            bad = [k for k, v in e.items() if isinstance(v, dict) and not v.get("ok")]
            if bad:
                raise AssertionError(f"fp32 device losses disagree with the CPU for {bad}")

    R["total_seconds"] = round(time.perf_counter() - t_start, 1)
    report.save()
    print_table(R)
    log(f"wrote {args.out} ({R['total_seconds']} s)")
    return 0 if not R["errors"] else 1


# --------------------------------------------------------------------------- the table


def fmt(x, digits=3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if x == 0:
            return "0"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) < 1e-2:
            return f"{x:.1e}"
        return f"{x:.{digits}g}"
    return str(x)


def print_table(R: dict) -> None:
    S = R["sections"]
    env = S.get("environment", {})
    print()
    print(f"== gpu_check {env.get('date_utc', '')} UTC — {env.get('gpu', 'CPU')} — torch {env.get('torch')}, "
          f"transformers {env.get('transformers')}, trl {env.get('trl')}")
    agreement = S.get("agreement", {})
    print("\nfp32 losses, device vs CPU (same weights, same batches); tolerance: relative "
          f"{FIRST_STEP_RTOL:g} on step 1, {LATER_STEPS_RTOL:g} after, + {ATOL:g} absolute")
    print(f"{'trainer':<8} {'steps':>5} {'step-1 rel':>11} {'max rel':>9} {'max abs':>9}  ok   bf16 vs fp32: max rel, max abs")
    for name in ("sft", "reward", "ppo", "dpo", "grpo"):
        a, b16 = agreement.get(name), S.get(f"losses_{name}_bf16", {})
        if a is None and not b16:
            continue
        a = a or {}
        print(f"{name:<8} {len(a.get('device', [])):>5} {fmt(a.get('first_step_rel')):>11} {fmt(a.get('max_rel')):>9} "
              f"{fmt(a.get('max_abs')):>9}  {('yes' if a.get('ok') else 'NO') if a else '—':<4} "
              f"{fmt(b16.get('max_rel_vs_fp32'))}, {fmt(b16.get('max_abs_vs_fp32'))}")
    print("\nthroughput (steady state) and peak device memory")
    print(f"{'trainer':<14} {'prec':<5} {'steps/s':>8} {'tokens/s':>10} {'peak MiB':>9}  {'syncs/step':>10} "
          f"{'host reads/step':>15}")
    for key, v in S.items():
        if not key.startswith(("throughput_", "trl_", "big_")) or "steps_per_s" not in v:
            continue
        parts = key.split("_")
        name, prec = "_".join(parts[:-1]).replace("throughput_", ""), parts[-1]
        sy = S.get(f"syncs_{name}", {}) if key.startswith("throughput_") and prec == "fp32" else {}
        cs = (sy.get("cuda_syncs") or {}).get("per_step")
        hr = (sy.get("host_reads") or {}).get("per_step")
        print(f"{name:<14} {prec:<5} {fmt(v['steps_per_s']):>8} {fmt(v['tokens_per_s']):>10} {fmt(v.get('peak_mib')):>9}  "
              f"{fmt(cs):>10} {fmt(hr):>15}")
    for name in ("sft", "reward", "grpo"):
        for prec in ("fp32", "bf16"):
            ours, theirs = S.get(f"throughput_{name}_{prec}", {}), S.get(f"trl_{name}_{prec}", {})
            if "tokens_per_s" in ours and "tokens_per_s" in theirs:
                print(f"ours / TRL, {name} {prec}: {ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}×")
    for prec in ("fp32", "bf16"):
        ours, theirs = S.get(f"big_sft_{prec}", {}), S.get(f"big_trl_sft_{prec}", {})
        if "tokens_per_s" in ours and "tokens_per_s" in theirs:
            print(f"ours / TRL, SmolLM2-135M shape SFT {prec}: {ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}×")
    for line in ab_lines(S):
        print(line)
    for key, v in S.items():
        if key.startswith("syncs_") and v.get("ok"):
            kind = "cuda_syncs" if v.get("cuda_syncs") else "host_reads"
            sites = v[kind]["sites_per_step"]
            print(f"{key} ({kind}, per step): " + ("; ".join(f"{s} ×{n:g}" for s, n in list(sites.items())[:10]) or "none"))
    for key, v in S.items():
        if key.startswith("profile_") and v.get("ok"):
            print(f"{key}: device busy {v['device_busy_s']} s of {v['wall_s']} s wall; top device: "
                  + "; ".join(f"{k} {ms} ms" for k, ms, _ in v["top_device_ms"][:5]) + "; top host (self): "
                  + "; ".join(f"{k} {ms} ms" for k, ms, _ in v["top_host_self_ms"][:5]))
    if R["errors"]:
        print("\nERRORS:")
        for err in R["errors"]:
            print(f"-- {err['section']}\n{err['traceback']}")
    print()


def ab_rows(S: dict) -> dict[str, list[list[str]]]:
    """The rows of the DPO-vs-TRL, sync-fix A/B and prompt-sharing tables (what ``--only`` adds)."""
    rows: dict[str, list[list[str]]] = {"dpo_trl": [], "sync_ab": [], "reward_share": []}
    a = S.get("dpo_trl_agreement", {})
    if a.get("ok"):
        rows["dpo_trl"].append(["fp32 loss / gradient vs TRL, identical batches (max rel)", fmt(a["max_rel_loss"]),
                                fmt(a["max_rel_grad"]), f"{len(a['losses_ours_trl'])} batches"])
    for prec in ("fp32", "bf16"):
        ours, theirs = S.get(f"dpo_trl_ours_{prec}", {}), S.get(f"dpo_trl_trl_{prec}", {})
        if "tokens_per_s" in ours and "tokens_per_s" in theirs:
            rows["dpo_trl"].append([f"{prec} tokens/s ours / TRL (peak MiB)", f"{fmt(ours['tokens_per_s'])} ({fmt(ours.get('peak_mib'))})",
                                    f"{fmt(theirs['tokens_per_s'])} ({fmt(theirs.get('peak_mib'))})",
                                    f"{ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}×"])
    for name in ("sft", "reward", "dpo", "ppo", "grpo"):
        v = S.get(f"sync_ab_{name}", {})
        if not v.get("ok"):
            continue
        kind = "cuda_syncs" if v["fixed"].get("cuda_syncs") else "host_reads"
        rows["sync_ab"].append([name, kind, f"{fmt(v['fixed'][kind]['per_step'])} / {fmt(v['undone'][kind]['per_step'])}",
                                f"{fmt(v['fixed']['steps_per_s'])} / {fmt(v['undone']['steps_per_s'])}",
                                f"{v['speedup']:.2f}×"])
    for prec in ("fp32", "bf16"):
        v = S.get(f"reward_share_{prec}", {})
        if not v.get("ok"):
            continue
        trl = v.get("trl", {})
        rows["reward_share"].append([prec, fmt(v["share_on"]["tokens_per_s"]), fmt(v["share_off"]["tokens_per_s"]),
                                     fmt(trl.get("tokens_per_s")), f"{v['on_vs_off']:.2f}×",
                                     f"{v['on_vs_trl']:.2f}× / {v['off_vs_trl']:.2f}×" if "on_vs_trl" in v else "—"])
    return rows


AB_HEADERS = {
    "dpo_trl": ["DPO vs TRL DPOTrainer", "ours", "TRL", ""],
    "sync_ab": ["trainer", "counted", "per step: fixes on / undone", "fp32 steps/s: on / undone", "on / undone"],
    "reward_share": ["reward model", "tokens/s share_prompt on", "off", "TRL", "on / off", "on / TRL, off / TRL"],
}


def ab_lines(S: dict, markdown: bool = False) -> list[str]:
    lines = []
    for key, rows in ab_rows(S).items():
        if not rows:
            continue
        head = AB_HEADERS[key]
        if markdown:
            lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
        else:
            lines += ["", " | ".join(head)] + [" | ".join(r) for r in rows]
    return lines


def print_markdown(R: dict, before: dict) -> None:
    """The figures as Markdown tables (for bench/README.md)."""
    S = R["sections"]
    if S.get("agreement"):
        print("| trainer | fp32 device vs CPU: step 1 / max relative diff (steps) | bf16 vs fp32 loss: max abs diff |")
        print("|---|---|---|")
    for name in ("sft", "reward", "dpo", "ppo", "grpo"):
        a = S.get("agreement", {}).get(name)
        if not a:
            continue
        b16 = S.get(f"losses_{name}_bf16", {})
        print(f"| {name} | {fmt(a.get('first_step_rel'))} / {fmt(a.get('max_rel'))} ({len(a.get('device', []))}) "
              f"{'ok' if a.get('ok') else 'FAILED'} | {fmt(b16.get('max_abs_vs_fp32'))} |")
    if any(k.startswith(("throughput_", "trl_", "big_")) for k in S):
        print()
        print("| trainer | steps/s fp32 / bf16 | tokens/s fp32 / bf16 | peak MiB fp32 / bf16 | device syncs per step (before the fixes) |")
        print("|---|---|---|---|---|")
    for name in ("sft", "reward", "dpo", "ppo", "grpo", "sft_nomask", "trl_sft", "trl_reward", "trl_grpo", "big_sft",
                 "big_trl_sft"):
        f32, b16 = S.get(f"throughput_{name}_fp32") or S.get(f"{name}_fp32", {}), \
            S.get(f"throughput_{name}_bf16") or S.get(f"{name}_bf16", {})
        if "steps_per_s" not in f32 and "steps_per_s" not in b16:
            continue
        sy = (S.get(f"syncs_{name}", {}).get("cuda_syncs") or {}).get("per_step")
        sy0 = ((before.get(f"syncs_{name}") or {}).get("cuda_syncs") or {}).get("per_step")
        syncs = "—" if sy is None else f"{fmt(sy)}" + (f" ({fmt(sy0)})" if sy0 is not None else "")
        print(f"| {name} | {fmt(f32.get('steps_per_s'))} / {fmt(b16.get('steps_per_s'))} | "
              f"{fmt(f32.get('tokens_per_s'))} / {fmt(b16.get('tokens_per_s'))} | "
              f"{fmt(f32.get('peak_mib'))} / {fmt(b16.get('peak_mib'))} | {syncs} |")
    for line in ab_lines(S, markdown=True):
        print(line)
    if before:
        print()
        for name in ("sft", "reward", "dpo", "ppo", "grpo", "sft_nomask"):
            a, b = S.get(f"throughput_{name}_fp32", {}), before.get(f"throughput_{name}_fp32", {})
            if "steps_per_s" in a and "steps_per_s" in b:
                print(f"- {name} fp32 steps/s before → after the sync fixes: {fmt(b['steps_per_s'])} → {fmt(a['steps_per_s'])}")


if __name__ == "__main__":
    sys.exit(main())
