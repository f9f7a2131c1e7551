# %% [markdown]
# # 00b · Data curation: from a raw crawl to training text
#
# Every later notebook trains on clean task-world records. Real training data starts as a **crawl**: the
# seed guide's *Common Crawl* ("diverse but requires extensive cleaning"), cleaned into **C4** by a few
# heuristic rules, or curated subsets like **The Pile**'s 22 sources; for a domain model, domain corpora
# and internal data (support chats, documentation) with their privacy duties. What practitioners do
# with such text before any SFT:
#
# | § | step | you implement (points) |
# |---|---|---|
# | 1 | a task-world "web crawl" and C4/Gopher **quality filters** | — |
# | 2 | **exact dedup** by a normalised hash | — |
# | 3 | **near-duplicates**: word shingles and Jaccard similarity | `word_shingles` (2), `jaccard` (1) |
# | 4 | **MinHash** signatures | `minhash_signature` (2) |
# | 5 | **LSH** banding: which pairs become candidates | `lsh_candidate_probability` (1) |
# | 6 | **decontamination** against an evaluation set | `is_contaminated` (2) |
# | 7 | PII redaction and the whole pipeline, with a report | — |
# | 8 | the **contamination lab**: what a leaked benchmark does to a score | — |
#
# Each exercise is graded against `llmcourse.curation`, then used for real on the crawl.

# %%
import collections
import random
import time

import matplotlib.pyplot as plt
import numpy as np

from llmcourse import curation, plots, tasks
from llmcourse.curation import dedup

rng = random.Random(0)
crawl = curation.web_crawl(3000, seed=0)  # the generator knows every duplicate pair and every leak
print(collections.Counter(d.kind for d in crawl.docs))
print(crawl.docs[0].text)

# %% [markdown]
# ## 1 · Quality filters (C4 and Gopher)
#
# C4 (Raffel et al. 2020, §2.2) kept lines ending in terminal punctuation, dropped pages with fewer than
# three sentences, any page with "lorem ipsum" or a curly bracket. Gopher's MassiveWeb (Rae et al. 2021,
# App. A.1.1) added document statistics: 50–100 000 words, mean word length 3–10, ≥ 80 % of words with a
# letter, at least two of eight stop words, and repetition limits (≤ 30 % duplicate lines, the most frequent
# 2-gram ≤ 20 % of the characters). Each rule is a named function with its published threshold:

# %%
for name, rule in curation.RULES.items():
    print(f"{name:<24} {rule.__doc__.splitlines()[0]}")
failed = collections.Counter()
by_kind = collections.defaultdict(collections.Counter)
for d in crawl.docs:
    rules = curation.failed_rules(d.text)
    by_kind[d.kind]["removed" if rules else "kept"] += 1
    failed.update(rules[:1])
print("\nfirst failed rule:", dict(failed))
for kind, c in by_kind.items():
    print(f"{kind:<12} kept {c['kept']:5d}  removed {c['removed']:5d}")

# %% [markdown]
# Boilerplate, spam, placeholder and code pages go; clean pages stay (a few fail Gopher's stop-word rule:
# heuristics cost some good text — the price of a cheap filter). Copies and leaked problems pass: quality
# rules judge a page alone, so they cannot see that it repeats another one or quotes a test.
#
# ## 2 · Exact duplicates
#
# Hash a normalised form (lower case, no punctuation, single spaces) and keep the first page per hash:

# %%
good = [d for d in crawl.docs if not curation.failed_rules(d.text)]
exact = curation.exact_duplicates([d.text for d in good])
print(f"{len(exact)} exact duplicates among {len(good)} pages;",
      collections.Counter(good[i].kind for i in exact))
print(repr(curation.normalize_for_hash("Sort THE list,  now!")))

# %% [markdown]
# ## 3 · Near-duplicates: shingles and Jaccard similarity
#
# A near-duplicate (a page re-posted with a few words changed, a template filled in twice) has a different
# hash. Compare pages as **sets of word $k$-grams** ("shingles", $k = 5$ in Lee et al. 2022), with the
# **Jaccard similarity**
#
# $$J(A, B) = \frac{|A \cap B|}{|A \cup B|} \in [0, 1].$$
#
# Write `word_shingles(text, k)`: the set of overlapping word $k$-grams of the **lower-cased** text, each joined
# with one space. A text of fewer than $k$ words (but at least one) is one shingle, the whole text; an empty
# text has none. Then `jaccard(a, b)`, with $J(\emptyset, \emptyset) = 0$.

# %%
print(dedup.word_shingles("The cat sat on the mat", k=3))


# %% solution="word_shingles"
def word_shingles(text, k=5):
    """Set of overlapping word k-grams of text.lower(), joined by spaces."""
    ### BEGIN SOLUTION
    words = text.lower().split()
    if not words:
        return set()
    if len(words) < k:
        return {" ".join(words)}
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}
    ### END SOLUTION


# %% tests="test_word_shingles" points=2
from llmcourse.checks import curation as checks

checks.check_word_shingles(word_shingles)
### BEGIN HIDDEN TESTS
checks.check_word_shingles(word_shingles, hidden=True)
### END HIDDEN TESTS


# %% solution="jaccard"
def jaccard(a, b):
    """|a ∩ b| / |a ∪ b| for two sets; 0.0 for two empty sets."""
    ### BEGIN SOLUTION
    union = len(a | b)
    return len(a & b) / union if union else 0.0
    ### END SOLUTION


# %% tests="test_jaccard" points=1
from llmcourse.checks import curation as checks

checks.check_jaccard(jaccard)
### BEGIN HIDDEN TESTS
checks.check_jaccard(jaccard, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Your two functions on the crawl: the Jaccard similarity of every known near-duplicate pair, against
# random pairs of clean pages.

# %%
shingles = {d.id: word_shingles(d.text) for d in good}
near_pairs = sorted(p for p in crawl.near_dup_pairs if p[0] in shingles and p[1] in shingles)
clean_ids = [d.id for d in good if d.kind == "clean"]
random_pairs = [tuple(rng.sample(clean_ids, 2)) for _ in range(len(near_pairs))]
j_near = [jaccard(shingles[i], shingles[j]) for i, j in near_pairs]
j_random = [jaccard(shingles[i], shingles[j]) for i, j in random_pairs]
print(f"near-duplicate pairs: J = {np.mean(j_near):.2f} (min {min(j_near):.2f}); random pairs: J = {np.mean(j_random):.3f}")
plt.figure(figsize=(5, 3))
plt.hist([j_random, j_near], bins=20, range=(0, 1), label=["random pairs", "near-duplicates"])
plt.xlabel("Jaccard similarity of 5-shingles"); plt.legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# Comparing every pair is $O(N^2)$: 3 000 pages are 4.5 million pairs, a crawl of $10^9$ pages is out of
# reach. The next two sections replace it by a linear-time method.
#
# ## 4 · MinHash
#
# Hash each shingle to an integer $x$ (`dedup.shingle_hashes`: CRC-32 mod $p$). Take $P$ random hash functions
# $h_i(x) = (a_i x + b_i) \bmod p$, $p = 2^{31} - 1$, and keep the **minimum** of each over the set:
#
# $$\mathrm{sig}_i(A) = \min_{x \in A} h_i(x), \qquad \Pr[\mathrm{sig}_i(A) = \mathrm{sig}_i(B)] \approx J(A, B),$$
#
# because the shingle with the smallest $h_i$ in $A \cup B$ is equally likely to be any of them, and the two
# minima agree exactly when it lies in $A \cap B$. So the fraction of equal entries estimates $J$.
#
# Write `minhash_signature(hashes, a, b)`: `hashes` shape `(n,)`, `a` and `b` shape `(P,)`, all `uint64`
# (products stay below $2^{62}$); return shape `(P,)`. An empty set's signature is $p$ in every entry.

# %%
a, b = dedup.minhash_permutations(128, seed=0)
print(dedup.minhash_signature(dedup.shingle_hashes(word_shingles("the cat sat on the mat", 3)), a, b)[:6])


# %% solution="minhash_signature"
def minhash_signature(hashes, a, b):
    """sig_i = min_x (a_i x + b_i) mod p, p = 2**31 - 1. Shapes: (n,), (P,), (P,) -> (P,) uint64."""
    p = np.uint64(dedup.MERSENNE_P)
    hashes = np.asarray(hashes, dtype=np.uint64)
    ### BEGIN SOLUTION
    if hashes.size == 0:
        return np.full(len(a), p, dtype=np.uint64)
    return ((hashes[:, None] * a[None, :] + b[None, :]) % p).min(axis=0)
    ### END SOLUTION


# %% tests="test_minhash_signature" points=2
from llmcourse.checks import curation as checks

checks.check_minhash_signature(minhash_signature)
### BEGIN HIDDEN TESTS
checks.check_minhash_signature(minhash_signature, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Your signatures for every page that passed the filters, and the estimate against the exact Jaccard
# similarity on the known pairs and on random pairs:

# %%
t0 = time.perf_counter()
sigs = np.stack([minhash_signature(dedup.shingle_hashes(shingles[d.id]), a, b) for d in good])
row = {d.id: n for n, d in enumerate(good)}
print(f"{len(good)} signatures of {len(a)} values in {time.perf_counter() - t0:.1f} s")
est = [dedup.signature_similarity(sigs[row[i]], sigs[row[j]]) for i, j in near_pairs + random_pairs]
err = np.array(est) - np.array(j_near + j_random)
print(f"MinHash estimate − exact Jaccard: mean {err.mean():+.3f}, std {err.std():.3f} "
      f"(theory for P = 128: std ≤ √(J(1−J)/P) ≤ {0.5 / np.sqrt(len(a)):.3f})")

# %% [markdown]
# ## 5 · LSH: find the similar pairs without comparing all of them
#
# Cut each signature into $b$ **bands** of $r$ rows and put each page in one bucket per band (keyed by the
# band's values). Two pages become a **candidate pair** when they share a bucket in at least one band. For a
# pair of similarity $s$: a given band agrees with probability $s^r$, no band agrees with probability
# $(1 - s^r)^b$, so
#
# $$\Pr[\text{candidate}] = 1 - (1 - s^{r})^{b},$$
#
# an S-curve with its threshold near $(1/b)^{1/r}$. Only candidates are compared, so the cost is linear in
# the number of pages plus the number of candidates.
#
# Write `lsh_candidate_probability(s, bands, rows)` (`s` a float or a numpy array).


# %% solution="lsh_candidate_probability"
def lsh_candidate_probability(s, bands, rows):
    """1 - (1 - s**rows)**bands."""
    ### BEGIN SOLUTION
    return 1.0 - (1.0 - s ** rows) ** bands
    ### END SOLUTION


# %% tests="test_lsh_candidate_probability" points=1
from llmcourse.checks import curation as checks

checks.check_lsh_candidate_probability(lsh_candidate_probability)
### BEGIN HIDDEN TESTS
checks.check_lsh_candidate_probability(lsh_candidate_probability, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Choose $(b, r)$ with your function: the near-duplicates here have $J \ge 0.7$, random pages $J \approx 0$.
# With $b \cdot r = 128$, $b = 32, r = 4$ catches a pair of similarity 0.7 almost surely; then each candidate
# is confirmed by its signature estimate (≥ 0.7). Recall and precision against the generator's known pairs
# (the "exact" copies whose punctuation changed have a lower shingle Jaccard: §2's hash already caught them):

# %%
s = np.linspace(0, 1, 101)
plt.figure(figsize=(5, 3))
for bands, rows in [(128, 1), (32, 4), (16, 8), (8, 16)]:
    plt.plot(s, lsh_candidate_probability(s, bands, rows), label=f"b={bands}, r={rows}")
plt.xlabel("Jaccard similarity s"); plt.ylabel("P(candidate)"); plt.legend(); plt.tight_layout(); plt.show()
print(f"b=32, r=4: P(candidate) = {lsh_candidate_probability(0.7, 32, 4):.4f} at s = 0.7, "
      f"{lsh_candidate_probability(0.2, 32, 4):.4f} at s = 0.2")

t0 = time.perf_counter()
candidates = dedup.lsh_candidate_pairs(sigs, bands=32, rows=4)
found = {(good[i].id, good[j].id) for i, j in candidates if dedup.signature_similarity(sigs[i], sigs[j]) >= 0.7}
truth = {p for p in crawl.duplicate_pairs() if p[0] in row and p[1] in row}  # all copies of one original
print(f"{len(candidates)} candidates instead of {len(good) * (len(good) - 1) // 2} pairs, {len(found)} confirmed "
      f"in {time.perf_counter() - t0:.2f} s")
print(f"recall {len(found & set(near_pairs)) / len(near_pairs):.3f} of the {len(near_pairs)} near-duplicate pairs, "
      f"{len(found & truth) / len(truth):.3f} of all {len(truth)} copy pairs; precision {len(found & truth) / len(found):.3f}")

# %% [markdown]
# The same code on 100 000 pages: `bench/bench_dedup_scale.py` (figures in `bench/README.md`). At the scale of
# a real crawl the steps become stages of a distributed job: datatrove's `MinhashDedupSignature →
# MinhashDedupBuckets → MinhashDedupCluster → MinhashDedupFilter` on a Slurm or local executor, or Spark
# (signatures in a per-partition UDF, a `groupBy` per band key, connected components over the pairs).
#
# ## 6 · Decontamination
#
# A benchmark on the web ends up in the crawl. GPT-3 (Brown et al. 2020) removed training documents sharing
# any **13-gram** with an evaluation example. Our evaluation problems are short (9–20 tokens), so
# `curation.eval_ngram_index` puts each one's 13-grams in the index, and a problem shorter than 13 tokens
# **whole**. A text is contaminated when any window of its tokens (`curation.tokenize`: lower-cased words and
# punctuation) of a length the index holds is in the index.
#
# Write `is_contaminated(text, eval_index)`.

# %%
eval_texts = [curation.problem_text(p) for p in crawl.eval_problems]
eval_index = curation.eval_ngram_index(eval_texts)
print(eval_texts[0], "→", curation.tokenize(eval_texts[0]))
print("window lengths in the index:", sorted({len(g) for g in eval_index}))


# %% solution="is_contaminated"
def is_contaminated(text, eval_index):
    """True when some window of curation.tokenize(text), of a length present in eval_index, is in eval_index."""
    ### BEGIN SOLUTION
    tokens = curation.tokenize(text)
    for m in {len(g) for g in eval_index}:
        for i in range(len(tokens) - m + 1):
            if tuple(tokens[i:i + m]) in eval_index:
                return True
    return False
    ### END SOLUTION


# %% tests="test_is_contaminated" points=2
from llmcourse.checks import curation as checks

checks.check_is_contaminated(is_contaminated)
### BEGIN HIDDEN TESTS
checks.check_is_contaminated(is_contaminated, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Your function on every page that passed the filters, against the pages the generator wrote with a leaked
# problem:

# %%
flagged = {d.id for d in good if is_contaminated(d.text, eval_index)}
leaked = {i for i in crawl.leaked if i in row}
print(f"flagged {len(flagged)} pages; recall {len(flagged & leaked) / len(leaked):.3f}, "
      f"precision {len(flagged & leaked) / max(1, len(flagged)):.3f} against {len(leaked)} leaked pages")
print([line for line in crawl.docs[min(leaked)].text.splitlines() if "test" in line])

# %% [markdown]
# ## 7 · PII and the whole pipeline
#
# E-mail addresses, phone numbers and IP addresses are replaced by placeholders, and counted. The pipeline
# streams each page through redaction, the quality rules, exact dedup and decontamination, then removes
# near-duplicates, and reports how many pages each step removed:

# %%
print(curation.redact_pii("Write to jane.7@example.com, call 555-201-3344, server 10.0.0.12."))
kept, report = curation.curate(crawl.texts, eval_texts=eval_texts)
print(report.table())
print(collections.Counter(crawl.docs[i].kind for i in report.kept_ids))

# %% [markdown]
# ## 8 · The contamination lab
#
# Does a leak matter for a score? SFT from the base model on 800 clean task records **plus** the 100 held-out
# problems copied 4 times (a benchmark scraped from several pages), then held-out exact match; and the same
# training set after `curation.decontaminate`, which removes every record sharing a 13-gram with a held-out
# problem. Three seeds each (the package's SFT trainer and `recipes.CONTAMINATION_LAB`; trained once and cached:
# `course grade` builds it before grading, a first run here takes a few minutes).

# %%
from llmcourse.curation import lab

rows = lab.lab_results()
for name in ("contaminated", "decontaminated"):
    em = [r["exact_match"] for r in rows if r["data"] == name]
    print(f"{name:<15} held-out exact match {np.mean(em):.3f} ± {np.std(em, ddof=1):.3f}  (seeds: "
          + ", ".join(f"{x:.2f}" for x in em) + ")")
plots.plot_bars({name: np.mean([r["exact_match"] for r in rows if r["data"] == name])
                 for name in ("contaminated", "decontaminated")},
                title="held-out exact match (3 seeds)", ylabel="exact match");

# %% [markdown]
# The contaminated model "solves" the held-out problems it read during training: its score measures
# memory, not skill. Decontaminating the training data (or, if you cannot retrain, reporting the score on the
# held-out problems that were *not* leaked) gives the honest figure. This is why model reports since GPT-3
# include a contamination analysis, and why a held-out set must be checked against the training data
# *after* every scrape, dedup and augmentation step.
#
# Next: **01 · SFT data** — formats, templates, masking, and fine-tuning the model on the clean records.
