r"""EDA (Wei & Zou, 2019) and AEDA (Karimi et al., 2021): word-level noise that keeps the meaning.

The four EDA operations on a sentence of $\ell$ words, with $n = \max(1, \lfloor \alpha \ell \rfloor)$:

* **SR** synonym replacement — replace $n$ distinct non-stop words with a random synonym;
* **RI** random insertion — $n$ times, insert a synonym of a random non-stop word at a random position;
* **RS** random swap — $n$ times, swap two random positions;
* **RD** random deletion — delete each word independently with probability $p$ (keep one if all go).

$\alpha = 0$ (or $p = 0$) turns an operation off. Paper defaults: $\alpha = p = 0.1$ and 9 augmented
sentences per original; for ~500 training sentences it recommends $\alpha = 0.05$ and 16, for 5,000+
$\alpha = 0.1$ and 4. **AEDA** inserts $q \sim \mathcal{U}\{1, \dots, \max(1, \lfloor \ell/3 \rfloor)\}$
punctuation marks from ``. , ! ? ; :`` before $q$ distinct random words.

Word-level operations take and return ``list[str]`` (a new list; the caller's is never changed) and
draw every random number from the ``rng`` they are given, so a seed reproduces a run whatever
``PYTHONHASHSEED`` is. Words keep attached punctuation and capitalisation: in ``"Dog."`` the
synonym replaces ``Dog`` and becomes ``"Hound."``. Sentence-level :func:`eda` and :func:`aeda` never
return an empty sentence; a blank input gives ``[]`` (nothing to augment).
"""

from __future__ import annotations

import math
import random
import re
from typing import Collection, Sequence

from llmcourse.augment.synonyms import SynonymSource, as_synonym_source

__all__ = [
    "STOP_WORDS", "PUNCTUATION", "num_changes", "synonym_replacement", "random_insertion", "random_swap",
    "random_deletion", "insert_punctuation", "eda", "aeda", "as_rng",
]

# Function words EDA never replaces and never takes synonyms of (written for this project; lower case).
# Negations are here on purpose: "not" -> "non" would flip a sentiment label.
STOP_WORDS: frozenset[str] = frozenset("""
a an the this that these those some any each every either neither both all no none other another such
i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself she her
hers herself it its itself they them their theirs themselves one ones someone anyone everyone something
anything everything nothing what which who whom whose whoever whatever
am is are was were be been being have has had having do does did doing done will would shall should can
could may might must ought
and or but nor so yet if then else than because since while whereas although though unless until whether
as of at by for from in into onto on off out over under up down to toward towards with within without
about above below across after against along among around before behind beneath beside besides between
beyond during except inside near past per through throughout upon via
not no nor never only just also too very quite rather more most less least much many few several same own
here there where when why how now again once ever still already even else
s t d ll m o re ve y don doesn didn isn aren wasn weren hasn haven hadn won wouldn shan shouldn couldn
mustn mightn needn ain
""".split())

PUNCTUATION: tuple[str, ...] = (".", ",", "!", "?", ";", ":")

_AFFIXES = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


# --------------------------------------------------------------------------- validation helpers


def _check_words(words: object, fn: str) -> None:
    if isinstance(words, str):
        raise TypeError(f"{fn}: `words` is a string; pass a list of words, e.g. {fn}(sentence.split(), ...)")
    if not isinstance(words, (list, tuple)):
        raise TypeError(f"{fn}: `words` must be a list of str, got {type(words).__name__}")
    for i, w in enumerate(words):
        if not isinstance(w, str):
            raise TypeError(f"{fn}: words[{i}] is {type(w).__name__} ({w!r}); every word must be a str")


def _check_rate(value: object, name: str, fn: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{fn}: {name} must be a number in [0, 1], got {type(value).__name__}")
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(
            f"{fn}: {name}={value!r} is outside [0, 1]; it is a fraction of the words "
            "(the EDA paper uses 0.05–0.1; 0 turns the operation off)"
        )
    return float(value)


def _check_rng(rng: object, fn: str) -> None:
    if not isinstance(rng, random.Random):
        raise TypeError(
            f"{fn}: rng must be a random.Random (e.g. random.Random(0)), got {type(rng).__name__}; "
            "passing the generator keeps runs reproducible"
        )


def _check_args(fn: str, words: object, rng: object, **rates: object) -> None:
    """The checks a word-level operation starts with, in this order: the words, each rate, the generator."""
    _check_words(words, fn)
    for name, value in rates.items():
        _check_rate(value, name, fn)
    _check_rng(rng, fn)


def as_rng(rng: random.Random | int | None) -> random.Random:
    """A ``random.Random`` from a generator (used as is), a seed, or ``None`` (fresh, unseeded)."""
    if isinstance(rng, random.Random):
        return rng
    if rng is None:
        return random.Random()
    if isinstance(rng, int) and not isinstance(rng, bool):
        return random.Random(rng)
    raise TypeError(f"rng must be a random.Random, an int seed or None, got {type(rng).__name__}")


def num_changes(alpha: float, length: int) -> int:
    r"""$n = \max(1, \lfloor \alpha \ell \rfloor)$ words to change, or 0 when $\alpha = 0$ or $\ell = 0$.

    The floor tolerates float rounding (``0.29 * 100`` is 28.999…96, which counts as 29).
    """
    if alpha == 0 or length == 0:
        return 0
    return max(1, math.floor(alpha * length + 1e-9))


def _split(token: str) -> tuple[str, str, str]:
    """``'"Dog!'`` -> ``('"', 'Dog', '!')``: leading punctuation, the word, trailing punctuation."""
    lead, core, trail = _AFFIXES.match(token).groups()
    return lead, core, trail


def _match_case(model: str, word: str) -> str:
    if len(model) > 1 and model.isupper():
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _content_words(words: Sequence[str], stop_words: Collection[str]) -> dict[str, list[int]]:
    """Distinct non-stop words (lower case) -> their positions, in order of first appearance."""
    found: dict[str, list[int]] = {}
    for i, token in enumerate(words):
        if token.isalpha():  # the common case, without the regex
            key = token.lower()
        else:
            core = _split(token)[1]
            if not any(ch.isalpha() for ch in core):
                continue
            key = core.lower()
        if key not in stop_words:
            found.setdefault(key, []).append(i)
    return found


def _stop_set(stop_words: Collection[str]) -> Collection[str]:
    if stop_words is STOP_WORDS:
        return stop_words
    if isinstance(stop_words, str):
        raise TypeError("stop_words: expected a collection of words, got a single str")
    return frozenset(w.lower() for w in stop_words)


def _options(synonyms: SynonymSource, key: str) -> list[str]:
    return [s for s in (synonyms(key) or ()) if s and s.lower() != key]


# --------------------------------------------------------------------------- the four EDA operations


def synonym_replacement(words: Sequence[str], alpha: float, synonyms: SynonymSource, rng: random.Random,
                        stop_words: Collection[str] = STOP_WORDS) -> list[str]:
    r"""SR: replace $n = \max(1, \lfloor\alpha\ell\rfloor)$ distinct non-stop words by a random synonym.

    Candidates are the distinct non-stop words, taken in a random order drawn with ``rng``; each in
    turn is replaced (at every position it occurs, keeping its case and attached punctuation) by
    ``rng.choice`` of its synonyms, until $n$ words have been replaced. Words without synonyms are
    skipped, so fewer than $n$ change when the sentence has too few. ``synonyms`` is a callable
    ``word -> [synonyms]`` (see :mod:`llmcourse.augment.synonyms`).

    >>> synonym_replacement("the quick fox".split(), 0.3, {"quick": ["fast"]}.get, random.Random(0))
    ['the', 'fast', 'fox']
    """
    _check_args("synonym_replacement", words, rng, alpha=alpha)
    stops = _stop_set(stop_words)
    new = list(words)
    n = num_changes(alpha, len(words))
    if n == 0:
        return new
    positions = _content_words(words, stops)
    candidates = list(positions)
    replaced = 0
    while candidates and replaced < n:
        j = rng.randrange(len(candidates))  # draw without replacement: a lazy shuffle
        candidates[j], candidates[-1] = candidates[-1], candidates[j]
        key = candidates.pop()
        options = _options(synonyms, key)
        if not options:
            continue
        choice = rng.choice(options)
        for i in positions[key]:
            lead, core, trail = _split(words[i])
            new[i] = lead + _match_case(core, choice) + trail
        replaced += 1
    return new


def random_insertion(words: Sequence[str], alpha: float, synonyms: SynonymSource, rng: random.Random,
                     stop_words: Collection[str] = STOP_WORDS) -> list[str]:
    r"""RI: $n$ times, insert a random synonym of a random non-stop word at a random position.

    The source word is drawn among the sentence's distinct non-stop words that have synonyms; the
    position is any of the $\ell + 1$ gaps (start and end included). The original words keep their
    order, so they are a subsequence of the result. No candidate with a synonym: unchanged copy.
    """
    _check_args("random_insertion", words, rng, alpha=alpha)
    stops = _stop_set(stop_words)
    new = list(words)
    n = num_changes(alpha, len(words))
    if n == 0:
        return new
    table = {key: opts for key in _content_words(words, stops) if (opts := _options(synonyms, key))}
    eligible = list(table)
    if not eligible:
        return new
    for _ in range(n):
        word = rng.choice(eligible)
        new.insert(rng.randint(0, len(new)), rng.choice(table[word]))
    return new


def random_swap(words: Sequence[str], alpha: float, rng: random.Random) -> list[str]:
    r"""RS: $n$ times, swap the words at two distinct random positions (fewer than 2 words: a copy)."""
    _check_args("random_swap", words, rng, alpha=alpha)
    new = list(words)
    if len(new) < 2:
        return new
    for _ in range(num_changes(alpha, len(new))):
        i, j = rng.sample(range(len(new)), 2)
        new[i], new[j] = new[j], new[i]
    return new


def random_deletion(words: Sequence[str], p: float, rng: random.Random) -> list[str]:
    r"""RD: delete each word independently with probability $p$ (``rng.random() < p``).

    Never returns an empty list for a non-empty input: if every word was deleted, one word chosen
    with ``rng`` is kept; a one-word sentence is returned as a copy. ``p = 0`` keeps everything.
    """
    _check_args("random_deletion", words, rng, p=p)
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() >= p]
    return kept if kept else [rng.choice(words)]


def insert_punctuation(words: Sequence[str], rng: random.Random,
                       punctuation: Sequence[str] = PUNCTUATION) -> list[str]:
    r"""AEDA: insert $q \sim \mathcal{U}\{1, \dots, \max(1, \lfloor \ell/3 \rfloor)\}$ marks before $q$
    distinct random words, each mark drawn from ``punctuation``. Removing the inserted marks gives back
    the input. An empty input gives ``[]``.

    >>> insert_punctuation(["a", "b", "c"], random.Random(1))
    ['a', 'b', '.', 'c']
    """
    fn = "insert_punctuation"
    _check_args(fn, words, rng)
    marks = list(punctuation)
    if not marks:
        raise ValueError(f"{fn}: punctuation is empty; give the marks to insert, e.g. ('.', ',', '!', '?', ';', ':')")
    if not words:
        return []
    q = rng.randint(1, max(1, len(words) // 3))
    before = set(rng.sample(range(len(words)), q))
    out: list[str] = []
    for i, w in enumerate(words):
        if i in before:
            out.append(rng.choice(marks))
        out.append(w)
    return out


# --------------------------------------------------------------------------- sentence level


def _check_num_aug(num_aug: object, fn: str) -> int:
    if isinstance(num_aug, bool) or not isinstance(num_aug, int) or num_aug < 0:
        raise ValueError(f"{fn}: num_aug={num_aug!r} must be an int >= 0 (augmented sentences per input)")
    return num_aug


def eda(sentence: str, *, alpha_sr: float = 0.1, alpha_ri: float = 0.1, alpha_rs: float = 0.1, p_rd: float = 0.1,
        num_aug: int = 9, synonyms=None, stop_words: Collection[str] = STOP_WORDS,
        rng: random.Random | int | None = None) -> list[str]:
    r"""``num_aug`` EDA variants of ``sentence``, each made by one operation (SR, RI, RS or RD).

    The operations with a non-zero rate take turns (from a random start) and the order is shuffled,
    so each is used ``num_aug / k`` times, ±1, for ``k`` active operations — the paper's split.
    ``synonyms``: ``None`` (WordNet if installed, else the fallback thesaurus with a notice),
    ``"wordnet"``, ``"fallback"``, a dict, or a callable. ``rng``: a ``random.Random``, a seed, or
    ``None`` (unseeded). Words are whitespace-separated; the result is re-joined with single spaces.
    A blank ``sentence`` gives ``[]``; otherwise no variant is empty.
    """
    fn = "eda"
    if not isinstance(sentence, str):
        raise TypeError(f"{fn}: sentence must be a str, got {type(sentence).__name__}")
    rates = {name: _check_rate(v, name, fn) for name, v in
             (("alpha_sr", alpha_sr), ("alpha_ri", alpha_ri), ("alpha_rs", alpha_rs), ("p_rd", p_rd))}
    _check_num_aug(num_aug, fn)
    if not any(rates.values()):
        raise ValueError(f"{fn}: every rate is 0, so no operation is on; "
                         "set at least one of alpha_sr, alpha_ri, alpha_rs, p_rd")
    words = sentence.split()
    if not words or num_aug == 0:
        return []
    gen = as_rng(rng)
    needs_synonyms = rates["alpha_sr"] > 0 or rates["alpha_ri"] > 0
    source = as_synonym_source(synonyms) if needs_synonyms else None
    stops = _stop_set(stop_words)
    ops = [name for name, v in rates.items() if v > 0]
    start = gen.randrange(len(ops))
    plan = [ops[(start + i) % len(ops)] for i in range(num_aug)]
    gen.shuffle(plan)
    out = []
    for op in plan:
        if op == "alpha_sr":
            new = synonym_replacement(words, rates[op], source, gen, stops)
        elif op == "alpha_ri":
            new = random_insertion(words, rates[op], source, gen, stops)
        elif op == "alpha_rs":
            new = random_swap(words, rates[op], gen)
        else:
            new = random_deletion(words, rates[op], gen)
        out.append(" ".join(new))
    return out


def aeda(sentence: str, *, num_aug: int = 1, punctuation: Sequence[str] = PUNCTUATION,
         rng: random.Random | int | None = None) -> list[str]:
    """``num_aug`` AEDA variants of ``sentence`` (see :func:`insert_punctuation`); blank input gives ``[]``."""
    fn = "aeda"
    if not isinstance(sentence, str):
        raise TypeError(f"{fn}: sentence must be a str, got {type(sentence).__name__}")
    _check_num_aug(num_aug, fn)
    words = sentence.split()
    if not words:
        return []
    gen = as_rng(rng)
    return [" ".join(insert_punctuation(words, gen, punctuation)) for _ in range(num_aug)]
