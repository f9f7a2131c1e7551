"""Graders of the curation notebook: the reference passes (visible and hidden); each classic mistake is named."""

import types

import pytest

from llmcourse.checks import CheckFailure
from llmcourse.checks import curation as checks
from llmcourse.curation import decontam, dedup


def clone(fn):
    """The reference under another identity (the graders refuse the package's own function)."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


GRADERS = [
    (checks.check_word_shingles, dedup.word_shingles),
    (checks.check_jaccard, dedup.jaccard),
    (checks.check_minhash_signature, dedup.minhash_signature),
    (checks.check_lsh_candidate_probability, dedup.lsh_candidate_probability),
    (checks.check_is_contaminated, decontam.is_contaminated),
]
IDS = [g[0].__name__ for g in GRADERS]


@pytest.mark.parametrize("check,reference", GRADERS, ids=IDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_reference_passes(check, reference, hidden, capsys):
    check(clone(reference), hidden=hidden)
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize("check,reference", GRADERS, ids=IDS)
def test_not_implemented_says_so(check, reference):
    def answer(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet"):
        check(answer)


@pytest.mark.parametrize("check,mistake", [(c, m) for c, _ in GRADERS for m in c.mistakes],
                         ids=[f"{c.__name__}-{m.name}" for c, _ in GRADERS for m in c.mistakes])
@pytest.mark.parametrize("hidden", [False, True])
def test_each_mistake_is_named(check, mistake, hidden):
    with pytest.raises(CheckFailure) as info:
        check(mistake.fn, hidden=hidden)
    assert mistake.name in str(info.value), str(info.value)


def test_calling_the_reference_is_refused():
    def answer(s, bands, rows):
        return dedup.lsh_candidate_probability(s, bands, rows)

    with pytest.raises(CheckFailure):
        checks.check_lsh_candidate_probability(answer)
