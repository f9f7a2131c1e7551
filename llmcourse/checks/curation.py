r"""Graders for the data-curation notebook: word shingles, Jaccard, a MinHash signature, the LSH
candidate probability, and n-gram decontamination.

Each grader compares the answer with the package's reference (:mod:`llmcourse.curation`) on fixed cases
chosen so that every classic mistake below gives a different answer from the reference, and names the
mistake when one explains every failing case.
"""

from __future__ import annotations

import numpy as np

from llmcourse.checks import Case, Mistake, check_function, uses
from llmcourse.curation import decontam, dedup

__all__ = ["check_word_shingles", "check_jaccard", "check_minhash_signature", "check_lsh_candidate_probability",
           "check_is_contaminated"]

# --------------------------------------------------------------------------- word shingles


def _shingles_case_kept(text, k=5):
    w = text.split()
    if not w:
        return set()
    if len(w) < k:
        return {" ".join(w)}
    return {" ".join(w[i:i + k]) for i in range(len(w) - k + 1)}


def _shingles_disjoint(text, k=5):
    w = text.lower().split()
    if not w:
        return set()
    if len(w) < k:
        return {" ".join(w)}
    return {" ".join(w[i:i + k]) for i in range(0, len(w), k)}


def _shingles_last_dropped(text, k=5):
    w = text.lower().split()
    if not w:
        return set()
    if len(w) < k:
        return {" ".join(w)}
    return {" ".join(w[i:i + k]) for i in range(len(w) - k)}


def _shingles_short_empty(text, k=5):
    w = text.lower().split()
    return {" ".join(w[i:i + k]) for i in range(len(w) - k + 1)}


def _shingles_characters(text, k=5):
    t = text.lower()
    if not t:
        return set()
    if len(t) < k:
        return {t}
    return {t[i:i + k] for i in range(len(t) - k + 1)}


SHINGLE_MISTAKES = [
    Mistake("case kept", _shingles_case_kept,
            "Lower-case the text first: 'The list' and 'the list' are the same words on two pages."),
    Mistake("non-overlapping shingles", _shingles_disjoint,
            "Shingles overlap: start one at every word (step 1), not every k words."),
    Mistake("last shingle dropped", _shingles_last_dropped,
            "A text of n words has n − k + 1 shingles: range(len(words) - k + 1)."),
    Mistake("short text gives no shingle", _shingles_short_empty,
            "A text with fewer than k words (but at least one) is one shingle, the whole text — "
            "otherwise every short page looks unlike its own copy."),
    Mistake("character shingles", _shingles_characters,
            "Shingle words (text.lower().split()), not characters."),
]


@uses(SHINGLE_MISTAKES)
def check_word_shingles(fn, *, hidden: bool = False) -> None:
    cases = [
        Case(("The cat sat on the mat today", 3), label="7 words, k = 3"),
        Case(("sort the list 3 1 4 now", 2), label="7 words, k = 2"),
        Case(("Reverse the list", 5), label="3 words, k = 5 (shorter than k)"),
        Case(("", 5), label="empty text"),
    ]
    if hidden:
        cases += [Case(("a b c d e f g h i j", 5), label="10 words, k = 5"),
                  Case(("Word " * 6, 2), label="one word repeated"),
                  Case(("x", 1), label="one word, k = 1")]
    check_function(fn, dedup.word_shingles, cases, name="word_shingles", mistakes=SHINGLE_MISTAKES)


# --------------------------------------------------------------------------- Jaccard


def _jaccard_min(a, b):
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _jaccard_sum(a, b):
    return len(a & b) / (len(a) + len(b)) if a or b else 0.0


def _jaccard_first(a, b):
    return len(a & b) / len(a) if a else 0.0


JACCARD_MISTAKES = [
    Mistake("divided by the smaller set", _jaccard_min,
            "That is the overlap coefficient: divide by |A ∪ B|, the union."),
    Mistake("divided by |A| + |B|", _jaccard_sum,
            "|A| + |B| counts the shared elements twice: divide by |A ∪ B| = |A| + |B| − |A ∩ B|."),
    Mistake("divided by |A|", _jaccard_first,
            "Jaccard is symmetric: divide by the union, not by the first set's size."),
]


@uses(JACCARD_MISTAKES)
def check_jaccard(fn, *, hidden: bool = False) -> None:
    cases = [
        Case(({1, 2, 3}, {2, 3, 4, 5}), label="{1,2,3} vs {2,3,4,5}"),
        Case(({"a b", "b c"}, {"a b", "b c", "c d", "d e"}), label="a subset"),
        Case(({1, 2, 3, 4, 5}, {4, 5, 6}), label="the larger set first"),
        Case(({1, 2}, {3}), label="disjoint"),
        Case((set(), set()), label="two empty sets (similarity 0.0)"),
    ]
    if hidden:
        rng = np.random.default_rng(7)
        for i in range(3):
            a, b = set(rng.integers(0, 30, 12).tolist()), set(rng.integers(0, 30, 20).tolist())
            cases.append(Case((a, b), label=f"random sets {i}"))
        cases.append(Case(({"x"}, {"x"}), label="identical"))
    check_function(fn, dedup.jaccard, cases, name="jaccard", mistakes=JACCARD_MISTAKES)


# --------------------------------------------------------------------------- MinHash signature

P = dedup.MERSENNE_P


def _minhash_max(hashes, a, b):
    hashes = np.asarray(hashes, dtype=np.uint64)
    if hashes.size == 0:
        return np.full(len(a), P, dtype=np.uint64)
    return ((hashes[:, None] * a[None, :] + b[None, :]) % np.uint64(P)).max(axis=0)


def _minhash_no_mod(hashes, a, b):
    hashes = np.asarray(hashes, dtype=np.uint64)
    if hashes.size == 0:
        return np.full(len(a), P, dtype=np.uint64)
    return (hashes[:, None] * a[None, :] + b[None, :]).min(axis=0)


def _minhash_min_hash_then_permute(hashes, a, b):
    hashes = np.asarray(hashes, dtype=np.uint64)
    if hashes.size == 0:
        return np.full(len(a), P, dtype=np.uint64)
    return (hashes.min() * a + b) % np.uint64(P)


def _minhash_empty_zeros(hashes, a, b):
    hashes = np.asarray(hashes, dtype=np.uint64)
    if hashes.size == 0:
        return np.zeros(len(a), dtype=np.uint64)
    return ((hashes[:, None] * a[None, :] + b[None, :]) % np.uint64(P)).min(axis=0)


MINHASH_MISTAKES = [
    Mistake("max instead of min", _minhash_max, "MinHash keeps the *smallest* hash value of each function: .min(axis=0)."),
    Mistake("mod p forgotten", _minhash_no_mod,
            "Take (a·x + b) mod p: without the modulus the order of the values is just the order of x "
            "and every function picks the same shingle."),
    Mistake("min taken before hashing", _minhash_min_hash_then_permute,
            "Hash every shingle with each function, then take the minimum per function — the minimum of x "
            "itself is one shingle for all functions."),
    Mistake("empty set gives zeros", _minhash_empty_zeros,
            "An empty set's signature is p in every entry: zeros would match every other empty page *and* any "
            "page whose minimum happens to be 0."),
]


def _minhash_cases(hidden: bool) -> list[Case]:
    a, b = dedup.minhash_permutations(8, seed=3)
    rng = np.random.default_rng(0)
    cases = [
        Case((np.array([5, 17, 123456], dtype=np.uint64), a, b), label="three shingle hashes, 8 functions"),
        Case((dedup.shingle_hashes(dedup.word_shingles("the quick brown fox jumps over the lazy dog", 3)), a, b),
             label="a sentence's 3-shingles"),
        Case((np.array([], dtype=np.uint64), a, b), label="an empty set"),
    ]
    if hidden:
        a2, b2 = dedup.minhash_permutations(32, seed=11)
        cases += [Case((rng.integers(0, P, 50, dtype=np.uint64), a2, b2), label="50 random hashes, 32 functions"),
                  Case((np.array([P - 1], dtype=np.uint64), a2, b2), label="one hash, the largest (p − 1)")]
    return cases


@uses(MINHASH_MISTAKES)
def check_minhash_signature(fn, *, hidden: bool = False) -> None:
    check_function(fn, dedup.minhash_signature, _minhash_cases(hidden), name="minhash_signature",
                   mistakes=MINHASH_MISTAKES)


# --------------------------------------------------------------------------- LSH candidate probability


def _lsh_swapped(s, bands, rows):
    return 1.0 - (1.0 - s ** bands) ** rows


def _lsh_miss(s, bands, rows):
    return (1.0 - s ** rows) ** bands


def _lsh_all_bands(s, bands, rows):
    return s ** (rows * bands)


def _lsh_one_row(s, bands, rows):
    return 1.0 - (1.0 - s) ** bands


LSH_MISTAKES = [
    Mistake("bands and rows swapped", _lsh_swapped,
            "A band matches when all r rows agree (s^r); the pair is a candidate when any of the b bands matches."),
    Mistake("probability of being missed", _lsh_miss,
            "(1 − s^r)^b is the chance that *no* band matches: the candidate probability is 1 minus it."),
    Mistake("every band must match", _lsh_all_bands,
            "One matching band is enough (OR over bands): 1 − (1 − s^r)^b, not s^(rb)."),
    Mistake("rows ignored", _lsh_one_row,
            "A band is r rows that must *all* agree: use s^r inside, not s."),
]


@uses(LSH_MISTAKES)
def check_lsh_candidate_probability(fn, *, hidden: bool = False) -> None:
    cases = [
        Case((0.8, 20, 5), label="s = 0.8, b = 20, r = 5"),
        Case((0.3, 20, 5), label="s = 0.3, b = 20, r = 5"),
        Case((0.5, 4, 2), label="s = 0.5, b = 4, r = 2"),
    ]
    if hidden:
        cases += [Case((0.75, 32, 4), label="s = 0.75, b = 32, r = 4"),
                  Case((np.linspace(0.05, 0.95, 7), 16, 3), label="an array of similarities, b = 16, r = 3")]
    check_function(fn, dedup.lsh_candidate_probability, cases, name="lsh_candidate_probability",
                   mistakes=LSH_MISTAKES, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- decontamination


def _contaminated_split(text, eval_index):
    toks = text.lower().split()
    for m in {len(g) for g in eval_index}:
        if any(tuple(toks[i:i + m]) in eval_index for i in range(len(toks) - m + 1)):
            return True
    return False


def _contaminated_longest_only(text, eval_index):
    toks = decontam.tokenize(text)
    m = max(len(g) for g in eval_index)
    return any(tuple(toks[i:i + m]) in eval_index for i in range(len(toks) - m + 1))


def _contaminated_last_window_missed(text, eval_index):
    toks = decontam.tokenize(text)
    for m in {len(g) for g in eval_index}:
        if any(tuple(toks[i:i + m]) in eval_index for i in range(len(toks) - m)):
            return True
    return False


CONTAMINATION_MISTAKES = [
    Mistake("split on spaces instead of tokenize", _contaminated_split,
            "Use tokenize(text): lower-cased words *and* punctuation, so 'list.' matches the index's 'list', '.'."),
    Mistake("only windows of the longest length", _contaminated_longest_only,
            "Evaluation texts shorter than n are in the index whole: check windows of every length the index holds."),
    Mistake("last window missed", _contaminated_last_window_missed,
            "A text of T tokens has T − m + 1 windows of length m: range(len(tokens) - m + 1)."),
]


def _contamination_cases(hidden: bool) -> list[Case]:
    from llmcourse.curation.crawl import problem_text
    from llmcourse.tasks import Problem

    short = Problem("reverse", (3, 1, 4))              # 11 tokens: enters the index whole
    long_ = Problem("count", (1, 2, 3, 4, 5, 6))         # 15 tokens: enters as 13-grams
    index = decontam.eval_ngram_index([problem_text(short), problem_text(long_)], n=13)
    cases = [
        Case(("Practice question: Reverse the list. 3 1 4 = 4 1 3.", index), label="a short problem quoted"),
        Case(("Homework. How many numbers are in the list? 1 2 3 4 5 6 = 6", index),
             label="a long problem at the very end"),
        Case(("reverse the list . 3 1 4 = 4 1 3", index), label="exactly the evaluation text"),
        Case(("Reverse the list. 3 1 4 5 = 5 4 1 3", index), label="a different problem (not contaminated)"),
    ]
    if hidden:
        cases += [Case(("HOW MANY NUMBERS ARE IN THE LIST? 1 2 3 4 5 6", index), label="upper case, no answer"),
                  Case(("nothing to see here", index), label="clean text"),
                  Case(("", index), label="empty text")]
    return cases


@uses(CONTAMINATION_MISTAKES)
def check_is_contaminated(fn, *, hidden: bool = False) -> None:
    check_function(fn, decontam.is_contaminated, _contamination_cases(hidden), name="is_contaminated",
                   mistakes=CONTAMINATION_MISTAKES)
