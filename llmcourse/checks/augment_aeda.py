"""Graders for AEDA (punctuation insertion) and the Self-Instruct ROUGE-L filter of notebook 04, each
with the classic mistakes it names. Imported through :mod:`llmcourse.checks.augment`."""

from __future__ import annotations

import collections
import random

from llmcourse import augment
from llmcourse.checks import Case, Mistake, check_function, fail, passed, short_repr, uses
from llmcourse.checks.augment_harness import _call, _check_seeded, _check_variety, _refuse_reference


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
