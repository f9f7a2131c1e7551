"""EDA throughput: llmcourse.augment against nlpaug, on the same sentences and the same WordNet data.

    .venv/bin/pip install nlpaug            # bench-only dependency
    bash tools/install_wordnet.sh           # WordNet 3.0 for NLTK, offline
    .venv/bin/python bench/bench_eda.py [--sentences 1000] [--repeats 7]

Operations compared (text in, text out, 10% of the words, at least one):

    synonym replacement   augment.synonym_replacement + WordNet   vs  nlpaug SynonymAug(aug_src="wordnet")
    random deletion       augment.random_deletion                 vs  nlpaug RandomWordAug(action="delete")
    random swap           augment.random_swap                     vs  nlpaug RandomWordAug(action="swap")
    EDA, 3 variants       augment.eda(SR, RS, RD; num_aug=3)      vs  the three nlpaug augmenters, once each

Both read WordNet through NLTK from the same files. nlpaug's SynonymAug first POS-tags every sentence with
NLTK's perceptron tagger, whose model NLTK downloads from its data server (not reachable here). The bench
replaces that tagger with a stub that tags every token as unknown: nlpaug then looks synonyms up for every
part of speech, as llmcourse does, and skips the tagging work — so the synonym ratio below is a lower
bound on the real one. Our synonym source caches per word: every repeat starts with an empty cache.

Timing: one warm-up pass, then `repeats` rounds with the two implementations interleaved (A B, then
B A, ...). Reported: sentences/s (median) and the median ratio with its min–max over rounds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import warnings

VOCAB = {
    "det": ["the", "a", "this", "that", "every", "one"],
    "adj": ["quick", "lazy", "happy", "sad", "bright", "dark", "small", "large", "old", "new", "strange", "quiet",
            "loud", "clever", "brave", "gentle", "bitter", "sweet", "cold", "warm", "heavy", "light", "rich", "poor"],
    "noun": ["dog", "cat", "movie", "book", "teacher", "student", "city", "river", "car", "house", "company", "market",
             "doctor", "patient", "garden", "computer", "phone", "song", "story", "child", "window", "road", "plan",
             "meal", "friend", "team", "game", "letter", "picture", "idea", "problem", "answer", "village", "storm"],
    "verb": ["sees", "likes", "finds", "builds", "follows", "watches", "helps", "carries", "opens", "reads", "writes",
             "sells", "buys", "breaks", "fixes", "changes", "leaves", "visits", "answers", "describes"],
    "adv": ["quickly", "slowly", "quietly", "happily", "rarely", "often", "carefully", "suddenly", "badly", "well"],
    "prep": ["near", "behind", "under", "beside", "after", "before", "with", "without", "around", "inside"],
}


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """Varied English sentences (12–22 words) from a small grammar, reproducible."""
    rng = random.Random(seed)
    pick = lambda kind: rng.choice(VOCAB[kind])  # noqa: E731
    out = []
    for _ in range(n):
        clause = lambda: f"{pick('det')} {pick('adj')} {pick('noun')} {pick('adv')} {pick('verb')} {pick('det')} {pick('noun')}"  # noqa: E731
        s = f"{clause()} {pick('prep')} {pick('det')} {pick('adj')} {pick('noun')}"
        if rng.random() < 0.6:
            s += f" and {clause()}"
        out.append(s[0].upper() + s[1:] + ".")
    return out


def timed(fn, sentences) -> float:
    t0 = time.perf_counter()
    for s in sentences:
        fn(s)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    from llmcourse import augment

    if not augment.wordnet_available():
        print("WordNet is not installed: run `bash tools/install_wordnet.sh` first.", file=sys.stderr)
        return 2
    try:
        import nlpaug
        import nlpaug.augmenter.word as naw
        import nlpaug.model.word_dict as nmw
    except ImportError:
        print("nlpaug is not installed: `.venv/bin/pip install nlpaug` (bench-only).", file=sys.stderr)
        return 2

    # nlpaug's POS tagger needs NLTK data that cannot be downloaded here: tag every token as unknown
    # ('' maps to no WordNet part of speech, so nlpaug looks synonyms up for all of them).
    nmw.WordNet.pos_tag = classmethod(lambda cls, tokens: [(t, "") for t in tokens])

    sentences = make_sentences(args.sentences)
    warm = make_sentences(100, seed=1)
    stops = sorted(augment.STOP_WORDS)
    augment.WordNetSynonyms().load()  # loads NLTK's WordNet reader once (not timed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        syn_aug = naw.SynonymAug(aug_src="wordnet", aug_p=0.1, aug_min=1, stopwords=stops)
        del_aug = naw.RandomWordAug(action="delete", aug_p=0.1, aug_min=1)
        swap_aug = naw.RandomWordAug(action="swap", aug_p=0.1, aug_min=1)
    random.seed(0)  # nlpaug draws from the global `random` / numpy generators

    rng = random.Random(0)
    state = {"wn": augment.WordNetSynonyms()}

    def ours_sr(s):
        return " ".join(augment.synonym_replacement(s.split(), 0.1, state["wn"], rng))

    def ours_rd(s):
        return " ".join(augment.random_deletion(s.split(), 0.1, rng))

    def ours_rs(s):
        return " ".join(augment.random_swap(s.split(), 0.1, rng))

    def ours_eda(s):
        return augment.eda(s, alpha_sr=0.1, alpha_ri=0, alpha_rs=0.1, p_rd=0.1, num_aug=3, synonyms=state["wn"], rng=rng)

    def theirs_eda(s):
        return [syn_aug.augment(s)[0], swap_aug.augment(s)[0], del_aug.augment(s)[0]]

    pairs = [
        ("synonym replacement (WordNet)", ours_sr, lambda s: syn_aug.augment(s)),
        ("random deletion", ours_rd, lambda s: del_aug.augment(s)),
        ("random swap", ours_rs, lambda s: swap_aug.augment(s)),
        ("EDA: SR+RS+RD, 3 variants", ours_eda, theirs_eda),
    ]
    print(f"nlpaug {nlpaug.__version__}; {len(sentences)} sentences of "
          f"{statistics.mean(len(s.split()) for s in sentences):.1f} words on average; {args.repeats} interleaved rounds\n")
    print(f"{'operation':32s} {'llmcourse sent/s':>17s} {'nlpaug sent/s':>14s} {'ratio (median)':>15s} {'min–max':>12s}")
    for label, ours, theirs in pairs:
        timed(ours, warm), timed(theirs, warm)  # warm-up (NLTK's synset cache, code paths)
        t_ours, t_theirs, ratios = [], [], []
        for r in range(args.repeats):
            state["wn"] = augment.WordNetSynonyms()  # empty per-word cache every round
            order = [(ours, t_ours), (theirs, t_theirs)]
            for fn, sink in (order if r % 2 == 0 else order[::-1]):
                sink.append(timed(fn, sentences))
            ratios.append(t_theirs[-1] / t_ours[-1])
        n = len(sentences)
        print(f"{label:32s} {n / statistics.median(t_ours):17,.0f} {n / statistics.median(t_theirs):14,.0f} "
              f"{statistics.median(ratios):14.1f}× {min(ratios):5.1f}–{max(ratios):.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
