"""Graders for the four EDA operations of notebook 04 — synonym replacement, random insertion, random
swap, random deletion — each with the classic mistakes it names. Imported through
:mod:`llmcourse.checks.augment`."""

from __future__ import annotations

import collections
import math
import random

from llmcourse import augment
from llmcourse.checks import Mistake, fail, passed, short_repr, uses
from llmcourse.checks.augment_harness import (SENTENCES, THESAURUS, _call, _changed, _check_alpha_zero,
                                              _check_hash_independent, _check_seeded, _check_variety, _n,
                                              _refuse_reference, synonyms)


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
