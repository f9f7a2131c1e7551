r"""Augmenting datasets: the text augmenters as one interface, applied to Alpaca or labelled records.

An *augmenter* is a callable ``augmenter(texts, num_aug, rng) -> list[list[str]]``: up to ``num_aug``
variants per text. :class:`EDA`, :class:`AEDA`, :class:`BackTranslation` and :class:`MaskedLM` wrap
the functions of this stage in that form (their settings fixed once), and :func:`augment_records`
applies one to chosen fields of a list of records:

>>> recs = [{"instruction": "Sort the list in ascending order.", "input": "3 1 2", "output": "1 2 3"}]
>>> out = augment_records(recs, AEDA(), num_aug=2, rng=0)
>>> for r in out:
...     print(r["instruction"], "->", r["output"])
Sort the list in ascending order. -> 1 2 3
! Sort the list ; in ascending order. -> 1 2 3
Sort the ? list ! in ascending order. -> 1 2 3

By default only ``instruction`` changes. ``input`` can be listed too when the answer does not
depend on its exact words (a passage to summarise), but not for the task world, where ``"3 1 2"``
with two numbers swapped has another answer. ``output`` is refused unless ``augment_output=True``:
noise in the target is what the model would learn to produce.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Sequence

from llmcourse.augment.word_level import PUNCTUATION, STOP_WORDS, _check_rate, aeda, as_rng, eda
from llmcourse.augment.synonyms import as_synonym_source

__all__ = ["Augmenter", "EDA", "AEDA", "BackTranslation", "MaskedLM", "augment_records"]

Augmenter = Callable[[list[str], int, random.Random], list[list[str]]]


@dataclass
class EDA:
    """EDA with fixed rates (see :func:`llmcourse.augment.eda`); synonyms resolved once, at construction."""

    alpha_sr: float = 0.1
    """Synonym replacement: fraction of words replaced."""
    alpha_ri: float = 0.1
    """Random insertion: fraction of words inserted."""
    alpha_rs: float = 0.1
    """Random swap: fraction of words swapped."""
    p_rd: float = 0.1
    """Random deletion: probability of deleting each word."""
    synonyms: Any = None
    """None (WordNet if installed, else the fallback thesaurus), 'wordnet', 'fallback', a dict or a callable."""
    stop_words: Collection[str] = STOP_WORDS
    """Words never replaced nor used as insertion sources."""

    def __post_init__(self):
        for name in ("alpha_sr", "alpha_ri", "alpha_rs", "p_rd"):
            _check_rate(getattr(self, name), name, "EDA")
        if self.alpha_sr > 0 or self.alpha_ri > 0:
            self.synonyms = as_synonym_source(self.synonyms)

    def __call__(self, texts: Sequence[str], num_aug: int, rng: random.Random) -> list[list[str]]:
        return [eda(t, alpha_sr=self.alpha_sr, alpha_ri=self.alpha_ri, alpha_rs=self.alpha_rs, p_rd=self.p_rd,
                    num_aug=num_aug, synonyms=self.synonyms, stop_words=self.stop_words, rng=rng) for t in texts]


@dataclass
class AEDA:
    """AEDA: random punctuation insertion (see :func:`llmcourse.augment.aeda`)."""

    punctuation: Sequence[str] = PUNCTUATION
    """The marks to insert (the paper's six: . , ! ? ; :)."""

    def __call__(self, texts: Sequence[str], num_aug: int, rng: random.Random) -> list[list[str]]:
        return [aeda(t, num_aug=num_aug, punctuation=self.punctuation, rng=rng) for t in texts]


@dataclass
class BackTranslation:
    """Back-translation through ``pivots`` (pairs of translators, see :func:`back_translate`); keeps at
    most ``num_aug`` distinct paraphrases per text (the first ones, in pivot order)."""

    pivots: Sequence[tuple[Callable, Callable]]
    """[(to_pivot, from_pivot), ...], e.g. (Translator.from_pretrained('Helsinki-NLP/opus-mt-en-de'), ...)."""

    def __call__(self, texts: Sequence[str], num_aug: int, rng: random.Random) -> list[list[str]]:
        from llmcourse.augment.neural import back_translate

        return [v[:num_aug] for v in back_translate(list(texts), self.pivots)]


@dataclass
class MaskedLM:
    """Masked-LM word replacement (see :func:`mlm_augment`) with a fixed model and settings."""

    model: Any
    """An AutoModelForMaskedLM (BERT, RoBERTa, DistilBERT, ...)."""
    tokenizer: Any
    """Its tokenizer (must have a mask token)."""
    mask_fraction: float = 0.15
    """Fraction of the words masked per variant (at least one)."""
    selection: Any = "stopwords"
    """'stopwords', 'tfidf', 'random' or a callable words -> weights."""
    top_k: int = 10
    """Predictions considered per mask."""
    batch_size: int = 16
    """Masked sentences per forward pass."""
    temperature: float = 1.0
    """Sampling temperature over the valid predictions (0: always the best one)."""
    stop_words: Collection[str] = STOP_WORDS
    """Words the 'stopwords' and 'tfidf' selections never mask."""
    idf: Mapping[str, float] | None = None
    """Inverse document frequencies for 'tfidf' (default: computed from the texts of each call)."""

    def __call__(self, texts: Sequence[str], num_aug: int, rng: random.Random) -> list[list[str]]:
        from llmcourse.augment.neural import mlm_augment

        return mlm_augment(list(texts), self.model, self.tokenizer, num_aug=num_aug, mask_fraction=self.mask_fraction,
                           selection=self.selection, stop_words=self.stop_words, idf=self.idf, top_k=self.top_k,
                           temperature=self.temperature, batch_size=self.batch_size, rng=rng)


def augment_records(records: Sequence[Mapping[str, Any]], augmenter: Augmenter, *,
                    fields: Sequence[str] = ("instruction",), num_aug: int = 1,
                    rng: random.Random | int | None = None, keep_original: bool = True,
                    augment_output: bool = False, label_field: str | None = None,
                    label_check: Callable[[dict], Any] | None = None) -> list[dict[str, Any]]:
    """Each record (if ``keep_original``) followed by up to ``num_aug`` augmented copies.

    Copy ``k`` takes the ``k``-th variant of every augmented field (a field with fewer variants keeps
    its text there); fields not listed — ``output``, a ``label``, ids — are copied unchanged. A record
    whose fields gave no variant (blank text, nothing to change) gets no copy. Input records are
    not modified.

    Classification data (``{"text", "label"}``): ``fields=("text",), label_field="label"``. The label is
    then required on every record and never augmented; ``label_check``, a function ``record -> label``
    (e.g. a classifier you trust), drops the copies whose predicted label differs from the original's.
    """
    if isinstance(records, Mapping) or isinstance(records, str):
        raise TypeError(f"records: expected a list of dicts, got {type(records).__name__}")
    if isinstance(fields, str):
        fields = (fields,)
    fields = tuple(fields)
    if not fields:
        raise ValueError("fields is empty; name the text fields to augment, e.g. fields=('instruction',)")
    if "output" in fields and not augment_output:
        raise ValueError(
            "fields includes 'output': augmenting the target teaches the model to produce the noise. "
            "Pass augment_output=True if that is what you want."
        )
    if label_field is not None and label_field in fields:
        raise ValueError(f"label_field {label_field!r} is also in fields; a label is copied, never augmented")
    if label_check is not None and label_field is None:
        raise ValueError("label_check needs label_field (the key holding the label to preserve)")
    if isinstance(num_aug, bool) or not isinstance(num_aug, int) or num_aug < 0:
        raise ValueError(f"num_aug={num_aug!r}: expected an int >= 0")
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise TypeError(f"records[{i}]: expected a dict, got {type(r).__name__}")
        for f in fields:
            if f not in r:
                raise ValueError(f"records[{i}]: no field {f!r} (has {sorted(r)}); choose fields that every record has")
            if not isinstance(r[f], str):
                raise TypeError(f"records[{i}][{f!r}]: expected str, got {type(r[f]).__name__}")
        if label_field is not None and label_field not in r:
            raise ValueError(f"records[{i}]: no label field {label_field!r} (has {sorted(r)})")
    gen = as_rng(rng)
    variants = {f: augmenter([r[f] for r in records], num_aug, gen) for f in fields}
    for f, v in variants.items():
        if len(v) != len(records):
            raise ValueError(f"augmenter returned {len(v)} lists for {len(records)} texts of field {f!r}; "
                             "expected one list of variants per text")
    out: list[dict[str, Any]] = []
    for i, r in enumerate(records):
        if keep_original:
            out.append(dict(r))
        n = min(num_aug, max((len(variants[f][i]) for f in fields), default=0))
        for k in range(n):
            copy = dict(r)
            for f in fields:
                if k < len(variants[f][i]):
                    copy[f] = variants[f][i][k]
            if label_check is not None and label_check(copy) != r[label_field]:
                continue
            out.append(copy)
    return out
