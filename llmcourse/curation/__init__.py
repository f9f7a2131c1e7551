r"""Data curation stage: from a raw crawl to training text — quality filters, dedup, decontamination, PII.

=============  ======================================================================================
module         what it holds
=============  ======================================================================================
``filters``    C4 and Gopher quality rules, each a named function with its published threshold
``dedup``      exact dedup (normalised hash), word shingles, Jaccard, MinHash, LSH (datasketch index)
``decontam``   n-gram decontamination against evaluation texts (GPT-3 style, n = 13)
``pii``        e-mail / phone / IPv4 redaction with a report
``pipeline``   the streaming pipeline with per-rule counts (:func:`curate`)
``crawl``      the task-world "web crawl" generator with ground-truth duplicates and leaks
=============  ======================================================================================

Quick start::

    from llmcourse import curation
    crawl = curation.web_crawl(2000, seed=0)
    kept, report = curation.curate(crawl.texts, eval_texts=[curation.problem_text(p) for p in crawl.eval_problems])
    print(report.table())
"""

from llmcourse.curation.crawl import KINDS, Crawl, Document, problem_text, record_text, web_crawl
from llmcourse.curation.decontam import DEFAULT_N, decontaminate, eval_ngram_index, is_contaminated, ngrams, tokenize
from llmcourse.curation.dedup import (
    MERSENNE_P, exact_duplicates, exact_hash, jaccard, lsh_candidate_pairs, lsh_candidate_probability, lsh_threshold,
    minhash_permutations, minhash_signature, minhash_signatures, near_duplicates, normalize_for_hash, shingle_hashes,
    signature_similarity, word_shingles,
)
from llmcourse.curation.filters import C4_RULES, GOPHER_RULES, RULES, failed_rules
from llmcourse.curation.pii import redact_pii
from llmcourse.curation.pipeline import CurationReport, curate, stream_filter


def _notebook_models(progress: bool = True) -> list:
    from llmcourse.curation import lab  # the lab imports the SFT stage (torch): only when a notebook is prepared

    return lab.notebook_models(progress=progress)


NOTEBOOK_MODELS = {"00b_data_curation": _notebook_models}
"""What this stage's notebook reads from the model cache: the contamination lab's results (3 seeds × 2 SFT
runs), built before grading (:mod:`llmcourse.course.prepare`)."""
