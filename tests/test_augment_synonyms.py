"""Synonym sources: real WordNet through NLTK, dicts and callables, the fallback thesaurus and its notice.

The WordNet tests need the data that `bash tools/install_wordnet.sh` installs. Without it they skip,
except under CI=true, where a missing install is a failure (CI must exercise the real path).
"""

import os
import random
import sys
import warnings

import pytest

from llmcourse.augment import (
    FALLBACK_THESAURUS, DictSynonyms, FallbackThesaurusWarning, WordNetSynonyms, WordNetUnavailable,
    as_synonym_source, default_synonyms, eda, fallback_synonyms, synonym_replacement, wordnet_available,
)
from llmcourse.augment import synonyms as synonyms_module


@pytest.fixture(scope="module")
def wordnet():
    if not wordnet_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but WordNet data is not installed: .ci/run must run `bash tools/install_wordnet.sh`")
        pytest.skip("WordNet data for NLTK is not installed (run: bash tools/install_wordnet.sh)")
    return WordNetSynonyms().load()


# --------------------------------------------------------------------------- real WordNet


def test_wordnet_is_version_3_0(wordnet):
    assert wordnet.version == "3.0"


def test_wordnet_synonyms_of_happy(wordnet):
    # happy.a.01 lemmas: happy; felicitous.s.02: felicitous, happy; glad.s.02: glad, happy; ...
    out = wordnet("happy")
    assert "glad" in out and "felicitous" in out and "happy" not in out


def test_wordnet_synonyms_are_clean_lower_case_text(wordnet):
    out = wordnet("Dog")  # the lookup is case-insensitive
    assert "domestic dog" in out and "canis familiaris" in out  # 'Canis_familiaris' -> plain words
    assert all(w == w.lower() and "_" not in w for w in out)


def test_wordnet_synonyms_keep_wordnet_order_and_no_duplicates(wordnet):
    out = wordnet("quick")
    assert len(out) == len(set(out)) and out == WordNetSynonyms()("quick")


def test_wordnet_part_of_speech_filter(wordnet):
    # dog.v.01 (to chase) has the lemma 'chase'; no noun sense of 'dog' does
    assert "chase" in WordNetSynonyms(pos="v")("dog") and "chase" not in WordNetSynonyms(pos="n")("dog")


def test_word_without_synonyms_gives_empty_list(wordnet):
    assert wordnet("qwzxv") == [] and wordnet("the") == []


def test_synonym_replacement_with_real_wordnet(wordnet):
    words = "the movie was good".split()
    out = synonym_replacement(words, 0.25, wordnet, random.Random(0))  # n = 1: 'movie' or 'good'
    diff = [(a, b) for a, b in zip(words, out) if a != b]
    assert len(diff) == 1 and diff[0][1] in wordnet(diff[0][0])


def test_default_source_is_wordnet_when_installed(wordnet):
    assert isinstance(default_synonyms(), WordNetSynonyms) and isinstance(as_synonym_source("wordnet"), WordNetSynonyms)
    assert default_synonyms() is default_synonyms()  # one source per process: its cache is shared


def test_eda_with_wordnet_is_reproducible(wordnet):
    a = eda("The quick brown fox jumps over the lazy dog", synonyms=wordnet, rng=3)
    assert a == eda("The quick brown fox jumps over the lazy dog", synonyms=WordNetSynonyms(), rng=3)


# --------------------------------------------------------------------------- missing WordNet


def test_missing_wordnet_data_says_how_to_install(tmp_path):
    with pytest.raises(WordNetUnavailable, match=r"install_wordnet\.sh") as info:
        WordNetSynonyms(data_dir=tmp_path)("dog")
    assert "synonyms='fallback'" in str(info.value)


def test_incomplete_wordnet_install_says_to_reinstall(tmp_path):
    (tmp_path / "corpora" / "wordnet").mkdir(parents=True)  # found by NLTK, but no files in it
    with pytest.raises(WordNetUnavailable, match=r"--force"):
        WordNetSynonyms(data_dir=tmp_path).load()


def test_missing_nltk_says_what_to_pip_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nltk", None)  # makes `import nltk` raise ImportError
    with pytest.raises(WordNetUnavailable, match=r"llmcourse\[augment\]"):
        WordNetSynonyms(data_dir=tmp_path / "other").load()
    assert synonyms_module.wordnet_available() is False


def test_bad_part_of_speech_is_rejected():
    with pytest.raises(ValueError, match="pos="):
        WordNetSynonyms(pos="noun")


# --------------------------------------------------------------------------- dicts, callables, fallback


def test_dict_source_is_case_insensitive_and_drops_the_word_itself():
    source = DictSynonyms({"Quick": ["fast", "quick", "fast", "rapid"]})
    assert source("QUICK") == ["fast", "rapid"] and source("slow") == []


def test_dict_source_rejects_a_string_as_synonym_list():
    with pytest.raises(TypeError, match="list of str"):
        DictSynonyms({"quick": "fast"})


def test_as_synonym_source_accepts_dicts_and_callables():
    assert as_synonym_source({"a": ["b"]})("a") == ["b"]
    fn = lambda w: ["x"]  # noqa: E731
    assert as_synonym_source(fn) is fn


@pytest.mark.parametrize("spec,error", [("thesaurus", ValueError), (42, TypeError)])
def test_as_synonym_source_rejects_unknown_specs(spec, error):
    with pytest.raises(error):
        as_synonym_source(spec)


def test_fallback_notice_is_given_once(monkeypatch):
    monkeypatch.setattr(synonyms_module, "_NOTICE_GIVEN", False)
    with pytest.warns(FallbackThesaurusWarning, match="not WordNet"):
        fallback_synonyms()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source = fallback_synonyms()  # second time: silent
    assert source("quick") == FALLBACK_THESAURUS["quick"]


def test_fallback_without_notice_is_silent(monkeypatch):
    monkeypatch.setattr(synonyms_module, "_NOTICE_GIVEN", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fallback_synonyms(notice=False)


def test_default_falls_back_with_notice_when_wordnet_is_missing(monkeypatch):
    monkeypatch.setattr(synonyms_module, "wordnet_available", lambda: False)
    monkeypatch.setattr(synonyms_module, "_DEFAULT_WORDNET", None)
    monkeypatch.setattr(synonyms_module, "_NOTICE_GIVEN", False)
    with pytest.warns(FallbackThesaurusWarning, match="install_wordnet"):
        source = default_synonyms()
    assert isinstance(source, DictSynonyms) and source("happy")


def test_fallback_thesaurus_is_well_formed():
    for word, syns in FALLBACK_THESAURUS.items():
        assert word == word.lower() and syns and word not in syns and len(set(syns)) == len(syns)
