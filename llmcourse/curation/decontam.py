r"""Benchmark decontamination by word n-gram overlap.

GPT-3 (Brown et al. 2020, Appendix C) removed training documents sharing any 13-gram with an
evaluation example; Llama 2 (Touvron et al. 2023, §A.6) counts tokens in overlapping n-grams. A
training text is *contaminated* when

$$\mathrm{ngrams}_n(\text{text}) \cap \bigcup_{e \in \text{eval}} \mathrm{ngrams}_n(e) \neq \emptyset.$$

We keep GPT-3's ``n = 13``. Task-world problems are short (an instruction, ≤ 6 digits, an answer: 9–20
tokens), so an evaluation text shorter than ``n`` tokens enters the index *whole* and must appear whole
(contiguously) in a training text; a shorter n-gram of it would be mostly instruction words, shared by
every problem of its task. Texts are lower-cased and split into words and punctuation
(:func:`tokenize`), so "4, 1" and "4 , 1" agree.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

__all__ = ["DEFAULT_N", "tokenize", "ngrams", "eval_ngram_index", "is_contaminated", "decontaminate"]

DEFAULT_N = 13
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: ``"Sort: 3, 1"`` → ``['sort', ':', '3', ',', '1']``."""
    return _TOKEN.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """Every contiguous ``n``-gram of ``tokens`` (a set of tuples); empty when there are fewer than ``n``."""
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def eval_ngram_index(eval_texts: Iterable[str], n: int = DEFAULT_N) -> set[tuple[str, ...]]:
    """The union of the evaluation texts' ``n``-grams (an evaluation text shorter than ``n`` tokens
    contributes itself whole, so it can still be found)."""
    index: set[tuple[str, ...]] = set()
    for t in eval_texts:
        toks = tokenize(t)
        index |= ngrams(toks, n) if len(toks) >= n else {tuple(toks)}
    return index


def is_contaminated(text: str, eval_index: set[tuple[str, ...]]) -> bool:
    """True when some window of ``tokenize(text)`` is in ``eval_index``, for every window length the index
    holds (``n``, and the lengths of evaluation texts shorter than ``n``)."""
    toks = tokenize(text)
    for m in {len(g) for g in eval_index}:
        if any(tuple(toks[i:i + m]) in eval_index for i in range(len(toks) - m + 1)):
            return True
    return False


def decontaminate(texts: Sequence[str], eval_texts: Iterable[str], n: int = DEFAULT_N) -> tuple[list[int], list[int]]:
    """Split ``texts`` into ``(kept, removed)`` index lists by :func:`is_contaminated`."""
    index = eval_ngram_index(eval_texts, n)
    kept, removed = [], []
    for i, t in enumerate(texts):
        (removed if is_contaminated(t, index) else kept).append(i)
    return kept, removed
