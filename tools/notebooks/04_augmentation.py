# %% [markdown]
# # 04 · Data augmentation: more (and more varied) text from the text you have
#
# When good instruction or classification data is scarce you can (1) **collect** more from the right
# sources, (2) **perturb** what you have so a model sees each example in several surface forms, or (3) ask a
# model to **write** new examples. This notebook covers all three:
#
# | § | technique | you implement (points) |
# |---|---|---|
# | 1 | sourcing domain data: what to collect, PII, licences | — (reading) |
# | 2 | **EDA** — synonym replacement, random insertion, swap, deletion (Wei & Zou, 2019) | SR (2), RI (2), RS (1), RD (2) |
# | 3 | **AEDA** — random punctuation (Karimi et al., 2021) | AEDA (1) |
# | 4 | an honest experiment: does EDA/AEDA help a tiny classifier? | — |
# | 5 | **back-translation** and **masked-LM** replacement with real `transformers` models | — |
# | 6 | **Self-Instruct** (Wang et al., 2023) and its ROUGE-L novelty filter | the filter (2) |
#
# Everything runs offline on a CPU. Synonyms come from **WordNet 3.0** through NLTK when it is installed
# (`bash tools/install_wordnet.sh` does it offline; `nltk.download("wordnet")` needs NLTK's server), and
# otherwise from a small built-in thesaurus, with a notice.

# %%
import collections
import math
import random
import re
import statistics

from llmcourse import augment, tasks
from llmcourse.augment import PUNCTUATION, STOP_WORDS

rng = random.Random(0)  # every random choice in this notebook comes from a generator like this one
synonyms = augment.default_synonyms()  # WordNet if installed, else the fallback thesaurus (with a notice)
print("synonym source:", synonyms)
print("synonyms of 'quick':", synonyms("quick")[:8])

# %% [markdown]
# ## 1 · Sourcing domain data (before you augment anything)
#
# Augmentation multiplies what you have; it cannot add knowledge that is not there. For a domain model
# (medical, legal, finance, science, customer support) the first lever is *collecting* the right text:
#
# * **What to collect.** Text that looks like the inputs the model will see and the outputs you want:
#   medical — guidelines, PubMed abstracts, de-identified notes, drug labels; legal — statutes, court
#   opinions, contracts (with clause labels if you can get them); finance — filings (10-K, 10-Q),
#   earnings-call transcripts, analyst notes; science — arXiv/PMC open-access papers; support — resolved
#   tickets and chat logs with the final answer. For instruction tuning, prefer (question, expert answer)
#   pairs over raw prose: forum threads with accepted answers, FAQ pages, exam questions with worked answers.
# * **Provenance and licences.** Record for every document where it came from, when, and under which
#   terms. Licences differ in what they allow: CC-BY needs attribution, CC-BY-SA passes its terms on to
#   derivatives (Dolly-15k is CC BY-SA 3.0), "NC" licences forbid commercial use (the Alpaca data is
#   CC BY-NC 4.0, partly because it was generated with an API whose terms restrict training competing
#   models). Web pages are copyrighted by default; site terms and `robots.txt` matter; paywalled or
#   scraped-against-terms text is a legal risk even when it is technically reachable. Model-generated data
#   (Self-Instruct, §6) inherits the generator's terms of use.
# * **Personal data (PII).** Names, e-mails, phone numbers, addresses, IDs, health and financial details.
#   Collect only what you need (data minimisation), get consent or a legal basis (GDPR; HIPAA for US health
#   data), detect and redact or pseudonymise before training (regexes for structured IDs, an NER model for
#   names), and keep an audit trail. Models can memorise and regurgitate rare strings, so PII left in
#   training data can leak at inference time.
# * **Quality and contamination.** Deduplicate (exact and near-duplicate — the ROUGE-L filter of §6 is one
#   tool), remove boilerplate, and check that no evaluation item (or a paraphrase of one) is in the training
#   set. **Split before you augment**: an augmented copy of a test sentence in the training set is leakage.
# * **Internal data** (tickets, docs, reports) is often the best domain data and the most sensitive: it
#   needs the owners' permission, PII handling, and care with confidential business information.

# %% [markdown]
# ## 2 · EDA: four word-level operations
#
# EDA (Wei & Zou, 2019) makes a new sentence of $\ell$ words with one of four operations, changing
# $$n = \max\left(1, \lfloor \alpha\,\ell \rfloor\right)$$
# words for a rate $\alpha$:
#
# * **SR — synonym replacement**: pick $n$ distinct words that are not **stop words** (`the`, `of`, `not`, …)
#   and replace each by a random synonym (every occurrence of that word);
# * **RI — random insertion**: $n$ times, take a random synonym of a random non-stop word and insert it at a
#   random position;
# * **RS — random swap**: $n$ times, swap the words at two different random positions;
# * **RD — random deletion**: delete each word independently with probability $p$ — but never return an
#   empty sentence.
#
# The paper uses $\alpha = p = 0.1$ and 9 new sentences per original by default, and recommends
# $\alpha = 0.05$ with 16 augmentations for ~500 training sentences, $\alpha = 0.1$ with 4 for 5,000 or more.
# Why stop words are protected: they carry the grammar, and some carry the meaning — WordNet lists `non` as
# a synonym of `not`, which would flip a sentiment label.
#
# The package's reference, on a sentence (each variant made by one operation):

# %%
sentence = "The quick brown fox jumps over the lazy dog"
for variant in augment.eda(sentence, num_aug=6, synonyms=synonyms, rng=random.Random(1)):
    print(variant)


# %% [markdown]
# **Three traps in the usual EDA code** (including the interview-guide snippet this course started from,
# which also forgot to import `Dict` and used a hand-made synonym dictionary instead of WordNet):
#
# 1. *Global randomness.* `random.shuffle(...)` / `random.choice(...)` use the module's hidden global
#    generator: you cannot reproduce a run without seeding the whole program. Here every function takes an
#    `rng` (a `random.Random`) and draws from it only.
# 2. *Set ordering.* Collecting candidates or synonyms in a `set` makes the order depend on Python's string
#    hashing (`PYTHONHASHSEED`), so even a seeded run differs between processes. Use `dict.fromkeys(words)`
#    for "distinct, in order".
# 3. *Aliasing.* `new_words = words` does not copy; changing `new_words` changes the caller's list.
#
# In the exercises, `words` is a list of plain tokens (`sentence.split()` of clean lower-case text),
# `synonyms(word)` returns a list of synonyms (maybe empty), and `rng` is a `random.Random`.
# Return a **new** list; never change `words`.
#
# ## Exercise 1 · synonym replacement (2 points)
#
# Replace $n = \max(1, \lfloor\alpha\ell\rfloor)$ distinct non-stop words that have synonyms (with $\ell$ =
# `len(words)`, stop words included in $\ell$). Take the candidates — the distinct words not in `stop_words`,
# in order of appearance — in a random order (`rng.shuffle` a copy); for each, if it has synonyms, replace
# **every occurrence** of it by `rng.choice(synonyms(word))`; skip words without synonyms; stop after $n$
# words. With $\alpha = 0$ or no words, return an unchanged copy.

# %% solution="synonym_replacement"
def synonym_replacement(words, alpha, synonyms, rng, stop_words=STOP_WORDS):
    """SR: replace n = max(1, floor(alpha * len(words))) distinct non-stop words by a random synonym."""
    ### BEGIN SOLUTION
    new_words = list(words)
    if alpha == 0 or not words:
        return new_words
    n = max(1, math.floor(alpha * len(words)))
    candidates = [w for w in dict.fromkeys(words) if w not in stop_words]  # distinct, in order: no set()
    rng.shuffle(candidates)
    replaced = 0
    for word in candidates:
        options = [s for s in synonyms(word) if s != word]
        if not options:
            continue
        choice = rng.choice(options)
        new_words = [choice if w == word else w for w in new_words]
        replaced += 1
        if replaced == n:
            break
    return new_words
    ### END SOLUTION


# %% tests="test_synonym_replacement" points=2
from llmcourse.checks import augment as checks

checks.check_synonym_replacement(synonym_replacement)
### BEGIN HIDDEN TESTS
checks.check_synonym_replacement(synonym_replacement, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · random insertion (2 points)
#
# $n = \max(1, \lfloor\alpha\ell\rfloor)$ times: choose a random word among the sentence's distinct non-stop
# words **that have synonyms**, choose one of its synonyms, and insert it at a random position
# (`rng.randint(0, len(new_words))` allows both ends). If no non-stop word has a synonym, return an unchanged
# copy — and make sure your loop cannot run forever in that case.

# %% solution="random_insertion"
def random_insertion(words, alpha, synonyms, rng, stop_words=STOP_WORDS):
    """RI: n times, insert a random synonym of a random non-stop word at a random position."""
    ### BEGIN SOLUTION
    new_words = list(words)
    if alpha == 0 or not words:
        return new_words
    n = max(1, math.floor(alpha * len(words)))
    sources = [w for w in dict.fromkeys(words) if w not in stop_words and synonyms(w)]
    if not sources:
        return new_words
    for _ in range(n):
        word = rng.choice(sources)
        new_words.insert(rng.randint(0, len(new_words)), rng.choice(synonyms(word)))
    return new_words
    ### END SOLUTION


# %% tests="test_random_insertion" points=2
from llmcourse.checks import augment as checks

checks.check_random_insertion(random_insertion)
### BEGIN HIDDEN TESTS
checks.check_random_insertion(random_insertion, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 · random swap (1 point)
#
# $n = \max(1, \lfloor\alpha\ell\rfloor)$ times, swap the words at two **different** random positions
# (`rng.sample(range(len(words)), 2)` gives two distinct indices). Fewer than two words: nothing to swap.

# %% solution="random_swap"
def random_swap(words, alpha, rng):
    """RS: n times, swap the words at two distinct random positions."""
    ### BEGIN SOLUTION
    new_words = list(words)
    if alpha == 0 or len(new_words) < 2:
        return new_words
    for _ in range(max(1, math.floor(alpha * len(words)))):
        i, j = rng.sample(range(len(new_words)), 2)
        new_words[i], new_words[j] = new_words[j], new_words[i]
    return new_words
    ### END SOLUTION


# %% tests="test_random_swap" points=1
from llmcourse.checks import augment as checks

checks.check_random_swap(random_swap)
### BEGIN HIDDEN TESTS
checks.check_random_swap(random_swap, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4 · random deletion (2 points)
#
# Delete each word independently with probability $p$: keep it when `rng.random() >= p`. If every word was
# deleted, keep one word chosen with `rng.choice(words)`; a sentence of one word (or none) comes back as it
# is. The deletion rate must be $p$, not $1 - p$.

# %% solution="random_deletion"
def random_deletion(words, p, rng):
    """RD: delete each word with probability p; never return an empty sentence."""
    ### BEGIN SOLUTION
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() >= p]
    return kept if kept else [rng.choice(words)]
    ### END SOLUTION


# %% tests="test_random_deletion" points=2
from llmcourse.checks import augment as checks

checks.check_random_deletion(random_deletion)
### BEGIN HIDDEN TESTS
checks.check_random_deletion(random_deletion, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Your four operations make an EDA of your own. Each variant uses one operation, in turn; one generator is
# passed through, so the variants differ and the whole run is reproducible:

# %%
TOKEN = re.compile(r"\w+|[^\w\s]")


def clean(text):
    """Lower-case words and punctuation as separate tokens: 'Reverse the list.' -> 'reverse the list .'"""
    return " ".join(TOKEN.findall(text.lower()))


def my_eda(sentence, num_aug, rng, alpha=0.1, p=0.1):
    words = clean(sentence).split()
    if not words:
        return []
    operations = [
        lambda w: synonym_replacement(w, alpha, synonyms, rng),
        lambda w: random_insertion(w, alpha, synonyms, rng),
        lambda w: random_swap(w, alpha, rng),
        lambda w: random_deletion(w, p, rng),
    ]
    start = rng.randrange(4)
    return [" ".join(operations[(start + i) % 4](words)) for i in range(num_aug)]


for variant in my_eda("Sort the list of numbers in ascending order.", 8, random.Random(2)):
    print(variant)


# %% [markdown]
# ## 3 · AEDA: insert punctuation
#
# AEDA (Karimi et al., 2021) is simpler still: insert $q$ punctuation marks from `. , ! ? ; :` before $q$
# distinct random words, with $q$ drawn uniformly from $1 \dots \max(1, \lfloor \ell/3 \rfloor)$. No word is
# changed, removed or moved, so the meaning survives; the model sees the words in a new context. The paper
# reports it beating EDA on several text-classification sets with CNN/RNN classifiers.
#
# ## Exercise 5 · AEDA (1 point)
#
# Draw `q = rng.randint(1, max(1, len(words) // 3))`, pick `q` distinct positions with `rng.sample`, and put
# `rng.choice(punctuation)` before the word at each of them. Use the `punctuation` argument; an empty input
# gives `[]`.

# %% solution="insert_punctuation"
def insert_punctuation(words, rng, punctuation=PUNCTUATION):
    """AEDA: insert 1..max(1, len // 3) marks before distinct random words."""
    ### BEGIN SOLUTION
    if not words:
        return []
    q = rng.randint(1, max(1, len(words) // 3))
    positions = set(rng.sample(range(len(words)), q))
    out = []
    for i, word in enumerate(words):
        if i in positions:
            out.append(rng.choice(list(punctuation)))
        out.append(word)
    return out
    ### END SOLUTION


# %% tests="test_insert_punctuation" points=1
from llmcourse.checks import augment as checks

checks.check_insert_punctuation(insert_punctuation)
### BEGIN HIDDEN TESTS
checks.check_insert_punctuation(insert_punctuation, hidden=True)
### END HIDDEN TESTS

# %%
def my_aeda(sentence, num_aug, rng):
    words = clean(sentence).split()
    return [" ".join(insert_punctuation(words, rng)) for _ in range(num_aug)] if words else []


for variant in my_aeda("How many numbers are in the list?", 4, random.Random(3)):
    print(variant)

# %% [markdown]
# ## 4 · Does it help? A small, honest experiment
#
# **Task.** Route an instruction to one of the task world's five tasks (`reverse`, `sort`, `max`, `count`,
# `add`) — a five-way intent classifier, the kind of model that decides which tool or prompt handles a request.
# Below are twelve phrasings per task, written for this course. We train on only **3 phrasings per task**
# (15 sentences) and test on the other 45, with and without 8 EDA or AEDA variants per training sentence,
# using *your* `my_eda` and `my_aeda`.
#
# **Model.** Multinomial naive Bayes over word and punctuation tokens (add-one smoothing): tiny, exact, no
# training noise — so differences come from the data. **Protocol.** 40 random train/test splits; every
# method sees the same splits, and we report the mean accuracy and the mean *paired* difference to "no
# augmentation" with its standard error. Whatever comes out is the result.

# %%
INTENTS = {
    "reverse": ["Reverse the list.", "Flip the order of these numbers.", "Write the sequence backwards.",
                "Invert the order of the digits.", "Turn this list around.", "Give the numbers in reverse order.",
                "Read the list from the end to the start.", "Put the last number first and the first number last.",
                "Reverse the sequence of digits.", "Show these numbers backwards.", "Flip the list.",
                "Return the list in the opposite order."],
    "sort": ["Sort the list in ascending order.", "Arrange the numbers from smallest to largest.",
             "Order these digits from low to high.", "Put the numbers in increasing order.", "Sort these numbers.",
             "Rank the values from the lowest to the highest.", "Arrange the list in ascending order.",
             "Organize the digits in order of size.", "Give the sequence sorted.", "Order the list.",
             "Place the numbers in ascending sequence.", "Rearrange the values so they increase."],
    "max": ["What is the largest number?", "Which number is the biggest?", "Find the maximum of the list.",
            "Give the highest value.", "Return the greatest number in the sequence.", "Pick the largest digit.",
            "Which value is the greatest?", "Name the biggest number in the list.", "Find the highest number.",
            "What is the maximum value?", "Tell me the top value.", "Select the largest element."],
    "count": ["How many numbers are in the list?", "Count the numbers.", "Give the length of the list.",
              "Tell me how many digits there are.", "How long is this sequence?", "Count the items in the list.",
              "What is the number of elements?", "How many values does the list contain?", "Count the digits.",
              "Report the size of the list.", "How many entries are there?", "Find the length of the sequence."],
    "add": ["Add the two numbers.", "What is the sum of the numbers?", "Sum the values.", "Give the total.",
            "Compute the sum.", "Add these digits together.", "What do the two numbers add up to?",
            "Calculate the total of both numbers.", "Find the sum of the pair.", "Combine the two values by addition.",
            "Return the sum.", "Work out the total of the numbers."],
}
assert set(INTENTS) == set(tasks.TASKS)


def naive_bayes_accuracy(train, test):
    """Fit multinomial naive Bayes on (text, label) pairs; accuracy on the test pairs."""
    counts = {label: collections.Counter() for label in INTENTS}
    prior = collections.Counter(label for _, label in train)
    for text, label in train:
        counts[label].update(clean(text).split())
    vocab = set().union(*counts.values())
    totals = {label: sum(c.values()) for label, c in counts.items()}

    def log_score(text, label):
        return math.log(prior[label]) + sum(
            math.log((counts[label][w] + 1) / (totals[label] + len(vocab))) for w in clean(text).split() if w in vocab)

    return sum(max(INTENTS, key=lambda lab: log_score(text, lab)) == label for text, label in test) / len(test)


def experiment(augmenter, splits=40, per_class=3, num_aug=8):
    accuracies = []
    for split in range(splits):
        split_rng = random.Random(split)  # the same split for every method
        train, test = [], []
        for label, texts in INTENTS.items():
            shuffled = split_rng.sample(texts, len(texts))
            train += [(t, label) for t in shuffled[:per_class]]
            test += [(t, label) for t in shuffled[per_class:]]
        if augmenter is not None:
            aug_rng = random.Random(1000 + split)
            train += [(v, label) for text, label in train for v in augmenter(text, num_aug, aug_rng)]
        accuracies.append(naive_bayes_accuracy(train, test))
    return accuracies


results = {"no augmentation": experiment(None), "EDA (yours)": experiment(my_eda), "AEDA (yours)": experiment(my_aeda)}
base = results["no augmentation"]
for name, acc in results.items():
    diffs = [a - b for a, b in zip(acc, base)]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if any(diffs) else 0.0
    print(f"{name:16s} accuracy {statistics.mean(acc):.3f}   vs none: {statistics.mean(diffs):+.3f} ± {se:.3f} (s.e.)")
print("synonyms from:", synonyms)

# %% [markdown]
# **Reading the numbers.** A paired difference smaller than about two standard errors is not evidence of an
# effect. Things to notice, whatever your run shows:
#
# * With 15 training sentences, EDA can only help if its synonyms or insertions produce words that the test
#   phrasings use ("flip", "invert", "arrange", …). With WordNet many do; with the small fallback thesaurus
#   far fewer — EDA then mostly reshuffles words the classifier already knows.
# * Naive Bayes ignores word order, so random **swap** cannot change its view of a sentence at all, and AEDA
#   only adds punctuation counts (shared by all classes). Sequence models (the CNNs/RNNs of the EDA and AEDA
#   papers, or a transformer) *can* profit from order and punctuation noise; a bag of words cannot.
# * The gains reported in the papers are largest for small training sets and shrink with more data.
#   Augmentation is a regulariser, not a source of knowledge.
#
# ## 5 · Model-based augmentation: back-translation and masked-LM replacement
#
# **Back-translation.** Translate to a pivot language and back: "The movie was great" → German →
# "The film was great". Several pivots (German, French, Russian, …) give several paraphrases; duplicates and
# round trips equal to the original are dropped. `augment.Translator` wraps any `transformers` seq2seq
# translation model (`Helsinki-NLP/opus-mt-en-de`, T5 with a `"translate English to German: "` prefix, NLLB
# with language codes) and translates in batches; `augment.back_translate` runs the round trips.
#
# **Masked-LM replacement.** Mask a few words and let a fill-mask model (BERT, RoBERTa) propose replacements
# in context — usually more fluent than WordNet synonyms, and context-aware ("bank" of a river vs. a bank
# account). Which words to mask matters: masking content words changes the meaning more; the seed guide
# suggests masking *less important* words, e.g. those with a low TF-IDF score, to preserve it. The original
# word must never count as its own "variation".
#
# Both need pretrained weights (hundreds of MB) from the Hugging Face hub, so they are behind a flag here.
# The package's tests check the mechanism with tiny randomly initialised models.

# %%
ONLINE = False  # set to True on a machine with internet access (downloads ~1 GB of models)

if ONLINE:
    pivots = [
        (augment.Translator.from_pretrained("Helsinki-NLP/opus-mt-en-de"),
         augment.Translator.from_pretrained("Helsinki-NLP/opus-mt-de-en")),
        (augment.Translator.from_pretrained("Helsinki-NLP/opus-mt-en-fr"),
         augment.Translator.from_pretrained("Helsinki-NLP/opus-mt-fr-en")),
    ]
    print(augment.back_translate(["The movie was great, but the ending was far too long."], pivots))

    from transformers import AutoModelForMaskedLM, AutoTokenizer

    mlm_tokenizer = AutoTokenizer.from_pretrained("distilbert-base-uncased")
    mlm_model = AutoModelForMaskedLM.from_pretrained("distilbert-base-uncased")
    print(augment.mlm_augment(["The movie was great, but the ending was far too long."], mlm_model, mlm_tokenizer,
                              num_aug=3, selection="tfidf", rng=0))
else:
    print("Offline: set ONLINE = True to run back-translation and MLM augmentation with real models.")

# %% [markdown]
# Choosing what to mask runs without a model. Here are the masking weights of the two heuristics on one
# instruction, with document frequencies from the 60 intent phrasings above: `"stopwords"` gives every
# content word the same chance; `"tfidf"` favours the common, low-information words (weight $1/\mathrm{tfidf}$):

# %%
corpus = [t for texts in INTENTS.values() for t in texts]
idf = augment.compute_idf([clean(t) for t in corpus])
words = clean("Return the greatest number in the sequence.").split()
for heuristic in ("stopwords", "tfidf"):
    weights = augment.mask_weights(words, heuristic, idf=idf)
    total = sum(weights)
    print(f"{heuristic:10s}", "  ".join(f"{w}:{x / total:.2f}" for w, x in zip(words, weights)))

# %% [markdown]
# ## 6 · Self-Instruct: a model writes the data
#
# Self-Instruct (Wang et al., 2023) grows an instruction set from 175 human-written seed tasks: put a few
# seed tasks (and a few generated ones) in a prompt, let the model continue it with new tasks, parse them,
# and **filter**:
#
# * length: between 3 and 150 words; no instruction starting with punctuation;
# * keywords: nothing a text model cannot do (images, graphs, files, …);
# * **novelty**: keep a new instruction only if its ROUGE-L with *every* instruction in the pool so far
#   (seeds and instructions kept earlier) is at most 0.7.
#
# ROUGE-L compares token sequences through their longest common subsequence (LCS):
# $$P = \frac{\mathrm{LCS}(a, b)}{|a|}, \quad R = \frac{\mathrm{LCS}(a, b)}{|b|}, \quad
# \text{ROUGE-L} = \frac{2PR}{P + R} = \frac{2\,\mathrm{LCS}(a, b)}{|a| + |b|}.$$
# Alpaca (Taori et al., 2023) used the same recipe with a stronger model to make its 52K examples.
# `augment.rouge_l` computes it (tokens = lower-cased runs of letters and digits, as the `rouge-score`
# package does), with an exact bit-parallel LCS:

# %%
print(augment.rouge_l("Sort the list.", "Sort the numbers in the list."))   # LCS 3, (2*3)/(3+6)
print(augment.rouge_l("Write a haiku about autumn.", "Write a haiku about autumn leaves."))


# %% [markdown]
# ## Exercise 6 · the ROUGE-L filter (2 points)
#
# Return the candidates to keep, in order. A candidate is kept when its `augment.rouge_l` with every
# instruction in the pool is **≤ `threshold`**; the pool starts as `existing` and **grows with every kept
# candidate** (two near-copies in the same batch must not both survive). Don't modify `existing`.

# %% solution="rouge_l_filter"
def rouge_l_filter(candidates, existing, threshold=0.7):
    """Self-Instruct's novelty filter: keep a candidate if ROUGE-L <= threshold with every pooled instruction."""
    ### BEGIN SOLUTION
    pool = list(existing)
    kept = []
    for candidate in candidates:
        if all(augment.rouge_l(candidate, other) <= threshold for other in pool):
            kept.append(candidate)
            pool.append(candidate)
    return kept
    ### END SOLUTION


# %% tests="test_rouge_l_filter" points=2
from llmcourse.checks import augment as checks

checks.check_rouge_l_filter(rouge_l_filter)
### BEGIN HIDDEN TESTS
checks.check_rouge_l_filter(rouge_l_filter, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Your filter compares each candidate with the whole pool: $O(n^2)$ LCS computations for $n$ instructions.
# The package's `RougeLFilter` makes the same decisions much faster: since
# $\mathrm{LCS}(a, b) \le \sum_t \min(c_a(t), c_b(t))$ (the shared tokens), an inverted index finds the few
# pooled instructions that *could* exceed the threshold and computes the LCS only for those
# (`bench/bench_rouge_filter.py` times both on 5,000 instructions). Same answers on a batch:

# %%
pool = [INTENTS[t][0] for t in INTENTS]
candidates = [v for t in corpus[:20] for v in my_eda(t, 2, random.Random(4))]
mine = rouge_l_filter(candidates, pool)
assert mine == augment.rouge_l_filter(candidates, pool)
print(f"kept {len(mine)} of {len(candidates)} EDA variants as novel enough, e.g.:", mine[:3])

# %% [markdown]
# Finally the whole pipeline. `augment.self_instruct` takes Alpaca records as seeds and any **generator**: a
# function from a list of prompts to a list of completions — an API client, a local model through
# `augment.hf_generator(model, tokenizer)`, or, here, an offline **stand-in**. The stand-in is not a language
# model: it "writes" tasks by paraphrasing the examples in its prompt (with your EDA) and now and then
# proposes an off-limits task, which is exactly what the filters are for. With a real instruction-tuned model
# you would pass `augment.hf_generator(model, tokenizer)` instead.

# %%
SEED_TASKS = [tasks.to_record(p) for p in tasks.problems(5, seed=11)] + [
    {"instruction": "Give three synonyms for the word happy.", "input": "", "output": "glad, cheerful, joyful"},
    {"instruction": "Rewrite the sentence in the passive voice.", "input": "The cat chased the mouse.",
     "output": "The mouse was chased by the cat."},
    {"instruction": "Classify the review as positive or negative.", "input": "The food was cold and bland.",
     "output": "negative"},
    {"instruction": "Explain in one sentence why the sky is blue.", "input": "",
     "output": "Air molecules scatter blue light more than red light."},
]


def stand_in_generator(prompts, rng=random.Random(5)):
    """NOT a language model: paraphrases the prompt's examples with EDA, sometimes asks for a drawing."""
    completions = []
    for prompt in prompts:
        examples, _ = augment.parse_tasks(prompt.split("Task 1\nInstruction:", 1)[1])
        new_tasks = []
        for example in rng.sample(examples, min(3, len(examples))):
            new = my_eda(example["instruction"], 1, rng, alpha=0.3)[0]
            new = new[0].upper() + new[1:]
            if rng.random() < 0.15:
                new = "Draw a picture that shows how to " + new[0].lower() + new[1:]
            new_tasks.append(f" {new}\nInput: {example['input'] or '<none>'}\nOutput: {example['output']}")
        completions.append("\n\nTask 99\nInstruction:".join(new_tasks))
    return completions


result = augment.self_instruct(SEED_TASKS, stand_in_generator, num_instructions=8, batch_size=4, max_calls=10,
                               num_seed_tasks=4, num_generated_tasks=2, rng=random.Random(6))
print(result.stats)
for record in result.records[:5]:
    print(record)

# %% [markdown]
# The stats show where candidates went: most near-paraphrases fail the ROUGE-L test, the "draw a picture"
# tasks fail the keyword filter. Now read the records that were *kept*: word-level noise can make an
# instruction ungrammatical or change what it asks while the output stays the same — novel and well-formed
# by the filters' standards, and still bad data. Two warnings for real use:
#
# * the filters check **novelty and form, not correctness** — Self-Instruct's authors found many generated
#   outputs wrong; review a sample, or verify answers automatically where you can (as the task world does);
# * generated data inherits the generator's **licence and terms**, and its biases.
#
# ## Summary
#
# * Collect the right data first; track licences and remove PII; split before augmenting.
# * EDA: $n = \max(1, \lfloor\alpha\ell\rfloor)$ changes; protect stop words; never return an empty sentence;
#   never change the caller's list; pass one generator through so runs are reproducible *and* varied.
# * AEDA keeps every word and adds 1…⌊ℓ/3⌋ marks; it is cheap and safe for labels.
# * For instruction data, augment the **instruction** (and the input only when the answer does not depend on
#   its exact words): `augment.augment_records(records, augment.EDA(), fields=("instruction",))`. Never add
#   noise to the output unless you want the model to produce noise.
# * Measure: the effect of augmentation is an empirical question, and often small.
