r"""The embedded default model and tokenizer, and the door to any Hugging Face model.

* :func:`build_tokenizer` — a real byte-level BPE ``PreTrainedTokenizerFast`` trained (in about a
  second) on the task world's text and the prompt templates, with distinct ``<pad>``, ``<bos>``,
  ``<eos>`` (PAD ≠ EOS, so EOS stays a learned target) and a chat template;
* :func:`tiny_config` — a Llama-style decoder config (≈0.8M parameters by default) that
  ``AutoModelForCausalLM`` and ``AutoModelForSequenceClassification`` (``num_labels=1``) both accept;
* :func:`base_model_path` — the **base model**: the tiny decoder pre-trained on the task world's plain
  text, built reproducibly from a seed on first use (≈50 s on 2 CPU cores) and cached on disk;
* :func:`load_tokenizer` / :func:`load_model` — the embedded default when no name is given, a registered
  pretrained model's short name (``"smollm2-135m-instruct"``, :mod:`llmcourse.pretrained`: fetched and
  converted once into the model cache), any Hugging Face model name or local folder otherwise.

Device placement and mixed precision live in one place, :mod:`llmcourse.training`.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Sequence

import torch

from llmcourse import pretrained, tasks, templates
from llmcourse.cache import build_cached
from llmcourse.cache import cache_dir  # noqa: F401 — kept in this module's API (models.cache_dir())
from llmcourse.recipes import BASE_RECIPE, BASE_VERSION, DEFAULT_SEED, base_key_recipe
from llmcourse.recipes import base_model_id  # noqa: F401 — kept in this module's API (models.base_model_id())

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


class ModelLoadError(ValueError):
    """A model or tokenizer could not be loaded; the message names it and the fix."""


# --------------------------------------------------------------------------- tokenizer


def _tokenizer_corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    text = tasks.pretraining_text(4000, rng)
    for rec in tasks.instruction_records(600, rng):
        text.append(templates.alpaca_prompt(rec["instruction"], rec["input"]) + rec["output"])
        text.append(templates.simple_prompt(rec["instruction"], rec["input"]) + " " + rec["output"])
    return text


def build_tokenizer(seed: int = DEFAULT_SEED, vocab_size: int = 512):
    """Train the embedded byte-level BPE tokenizer (deterministic for a given seed and vocab size).

    Byte-level means any UTF-8 text is encodable (Dolly, chat data, emoji), so the same tokenizer
    serves user datasets; merges are learned on the task world and the templates, so those are short.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = [PAD, BOS, EOS, *templates.CHAT_ROLE_TOKENS]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_tokenizer_corpus(seed), trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                 additional_special_tokens=list(templates.CHAT_ROLE_TOKENS))
    hf.chat_template = templates.CHAT_TEMPLATE
    hf.padding_side = "right"  # training batches; generation switches to left explicitly
    hf.model_max_length = 256
    return hf


def check_tokenizer(tokenizer) -> None:
    """Raise a clear error when a tokenizer lacks what the course's pipelines need."""
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    if tokenizer.eos_token_id is None:
        raise ModelLoadError(f"tokenizer {name!r} has no EOS token; set tokenizer.eos_token (e.g. '</s>') "
                             "so responses can end")
    if tokenizer.pad_token_id is None:
        raise ModelLoadError(f"tokenizer {name!r} has no pad token; call llmcourse.models.ensure_pad_token"
                             "(tokenizer, model) to add one")


def ensure_pad_token(tokenizer, model=None, pad_token: str = PAD) -> bool:
    """Give a tokenizer a pad token distinct from EOS (adding it and resizing ``model``'s embeddings).

    Returns ``True`` when a token was added. Reusing EOS as PAD would mask EOS out of the labels and
    the model would never learn to stop — so we add a new token instead.
    """
    from transformers.utils import logging as hf_logging

    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return False
    level = hf_logging.get_verbosity()
    # resize_token_embeddings logs "new embeddings … multivariate normal …" to stderr, which zeroes an
    # nbgrader test cell; the mean-of-old-embeddings initialisation it announces is what we want.
    hf_logging.set_verbosity_error()
    try:
        tokenizer.add_special_tokens({"pad_token": pad_token})
        if model is not None:
            model.resize_token_embeddings(len(tokenizer))
            model.config.pad_token_id = tokenizer.pad_token_id
    finally:
        hf_logging.set_verbosity(level)
    return True


# --------------------------------------------------------------------------- model config


def tiny_config(tokenizer=None, *, hidden_size: int = 128, num_layers: int = 4, num_heads: int = 4,
                intermediate_size: int | None = None, max_position_embeddings: int = 256, **overrides):
    """A Llama-style decoder config sized for a CPU (defaults: 4 layers × 128 wide ≈ 0.8M params).

    Usable with ``AutoModelForCausalLM.from_config`` and, with ``num_labels=1``,
    ``AutoModelForSequenceClassification.from_config`` (a reward or value model).
    """
    from transformers import LlamaConfig

    tokenizer = tokenizer or load_tokenizer()
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size={hidden_size} must be divisible by num_heads={num_heads}")
    cfg = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 3 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    cfg.update(overrides)
    return LlamaConfig(**cfg)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- the base model


def _encode_pretraining(tokenizer, examples: Sequence[tuple[str, int]], loss_on: str) -> tuple[list, list]:
    """Token ids of ``<bos> sentence <eos>`` and their labels: every token (``loss_on="all"``), or only
    the tokens from the answer on (``"answer"``; a token counts when its last character does)."""
    if loss_on not in ("all", "answer"):
        raise ValueError(f"loss_on must be 'all' or 'answer', got {loss_on!r}")
    texts = [tokenizer.bos_token + s + tokenizer.eos_token for s, _ in examples]
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    if loss_on == "all":
        return enc["input_ids"], enc["input_ids"]
    skip = len(tokenizer.bos_token)
    labels = [[t if end - 1 >= skip + start else -100 for t, (_, end) in zip(ids, offsets)]
              for ids, offsets, (_, start) in zip(enc["input_ids"], enc["offset_mapping"], examples)]
    return enc["input_ids"], labels


def pretrain_base_model(out_dir: str | Path, recipe: dict | None = None, progress: bool = True) -> dict:
    r"""Pre-train the tiny decoder on the task world's plain text and save it with its tokenizer.

    Next-token cross-entropy $\mathcal{L} = -\frac{1}{|A|}\sum_{t \in A} \log p_\theta(x_t \mid x_{<t})$ over the
    set $A$ of target tokens, AdamW with linear warm-up and cosine decay. With ``loss_on="answer"`` (the
    recipe's choice) $A$ is each sentence's answer and what follows it ("… reversed is **4 1 3 .**"):
    the rest of a sentence is a random draw (task, wording, digits) that no model can predict, so it
    adds loss that cannot fall and gradients that carry no signal. Leaving it out lifts what the base
    model knows after the same 360 steps (bench/bench_base.py, side by side with ``loss_on="all"``, the
    textbook objective over every token). Seeded: the same recipe gives the same weights on the
    same machine and library versions. Returns build facts (seconds, parameters, final loss).
    """
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM

    r = {**BASE_RECIPE, **(recipe or {})}
    t0 = time.perf_counter()
    tokenizer = build_tokenizer(r["seed"], r["vocab_size"])
    config = tiny_config(tokenizer, hidden_size=r["hidden_size"], num_layers=r["num_layers"], num_heads=r["num_heads"],
                         intermediate_size=r.get("intermediate_size"))
    examples = tasks.pretraining_examples(r["n_sentences"], seed=r["seed"] + 1)
    enc, targets = _encode_pretraining(tokenizer, examples, r["loss_on"])
    gen = torch.Generator().manual_seed(r["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(r["seed"])  # transformers initialises weights from the global RNG: fork it
        model = AutoModelForCausalLM.from_config(config)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=r["learning_rate"], weight_decay=0.01, betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        if step < r["warmup"]:
            return (step + 1) / r["warmup"]
        progress_ = (step - r["warmup"]) / max(1, r["steps"] - r["warmup"])
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress_))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses = []
    bar = tqdm(range(r["steps"]), desc="pre-training base model", disable=not progress)
    for step in bar:
        idx = torch.randint(len(enc), (r["batch_size"],), generator=gen).tolist()
        batch = [enc[i] for i in idx]
        width = max(len(x) for x in batch)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full_like(ids, -100)
        for i, (x, t) in enumerate(zip(batch, idx)):
            ids[i, : len(x)] = torch.tensor(x)
            mask[i, : len(x)] = 1
            labels[i, : len(x)] = torch.tensor(targets[t])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    facts = {"recipe": r, "version": BASE_VERSION, "seconds": round(time.perf_counter() - t0, 2),
             "parameters": count_parameters(model), "final_loss": float(sum(losses[-20:]) / 20),
             "torch": torch.__version__}
    (out_dir / "llmcourse_build.json").write_text(json.dumps(facts, indent=2))
    return facts


def base_model_path(progress: bool = True) -> Path:
    """The cached base model's folder (:data:`llmcourse.recipes.BASE_RECIPE`), pre-trained first if it
    is not in the cache yet (:func:`llmcourse.cache.build_cached`: atomic, one builder at a time)."""
    return build_cached(f"base-{BASE_VERSION}", base_key_recipe(), lambda folder: pretrain_base_model(folder, progress=progress))


# --------------------------------------------------------------------------- loading


def _resolve(name_or_path: str | Path | None) -> str:
    if name_or_path is None or str(name_or_path) in ("", "embedded", "default"):
        return str(base_model_path())
    if pretrained.is_registered(name_or_path):  # a short name such as "smollm2-135m-instruct"
        try:
            return str(pretrained.pretrained_path(name_or_path))
        except pretrained.PretrainedUnavailable as exc:
            raise ModelLoadError(str(exc)) from exc
    return str(name_or_path)


def _friendly_load_error(name: str, exc: Exception) -> ModelLoadError:
    p = Path(name)
    if p.exists():
        return ModelLoadError(f"{name}: cannot load a model/tokenizer from this folder ({type(exc).__name__}: {exc}); "
                              "it should hold config.json and weights, as written by save_pretrained()")
    if name.startswith((".", "/", "~")) or os.sep in name and not name.count("/") == 1:
        return ModelLoadError(f"{name}: no such folder; pass an existing local path or a Hugging Face model name")
    return ModelLoadError(f"{name!r} is not a local folder and could not be fetched from the Hugging Face Hub "
                          f"({type(exc).__name__}). It needs a download: run once on a machine with internet "
                          "access (or `huggingface-cli download NAME`), then pass the local folder. "
                          "With no argument the embedded offline model is used.")


def load_tokenizer(name_or_path: str | Path | None = None, *, padding_side: str = "right"):
    """The embedded tokenizer (no argument) or any Hugging Face tokenizer, with ``padding_side`` set."""
    from transformers import AutoTokenizer

    if name_or_path is None:
        name = str(base_model_path())
    else:
        name = _resolve(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(name)
    except Exception as exc:  # noqa: BLE001 — re-raised with the fix
        raise _friendly_load_error(name, exc) from exc
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    tok.padding_side = padding_side
    return tok


def load_model(name_or_path: str | Path | None = None, *, kind: str = "causal", dtype: torch.dtype | None = None):
    """Load the embedded base model (no argument) or any Hugging Face model, in eval mode.

    ``kind="causal"`` → ``AutoModelForCausalLM``; ``kind="reward"`` → ``AutoModelForSequenceClassification``
    with one output (a scalar score head; newly initialised when the checkpoint is a plain LM).
    """
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from transformers.utils import logging as hf_logging

    name = _resolve(name_or_path)
    if kind not in ("causal", "reward"):
        raise ValueError(f"kind must be 'causal' or 'reward', got {kind!r}")
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # "score.weight newly initialised" is expected for a reward head
    hf_logging.disable_progress_bar()  # a bar per load would reach stderr (and zero an nbgrader test cell)
    try:
        if kind == "causal":
            model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1, dtype=dtype)
    except Exception as exc:  # noqa: BLE001
        raise _friendly_load_error(name, exc) from exc
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
    if model.config.pad_token_id is None:
        try:
            tok = load_tokenizer(name)
            model.config.pad_token_id = tok.pad_token_id
        except ModelLoadError:
            pass
    return model.eval()


# --------------------------------------------------------------------------- generation


def _with_bos(tokenizer, text: str) -> str:
    bos = tokenizer.bos_token
    return text if not bos or text.startswith(bos) else bos + text


def _left_padded(tokenizer, texts: Sequence[str], filler: int):
    """``input_ids`` / ``attention_mask`` (batch, longest) of ``texts``, left-padded with ``filler``."""
    from transformers import BatchEncoding

    if tokenizer.pad_token_id is not None:
        return tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False)
    rows = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[filler] * (width - len(r)) + r for r in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    return BatchEncoding({"input_ids": ids, "attention_mask": mask})


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 16, do_sample: bool = False,
             temperature: float = 1.0, batch_size: int = 64, seed: int | None = None,
             add_bos: bool = True) -> list[str]:
    """Complete each prompt; returns only the new text, cut at EOS.

    Prompts are **left-padded** (so every row's last prompt token sits at the same position and new
    tokens follow it), with ``position_ids`` derived from the attention mask by ``generate`` itself.
    """
    device = next(model.parameters()).device
    # A tokenizer without a pad token (GPT-2, Pythia, BLOOM style) still generates: padded positions are
    # masked out and the output is cut at EOS, so their id is never read — any id fills them, and the
    # tokenizer and model stay unchanged. (Training needs a real, distinct PAD: :func:`ensure_pad_token`.)
    filler = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if filler is None:
        filler = 0
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    out: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = [_with_bos(tokenizer, p) for p in prompts[start : start + batch_size]] if add_bos else list(prompts[start : start + batch_size])
            enc = _left_padded(tokenizer, chunk, filler).to(device)
            gen_kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=filler,
                              eos_token_id=tokenizer.eos_token_id, do_sample=do_sample)
            if do_sample:
                gen_kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
            with torch.random.fork_rng(devices=[]):  # sampling draws from the global RNG: fork it
                if seed is not None:
                    torch.manual_seed(seed + start)
                ids = model.generate(**enc, **gen_kwargs)[:, enc["input_ids"].shape[1]:]
            for row in ids.tolist():
                if tokenizer.eos_token_id in row:
                    row = row[: row.index(tokenizer.eos_token_id)]
                out.append(tokenizer.decode(row, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = old_side
    return out
