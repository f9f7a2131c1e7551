r"""Model-based augmentation on the real ``transformers`` APIs: back-translation, masked-LM word
replacement, and a text generator for Self-Instruct.

* **Back-translation** — translate to a pivot language and back; the round trip paraphrases.
  Any seq2seq translation model works (Marian ``Helsinki-NLP/opus-mt-en-de``, T5 with a
  ``"translate English to German: "`` prefix, NLLB/M2M with language codes); several pivots give more
  variety. Outputs are deduplicated and the unchanged original is dropped.
* **Masked-LM augmentation** — mask a few words and let a fill-mask model (BERT, RoBERTa, …) propose
  replacements. Which words: content words (``"stopwords"`` heuristic), the least informative
  words by TF-IDF (``"tfidf"``: low $\mathrm{tf}\cdot\mathrm{idf}$ = safe to change), any word
  (``"random"``), or your own weights. The original word is never returned as its own replacement.

Models are whatever the caller loads (``from_pretrained`` needs the weights locally or a network);
the tests use tiny models built from a config with random weights: they check the mechanism, not the
quality. Randomness: MLM sampling draws from the given ``random.Random``; ``generate(do_sample=True)``
uses torch's generator, so a ``seed`` runs it inside ``torch.random.fork_rng`` (global state untouched).
"""

from __future__ import annotations

import contextlib
import math
import random
from collections import Counter
from typing import Callable, Collection, Mapping, Sequence

from llmcourse.augment.word_level import STOP_WORDS, _match_case, _split, as_rng

__all__ = [
    "Translator", "back_translate", "compute_idf", "tfidf_scores", "mask_weights", "mlm_augment",
    "hf_generator",
]


def _device(model):
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@contextlib.contextmanager
def _seeded(seed: int | None, device):
    """Run torch sampling from ``seed`` without touching the global generator (no-op for ``None``)."""
    import torch

    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def _check_texts(texts: object, fn: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{fn}: expected a list of texts, got a single str; wrap it: {fn}([text], ...)")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"{fn}: texts[{i}] is {type(t).__name__}, expected str")
    return out


# --------------------------------------------------------------------------- back-translation


class Translator:
    """A seq2seq translation model and its tokenizer, called on a list of texts.

    ``translator(texts) -> list[list[str]]`` (``num_return_sequences`` translations per text), in
    batches of ``batch_size``. ``prefix`` is prepended to every input (T5: ``"translate English to
    German: "``); ``source_lang``/``target_lang`` set the tokenizer's ``src_lang`` and the forced first
    token for multilingual models (NLLB ``"deu_Latn"``, M2M ``"de"``). ``seed`` makes sampling
    reproducible. Blank inputs are not sent to the model; they translate to ``[]``.
    """

    def __init__(self, model, tokenizer, *, prefix: str = "", source_lang: str | None = None,
                 target_lang: str | None = None, batch_size: int = 16, max_new_tokens: int = 128,
                 num_beams: int = 1, num_return_sequences: int = 1, do_sample: bool = False,
                 temperature: float = 1.0, seed: int | None = None):
        if batch_size < 1 or max_new_tokens < 1 or num_beams < 1 or num_return_sequences < 1:
            raise ValueError("batch_size, max_new_tokens, num_beams and num_return_sequences must all be >= 1")
        if num_return_sequences > num_beams and not do_sample:
            raise ValueError(
                f"num_return_sequences={num_return_sequences} > num_beams={num_beams} without sampling: greedy/beam "
                "search can only return as many sequences as beams; raise num_beams or set do_sample=True"
            )
        if getattr(model.config, "is_encoder_decoder", False) is not True:
            raise TypeError(
                f"{type(model).__name__} is not an encoder-decoder model; back-translation needs a seq2seq "
                "translation model (AutoModelForSeq2SeqLM), e.g. Helsinki-NLP/opus-mt-en-de"
            )
        self.model, self.tokenizer = model, tokenizer
        self.prefix, self.source_lang, self.target_lang = prefix, source_lang, target_lang
        self.batch_size, self.max_new_tokens, self.num_beams = batch_size, max_new_tokens, num_beams
        self.num_return_sequences, self.do_sample = num_return_sequences, do_sample
        self.temperature, self.seed = temperature, seed
        self.forced_bos_token_id = None
        if target_lang is not None:
            tid = tokenizer.convert_tokens_to_ids(target_lang)
            if tid is None or tid == tokenizer.unk_token_id:
                raise ValueError(f"target_lang={target_lang!r} is not a token of this tokenizer; use its language "
                                 "code (e.g. 'deu_Latn' for NLLB, 'de' for M2M)")
            self.forced_bos_token_id = tid

    @classmethod
    def from_pretrained(cls, name_or_path: str, **options) -> "Translator":
        """Load ``AutoModelForSeq2SeqLM`` + ``AutoTokenizer`` (a hub name needs a network the first time)."""
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForSeq2SeqLM.from_pretrained(name_or_path)
        return cls(model.eval(), tokenizer, **options)

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        import torch

        texts = _check_texts(texts, "Translator")
        out: list[list[str]] = [[] for _ in texts]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        device = _device(self.model)
        if self.source_lang is not None:
            self.tokenizer.src_lang = self.source_lang
        options = dict(max_new_tokens=self.max_new_tokens, num_beams=self.num_beams,
                       num_return_sequences=self.num_return_sequences, do_sample=self.do_sample)
        if self.do_sample:
            options["temperature"] = self.temperature
        if self.forced_bos_token_id is not None:
            options["forced_bos_token_id"] = self.forced_bos_token_id
        self.model.eval()
        with torch.inference_mode(), _seeded(self.seed, device):
            for start in range(0, len(todo), self.batch_size):
                idx = todo[start:start + self.batch_size]
                enc = self.tokenizer([self.prefix + texts[i] for i in idx], padding=True, truncation=True,
                                     return_tensors="pt").to(device)
                gen = self.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **options)
                decoded = self.tokenizer.batch_decode(gen, skip_special_tokens=True)
                r = self.num_return_sequences
                for k, i in enumerate(idx):
                    out[i] = [d.strip() for d in decoded[k * r:(k + 1) * r]]
        return out


Translate = Callable[[list[str]], list[list[str]]]


def back_translate(texts: Sequence[str],
                   pivots: Sequence[tuple[Translate, Translate]] | Mapping[str, tuple[Translate, Translate]],
                   *, keep_identical: bool = False) -> list[list[str]]:
    """Paraphrases of each text by a round trip through every pivot ``(forward, backward)``.

    ``forward``/``backward`` are :class:`Translator` objects (or any ``list[str] -> list[list[str]]``).
    All texts go through each model in batches. Per text, the result lists the distinct round trips
    (case and spacing ignored), in pivot order, without empty strings and — unless ``keep_identical``
    — without the original text itself. A text no pivot changed gets ``[]``.
    """
    texts = _check_texts(texts, "back_translate")
    pairs = list(pivots.values()) if isinstance(pivots, Mapping) else list(pivots)
    if not pairs:
        raise ValueError("back_translate: no pivots given; pass [(to_pivot, from_pivot), ...]")
    for k, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(callable(p) for p in pair)):
            raise TypeError(f"back_translate: pivots[{k}] must be a (forward, backward) pair of translators")
    results: list[list[str]] = [[] for _ in texts]
    seen = [{_normal(t)} if not keep_identical else set() for t in texts]
    for forward, backward in pairs:
        there = forward(texts)
        flat, owner = [], []
        for i, options in enumerate(there):
            for t in options:
                if t.strip():
                    flat.append(t)
                    owner.append(i)
        back = backward(flat) if flat else []
        for i, options in zip(owner, back):
            for t in options:
                key = _normal(t)
                if key and key not in seen[i]:
                    seen[i].add(key)
                    results[i].append(t.strip())
    return results


# --------------------------------------------------------------------------- choosing words to mask


def compute_idf(corpus: Sequence[str]) -> dict[str, float]:
    r"""Smoothed inverse document frequency $\mathrm{idf}(w) = \ln\frac{1 + N}{1 + \mathrm{df}(w)} + 1$
    over whitespace words (lower case, punctuation stripped)."""
    corpus = _check_texts(corpus, "compute_idf")
    df: Counter[str] = Counter()
    for text in corpus:
        df.update({_split(w)[1].lower() for w in text.split()} - {""})
    n = len(corpus)
    return {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}


def tfidf_scores(words: Sequence[str], idf: Mapping[str, float]) -> list[float]:
    r"""$\mathrm{tf}(w)\cdot\mathrm{idf}(w)$ for each word of a sentence, $\mathrm{tf}$ = count / length;
    a word missing from ``idf`` counts as the rarest one seen."""
    keys = [_split(w)[1].lower() for w in words]
    counts = Counter(keys)
    unseen = max(idf.values(), default=1.0)
    return [counts[k] / len(keys) * idf.get(k, unseen) for k in keys]


def mask_weights(words: Sequence[str], selection: str | Callable[[Sequence[str]], Sequence[float]] = "stopwords", *,
                 stop_words: Collection[str] = STOP_WORDS, idf: Mapping[str, float] | None = None) -> list[float]:
    """How likely each word is to be masked (0 = never). Only words with a letter are ever masked.

    ``"stopwords"``: every non-stop word equally; ``"tfidf"``: non-stop words, weight $1/\\mathrm{tfidf}$
    (common, low-information words first; needs ``idf``); ``"random"``: every word equally; a callable
    ``words -> weights`` for your own rule.
    """
    has_letter = [any(ch.isalpha() for ch in _split(w)[1]) for w in words]
    if callable(selection):
        weights = [float(x) for x in selection(words)]
        if len(weights) != len(words) or any(not (x >= 0) for x in weights):
            raise ValueError("selection callable must return one weight >= 0 per word")
    elif selection == "random":
        weights = [1.0] * len(words)
    elif selection in ("stopwords", "tfidf"):
        content = [_split(w)[1].lower() not in stop_words for w in words]
        if selection == "stopwords":
            weights = [1.0 if c else 0.0 for c in content]
        else:
            if idf is None:
                raise ValueError("selection='tfidf' needs idf (compute_idf(corpus)); "
                                 "mlm_augment computes it from its texts")
            weights = [1.0 / s if c and s > 0 else 0.0 for c, s in zip(content, tfidf_scores(words, idf))]
    else:
        raise ValueError(f"selection={selection!r}: expected 'stopwords', 'tfidf', 'random' or a callable")
    return [w if ok else 0.0 for w, ok in zip(weights, has_letter)]


def _weighted_sample(weights: Sequence[float], k: int, rng: random.Random) -> list[int]:
    """``k`` distinct indices, without replacement, P ∝ weight (Efraimidis–Spirakis keys u^(1/w))."""
    keyed = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(weights) if w > 0]
    keyed.sort(reverse=True)
    return sorted(i for _, i in keyed[:k])


# --------------------------------------------------------------------------- masked-LM augmentation


def mlm_augment(texts: Sequence[str], model, tokenizer, *, num_aug: int = 1, mask_fraction: float = 0.15,
                selection: str | Callable = "stopwords", stop_words: Collection[str] = STOP_WORDS,
                idf: Mapping[str, float] | None = None, top_k: int = 10, temperature: float = 1.0,
                batch_size: int = 16, rng: random.Random | int | None = None) -> list[list[str]]:
    r"""Up to ``num_aug`` variants per text, each with $\max(1, \lfloor f\ell \rfloor)$ words masked and
    refilled by a fill-mask ``model`` (``AutoModelForMaskedLM``) in one forward pass.

    Per mask, the ``top_k`` predictions are filtered (no special tokens, no subword pieces, no
    punctuation for a word, **never the original word**) and one is drawn with probability
    $\propto \exp(\mathrm{logit}/T)$ using ``rng`` (``temperature=0``: the best one). A mask with no
    valid prediction keeps its word. Variants identical to the text, or to each other, are dropped.
    ``idf`` for ``selection="tfidf"`` defaults to :func:`compute_idf` over ``texts``.
    """
    import torch

    texts = _check_texts(texts, "mlm_augment")
    if tokenizer.mask_token is None or tokenizer.mask_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__} has no mask token; MLM augmentation needs the tokenizer "
                         "of a fill-mask model (BERT, RoBERTa, ...)")
    if not 0.0 < mask_fraction <= 1.0:
        raise ValueError(f"mask_fraction={mask_fraction!r}: expected a fraction in (0, 1] of the words to mask")
    if num_aug < 0 or top_k < 1 or batch_size < 1 or temperature < 0:
        raise ValueError("num_aug >= 0, top_k >= 1, batch_size >= 1 and temperature >= 0 are required")
    gen = as_rng(rng)
    if selection == "tfidf" and idf is None:
        idf = compute_idf(texts)
    stops = stop_words if stop_words is STOP_WORDS else frozenset(w.lower() for w in stop_words)
    special = set(tokenizer.all_special_ids)

    jobs: list[tuple[int, list[str], list[int]]] = []  # (text index, words, masked positions)
    for i, text in enumerate(texts):
        words = text.split()
        weights = mask_weights(words, selection, stop_words=stops, idf=idf) if words else []
        available = sum(w > 0 for w in weights)
        if available == 0:
            continue
        n = min(available, max(1, math.floor(mask_fraction * len(words) + 1e-9)))
        for _ in range(num_aug):
            jobs.append((i, words, _weighted_sample(weights, n, gen)))

    results: list[list[str]] = [[] for _ in texts]
    seen = [{_normal(t)} for t in texts]
    device = _device(model)
    model.eval()
    for start in range(0, len(jobs), batch_size):
        batch = jobs[start:start + batch_size]
        masked = []
        for _, words, positions in batch:
            w = list(words)
            for p in positions:
                lead, _, trail = _split(w[p])
                w[p] = lead + tokenizer.mask_token + trail
            masked.append(" ".join(w))
        enc = tokenizer(masked, padding=True, truncation=True, return_tensors="pt").to(device)
        with torch.inference_mode():
            logits = model(**enc).logits
        for row, (i, words, positions) in enumerate(batch):
            slots = (enc["input_ids"][row] == tokenizer.mask_token_id).nonzero().flatten().tolist()
            new = list(words)
            for p, slot in zip(positions, slots):  # truncation may have cut late masks: those words stay
                lead, core, trail = _split(words[p])
                choice = _pick(logits[row, slot], core, tokenizer, special, top_k, temperature, gen)
                if choice is not None:
                    new[p] = lead + _match_case(core, choice) + trail
            text = " ".join(new)
            if _normal(text) not in seen[i]:
                seen[i].add(_normal(text))
                results[i].append(text)
    return results


def _pick(logits, original: str, tokenizer, special: set[int], top_k: int, temperature: float,
          rng: random.Random) -> str | None:
    """One replacement for a masked word from its logits, never ``original`` (case-insensitive)."""
    import torch

    k = min(logits.shape[-1], top_k + len(special) + 8)  # room for the candidates filtered out below
    values, ids = torch.topk(logits.float(), k)
    options: list[tuple[float, str]] = []
    for v, tid in zip(values.tolist(), ids.tolist()):
        if tid in special:
            continue
        piece = tokenizer.convert_ids_to_tokens(tid)
        if isinstance(piece, str) and piece.startswith("##"):
            continue  # a WordPiece continuation, not a word
        word = tokenizer.decode([tid]).strip()
        if not word or word.casefold() == original.casefold() or not any(ch.isalpha() for ch in word):
            continue
        options.append((v, word))
        if len(options) == top_k:
            break
    if not options:
        return None
    if temperature == 0:
        return options[0][1]
    top = options[0][0]
    weights = [math.exp((v - top) / temperature) for v, _ in options]
    return rng.choices([w for _, w in options], weights=weights, k=1)[0]


# --------------------------------------------------------------------------- a generator for Self-Instruct


def hf_generator(model, tokenizer, *, max_new_tokens: int = 256, do_sample: bool = True, temperature: float = 0.7,
                 top_p: float = 0.95, batch_size: int = 4, seed: int | None = 0) -> Callable[[list[str]], list[str]]:
    """A ``list[prompt] -> list[completion]`` callable around a causal LM's ``generate`` (left-padded
    batches, only the new tokens decoded). Each call samples from ``seed + call number`` inside
    ``torch.random.fork_rng``, so a run is reproducible and torch's global generator is left alone."""
    if tokenizer.pad_token_id is None:
        raise ValueError(
            "tokenizer has no pad token, which batched generation needs; set one that is not EOS "
            "(tokenizer.add_special_tokens({'pad_token': '<pad>'}) and resize the embeddings), or use batch_size=1"
        )
    calls = [0]

    def generate(prompts: list[str]) -> list[str]:
        import torch

        prompts = _check_texts(prompts, "generator")
        device = _device(model)
        out: list[str] = []
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"
        options = dict(max_new_tokens=max_new_tokens, do_sample=do_sample, pad_token_id=tokenizer.pad_token_id)
        if do_sample:
            options.update(temperature=temperature, top_p=top_p)
        try:
            model.eval()
            with torch.inference_mode(), _seeded(None if seed is None else seed + calls[0], device):
                for start in range(0, len(prompts), batch_size):
                    enc = tokenizer(prompts[start:start + batch_size], padding=True, return_tensors="pt").to(device)
                    ids = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **options)
                    out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        finally:
            tokenizer.padding_side = side
        calls[0] += 1
        return out

    return generate
