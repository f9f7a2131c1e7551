r"""Augmentation stage: more (and more varied) training text from the text you have.

=====================  ======================================================================
module                 what it holds
=====================  ======================================================================
``synonyms``           synonym sources: WordNet via NLTK, dicts/callables, a small fallback
``word_level``         EDA's four word operations, AEDA, and the sentence-level ``eda``/``aeda``
``instructions``       ROUGE-L (bit-parallel LCS), the ROUGE-L filter, the Self-Instruct loop
``neural``             back-translation, masked-LM replacement, a ``generate`` wrapper (model glue)
``records``            one augmenter interface; ``augment_records`` for Alpaca/labelled records
=====================  ======================================================================

Quick start::

    from llmcourse import augment
    augment.eda("The quick brown fox jumps over the lazy dog", num_aug=4, rng=0)
    augment.aeda("The quick brown fox jumps over the lazy dog", num_aug=2, rng=0)
    augment.rouge_l_filter(new_instructions, existing=seed_instructions)    # Self-Instruct's 0.7 filter

WordNet (the default synonym source) is installed offline by ``bash tools/install_wordnet.sh``.
"""

from llmcourse.augment.word_level import (
    PUNCTUATION, STOP_WORDS, aeda, as_rng, eda, insert_punctuation, num_changes, random_deletion, random_insertion,
    random_swap, synonym_replacement,
)
from llmcourse.augment.neural import (
    Translator, back_translate, compute_idf, hf_generator, mask_weights, mlm_augment, tfidf_scores,
)
from llmcourse.augment.records import AEDA, EDA, Augmenter, BackTranslation, MaskedLM, augment_records
from llmcourse.augment.instructions import (
    BANNED_KEYWORDS, RougeLFilter, SelfInstructResult, encode_prompt, instruction_filter_reason, lcs_length,
    parse_tasks, rouge_l, rouge_l_filter, rouge_tokenize, self_instruct,
)
from llmcourse.augment.synonyms import (
    FALLBACK_THESAURUS, DictSynonyms, FallbackThesaurusWarning, SynonymSource, WordNetSynonyms, WordNetUnavailable,
    as_synonym_source, default_synonyms, fallback_synonyms, wordnet_available,
)

__all__ = [
    "PUNCTUATION", "STOP_WORDS", "aeda", "as_rng", "eda", "insert_punctuation", "num_changes", "random_deletion",
    "random_insertion", "random_swap", "synonym_replacement",
    "Translator", "back_translate", "compute_idf", "hf_generator", "mask_weights", "mlm_augment", "tfidf_scores",
    "AEDA", "EDA", "Augmenter", "BackTranslation", "MaskedLM", "augment_records",
    "BANNED_KEYWORDS", "RougeLFilter", "SelfInstructResult", "encode_prompt", "instruction_filter_reason",
    "lcs_length", "parse_tasks", "rouge_l", "rouge_l_filter", "rouge_tokenize", "self_instruct",
    "FALLBACK_THESAURUS", "DictSynonyms", "FallbackThesaurusWarning", "SynonymSource", "WordNetSynonyms",
    "WordNetUnavailable", "as_synonym_source", "default_synonyms", "fallback_synonyms", "wordnet_available",
]
