r"""Document-level quality filters in the style of C4 and Gopher.

Each rule is a small function ``rule(text) -> bool`` (``True`` = keep) with the threshold its paper
published, so a pipeline can report how many documents each rule removed. Sources:

* **C4** — Raffel et al. 2020, *Exploring the Limits of Transfer Learning with a Unified Text-to-Text
  Transformer*, §2.2 ("Colossal Clean Crawled Corpus"): keep only lines ending in terminal punctuation,
  drop pages with fewer than 3 sentences, drop pages containing "lorem ipsum", a curly bracket, or
  (line level) the word "javascript".
* **Gopher** — Rae et al. 2021, *Scaling Language Models: Methods, Analysis & Insights from Training
  Gopher*, Appendix A.1.1 ("MassiveWeb" quality and repetition filters): 50–100 000 words, mean word
  length 3–10 characters, symbol-to-word ratio ≤ 0.1, ≤ 90 % of lines starting with a bullet, ≤ 30 %
  ending with an ellipsis, ≥ 80 % of words containing a letter, ≥ 2 of the stop words
  {the, be, to, of, and, that, have, with}; duplicate-line fraction ≤ 0.30 and the most frequent word
  2-gram covering ≤ 20 % of the characters.

Thresholds are module constants (``GOPHER_MIN_WORDS`` …) so a course or a bench can state and vary them.
"""

from __future__ import annotations

import collections
import re
from typing import Callable

__all__ = [
    "RULES", "C4_RULES", "GOPHER_RULES", "c4_clean_lines", "c4_min_sentences", "c4_no_lorem_ipsum",
    "c4_no_curly_bracket", "gopher_word_count", "gopher_mean_word_length", "gopher_symbol_ratio",
    "gopher_bullet_lines", "gopher_ellipsis_lines", "gopher_alpha_words", "gopher_stop_words",
    "gopher_duplicate_lines", "gopher_top_bigram", "words", "failed_rules",
]

C4_MIN_SENTENCES = 3
C4_TERMINAL = (".", "!", "?", '"')
GOPHER_MIN_WORDS, GOPHER_MAX_WORDS = 50, 100_000
GOPHER_MEAN_WORD_LENGTH = (3.0, 10.0)
GOPHER_MAX_SYMBOL_RATIO = 0.1
GOPHER_MAX_BULLET_LINES = 0.9
GOPHER_MAX_ELLIPSIS_LINES = 0.3
GOPHER_MIN_ALPHA_WORDS = 0.8
GOPHER_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
GOPHER_MIN_STOP_WORDS = 2
GOPHER_MAX_DUPLICATE_LINES = 0.30
GOPHER_MAX_TOP_BIGRAM = 0.20

_BULLETS = ("•", "-", "*", "‣", "◦")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")


def words(text: str) -> list[str]:
    """Whitespace-separated words (Gopher counts words this way)."""
    return text.split()


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def c4_clean_lines(text: str) -> str:
    """C4's line filter (a transform, not a test): keep lines that end in terminal punctuation and do not
    mention "javascript" (C4 drops cookie/JS warnings line by line)."""
    return "\n".join(ln for ln in _lines(text) if ln.endswith(C4_TERMINAL) and "javascript" not in ln.lower())


def c4_min_sentences(text: str) -> bool:
    """C4: keep pages with at least 3 sentences (counted after the line filter)."""
    return len(_SENTENCE_END.findall(c4_clean_lines(text))) >= C4_MIN_SENTENCES


def c4_no_lorem_ipsum(text: str) -> bool:
    """C4: drop any page containing the placeholder "lorem ipsum"."""
    return "lorem ipsum" not in text.lower()


def c4_no_curly_bracket(text: str) -> bool:
    """C4: drop any page with a curly bracket (code, templates)."""
    return "{" not in text and "}" not in text


def gopher_word_count(text: str) -> bool:
    """Gopher: keep 50 ≤ words ≤ 100 000."""
    return GOPHER_MIN_WORDS <= len(words(text)) <= GOPHER_MAX_WORDS


def gopher_mean_word_length(text: str) -> bool:
    """Gopher: keep a mean word length of 3 to 10 characters."""
    w = words(text)
    lo, hi = GOPHER_MEAN_WORD_LENGTH
    return bool(w) and lo <= sum(map(len, w)) / len(w) <= hi


def gopher_symbol_ratio(text: str) -> bool:
    """Gopher: drop pages whose hash-symbol or ellipsis count exceeds 0.1 × the word count."""
    w = words(text)
    symbols = text.count("#") + text.count("...") + text.count("…")
    return bool(w) and symbols / len(w) <= GOPHER_MAX_SYMBOL_RATIO


def gopher_bullet_lines(text: str) -> bool:
    """Gopher: drop pages where more than 90 % of the lines start with a bullet."""
    lines = _lines(text)
    return bool(lines) and sum(ln.startswith(_BULLETS) for ln in lines) / len(lines) <= GOPHER_MAX_BULLET_LINES


def gopher_ellipsis_lines(text: str) -> bool:
    """Gopher: drop pages where more than 30 % of the lines end with an ellipsis."""
    lines = _lines(text)
    return bool(lines) and sum(ln.endswith(("...", "…")) for ln in lines) / len(lines) <= GOPHER_MAX_ELLIPSIS_LINES


def gopher_alpha_words(text: str) -> bool:
    """Gopher: keep pages where at least 80 % of the words contain an alphabetic character."""
    w = words(text)
    return bool(w) and sum(any(c.isalpha() for c in x) for x in w) / len(w) >= GOPHER_MIN_ALPHA_WORDS


def gopher_stop_words(text: str) -> bool:
    """Gopher: keep pages containing at least two of {the, be, to, of, and, that, have, with}."""
    return len(GOPHER_STOP_WORDS.intersection(x.lower() for x in words(text))) >= GOPHER_MIN_STOP_WORDS


def gopher_duplicate_lines(text: str) -> bool:
    """Gopher (repetition): drop pages where more than 30 % of the lines are duplicates of another line."""
    lines = _lines(text)
    if not lines:
        return False
    counts = collections.Counter(lines)
    return sum(c - 1 for c in counts.values()) / len(lines) <= GOPHER_MAX_DUPLICATE_LINES


def gopher_top_bigram(text: str) -> bool:
    """Gopher (repetition): drop pages where the most frequent word 2-gram's occurrences cover more than
    20 % of the characters (spam that repeats a phrase)."""
    w = [x.lower() for x in words(text)]
    if len(w) < 2:
        return True
    gram, count = collections.Counter(zip(w, w[1:])).most_common(1)[0]
    total = sum(map(len, w))
    return count * (len(gram[0]) + len(gram[1])) / total <= GOPHER_MAX_TOP_BIGRAM


C4_RULES: dict[str, Callable[[str], bool]] = {
    "c4_min_sentences": c4_min_sentences, "c4_no_lorem_ipsum": c4_no_lorem_ipsum,
    "c4_no_curly_bracket": c4_no_curly_bracket,
}
GOPHER_RULES: dict[str, Callable[[str], bool]] = {
    "gopher_word_count": gopher_word_count, "gopher_mean_word_length": gopher_mean_word_length,
    "gopher_symbol_ratio": gopher_symbol_ratio, "gopher_bullet_lines": gopher_bullet_lines,
    "gopher_ellipsis_lines": gopher_ellipsis_lines, "gopher_alpha_words": gopher_alpha_words,
    "gopher_stop_words": gopher_stop_words, "gopher_duplicate_lines": gopher_duplicate_lines,
    "gopher_top_bigram": gopher_top_bigram,
}
RULES: dict[str, Callable[[str], bool]] = {**GOPHER_RULES, **C4_RULES}


def failed_rules(text: str, rules: dict[str, Callable[[str], bool]] | None = None) -> list[str]:
    """Names of the rules ``text`` fails (empty: keep it)."""
    return [name for name, rule in (RULES if rules is None else rules).items() if not rule(text)]
