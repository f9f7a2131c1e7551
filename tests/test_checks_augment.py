"""Graders of notebook 04: the reference passes (visible and hidden); each classic mistake is named."""

import math
import random
import types

import pytest

from llmcourse import augment
from llmcourse.checks import CheckFailure
from llmcourse.checks import augment as checks
from llmcourse.checks import augment_eda  # the classic mistakes live beside their graders
from llmcourse.augment import PUNCTUATION, STOP_WORDS


def clone(fn):
    """The reference under another identity (the graders refuse the package's own function)."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def fails_with(check, answer, *words, hidden=False):
    with pytest.raises(CheckFailure) as info:
        check(answer, hidden=hidden)
    for w in words:
        assert w in str(info.value), str(info.value)
    return str(info.value)


GRADERS = [
    (checks.check_synonym_replacement, augment.synonym_replacement),
    (checks.check_random_insertion, augment.random_insertion),
    (checks.check_random_swap, augment.random_swap),
    (checks.check_random_deletion, augment.random_deletion),
    (checks.check_insert_punctuation, augment.insert_punctuation),
    (checks.check_rouge_l_filter, augment.rouge_l_filter),
]


@pytest.mark.parametrize("check,reference", GRADERS, ids=[g[0].__name__ for g in GRADERS])
@pytest.mark.parametrize("hidden", [False, True])
def test_reference_passes(check, reference, hidden, capsys):
    check(clone(reference), hidden=hidden)
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize("check,reference", GRADERS, ids=[g[0].__name__ for g in GRADERS])
def test_not_implemented_says_so(check, reference):
    def answer(*args, **kwargs):
        raise NotImplementedError()

    fails_with(check, answer, "not implemented yet")


@pytest.mark.parametrize("check,reference", GRADERS, ids=[g[0].__name__ for g in GRADERS])
def test_calling_the_reference_is_refused(check, reference):
    def answer(*args, **kwargs):
        return reference(*args, **kwargs)

    answer.__globals__[reference.__name__] = reference  # as after `from llmcourse.augment import ...`
    try:
        fails_with(check, answer, "yourself")
    finally:
        del answer.__globals__[reference.__name__]


# --------------------------------------------------------------------------- synonym replacement


def sr(n_rule=lambda a, l: max(1, math.floor(a * l)), skip_stops=True, every=True, rand=None, copy_words=True,
       give_up=False):
    """A configurable synonym replacement, right by default, to build each classic mistake."""
    def answer(words, alpha, synonyms, rng, stop_words=STOP_WORDS):
        r = rand or rng
        new = list(words) if copy_words else words
        if alpha == 0:
            return new
        n = n_rule(alpha, len(words))
        candidates = [w for w in dict.fromkeys(words) if not (skip_stops and w in stop_words)]
        r.shuffle(candidates)
        if give_up:
            candidates = candidates[:n]
        done = 0
        for w in candidates:
            options = synonyms(w)
            if not options or done >= n:
                continue
            s = r.choice(options)
            for i, x in enumerate(words if copy_words else list(new)):
                if x == w:
                    new[i] = s
                    if not every:
                        break
            done += 1
        return new
    return answer


def test_sr_correct_variant_passes():
    checks.check_synonym_replacement(sr(), hidden=True)


def test_sr_replacing_stop_words_is_named():
    fails_with(checks.check_synonym_replacement, sr(skip_stops=False), "replacing stop words")


def test_sr_forgetting_the_minimum_of_one_is_named():
    fails_with(checks.check_synonym_replacement, sr(n_rule=lambda a, l: math.floor(a * l)), "minimum of one word")


def test_sr_rounding_is_named():
    fails_with(checks.check_synonym_replacement, sr(n_rule=lambda a, l: max(1, round(a * l))), "rounded")


def test_sr_giving_up_on_words_without_synonyms_is_named():
    fails_with(checks.check_synonym_replacement, sr(give_up=True), "too few words changed")


def test_sr_mutating_the_callers_list_is_named():
    fails_with(checks.check_synonym_replacement, sr(copy_words=False), "mutating the caller's list")


def test_sr_global_random_is_named():
    fails_with(checks.check_synonym_replacement, sr(rand=random), "not reproducible")


def test_sr_same_rng_state_reused_is_named():
    def answer(words, alpha, synonyms, rng, stop_words=STOP_WORDS):
        return sr()(words, alpha, synonyms, random.Random(0), stop_words)

    fails_with(checks.check_synonym_replacement, answer, "same RNG state reused so every augmentation is identical")


def test_sr_one_occurrence_only_is_named():
    fails_with(checks.check_synonym_replacement, sr(every=False), "every occurrence")


# --------------------------------------------------------------------------- random insertion


def test_ri_from_stop_words_is_named():
    def answer(words, alpha, synonyms, rng, stop_words=STOP_WORDS):
        new = list(words)
        pool = [w for w in words if synonyms(w)]
        if not pool:
            return new
        for _ in range(max(1, math.floor(alpha * len(words)))):
            new.insert(rng.randint(0, len(new)), rng.choice(synonyms(rng.choice(pool))))
        return new

    fails_with(checks.check_random_insertion, answer, "synonym of a stop word")


def test_ri_endless_loop_is_named(monkeypatch):
    monkeypatch.setattr(checks, "TIME_LIMIT", 0.5)

    def answer(words, alpha, synonyms, rng, stop_words=STOP_WORDS):
        new, added = list(words), 0
        while added < max(1, math.floor(alpha * len(words))):
            w = rng.choice(words) if words else ""
            if w not in stop_words and synonyms(w):
                new.insert(rng.randint(0, len(new)), rng.choice(synonyms(w)))
                added += 1
        return new

    fails_with(checks.check_random_insertion, answer, "did not finish")


# --------------------------------------------------------------------------- random swap


def test_rs_same_position_twice_is_named():
    def answer(words, alpha, rng):
        new = list(words)
        for _ in range(max(1, math.floor(alpha * len(words))) if len(words) > 1 else 0):
            i, j = rng.randrange(len(new)), rng.randrange(len(new))
            new[i], new[j] = new[j], new[i]
        return new

    fails_with(checks.check_random_swap, answer, "same position picked twice")


def test_rs_crash_on_short_input_is_named():
    def answer(words, alpha, rng):
        new = list(words)
        i, j = rng.sample(range(len(new)), 2)
        new[i], new[j] = new[j], new[i]
        return new

    fails_with(checks.check_random_swap, answer, "short sentence")


def test_rs_too_many_swaps_is_named():
    def answer(words, alpha, rng):
        new = list(words)
        for _ in range(len(words) if len(words) > 1 else 0):
            i, j = rng.sample(range(len(new)), 2)
            new[i], new[j] = new[j], new[i]
        return new

    fails_with(checks.check_random_swap, answer, "one swap only")


# --------------------------------------------------------------------------- random deletion


def test_rd_one_minus_p_is_named():
    def answer(words, p, rng):
        kept = [w for w in words if rng.random() < p]
        return kept or words[:1]

    fails_with(checks.check_random_deletion, answer, "deleting with probability 1−p")


def test_rd_empty_sentence_is_named():
    def answer(words, p, rng):
        return [w for w in words if rng.random() >= p]

    fails_with(checks.check_random_deletion, answer, "returning an empty sentence")


def test_rd_mutation_is_named():
    def answer(words, p, rng):
        for w in list(words):
            if len(words) > 1 and rng.random() < p:
                words.remove(w)
        return words

    fails_with(checks.check_random_deletion, answer, "mutating the caller's list")


def test_rd_same_rng_state_reused_is_named():
    def answer(words, p, rng):
        local = random.Random(42)
        kept = [w for w in words if local.random() >= p]
        return kept or ([local.choice(words)] if words else [])

    fails_with(checks.check_random_deletion, answer, "same RNG state reused")


# --------------------------------------------------------------------------- AEDA


def aeda_answer(q_rule, marks=None):
    def answer(words, rng, punctuation=PUNCTUATION):
        if not words:
            return []
        q = q_rule(rng, len(words))
        positions = set(rng.sample(range(len(words)), min(q, len(words))))
        out = []
        for i, w in enumerate(words):
            if i in positions:
                out.append(rng.choice(list(marks or punctuation)))
            out.append(w)
        return out
    return answer


def test_aeda_zero_marks_is_named():
    fails_with(checks.check_insert_punctuation, aeda_answer(lambda r, n: r.randint(0, max(1, n // 3))), "inserted no punctuation")


def test_aeda_always_the_maximum_is_named():
    fails_with(checks.check_insert_punctuation, aeda_answer(lambda r, n: max(1, n // 3)), "always inserted")


def test_aeda_too_many_marks_is_named():
    fails_with(checks.check_insert_punctuation, aeda_answer(lambda r, n: r.randint(1, max(1, n // 2))), "at most")


def test_aeda_hard_coded_marks_is_named():
    fails_with(checks.check_insert_punctuation, aeda_answer(lambda r, n: r.randint(1, max(1, n // 3)), marks=PUNCTUATION),
               "`punctuation` argument")


# --------------------------------------------------------------------------- ROUGE-L filter


@pytest.mark.parametrize("mistake", checks.FILTER_MISTAKES, ids=[m.name for m in checks.FILTER_MISTAKES])
def test_filter_mistakes_are_named(mistake):
    fails_with(checks.check_rouge_l_filter, mistake.fn, mistake.name)


def test_filter_mutating_the_pool_is_caught():
    def answer(candidates, existing, threshold=0.7):
        kept = []
        for c in candidates:
            if all(augment.rouge_l(c, e) <= threshold for e in existing):
                kept.append(c)
                existing.append(c)
        return kept

    fails_with(checks.check_rouge_l_filter, answer, "changed its input arguments in place")


def test_graders_print_nothing_to_stderr(capsys):
    checks.check_random_deletion(clone(augment.random_deletion), hidden=True)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- every catalogued mistake, by name

CONTRACT = [(check, m) for check, _ in GRADERS for m in check.mistakes]


@pytest.mark.parametrize("check,mistake", CONTRACT, ids=[f"{c.__name__}:{m.name}" for c, m in CONTRACT])
def test_each_catalogued_mistake_is_caught_by_name(check, mistake):
    fails_with(check, clone(mistake.fn), mistake.name)


# --------------------------------------------------------------------------- fresh processes


_RUN = """
import random, sys
from llmcourse.checks import augment as A, augment_eda as E  # the mistakes live beside their graders
fn = getattr(E, sys.argv[1])
print(fn(list(A.SENTENCES[2]), 0.5, A.synonyms, random.Random(11)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["_sr_set_of_candidates", "_ri_set_of_sources"])
def test_set_ordering_differs_across_fresh_processes_and_the_salted_check_sees_it(name):
    # what the salted-hash check simulates, for real: PYTHONHASHSEED changes a set-based answer's output
    import os
    import subprocess
    import sys

    outs = set()
    for seed in range(1, 7):
        env = dict(os.environ, PYTHONHASHSEED=str(seed))
        outs.add(subprocess.run([sys.executable, "-c", _RUN, name], env=env, capture_output=True, text=True,
                                check=True).stdout)
    assert len(outs) > 1
    check = checks.check_synonym_replacement if name.startswith("_sr") else checks.check_random_insertion
    fails_with(check, getattr(augment_eda, name), "not reproducible across processes (set ordering)")


@pytest.mark.slow
def test_the_reference_is_the_same_in_every_fresh_process():
    import os
    import subprocess
    import sys

    code = _RUN.replace("fn = getattr(E, sys.argv[1])", "from llmcourse import augment as R; fn = R.synonym_replacement")
    outs = {subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONHASHSEED=str(s)),
                           capture_output=True, text=True, check=True).stdout for s in range(1, 5)}
    assert len(outs) == 1
