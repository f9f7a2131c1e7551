"""EDA's four operations, AEDA, and sentence-level eda/aeda: contracts, determinism, bad input."""

import collections
import os
import random
import subprocess
import sys

import pytest

from llmcourse.augment import (
    PUNCTUATION, STOP_WORDS, aeda, eda, insert_punctuation, num_changes, random_deletion, random_insertion,
    random_swap, synonym_replacement,
)

THESAURUS = {
    "quick": ["fast", "rapid"], "brown": ["tan"], "fox": ["vixen"], "jumps": ["leaps"], "lazy": ["idle"],
    "dog": ["hound", "canine"], "the": ["this"], "over": ["above"],  # stop words given synonyms on purpose
}
SENTENCE = "the quick brown fox jumps over the lazy dog".split()


def syn(word):
    return THESAURUS.get(word.lower(), [])


def changed_positions(a, b):
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


# --------------------------------------------------------------------------- n = max(1, floor(alpha * len))


@pytest.mark.parametrize("alpha,length,n", [
    (0.1, 9, 1),    # floor(0.9) = 0 -> at least 1
    (0.2, 10, 2),   # floor(2.0) = 2
    (0.29, 100, 29),  # 0.29 * 100 = 28.999999999999996 in floats, still 29
    (0.0, 10, 0),   # alpha = 0 turns the operation off
    (0.5, 0, 0),    # nothing to change in an empty sentence
    (1.0, 7, 7),
])
def test_num_changes_follows_the_paper(alpha, length, n):
    assert num_changes(alpha, length) == n


# --------------------------------------------------------------------------- synonym replacement


def test_sr_replaces_exactly_n_content_words_with_their_synonyms():
    # 9 words, alpha 0.25 -> n = floor(2.25) = 2 positions (no content word repeats)
    for seed in range(20):
        out = synonym_replacement(SENTENCE, 0.25, syn, random.Random(seed))
        diff = changed_positions(SENTENCE, out)
        assert len(out) == len(SENTENCE) and len(diff) == 2
        for i in diff:
            assert out[i] in THESAURUS[SENTENCE[i]]


def test_sr_never_touches_stop_words():
    # 'the' and 'over' have synonyms in THESAURUS but are stop words: they must survive every run
    for seed in range(30):
        out = synonym_replacement(SENTENCE, 1.0, syn, random.Random(seed))
        assert [out[i] for i in (0, 5, 6)] == ["the", "over", "the"]


def test_sr_replaces_every_occurrence_of_the_chosen_word_keeping_case_and_punctuation():
    words = ["Dog,", "dog", "runs."]
    out = synonym_replacement(words, 0.34, {"dog": ["hound"]}.get, random.Random(0))  # n = 1
    assert out == ["Hound,", "hound", "runs."]


def test_sr_with_no_synonyms_returns_an_unchanged_copy():
    words = ["zyxw", "qqq"]
    out = synonym_replacement(words, 0.5, syn, random.Random(0))
    assert out == words and out is not words


def test_sr_does_not_mutate_the_callers_list():
    words = list(SENTENCE)
    synonym_replacement(words, 0.5, syn, random.Random(0))
    assert words == SENTENCE


def test_sr_accepts_a_dict_get_as_source():
    assert synonym_replacement(["quick"], 1.0, {"quick": ["fast"]}.get, random.Random(0)) == ["fast"]


# --------------------------------------------------------------------------- random insertion


def test_ri_inserts_n_synonyms_and_keeps_the_original_order():
    # alpha 0.34 of 9 words -> n = 3 insertions; original words remain a subsequence
    for seed in range(20):
        out = random_insertion(SENTENCE, 0.34, syn, random.Random(seed))
        assert len(out) == len(SENTENCE) + 3
        it = iter(out)
        assert all(w in it for w in SENTENCE)
        extra = collections.Counter(out) - collections.Counter(SENTENCE)
        content_synonyms = {s for w, ss in THESAURUS.items() if w not in STOP_WORDS for s in ss}
        assert set(extra) <= content_synonyms  # never a synonym of a stop word ('this', 'above')


def test_ri_can_insert_at_both_ends():
    # n = 1 insertion into 2 words: any of the 3 gaps, so over 200 seeds both ends get one
    at_start = at_end = False
    for seed in range(200):
        out = random_insertion(["quick", "fox"], 0.5, syn, random.Random(seed))
        at_start |= out[0] != "quick"
        at_end |= out[-1] != "fox"
    assert at_start and at_end


def test_ri_without_candidates_returns_a_copy():
    assert random_insertion(["the", "of"], 1.0, syn, random.Random(0)) == ["the", "of"]


# --------------------------------------------------------------------------- random swap


def test_rs_is_a_permutation_with_two_positions_changed_for_one_swap():
    words = list("abcdefghij")  # distinct, 10 words, alpha 0.1 -> one swap -> exactly 2 positions differ
    for seed in range(20):
        out = random_swap(words, 0.1, random.Random(seed))
        assert sorted(out) == sorted(words) and len(changed_positions(words, out)) == 2


@pytest.mark.parametrize("words", [[], ["solo"]])
def test_rs_on_fewer_than_two_words_returns_a_copy(words):
    out = random_swap(words, 0.5, random.Random(0))
    assert out == words and out is not words


# --------------------------------------------------------------------------- random deletion


def test_rd_deletes_with_probability_p_not_one_minus_p():
    # 2,000 words at p = 0.2: deleted fraction ~ 0.2 +- 0.03 (sd = sqrt(.2*.8/2000) ~ 0.009)
    words = [f"w{i}" for i in range(2000)]
    out = random_deletion(words, 0.2, random.Random(0))
    assert 0.17 < 1 - len(out) / len(words) < 0.23


def test_rd_keeps_order_and_only_deletes():
    words = list("abcdefghijklmnop")
    out = random_deletion(words, 0.5, random.Random(3))
    it = iter(words)
    assert all(w in it for w in out)


def test_rd_never_returns_an_empty_sentence():
    words = ["a", "b", "c"]
    for seed in range(20):
        out = random_deletion(words, 1.0, random.Random(seed))  # everything deleted -> one word kept
        assert len(out) == 1 and out[0] in words


def test_rd_on_one_word_or_empty_returns_a_copy():
    assert random_deletion(["solo"], 1.0, random.Random(0)) == ["solo"]
    assert random_deletion([], 0.5, random.Random(0)) == []


def test_rd_with_p_zero_keeps_everything():
    assert random_deletion(SENTENCE, 0.0, random.Random(0)) == SENTENCE


# --------------------------------------------------------------------------- AEDA


def test_aeda_inserts_between_1_and_len_over_3_marks_and_nothing_else():
    words = [f"w{i}" for i in range(12)]  # up to floor(12/3) = 4 marks
    counts = collections.Counter()
    for seed in range(300):
        out = insert_punctuation(words, random.Random(seed))
        added = [w for w in out if w in PUNCTUATION]
        assert [w for w in out if w not in PUNCTUATION] == words
        counts[len(added)] += 1
    assert set(counts) == {1, 2, 3, 4}  # q is uniform on 1..4: each value shows up in 300 draws


def test_aeda_never_puts_two_marks_in_one_gap_and_never_at_the_end():
    words = [f"w{i}" for i in range(9)]
    for seed in range(100):
        out = insert_punctuation(words, random.Random(seed))
        assert out[-1] == "w8"
        assert not any(a in PUNCTUATION and b in PUNCTUATION for a, b in zip(out, out[1:]))


def test_aeda_on_short_and_empty_input():
    assert insert_punctuation([], random.Random(0)) == []
    out = insert_punctuation(["hi"], random.Random(0))  # max(1, 0) = 1 mark before the only word
    assert len(out) == 2 and out[0] in PUNCTUATION and out[1] == "hi"


def test_aeda_uses_the_given_marks():
    out = insert_punctuation(list("abcdefghi"), random.Random(0), punctuation=["|"])
    assert "|" in out


# --------------------------------------------------------------------------- sentence level


def test_eda_returns_num_aug_non_empty_variants():
    out = eda("The quick brown fox jumps over the lazy dog", num_aug=9, synonyms=THESAURUS, rng=0)
    assert len(out) == 9 and all(s.strip() for s in out)


def test_eda_splits_work_evenly_between_operations():
    # 8 augmentations with only RS and RD on -> 4 each; RS keeps the length, RD (p=0.5) shortens it
    sentence = " ".join(f"w{i}" for i in range(20))
    out = eda(sentence, alpha_sr=0, alpha_ri=0, alpha_rs=0.1, p_rd=0.5, num_aug=8, rng=1)
    lengths = [len(s.split()) for s in out]
    assert lengths.count(20) == 4


def test_eda_same_seed_same_output_and_different_seeds_differ():
    a = eda("The quick brown fox jumps over the lazy dog", synonyms=THESAURUS, rng=123)
    b = eda("The quick brown fox jumps over the lazy dog", synonyms=THESAURUS, rng=random.Random(123))
    c = eda("The quick brown fox jumps over the lazy dog", synonyms=THESAURUS, rng=124)
    assert a == b and a != c


def test_eda_does_not_touch_global_random_state():
    state = random.getstate()
    eda("The quick brown fox jumps over the lazy dog", synonyms=THESAURUS, rng=5)
    assert random.getstate() == state


def test_eda_is_independent_of_python_hash_seed():
    # sets of strings iterate in a hash-seed-dependent order; the original EDA code depends on it
    code = ("from llmcourse.augment import eda; "
            "print(eda('the quick brown fox jumps over the lazy dog dog fox', num_aug=6, "
            "synonyms={'quick':['fast','rapid'],'fox':['vixen','tod'],'dog':['hound','cur']}, rng=7))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": s}).stdout for s in ("1", "2", "3")}
    assert len(outs) == 1


@pytest.mark.parametrize("sentence", ["", "   ", "\n\t"])
def test_eda_and_aeda_on_blank_input_return_no_variants(sentence):
    assert eda(sentence, synonyms=THESAURUS, rng=0) == [] and aeda(sentence, rng=0) == []


@pytest.mark.parametrize("sentence", ["!!! ...", "word", "?"])
def test_eda_on_punctuation_only_or_one_word_never_crashes_nor_returns_empty(sentence):
    out = eda(sentence, synonyms=THESAURUS, num_aug=8, rng=0)
    assert len(out) == 8 and all(s.strip() for s in out)


def test_eda_handles_non_ascii_words():
    table = {"café": ["bistro"], "naïve": ["ingenuous"], "größe": ["umfang"]}
    out = eda("Le café naïve größe 東京 😀", alpha_sr=0.5, alpha_ri=0, alpha_rs=0, p_rd=0, num_aug=3,
              synonyms=table, rng=0)
    assert len(out) == 3 and all("東京" in s and "😀" in s for s in out)
    assert any("Bistro" in s or "ingenuous" in s or "umfang" in s for s in out)


def test_eda_on_very_long_text_is_fast_and_changes_about_alpha_of_it():
    words = [f"w{i}" for i in range(20_000)]
    out = eda(" ".join(words), alpha_sr=0, alpha_ri=0, alpha_rs=0.1, p_rd=0, num_aug=1, rng=0)[0].split()
    assert sorted(out) == sorted(words)
    assert 0 < len(changed_positions(words, out)) <= 2 * 2000  # 2,000 swaps move at most 4,000 positions


@pytest.mark.parametrize("kwargs", [dict(alpha_sr=1.5), dict(p_rd=-0.1), dict(alpha_ri=float("nan"))])
def test_eda_rejects_rates_outside_0_1(kwargs):
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        eda("a b c", synonyms=THESAURUS, rng=0, **kwargs)


def test_eda_with_every_rate_zero_says_so():
    with pytest.raises(ValueError, match="every rate is 0"):
        eda("a b c", alpha_sr=0, alpha_ri=0, alpha_rs=0, p_rd=0)


def test_operations_reject_a_string_instead_of_a_word_list():
    with pytest.raises(TypeError, match=r"sentence\.split\(\)"):
        random_swap("a b c", 0.5, random.Random(0))


def test_operations_reject_a_missing_rng():
    with pytest.raises(TypeError, match="random.Random"):
        random_deletion(["a", "b"], 0.5, 0)


@pytest.mark.parametrize("alpha", [-0.01, 1.01])
def test_operations_reject_alpha_outside_0_1(alpha):
    with pytest.raises(ValueError, match="alpha"):
        synonym_replacement(["a"], alpha, syn, random.Random(0))


def test_eda_with_a_custom_stop_word_list():
    # with no stop words, 'the' (synonym 'this') becomes replaceable
    seen = set()
    for seed in range(30):
        seen |= set(eda("the dog", alpha_sr=1.0, alpha_ri=0, alpha_rs=0, p_rd=0, num_aug=1, synonyms=THESAURUS,
                        stop_words=[], rng=seed)[0].split())
    assert "this" in seen
