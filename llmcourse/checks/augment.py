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

The graders live in three modules, re-exported here (``from llmcourse.checks import augment as checks``):
:mod:`~llmcourse.checks.augment_harness` (thesaurus, guarded calls, shared contract checks),
:mod:`~llmcourse.checks.augment_eda` (the four EDA operations) and :mod:`~llmcourse.checks.augment_aeda`
(AEDA and the ROUGE-L filter).
"""

from __future__ import annotations

import sys
import types

from llmcourse.checks import augment_harness as _harness
from llmcourse.checks.augment_aeda import (AEDA_MISTAKES, FILTER_MISTAKES, check_insert_punctuation,  # noqa: F401
                                           check_rouge_l_filter)
from llmcourse.checks.augment_eda import (RD_MISTAKES, RI_MISTAKES, RS_MISTAKES, SR_MISTAKES,  # noqa: F401
                                          check_random_deletion, check_random_insertion, check_random_swap,
                                          check_synonym_replacement)
from llmcourse.checks.augment_harness import SENTENCES, THESAURUS, TIME_LIMIT, synonyms, synonyms_salted  # noqa: F401

__all__ = [
    "THESAURUS", "synonyms", "check_synonym_replacement", "check_random_insertion", "check_random_swap",
    "check_random_deletion", "check_insert_punctuation", "check_rouge_l_filter",
]


class _Module(types.ModuleType):
    """Setting ``TIME_LIMIT`` on this module (a test's ``monkeypatch``) sets it in the harness, where the
    guarded call reads it."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "TIME_LIMIT":
            setattr(_harness, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Module
