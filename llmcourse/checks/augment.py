r"""Graders for notebook 04 (augmentation): the four EDA operations, AEDA, and the ROUGE-L filter.

Random augmentations cannot be compared with the reference word for word (two correct answers draw
from the generator differently), so the EDA/AEDA graders check the **contract** over many seeds:

* the number of changes for a given rate ($n = \max(1, \lfloor\alpha\ell\rfloor)$; deletion rate $p$);
* stop words untouched, replacements and insertions taken from the synonym source;
* never an empty sentence, never a crash on short input, the caller's list left as it was;
* the same seed gives the same output (no global ``random``), and repeated calls with one generator
  differ (the generator is used, not re-created).

Each classic mistake has its own message. The ROUGE-L filter is deterministic and is compared with the
reference on fixed cases through :func:`llmcourse.checks.check_function`.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import math
import random
import signal
import threading
from typing import Any, Callable, Sequence

from llmcourse import augment
from llmcourse.checks import Case, Mistake, calls_reference, check_function, fail, passed, quiet, short_repr, uses

__all__ = [
    "THESAURUS", "synonyms", "check_synonym_replacement", "check_random_insertion", "check_random_swap",
    "check_random_deletion", "check_insert_punctuation", "check_rouge_l_filter",
]

# The graders' thesaurus: a few content words with synonyms, one without, and stop words *with*
# synonyms — so an answer that forgets the stop-word rule is caught replacing them.
THESAURUS: dict[str, list[str]] = {
    "quick": ["fast", "rapid", "speedy"], "brown": ["tan", "umber"], "fox": ["vixen", "reynard"],
    "jumps": ["leaps", "hops", "bounds"], "lazy": ["idle", "sluggish"], "dog": ["hound", "canine", "pooch"],
    "movie": ["film", "picture"], "great": ["excellent", "superb"], "plot": ["storyline", "story"],
    "actors": ["performers", "cast"], "sort": ["order", "arrange"], "list": ["sequence", "series"],
    "numbers": ["digits", "figures"], "reverse": ["invert", "flip"], "add": ["sum", "total"],
    "the": ["this", "that"], "over": ["above", "across"], "was": ["is", "became"], "and": ["plus", "also"],
    "in": ["inside", "within"], "a": ["one", "any"],
}


def synonyms(word: str) -> list[str]:
    """The graders' synonym source (a plain function, like the ones your code receives)."""
    return list(THESAURUS.get(word.lower(), ()))


SENTENCES = [
    "the quick brown fox jumps over the lazy dog".split(),
    "the movie was great and the plot was great".split(),  # 'great' twice: one word, two positions
    "sort the list of numbers in ascending order and reverse it".split(),
]


TIME_LIMIT = 5.0  # seconds per call of an answer; a correct one takes milliseconds


class _TooSlow(BaseException):
    """Raised by the time limit (a BaseException so `except Exception` in an answer can't swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _alarm(signum, frame):
        raise _TooSlow()

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _call(fn: Callable, name: str, words: list[str], *rest: Any, **kwargs: Any) -> list[str]:
    """Run an answer on ``words``: named failures for not implemented, errors, endless loops, mutation,
    and a result that is not a list of str. Warnings from the answer are captured (stderr costs points)."""
    before = list(words)
    shown = ", ".join([short_repr(words, 90)] + [short_repr(r, 40) for r in rest if not isinstance(r, random.Random)]
                      + [f"{k}={short_repr(v, 40)}" for k, v in kwargs.items()])
    try:
        with _time_limit(TIME_LIMIT), quiet():
            out = fn(words, *rest, **kwargs)
    except NotImplementedError:
        fail(f"✗ {name}: not implemented yet — replace `raise NotImplementedError()` with your code.")
    except _TooSlow:
        fail(f"✗ {name}: did not finish within {TIME_LIMIT:g} s on ({shown}). An endless loop? With no word that has a synonym, "
             "a loop that waits for one never ends: loop over the candidates (or a bounded number of tries) instead.")
    except Exception as exc:
        if len(words) < 2:
            fail(f"✗ {name}: crashed on a short sentence ({shown}): {type(exc).__name__}: {exc}\n"
                 "  An empty or one-word sentence is valid input: return a copy when there is nothing to do.")
        fail(f"✗ {name}: your function raised {type(exc).__name__}: {exc}\n  inputs: {shown}")
    if words != before:
        fail(f"✗ {name}: mutating the caller's list — the input {short_repr(before, 90)} became {short_repr(words, 90)}.\n"
             "  Work on a copy (`new_words = list(words)`) and return it; the caller may augment the same sentence again.")
    if not isinstance(out, list) or not all(isinstance(w, str) for w in out):
        fail(f"✗ {name}: expected a list of str (words), got {short_repr(out, 90)} on ({shown}).")
    return out


def _refuse_reference(fn: Callable, reference: Callable, name: str) -> None:
    if not callable(fn):
        fail(f"✗ {name}: expected a function, got {type(fn).__name__} — define it in the cell above and run that cell.")
    if calls_reference(fn, reference):
        fail(f"✗ {name}: your answer calls the package's `llmcourse.augment.{reference.__name__}`. "
             "Reading it is fine; this exercise asks you to write it yourself.")


def _check_seeded(fn: Callable, name: str, make: Callable[[random.Random], tuple], words: list[str]) -> None:
    """Same seed -> same output, even when the global `random` state differs between the calls."""
    state = random.getstate()
    outs = []
    try:
        for global_seed in (1, 2, 3, 4):  # an answer drawing from `random` itself sees four different states
            random.seed(global_seed)
            outs.append(_call(fn, name, list(words), *make(random.Random(7))))
    finally:
        random.setstate(state)
    a, b = outs[0], next((o for o in outs if o != outs[0]), outs[0])
    if a != b:
        fail(f"✗ {name}: not reproducible — two calls with `random.Random(7)` gave\n  {short_repr(a, 100)}\n  "
             f"{short_repr(b, 100)}\n  Draw every random number from the `rng` argument (`rng.random()`, "
             "`rng.choice(...)`, `rng.sample(...)`), never from the `random` module itself.")


def _check_variety(fn: Callable, name: str, make: Callable[[random.Random], tuple], words: list[str]) -> None:
    """Repeated calls with one generator must not all give the same augmentation."""
    rng = random.Random(3)
    outs = [tuple(_call(fn, name, list(words), *make(rng))) for _ in range(8)]
    if len(set(outs)) == 1:
        fail(f"✗ {name}: same RNG state reused so every augmentation is identical — 8 calls sharing one generator "
             f"all returned {short_repr(list(outs[0]), 90)}.\n  Use the `rng` you are given and let it advance: "
             "don't create `random.Random(seed)` inside the function or copy the generator.")


class _Salted(str):
    """A word whose hash depends on a salt, as a string's hash depends on ``PYTHONHASHSEED`` in a fresh
    process: a ``set`` of these iterates in another order for each salt, while equality, ``dict.fromkeys``
    order and sorting are unchanged. A correct answer cannot tell the salts apart."""

    salt = 0

    def __hash__(self) -> int:
        return hash((type(self).salt, str(self)))


def _salted_words(words: Sequence[str], salt: int) -> list[str]:
    cls = type(f"_Salted{salt}", (_Salted,), {"salt": salt})
    return [cls(w) for w in words]


def _check_hash_independent(fn: Callable, name: str, words: list[str], *rest: Any, with_stop_words: bool) -> None:
    """The same seed must give the same output in every process: run the answer with words (and stop
    words, synonyms) hashed as eight different ``PYTHONHASHSEED`` values would hash them."""
    outs = []
    for salt in range(8):
        salted = lambda ws, salt=salt: _salted_words(ws, salt)  # noqa: E731
        args = [synonyms_salted(salt) if r is synonyms else r for r in rest]
        kwargs = {"stop_words": frozenset(salted(augment.STOP_WORDS))} if with_stop_words else {}
        outs.append([str(w) for w in _call(fn, name, salted(words), *args, random.Random(11), **kwargs)])
    if any(o != outs[0] for o in outs):
        other = next(o for o in outs if o != outs[0])
        fail(f"✗ {name}: not reproducible across processes (set ordering) — with `random.Random(11)` the same "
             f"sentence gave\n  {short_repr(outs[0], 100)}\n  {short_repr(other, 100)}\n  when strings hash "
             "differently, as they do in every new Python process (PYTHONHASHSEED). A `set` iterates in hash order: "
             "use `dict.fromkeys(words)` for distinct words in order, and lists for synonyms.")


def synonyms_salted(salt: int) -> Callable[[str], list[str]]:
    def salted_synonyms(word: str) -> list[str]:
        return _salted_words(synonyms(word), salt)

    return salted_synonyms


def _check_alpha_zero(fn: Callable, name: str, *rest: Any) -> None:
    words = list(SENTENCES[0])
    out = _call(fn, name, list(words), 0.0, *rest, random.Random(0))
    if out != words:
        fail(f"✗ {name}: α = 0 still changes the sentence — {' '.join(words)!r} became {' '.join(out)!r}.\n"
             "  n = max(1, ⌊α·ℓ⌋) is for α > 0; with α = 0 return an unchanged copy.")


def _n(alpha: float, length: int) -> int:
    return 0 if alpha == 0 or length == 0 else max(1, math.floor(alpha * length + 1e-9))


def _changed(a: Sequence[str], b: Sequence[str]) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


# --------------------------------------------------------------------------- synonym replacement


def _sr(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS, *, skip_stops=True, every=True, one_choice=True,
        distinct=dict.fromkeys, n_rule=None, guard_alpha=True):
    """Synonym replacement, right by default; each keyword reproduces one classic mistake below."""
    new_words = list(words)
    if (guard_alpha and alpha == 0) or not words:
        return new_words
    n = n_rule(alpha, len(words)) if n_rule else max(1, math.floor(alpha * len(words)))
    candidates = [w for w in distinct(words) if not (skip_stops and w in stop_words)]
    rng.shuffle(candidates)
    replaced = 0
    for word in candidates:
        if replaced >= n:
            break
        options = synonyms(word)
        if not options:
            continue
        choice = rng.choice(options)
        first = new_words.index(word)
        new_words = [(choice if one_choice else rng.choice(options)) if w == word and (every or i == first) else w
                     for i, w in enumerate(new_words)]
        replaced += 1
    return new_words


def _sr_stop_words_replaced(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _sr(words, alpha, synonyms, rng, stop_words, skip_stops=False)


def _sr_stop_words_argument_ignored(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _sr(words, alpha, synonyms, rng, augment.STOP_WORDS)


def _sr_synonym_per_occurrence(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _sr(words, alpha, synonyms, rng, stop_words, one_choice=False)


def _sr_first_occurrence_only(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _sr(words, alpha, synonyms, rng, stop_words, every=False)


def _sr_alpha_zero_changes(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _sr(words, alpha, synonyms, rng, stop_words, guard_alpha=False)


def _sr_no_minimum_of_one(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _sr(words, alpha, synonyms, rng, stop_words, n_rule=lambda a, length: math.floor(a * length))


def _sr_rounded(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _sr(words, alpha, synonyms, rng, stop_words, n_rule=lambda a, length: max(1, round(a * length)))


def _sr_set_of_candidates(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _sr(words, alpha, synonyms, rng, stop_words, distinct=lambda ws: list(set(ws)))


SR_MISTAKES = [
    Mistake("replacing stop words", _sr_stop_words_replaced, ""),
    Mistake("the `stop_words` argument ignored", _sr_stop_words_argument_ignored, ""),
    Mistake("a different synonym at each occurrence", _sr_synonym_per_occurrence, ""),
    Mistake("not every occurrence replaced", _sr_first_occurrence_only, ""),
    Mistake("α = 0 still changes the sentence", _sr_alpha_zero_changes, ""),
    Mistake("forgot the minimum of one word", _sr_no_minimum_of_one, ""),
    Mistake("rounded α·len instead of flooring it", _sr_rounded, ""),
    Mistake("not reproducible across processes (set ordering)", _sr_set_of_candidates, ""),
]


@uses(SR_MISTAKES)
def check_synonym_replacement(fn, *, hidden: bool = False) -> None:
    """``synonym_replacement(words, alpha, synonyms, rng, stop_words=STOP_WORDS) -> list[str]``."""
    name = "synonym_replacement"
    _refuse_reference(fn, augment.synonym_replacement, name)
    cases = [(SENTENCES[0], 0.1), (SENTENCES[0], 0.3), (SENTENCES[1], 0.25), (SENTENCES[2], 0.2),
             ("the cat and the lazy dog".split(), 0.5)]  # 'cat' has no synonym: skip it, take the next word
    if hidden:
        rng = random.Random(404)
        content = [w for w in THESAURUS if w not in augment.STOP_WORDS] + ["zebra", "table"]
        for _ in range(6):
            words = rng.sample(content, 6) + rng.sample(["the", "a", "over", "and", "in", "was"], 3)
            rng.shuffle(words)
            cases.append((words, rng.choice([0.1, 0.2, 0.34, 0.5, 1.0])))
    count = 0
    custom = frozenset({"quick", "brown", "fox", "jumps", "dog"})  # the remaining candidates are stop words by default
    for words, alpha, stop_words in [(w, a, augment.STOP_WORDS) for w, a in cases] + [(SENTENCES[0], 0.2, custom)]:
        stops = [i for i, w in enumerate(words) if w in stop_words]
        positions = collections.defaultdict(list)
        for i, w in enumerate(words):
            if i not in stops:
                positions[w].append(i)
        eligible = [w for w in positions if synonyms(w)]
        expected = min(_n(alpha, len(words)), len(eligible))
        kwargs = {} if stop_words is augment.STOP_WORDS else {"stop_words": stop_words}
        for seed in range(12):
            out = _call(fn, name, list(words), alpha, synonyms, random.Random(seed), **kwargs)
            count += 1
            where = f"on {' '.join(words)!r} with alpha={alpha}{', stop_words=' + repr(sorted(stop_words)) if kwargs else ''} (seed {seed})"
            if len(out) != len(words):
                fail(f"✗ {name}: returned {len(out)} words for {len(words)} {where}: {short_repr(out, 100)}.\n"
                     "  Synonym replacement swaps words in place; it never adds or removes one.")
            bad_stop = [i for i in stops if out[i] != words[i]]
            if bad_stop:
                i = bad_stop[0]
                if kwargs:
                    fail(f"✗ {name}: the `stop_words` argument ignored — {words[i]!r} is in the stop_words you were "
                         f"given but became {out[i]!r} {where}.\n  Test `word in stop_words` (the argument), not the "
                         "module's STOP_WORDS.")
                fail(f"✗ {name}: replacing stop words — {words[i]!r} became {out[i]!r} {where}.\n"
                     "  Only words not in `stop_words` may be replaced (function words carry the grammar, and "
                     "'not' -> 'non' can flip a label).")
            diff = _changed(words, out)
            for i in diff:
                if out[i] not in synonyms(words[i]):
                    fail(f"✗ {name}: {words[i]!r} became {out[i]!r} {where}, which is not one of its synonyms "
                         f"{synonyms(words[i])}. Replace a word only by a synonym from `synonyms(word)`.")
            changed_words = {words[i] for i in diff}
            partial = [w for w in changed_words if set(positions[w]) - set(diff)]
            if partial:
                fail(f"✗ {name}: not every occurrence replaced — {partial[0]!r} occurs {len(positions[partial[0]])} "
                     f"times but was replaced only at some of them {where}. Replace every occurrence of the chosen "
                     "word (as the EDA code does).")
            mixed = [w for w in changed_words if len({out[i] for i in positions[w]}) > 1]
            if mixed:
                fail(f"✗ {name}: a different synonym at each occurrence — {mixed[0]!r} became "
                     f"{sorted({out[i] for i in positions[mixed[0]]})} {where}.\n  Draw one synonym per chosen word "
                     "and put it at every occurrence.")
            got = len(changed_words)
            if got != expected:
                n = _n(alpha, len(words))
                if got == 0 and expected == 1 and math.floor(alpha * len(words)) == 0:
                    hint = ("forgot the minimum of one word: n = max(1, ⌊α·len⌋) "
                            f"= max(1, ⌊{alpha}·{len(words)}⌋) = 1")
                elif got == round(alpha * len(words)) != n:
                    hint = f"rounded α·len instead of flooring it: n = max(1, ⌊{alpha}·{len(words)}⌋) = {n}"
                elif got < expected:
                    hint = ("too few words changed: a word without synonyms (or a stop word) does not count — "
                            "skip it and try the next candidate until n words are replaced")
                else:
                    hint = f"more words changed than n = max(1, ⌊α·len⌋) = {n}"
                fail(f"✗ {name}: {got} distinct word(s) replaced, expected {expected} {where}: {short_repr(out, 100)}.\n"
                     f"  {hint}.")
    _check_alpha_zero(fn, name, synonyms)
    _check_seeded(fn, name, lambda r: (0.3, synonyms, r), SENTENCES[0])
    _check_variety(fn, name, lambda r: (0.2, synonyms, r), SENTENCES[0])
    _check_hash_independent(fn, name, SENTENCES[2], 0.5, synonyms, with_stop_words=True)
    for words in ([], ["the"]):
        out = _call(fn, name, words, 0.5, synonyms, random.Random(0))
        if out != words:
            fail(f"✗ {name}: on {words!r} (nothing to replace) returned {short_repr(out)}; expected an unchanged copy.")
    passed(name, f"{count} augmentations: n = max(1, ⌊α·len⌋) words, every occurrence with one synonym, stop words "
                 "(yours too) kept, α = 0 unchanged, seeded in any process, caller's list intact")


# --------------------------------------------------------------------------- random insertion


def _ri(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS, *, skip_stops=True, end=True, copy=True,
        guard_alpha=True, distinct=dict.fromkeys):
    """Random insertion, right by default; each keyword reproduces one classic mistake below."""
    new_words = list(words) if copy else words
    if (guard_alpha and alpha == 0) or not words:
        return new_words
    sources = [w for w in distinct(words) if not (skip_stops and w in stop_words) and synonyms(w)]
    if not sources:
        return new_words
    for _ in range(max(1, math.floor(alpha * len(words)))):
        word = rng.choice(sources)
        new_words.insert(rng.randint(0, len(new_words) - (0 if end else 1)), rng.choice(synonyms(word)))
    return new_words


def _ri_stop_word_synonyms(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _ri(words, alpha, synonyms, rng, stop_words, skip_stops=False)


def _ri_never_at_the_end(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _ri(words, alpha, synonyms, rng, stop_words, end=False)


def _ri_in_place(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _ri(words, alpha, synonyms, rng, stop_words, copy=False)


def _ri_alpha_zero_changes(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _ri(words, alpha, synonyms, rng, stop_words, guard_alpha=False)


def _ri_set_of_sources(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _ri(words, alpha, synonyms, rng, stop_words, distinct=lambda ws: list(set(ws)))


def _ri_stop_words_argument_ignored(words, alpha, synonyms, rng, stop_words=augment.STOP_WORDS):
    return _ri(words, alpha, synonyms, rng, augment.STOP_WORDS)


RI_MISTAKES = [
    Mistake("inserting a synonym of a stop word", _ri_stop_word_synonyms, ""),
    Mistake("never inserts at the end", _ri_never_at_the_end, ""),
    Mistake("mutating the caller's list", _ri_in_place, ""),
    Mistake("α = 0 still changes the sentence", _ri_alpha_zero_changes, ""),
    Mistake("not reproducible across processes (set ordering)", _ri_set_of_sources, ""),
    Mistake("the `stop_words` argument ignored", _ri_stop_words_argument_ignored, ""),
]


@uses(RI_MISTAKES)
def check_random_insertion(fn, *, hidden: bool = False) -> None:
    """``random_insertion(words, alpha, synonyms, rng, stop_words=STOP_WORDS) -> list[str]``."""
    name = "random_insertion"
    _refuse_reference(fn, augment.random_insertion, name)
    cases = [(SENTENCES[0], 0.1), (SENTENCES[0], 0.34), (SENTENCES[1], 0.2), (SENTENCES[2], 0.5)]
    if hidden:
        cases += [("the cat and the zebra".split(), 0.4), ("quick".split(), 1.0), (SENTENCES[2][::-1], 0.3)]
    custom = frozenset({"quick", "brown", "fox", "jumps", "dog"})
    count = 0
    for words, alpha, stop_words in [(w, a, augment.STOP_WORDS) for w, a in cases] + [(SENTENCES[0], 0.2, custom)]:
        sources = [w for w in dict.fromkeys(words) if w not in stop_words and synonyms(w)]
        allowed = {s for w in sources for s in synonyms(w)}
        stop_synonyms = {s for w in words if w in stop_words for s in synonyms(w)} - allowed
        n = _n(alpha, len(words)) if sources else 0
        kwargs = {} if stop_words is augment.STOP_WORDS else {"stop_words": stop_words}
        for seed in range(12):
            out = _call(fn, name, list(words), alpha, synonyms, random.Random(seed), **kwargs)
            count += 1
            where = f"on {' '.join(words)!r} with alpha={alpha}{', stop_words=' + repr(sorted(stop_words)) if kwargs else ''} (seed {seed})"
            it = iter(out)
            if not all(w in it for w in words):
                fail(f"✗ {name}: the original words are no longer all there, in order, {where}: {short_repr(out, 100)}.\n"
                     "  Random insertion only inserts; it never replaces, drops or moves a word.")
            extra = list((collections.Counter(out) - collections.Counter(words)).elements())
            if len(out) != len(words) + n:
                hint = (" — forgot the minimum of one: n = max(1, ⌊α·len⌋)" if len(out) == len(words) and n == 1 else "")
                fail(f"✗ {name}: inserted {len(out) - len(words)} word(s), expected n = max(1, ⌊{alpha}·{len(words)}⌋) "
                     f"= {n} {where}: {short_repr(out, 100)}{hint}.")
            wrong = [w for w in extra if w not in allowed]
            if wrong:
                if kwargs:
                    fail(f"✗ {name}: the `stop_words` argument ignored — inserted {wrong[0]!r} {where}, a synonym of a "
                         "word in the stop_words you were given. Test `word in stop_words` (the argument).")
                why = ("inserting a synonym of a stop word — take the source word among the non-stop words"
                       if wrong[0] in stop_synonyms else "that is not a synonym of any (non-stop) word of the sentence")
                fail(f"✗ {name}: inserted {wrong[0]!r} {where}: {why}.")
    # where the word goes: rng.randint(0, len(new_words)) — both ends included. 1 of 4 slots is the end for
    # 3 words, so 200 seeds all missing it has probability 0.75^200 < 1e-24 for a correct answer.
    ends = collections.Counter()
    words = ["quick", "brown", "fox"]
    for seed in range(200):
        out = _call(fn, name, list(words), 0.34, synonyms, random.Random(seed))
        ends["start"] += out[0] != words[0]
        ends["end"] += out[-1] != words[-1]
    for side in ("start", "end"):
        if not ends[side]:
            fail(f"✗ {name}: never inserts at the {side} — on {words!r} with n = 1, 200 seeds never put the new word "
                 f"at the {side}. Insert at `rng.randint(0, len(new_words))`: randint includes both ends, and "
                 "position len(new_words) is after the last word.")
    for words in ([], ["the", "of", "a"], ["zebra", "table"]):  # nothing has a synonym: unchanged, and no endless loop
        out = _call(fn, name, words, 0.5, synonyms, random.Random(0))
        if out != words:
            fail(f"✗ {name}: on {words!r}, where no non-stop word has a synonym, returned {short_repr(out)}; "
                 "expected an unchanged copy.")
    _check_alpha_zero(fn, name, synonyms)
    _check_seeded(fn, name, lambda r: (0.3, synonyms, r), SENTENCES[0])
    _check_variety(fn, name, lambda r: (0.2, synonyms, r), SENTENCES[0])
    _check_hash_independent(fn, name, SENTENCES[2], 0.5, synonyms, with_stop_words=True)
    passed(name, f"{count + 200} augmentations: n synonyms of non-stop words (yours too) inserted anywhere, ends "
                 "included, originals kept in order, α = 0 unchanged, seeded in any process")


# --------------------------------------------------------------------------- random swap


def _rs(words, alpha, rng, *, distinct=True, guard_alpha=True, n_rule=None):
    """Random swap, right by default; each keyword reproduces one classic mistake below."""
    new_words = list(words)
    if (guard_alpha and alpha == 0) or len(new_words) < 2:
        return new_words
    n = n_rule(alpha, len(words)) if n_rule else max(1, math.floor(alpha * len(words)))
    for _ in range(n):
        if distinct:
            i, j = rng.sample(range(len(new_words)), 2)
        else:
            i, j = rng.randrange(len(new_words)), rng.randrange(len(new_words))
        new_words[i], new_words[j] = new_words[j], new_words[i]
    return new_words


def _rs_fresh_generator(words, alpha, rng):
    return _rs(words, alpha, random.Random(42))


def _rs_same_position_twice(words, alpha, rng):
    return _rs(words, alpha, rng, distinct=False)


def _rs_alpha_zero_changes(words, alpha, rng):
    return _rs(words, alpha, rng, guard_alpha=False)


def _rs_no_minimum_of_one(words, alpha, rng):
    return _rs(words, alpha, rng, n_rule=lambda a, length: math.floor(a * length))


def _rs_global_random(words, alpha, rng):
    return _rs(words, alpha, random)


RS_MISTAKES = [
    Mistake("same RNG state reused so every augmentation is identical", _rs_fresh_generator, ""),
    Mistake("the same position picked twice", _rs_same_position_twice, ""),
    Mistake("α = 0 still changes the sentence", _rs_alpha_zero_changes, ""),
    Mistake("forgot the minimum of one swap", _rs_no_minimum_of_one, ""),
    Mistake("not reproducible", _rs_global_random, ""),
]


@uses(RS_MISTAKES)
def check_random_swap(fn, *, hidden: bool = False) -> None:
    """``random_swap(words, alpha, rng) -> list[str]``."""
    name = "random_swap"
    _refuse_reference(fn, augment.random_swap, name)
    distinct = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9".split()
    cases = [(distinct, 0.1), (distinct, 0.3), (distinct[:5], 0.1), (SENTENCES[0], 0.2), (["a", "b"], 0.5)]
    if hidden:
        cases += [(distinct * 3, 0.2), (SENTENCES[2], 0.1), (["x", "y", "z"], 1.0)]
    count = 0
    for words, alpha in cases:
        n = _n(alpha, len(words))
        for seed in range(15):
            out = _call(fn, name, list(words), alpha, random.Random(seed))
            count += 1
            where = f"on {' '.join(words)!r} with alpha={alpha} (seed {seed})"
            if sorted(out) != sorted(words):
                fail(f"✗ {name}: the result is not a reordering of the input {where}: {short_repr(out, 100)}.\n"
                     "  A swap exchanges the words at two positions; nothing is added or lost.")
            diff = _changed(words, out)
            if len(set(words)) == len(words) and n == 1 and len(diff) != 2:
                if not diff and math.floor(alpha * len(words)) == 0:
                    fail(f"✗ {name}: forgot the minimum of one swap — nothing changed {where}: "
                         f"n = max(1, ⌊{alpha}·{len(words)}⌋) = 1.")
                fail(f"✗ {name}: {len(diff)} positions changed {where}, expected exactly 2 for n = 1 swap. "
                     + ("— the same position picked twice? A swap must exchange two *different* positions "
                        "(e.g. `i, j = rng.sample(range(len(words)), 2)`)." if not diff else
                        f"n = max(1, ⌊{alpha}·{len(words)}⌋) = 1: one swap only."))
            if len(diff) > 2 * n:
                fail(f"✗ {name}: {len(diff)} positions changed {where}; n = max(1, ⌊{alpha}·{len(words)}⌋) = {n} "
                     f"swaps move at most {2 * n} words.")
    for words in ([], ["solo"]):
        out = _call(fn, name, words, 0.5, random.Random(0))
        if out != words:
            fail(f"✗ {name}: on {words!r} returned {short_repr(out)}; with fewer than two words there is nothing to "
                 "swap: return an unchanged copy.")
    _check_alpha_zero(fn, name)
    _check_seeded(fn, name, lambda r: (0.3, r), distinct)
    _check_variety(fn, name, lambda r: (0.1, r), distinct)
    passed(name, f"{count} augmentations: n swaps of distinct positions, α = 0 unchanged, short input handled, seeded")


# --------------------------------------------------------------------------- random deletion


def _rd(words, p, rng, *, keep_if_below=False, fallback=True, fixed_count=False, first_word=False):
    """Random deletion, right by default; each keyword reproduces one classic mistake below."""
    if len(words) <= 1 and fallback:
        return list(words)
    if fixed_count:
        doomed = set(rng.sample(range(len(words)), round(p * len(words))))
        kept = [w for i, w in enumerate(words) if i not in doomed]
    elif keep_if_below:
        kept = [w for w in words if rng.random() < p]
    else:
        kept = [w for w in words if rng.random() >= p]
    if kept or not fallback:
        return kept
    return [words[0]] if first_word else [rng.choice(words)]


def _rd_one_minus_p(words, p, rng):
    return _rd(words, p, rng, keep_if_below=True)


def _rd_may_return_empty(words, p, rng):
    return _rd(words, p, rng, fallback=False)


def _rd_fixed_count(words, p, rng):
    return _rd(words, p, rng, fixed_count=True)


def _rd_first_word_kept(words, p, rng):
    return _rd(words, p, rng, first_word=True)


RD_MISTAKES = [
    Mistake("deleting with probability 1−p", _rd_one_minus_p, ""),
    Mistake("returning an empty sentence", _rd_may_return_empty, ""),
    Mistake("a fixed number of words deleted, not each word independently", _rd_fixed_count, ""),
    Mistake("the fallback word is always the first", _rd_first_word_kept, ""),
]

# The rate and independence tests below run on 500 words × 30 seeds. For a correct answer, the number of
# deletions per run is Binomial(500, p); each bound is set so a correct answer fails with probability
# ≤ 1e-6 (normal approximation): the overall rate and the rate in each fifth of the sentence within
# 5.5 standard errors, and the spread of the 30 counts within the χ²(29) quantiles at 1e-7 and 1 − 1e-7.
_RD_LENGTH, _RD_RUNS = 500, 30
_CHI2_29 = (4.78, 87.1)


@uses(RD_MISTAKES)
def check_random_deletion(fn, *, hidden: bool = False) -> None:
    """``random_deletion(words, p, rng) -> list[str]``."""
    name = "random_deletion"
    _refuse_reference(fn, augment.random_deletion, name)
    _check_seeded(fn, name, lambda r: (0.3, r), SENTENCES[0])  # first: the statistics below assume the rng is used
    _check_variety(fn, name, lambda r: (0.3, r), SENTENCES[0])
    long = [f"w{i}" for i in range(_RD_LENGTH)]
    rates = [0.1, 0.3] + ([0.05, 0.5, 0.8] if hidden else [])
    count = 0
    for p in rates:
        counts, per_block = [], [0] * 5
        for seed in range(_RD_RUNS):
            out = _call(fn, name, list(long), p, random.Random(seed))
            count += 1
            it = iter(long)
            if not all(w in it for w in out):
                fail(f"✗ {name}: the result is not the input with some words removed (p={p}, seed {seed}): "
                     f"{short_repr(out, 100)}. Random deletion keeps the surviving words in their order.")
            counts.append(len(long) - len(out))
            kept = set(out)
            for i, w in enumerate(long):
                per_block[i * 5 // len(long)] += w not in kept
        trials = _RD_RUNS * len(long)
        share, se = sum(counts) / trials, math.sqrt(p * (1 - p) / trials)
        if abs(share - p) > 5.5 * se:
            if abs(share - (1 - p)) <= 5.5 * se:
                fail(f"✗ {name}: deleting with probability 1−p — with p={p} you deleted {share:.0%} of the words.\n"
                     "  p is the probability of *deleting* a word: keep it when `rng.random() >= p` (or delete when "
                     "`rng.random() < p`).")
            fail(f"✗ {name}: with p={p} you deleted {share:.1%} of {trials:,} words; expected {p:.0%} "
                 f"(± {5.5 * se:.1%}). Delete each word independently with probability p.")
        block_se = math.sqrt(p * (1 - p) / (trials / 5))
        for b, deleted in enumerate(per_block):
            if abs(deleted / (trials / 5) - p) > 5.5 * block_se:
                fail(f"✗ {name}: deletions are not spread over the sentence — with p={p}, words {b * 100}–{b * 100 + 99} "
                     f"were deleted {deleted / (trials / 5):.0%} of the time. Every word gets the same chance p.")
        mean = sum(counts) / len(counts)
        spread = sum((c - mean) ** 2 for c in counts) / (len(long) * p * (1 - p))  # (R − 1)·s²/σ² ~ χ²(R − 1)
        if not _CHI2_29[0] <= spread <= _CHI2_29[1]:
            fail(f"✗ {name}: a fixed number of words deleted, not each word independently — with p={p} your "
                 f"{_RD_RUNS} runs on {len(long)} words deleted {sorted(set(counts))[:6]} words; independent "
                 f"deletions give a count that varies (Binomial({len(long)}, {p}), standard deviation "
                 f"{math.sqrt(len(long) * p * (1 - p)):.1f}). Draw `rng.random()` for every word.")
    fallbacks = collections.Counter()
    for seed in range(20):
        for words in (["a", "b", "c", "d", "e"], ["solo"]):
            out = _call(fn, name, list(words), 1.0, random.Random(seed))
            if not out:
                fail(f"✗ {name}: returning an empty sentence — p=1.0 on {words!r} gave []. If every word is deleted, "
                     "keep one at random (`[rng.choice(words)]`); a one-word sentence stays as it is.")
            if len(out) != 1 or out[0] not in words:
                fail(f"✗ {name}: p=1.0 on {words!r} gave {short_repr(out)}; expected a single word of the input.")
            if len(words) > 1:
                fallbacks[out[0]] += 1
    if len(fallbacks) == 1:  # a random choice of 5 gives one word 20 times with probability 5·0.2^20 ≈ 5e-14
        fail(f"✗ {name}: the fallback word is always the first — when every word of ['a', 'b', 'c', 'd', 'e'] was "
             f"deleted, 20 seeds all kept {next(iter(fallbacks))!r}. Keep `rng.choice(words)`, a random one.")
    if _call(fn, name, [], 0.5, random.Random(0)) != []:
        fail(f"✗ {name}: an empty input must give [] (there is no word to keep).")
    if _call(fn, name, list(SENTENCES[0]), 0.0, random.Random(0)) != SENTENCES[0]:
        fail(f"✗ {name}: p=0 must keep every word.")
    passed(name, f"{count} runs on {_RD_LENGTH} words at p in {rates}: each word deleted independently with "
                 "probability p (false-failure rate ≤ 1e-6 per test), never empty, random fallback, order kept, seeded")


# --------------------------------------------------------------------------- AEDA


def _aeda(words, rng, punctuation=augment.PUNCTUATION, *, q_from=1, slots=None, distinct=True, marks=None):
    """AEDA, right by default; each keyword reproduces one classic mistake below."""
    if not words:
        return []
    q = rng.randint(q_from, max(1, len(words) // 3))
    places = list(range(len(words))) if slots is None else slots(len(words))
    positions = rng.sample(places, q) if distinct else [rng.choice(places) for _ in range(q)]
    out = list(words)
    for i in sorted(positions, reverse=True):
        out.insert(i, rng.choice(list(marks or punctuation)))
    return out


def _aeda_maybe_none(words, rng, punctuation=augment.PUNCTUATION):
    return _aeda(words, rng, punctuation, q_from=0)


def _aeda_after_the_last_word(words, rng, punctuation=augment.PUNCTUATION):
    return _aeda(words, rng, punctuation, slots=lambda n: range(n + 1))


def _aeda_never_first(words, rng, punctuation=augment.PUNCTUATION):
    return _aeda(words, rng, punctuation, slots=lambda n: range(1, n) if n > 1 else range(n))


def _aeda_positions_repeat(words, rng, punctuation=augment.PUNCTUATION):
    return _aeda(words, rng, punctuation, distinct=False)


def _aeda_fixed_marks(words, rng, punctuation=augment.PUNCTUATION):
    return _aeda(words, rng, punctuation, marks=[".", ",", "!", "?", ";", ":"])


AEDA_MISTAKES = [
    Mistake("inserted no punctuation", _aeda_maybe_none, ""),
    Mistake("a mark after the last word", _aeda_after_the_last_word, ""),
    Mistake("never a mark before the first word", _aeda_never_first, ""),
    Mistake("two marks at one position", _aeda_positions_repeat, ""),
    Mistake("the `punctuation` argument ignored", _aeda_fixed_marks, ""),
]


@uses(AEDA_MISTAKES)
def check_insert_punctuation(fn, *, hidden: bool = False) -> None:
    """``insert_punctuation(words, rng, punctuation=PUNCTUATION) -> list[str]`` (AEDA)."""
    name = "insert_punctuation"
    _refuse_reference(fn, augment.insert_punctuation, name)
    marks = set(augment.PUNCTUATION)
    lengths = [12, 9, 4, 1] + ([2, 30] if hidden else [])
    count = 0
    first_marked = 0
    for length in lengths:
        words = [f"w{i}" for i in range(length)]
        hi = max(1, length // 3)
        seen = collections.Counter()
        for seed in range(200 if length == 12 else 60):
            out = _call(fn, name, list(words), random.Random(seed))
            count += 1
            where = f"on {length} words (seed {seed})"
            if [w for w in out if w not in marks] != words:
                fail(f"✗ {name}: removing the punctuation marks does not give back the input {where}: "
                     f"{short_repr(out, 100)}. AEDA only inserts marks from `punctuation`; words stay as they are.")
            q = len(out) - length
            if q == 0:
                fail(f"✗ {name}: inserted no punctuation {where}. AEDA inserts q marks with q drawn from "
                     f"1..max(1, ⌊len/3⌋) — at least one (`rng.randint(1, ...)` includes both ends).")
            if q > hi:
                fail(f"✗ {name}: inserted {q} marks {where}; at most max(1, ⌊{length}/3⌋) = {hi}.")
            if out[-1] in marks:
                fail(f"✗ {name}: a mark after the last word {where}: {short_repr(out, 100)}. Each mark goes *before* "
                     "a word, at one of the positions 0..len(words) − 1.")
            if any(a in marks and b in marks for a, b in zip(out, out[1:])):
                fail(f"✗ {name}: two marks at one position {where}: {short_repr(out, 100)}. Pick q *distinct* positions "
                     "(`rng.sample(range(len(words)), q)`), one mark before each.")
            seen[q] += 1
            first_marked += length == 12 and out[0] in marks
        if hi >= 3 and len(seen) == 1:
            fail(f"✗ {name}: always inserted {next(iter(seen))} mark(s) on {length} words over 60 seeds. Draw the "
                 f"number of marks q uniformly from 1..⌊len/3⌋ = 1..{hi}.")
        if hi >= 3 and not {1, hi} <= set(seen):
            fail(f"✗ {name}: on {length} words the number of marks ranged over {sorted(seen)} in 60 seeds; q must be "
                 f"uniform on 1..{hi}, both ends included.")
    # position 0 is one of 12 equally likely positions: P(never chosen in 200 seeds) < 0.85^200 ≈ 1e-14
    if not first_marked:
        fail(f"✗ {name}: never a mark before the first word — in 200 seeds on 12 words. Every word, the first "
             "included, can get a mark: sample positions from range(len(words)).")
    out = _call(fn, name, [f"w{i}" for i in range(9)], random.Random(0), punctuation=["|"])
    if "|" not in out or any(w in marks for w in out):
        fail(f"✗ {name}: the `punctuation` argument ignored — with punctuation=['|'] the result {short_repr(out)} did "
             "not use only '|': use the `punctuation` argument, not a hard-coded list.")
    if _call(fn, name, [], random.Random(0)) != []:
        fail(f"✗ {name}: an empty input must give [] (there is no word to put a mark before).")
    _check_seeded(fn, name, lambda r: (r,), [f"w{i}" for i in range(12)])
    _check_variety(fn, name, lambda r: (r,), [f"w{i}" for i in range(12)])
    passed(name, f"{count} augmentations: 1..⌊len/3⌋ marks from the given set before distinct words (the first "
                 "included, never after the last), words intact, seeded")


# --------------------------------------------------------------------------- the ROUGE-L filter


def _filter_only_existing(candidates, existing, threshold=0.7):
    return [c for c in candidates if all(augment.rouge_l(c, e) <= threshold for e in existing)]


def _filter_strict(candidates, existing, threshold=0.7):
    kept, pool = [], list(existing)
    for c in candidates:
        if all(augment.rouge_l(c, e) < threshold for e in pool):
            kept.append(c)
            pool.append(c)
    return kept


def _filter_inverted(candidates, existing, threshold=0.7):
    kept, pool = [], list(existing)
    for c in candidates:
        if pool and max(augment.rouge_l(c, e) for e in pool) > threshold:
            kept.append(c)
            pool.append(c)
    return kept


def _filter_mean(candidates, existing, threshold=0.7):
    kept, pool = [], list(existing)
    for c in candidates:
        if not pool or sum(augment.rouge_l(c, e) for e in pool) / len(pool) <= threshold:
            kept.append(c)
            pool.append(c)
    return kept


def _filter_self(candidates, existing, threshold=0.7):
    kept, pool = [], list(existing)
    for c in candidates:
        pool.append(c)
        if all(augment.rouge_l(c, e) <= threshold for e in pool):
            kept.append(c)
    return kept


def _rouge_l_on_characters(a, b):
    common = augment.lcs_length(a.lower(), b.lower())
    return 2 * common / (len(a) + len(b)) if a and b else 0.0


def _filter_on_characters(candidates, existing, threshold=0.7):
    kept, pool = [], list(existing)
    for c in candidates:
        if all(_rouge_l_on_characters(c, e) <= threshold for e in pool):
            kept.append(c)
            pool.append(c)
    return kept


FILTER_MISTAKES = [
    Mistake("compared only with the existing pool, not with the instructions kept so far", _filter_only_existing,
            "Two near-copies in the same batch both survive. Add each kept instruction to the pool before "
            "checking the next candidate."),
    Mistake("rejected at exactly the threshold (≥ instead of >)", _filter_strict,
            "Self-Instruct keeps an instruction when its ROUGE-L with every pooled one is ≤ 0.7; reject only when > 0.7."),
    Mistake("kept the similar instructions instead of the new ones", _filter_inverted,
            "The filter keeps a candidate when *no* pooled instruction is too similar (max ROUGE-L ≤ threshold)."),
    Mistake("used the average similarity instead of the maximum", _filter_mean,
            "One near-duplicate is enough to reject: compare with *every* pooled instruction (the maximum), not the mean."),
    Mistake("compared each candidate with itself", _filter_self,
            "A candidate has ROUGE-L 1.0 with itself, so everything is rejected: add it to the pool only after it passed."),
    Mistake("ROUGE-L on characters instead of words", _filter_on_characters,
            "ROUGE-L compares *word* sequences: the LCS of the two token lists (`augment.rouge_tokenize`), "
            "F = 2·LCS/(|a| + |b|) in words."),
]


@uses(FILTER_MISTAKES)
def check_rouge_l_filter(fn, *, hidden: bool = False) -> None:
    """``rouge_l_filter(candidates, existing, threshold=0.7) -> list[str]``."""
    seed_pool = ["Reverse the list.", "Write a haiku about autumn leaves.", "Give three synonyms for happy."]
    cases = [
        Case((["Sort the list of numbers.", "Name a red fruit."], ["Sort the list of numbers in order.", "Add two numbers."]),
             label="one candidate close to one pooled instruction"),
        Case((["Reverse the list!", "Write a haiku about autumn."], seed_pool), label="near-copies of the pool"),
        Case((["Sort the numbers in ascending order.", "Name a red fruit."], seed_pool), label="two new instructions"),
        Case((["Name a red fruit.", "Name a red fruit, please.", "Explain why the sky is blue."], seed_pool),
             label="a near-copy inside the batch"),
        Case((["a b c d e f g x y z"], ["a b c d e f g h i j"]), label="ROUGE-L exactly 0.7 (kept)"),
        Case(([], seed_pool), label="no candidates"),
        Case((["Write a poem about the sea."], []), label="empty pool"),
        Case((["Summarise the text.", "Summarize this text.", "Translate the text."], seed_pool, 0.5),
             label="threshold 0.5"),
    ]
    if hidden:
        rng = random.Random(77)
        vocab = "write sort add the a list of numbers poem story about sea cat explain why how two short".split()
        for i in range(4):
            pool = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 8))) for _ in range(6)]
            cands = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 8))) for _ in range(12)]
            cands += [pool[0], cands[0] + " now"]
            cases.append(Case((cands, pool, rng.choice([0.5, 0.7])), label=f"random batch {i + 1}"))
    check_function(fn, augment.rouge_l_filter, cases, name="rouge_l_filter", mistakes=FILTER_MISTAKES)
