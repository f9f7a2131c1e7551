"""The curation stage: quality rules, dedup, MinHash/LSH, decontamination, PII, the pipeline, the crawl."""

import itertools
import random

import numpy as np
import pytest

from llmcourse import curation, tasks
from llmcourse.curation import dedup, filters


@pytest.fixture(scope="module")
def crawl():
    return curation.web_crawl(800, seed=3)


def test_crawl_kinds_and_filters(crawl):
    """Clean pages pass the quality rules (almost all); boilerplate, spam, lorem and code pages never do."""
    by_kind = {k: [d for d in crawl.docs if d.kind == k] for k in curation.KINDS}
    assert all(by_kind[k] for k in curation.KINDS)
    clean_pass = np.mean([not curation.failed_rules(d.text) for d in by_kind["clean"]])
    assert clean_pass > 0.95
    for k in ("boilerplate", "spam", "lorem", "code"):
        assert all(curation.failed_rules(d.text) for d in by_kind[k]), k
    assert all(curation.failed_rules(d.text) == ["c4_no_lorem_ipsum"] for d in by_kind["lorem"]
               if "gopher_stop_words" not in curation.failed_rules(d.text))


def test_crawl_ground_truth(crawl):
    for src, copy in crawl.near_dup_pairs | crawl.exact_dup_pairs:
        assert crawl.docs[src].kind == "clean" and src < copy
    for i, p in crawl.leaked.items():
        assert curation.problem_text(p) in crawl.docs[i].text and p in crawl.eval_problems
    assert curation.web_crawl(50, seed=1).texts == curation.web_crawl(50, seed=1).texts
    with pytest.raises(ValueError, match="unknown kind"):
        curation.web_crawl(5, mix={"clena": 1.0})


def test_gopher_rules_thresholds():
    page = " ".join(["the cat sat with a dog and ran to the park."] * 6)
    assert filters.gopher_word_count(page) and not filters.gopher_word_count("the cat sat")
    assert not filters.gopher_alpha_words("1 2 3 4 the cat")
    assert not filters.gopher_stop_words("cat dog park bird")
    assert not filters.gopher_symbol_ratio("# # # a b c d e f g")
    assert not filters.gopher_duplicate_lines("same line.\nsame line.\nother line.")
    assert not filters.gopher_top_bigram("buy now " * 30)
    assert not filters.c4_no_curly_bracket("x {y}") and not filters.c4_no_lorem_ipsum("Lorem Ipsum dolor")
    assert not filters.c4_min_sentences("Menu\nHome | About\nOne sentence.")


def test_exact_dedup_normalises():
    texts = ["Sort the list.", "sort  THE list!", "Sort the lists."]
    assert curation.exact_duplicates(texts) == [1]


def test_shingles_and_jaccard():
    assert dedup.word_shingles("A b c d", k=2) == {"a b", "b c", "c d"}
    assert dedup.word_shingles("a b", k=5) == {"a b"} and dedup.word_shingles("", k=5) == set()
    assert dedup.jaccard({1, 2, 3}, {2, 3, 4}) == 0.5 and dedup.jaccard(set(), set()) == 0.0


def test_mod_p_is_exact():
    x = np.random.default_rng(0).integers(0, 2**62, size=10_000, dtype=np.uint64)
    x[:3] = [0, dedup.MERSENNE_P, 2 * dedup.MERSENNE_P]
    assert (dedup._mod_p(x) == x % np.uint64(dedup.MERSENNE_P)).all()


def test_minhash_estimates_jaccard():
    rng = random.Random(0)
    a, b = dedup.minhash_permutations(256, seed=1)
    for _ in range(5):
        u = list(range(400))
        s1, s2 = set(rng.sample(u, 200)), set(rng.sample(u, 200))
        h = lambda s: dedup.shingle_hashes(str(x) for x in s)  # noqa: E731
        est = dedup.signature_similarity(dedup.minhash_signature(h(s1), a, b), dedup.minhash_signature(h(s2), a, b))
        assert abs(est - dedup.jaccard(s1, s2)) < 0.1


def test_batched_signatures_equal_one_by_one():
    a, b = dedup.minhash_permutations(16, seed=0)
    docs = [dedup.shingle_hashes(dedup.word_shingles(t, 2)) for t in ["a b c d", "", "x y", "a b c e f g"]]
    batch = dedup.minhash_signatures(docs, a, b, chunk=3)
    for row, h in zip(batch, docs):
        assert (row == dedup.minhash_signature(h, a, b)).all()
    assert (batch[1] == dedup.MERSENNE_P).all()


def test_lsh_probability_and_pairs():
    assert dedup.lsh_candidate_probability(1.0, 20, 5) == 1.0
    assert dedup.lsh_candidate_probability(0.5, 1, 1) == pytest.approx(0.5)
    s = np.linspace(0, 1, 11)
    assert np.allclose(dedup.lsh_candidate_probability(s, 4, 3), 1 - (1 - s**3) ** 4)
    assert 0.4 < dedup.lsh_candidate_probability(dedup.lsh_threshold(20, 5), 20, 5) < 0.7
    sig = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [7, 7, 3, 4], [5, 5, 5, 5]], dtype=np.uint64)
    assert dedup.lsh_candidate_pairs(sig, 2, 2) == {(0, 1), (0, 2)}
    with pytest.raises(ValueError, match="exceeds"):
        dedup.lsh_candidate_pairs(sig, 3, 2)


def test_lsh_datasketch_gives_the_same_pairs():
    pytest.importorskip("datasketch")
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 3, size=(60, 8), dtype=np.uint64)
    assert dedup.lsh_candidate_pairs(sig, 4, 2, use_datasketch=True) == dedup.lsh_candidate_pairs(sig, 4, 2)


def test_near_duplicates_find_the_known_pairs(crawl):
    keep = [d.id for d in crawl.docs if not curation.failed_rules(d.text)]
    found = {(keep[i], keep[j]) for i, j in curation.near_duplicates([crawl.docs[k].text for k in keep])}
    kept = set(keep)
    truth = {(i, j) for i, j in crawl.duplicate_pairs() if i in kept and j in kept}
    near = {p for p in crawl.near_dup_pairs if set(p) <= kept}
    assert len(found & near) / len(near) > 0.9
    assert len(found & truth) / len(found) > 0.9


def test_decontamination():
    p = tasks.Problem("reverse", (3, 1, 4))
    index = curation.eval_ngram_index([curation.problem_text(p)])
    assert curation.is_contaminated(f"A page. Then: reverse the list. 3 1 4 = 4 1 3! The end.", index)
    assert not curation.is_contaminated("Reverse the list. 3 1 4 5 = 5 4 1 3", index)
    long = tasks.Problem("count", (1, 2, 3, 4, 5, 6))
    text = curation.problem_text(long)
    index = curation.eval_ngram_index([text])
    assert all(len(g) == curation.DEFAULT_N for g in index)
    assert curation.is_contaminated(text.upper(), index)
    kept, removed = curation.decontaminate(["nothing here", "x " + text], [text])
    assert kept == [0] and removed == [1]


def test_pii_redaction():
    text = "Mail jane.doe@example.com or call 555-123-4567 or (555) 123 4567; server 192.168.0.12. List 3 1 4 5 2."
    red, report = curation.redact_pii(text)
    assert report == {"EMAIL": 1, "PHONE": 2, "IP": 1}
    assert "List 3 1 4 5 2." in red and "example.com" not in red
    assert curation.redact_pii("version 1.2.3.4.5 and 999.1.1.1")[1] == {}


def test_curate_counts_add_up(crawl):
    evals = [curation.problem_text(p) for p in crawl.eval_problems]
    kept, report = curation.curate(crawl.texts, eval_texts=evals)
    assert report.n_in == len(crawl.docs) and report.n_out == len(kept)
    assert sum(report.removed.values()) == report.n_in - report.n_out
    assert report.removed["decontamination"] > 0 and report.removed["near_dedup"] > 0
    assert not set(crawl.leaked) & set(report.kept_ids)
    assert sum(report.pii.values()) >= sum(d.pii for d in crawl.docs if d.id in report.kept_ids)
    assert "documents out" in report.table()


def test_lab_decontamination_removes_exactly_the_leaked_records():
    from llmcourse.curation import lab

    records, eval_records, held_out = lab.contaminated_training_set(300, 20, copies=3, seed=0)
    assert len(records) == 360 and len(eval_records) == 20
    kept, removed = curation.decontaminate([curation.record_text(r) for r in records],
                                           [curation.problem_text(p) for p in held_out])
    assert sorted(removed) == list(range(300, 360))


@pytest.mark.slow
def test_contamination_lab_inflates_and_decontamination_restores():
    """The notebook's figures (3 seeds, cached): the leak inflates held-out exact match by > 0.1."""
    from llmcourse.curation import lab

    rows = lab.lab_results(progress=False)
    em = {name: np.mean([r["exact_match"] for r in rows if r["data"] == name]) for name in ("contaminated", "decontaminated")}
    assert len(rows) == 6 and em["contaminated"] > em["decontaminated"] + 0.1, em
