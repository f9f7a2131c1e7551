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
import warnings
from typing import Any, Callable, Sequence

from llmcourse import augment
from llmcourse.checks import Case, Mistake, calls_reference, check_function, fail, passed, short_repr

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
        with _time_limit(TIME_LIMIT), warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
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


def _n(alpha: float, length: int) -> int:
    return 0 if alpha == 0 or length == 0 else max(1, math.floor(alpha * length + 1e-9))


def _changed(a: Sequence[str], b: Sequence[str]) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


# --------------------------------------------------------------------------- synonym replacement


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
    for words, alpha in cases:
        stops = [i for i, w in enumerate(words) if w in augment.STOP_WORDS]
        positions = collections.defaultdict(list)
        for i, w in enumerate(words):
            if i not in stops:
                positions[w].append(i)
        eligible = [w for w in positions if synonyms(w)]
        expected = min(_n(alpha, len(words)), len(eligible))
        for seed in range(12):
            out = _call(fn, name, list(words), alpha, synonyms, random.Random(seed))
            count += 1
            where = f"on {' '.join(words)!r} with alpha={alpha} (seed {seed})"
            if len(out) != len(words):
                fail(f"✗ {name}: returned {len(out)} words for {len(words)} {where}: {short_repr(out, 100)}.\n"
                     "  Synonym replacement swaps words in place; it never adds or removes one.")
            bad_stop = [i for i in stops if out[i] != words[i]]
            if bad_stop:
                i = bad_stop[0]
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
                fail(f"✗ {name}: {partial[0]!r} occurs {len(positions[partial[0]])} times but was replaced only at "
                     f"some of them {where}. Replace every occurrence of the chosen word (as the EDA code does).")
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
    _check_seeded(fn, name, lambda r: (0.3, synonyms, r), SENTENCES[0])
    _check_variety(fn, name, lambda r: (0.2, synonyms, r), SENTENCES[0])
    for words in ([], ["the"]):
        out = _call(fn, name, words, 0.5, synonyms, random.Random(0))
        if out != words:
            fail(f"✗ {name}: on {words!r} (nothing to replace) returned {short_repr(out)}; expected an unchanged copy.")
    passed(name, f"{count} augmentations: n = max(1, ⌊α·len⌋) words, stop words kept, seeded, caller's list intact")


# --------------------------------------------------------------------------- random insertion


def check_random_insertion(fn, *, hidden: bool = False) -> None:
    """``random_insertion(words, alpha, synonyms, rng, stop_words=STOP_WORDS) -> list[str]``."""
    name = "random_insertion"
    _refuse_reference(fn, augment.random_insertion, name)
    cases = [(SENTENCES[0], 0.1), (SENTENCES[0], 0.34), (SENTENCES[1], 0.2), (SENTENCES[2], 0.5)]
    if hidden:
        cases += [("the cat and the zebra".split(), 0.4), ("quick".split(), 1.0), (SENTENCES[2][::-1], 0.3)]
    count = 0
    for words, alpha in cases:
        sources = [w for w in dict.fromkeys(words) if w not in augment.STOP_WORDS and synonyms(w)]
        allowed = {s for w in sources for s in synonyms(w)}
        stop_synonyms = {s for w in words if w in augment.STOP_WORDS for s in synonyms(w)} - allowed
        n = _n(alpha, len(words)) if sources else 0
        for seed in range(12):
            out = _call(fn, name, list(words), alpha, synonyms, random.Random(seed))
            count += 1
            where = f"on {' '.join(words)!r} with alpha={alpha} (seed {seed})"
            it = iter(out)
            if not all(w in it for w in words):
                fail(f"✗ {name}: the original words are no longer all there, in order, {where}: {short_repr(out, 100)}.\n"
                     "  Random insertion only inserts; it never replaces, drops or moves a word.")
            extra = list((collections.Counter(out) - collections.Counter(words)).elements())
            if len(out) != len(words) + n:
                fail(f"✗ {name}: inserted {len(out) - len(words)} word(s), expected n = max(1, ⌊{alpha}·{len(words)}⌋) "
                     f"= {n} {where}: {short_repr(out, 100)}.")
            wrong = [w for w in extra if w not in allowed]
            if wrong:
                why = ("inserting a synonym of a stop word — take the source word among the non-stop words"
                       if wrong[0] in stop_synonyms else "that is not a synonym of any (non-stop) word of the sentence")
                fail(f"✗ {name}: inserted {wrong[0]!r} {where}: {why}.")
    for words in ([], ["the", "of", "a"], ["zebra", "table"]):  # nothing has a synonym: unchanged, and no endless loop
        out = _call(fn, name, words, 0.5, synonyms, random.Random(0))
        if out != words:
            fail(f"✗ {name}: on {words!r}, where no non-stop word has a synonym, returned {short_repr(out)}; "
                 "expected an unchanged copy.")
    _check_seeded(fn, name, lambda r: (0.3, synonyms, r), SENTENCES[0])
    _check_variety(fn, name, lambda r: (0.2, synonyms, r), SENTENCES[0])
    passed(name, f"{count} augmentations: n synonyms of non-stop words inserted, originals kept in order, seeded")


# --------------------------------------------------------------------------- random swap


def check_random_swap(fn, *, hidden: bool = False) -> None:
    """``random_swap(words, alpha, rng) -> list[str]``."""
    name = "random_swap"
    _refuse_reference(fn, augment.random_swap, name)
    distinct = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9".split()
    cases = [(distinct, 0.1), (distinct, 0.3), (SENTENCES[0], 0.2), (["a", "b"], 0.5)]
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
                fail(f"✗ {name}: {len(diff)} positions changed {where}, expected exactly 2 for n = 1 swap. "
                     + ("Picked the same position twice? A swap must exchange two *different* positions "
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
    _check_seeded(fn, name, lambda r: (0.3, r), distinct)
    _check_variety(fn, name, lambda r: (0.1, r), distinct)
    passed(name, f"{count} augmentations: n swaps of distinct positions, short input handled, seeded")


# --------------------------------------------------------------------------- random deletion


def check_random_deletion(fn, *, hidden: bool = False) -> None:
    """``random_deletion(words, p, rng) -> list[str]``."""
    name = "random_deletion"
    _refuse_reference(fn, augment.random_deletion, name)
    long = [f"w{i}" for i in range(500)]
    rates = [0.1, 0.3] + ([0.05, 0.5, 0.8] if hidden else [])
    count = 0
    for p in rates:
        deleted = 0
        for seed in range(4):
            out = _call(fn, name, list(long), p, random.Random(seed))
            count += 1
            it = iter(long)
            if not all(w in it for w in out):
                fail(f"✗ {name}: the result is not the input with some words removed (p={p}, seed {seed}): "
                     f"{short_repr(out, 100)}. Random deletion keeps the surviving words in their order.")
            deleted += len(long) - len(out)
        share = deleted / (4 * len(long))
        if abs(share - p) > 0.03 + 0.1 * p:
            if abs(share - (1 - p)) <= 0.03 + 0.1 * (1 - p):
                fail(f"✗ {name}: deleting with probability 1−p — with p={p} you deleted {share:.0%} of the words.\n"
                     "  p is the probability of *deleting* a word: keep it when `rng.random() >= p` (or delete when "
                     "`rng.random() < p`).")
            fail(f"✗ {name}: with p={p} you deleted {share:.0%} of 2,000 words; expected about {p:.0%}. "
                 "Delete each word independently with probability p.")
    for seed in range(10):
        for words in (["a", "b", "c", "d", "e"], ["solo"]):
            out = _call(fn, name, list(words), 1.0, random.Random(seed))
            if not out:
                fail(f"✗ {name}: returning an empty sentence — p=1.0 on {words!r} gave []. If every word is deleted, "
                     "keep one at random (`[rng.choice(words)]`); a one-word sentence stays as it is.")
            if len(out) != 1 or out[0] not in words:
                fail(f"✗ {name}: p=1.0 on {words!r} gave {short_repr(out)}; expected a single word of the input.")
    if _call(fn, name, [], 0.5, random.Random(0)) != []:
        fail(f"✗ {name}: an empty input must give [] (there is no word to keep).")
    if _call(fn, name, list(SENTENCES[0]), 0.0, random.Random(0)) != SENTENCES[0]:
        fail(f"✗ {name}: p=0 must keep every word.")
    _check_seeded(fn, name, lambda r: (0.3, r), SENTENCES[0])
    _check_variety(fn, name, lambda r: (0.3, r), SENTENCES[0])
    passed(name, f"{count} runs on 500 words at p in {rates}: rate ≈ p, never empty, order kept, seeded")


# --------------------------------------------------------------------------- AEDA


def check_insert_punctuation(fn, *, hidden: bool = False) -> None:
    """``insert_punctuation(words, rng, punctuation=PUNCTUATION) -> list[str]`` (AEDA)."""
    name = "insert_punctuation"
    _refuse_reference(fn, augment.insert_punctuation, name)
    marks = set(augment.PUNCTUATION)
    lengths = [12, 9, 4, 1] + ([2, 30] if hidden else [])
    count = 0
    for length in lengths:
        words = [f"w{i}" for i in range(length)]
        hi = max(1, length // 3)
        seen = collections.Counter()
        for seed in range(60):
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
            seen[q] += 1
        if hi >= 3 and len(seen) == 1:
            fail(f"✗ {name}: always inserted {next(iter(seen))} mark(s) on {length} words over 60 seeds. Draw the "
                 f"number of marks q uniformly from 1..⌊len/3⌋ = 1..{hi}.")
        if hi >= 3 and not {1, hi} <= set(seen):
            fail(f"✗ {name}: on {length} words the number of marks ranged over {sorted(seen)} in 60 seeds; q must be "
                 f"uniform on 1..{hi}, both ends included.")
    out = _call(fn, name, [f"w{i}" for i in range(9)], random.Random(0), punctuation=["|"])
    if "|" not in out or any(w in marks for w in out):
        fail(f"✗ {name}: with punctuation=['|'] the result {short_repr(out)} did not use only '|': use the "
             "`punctuation` argument, not a hard-coded list.")
    if _call(fn, name, [], random.Random(0)) != []:
        fail(f"✗ {name}: an empty input must give [] (there is no word to put a mark before).")
    _check_seeded(fn, name, lambda r: (r,), [f"w{i}" for i in range(12)])
    _check_variety(fn, name, lambda r: (r,), [f"w{i}" for i in range(12)])
    passed(name, f"{count} augmentations: 1..⌊len/3⌋ marks from the given set, words intact, seeded")


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
]


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
