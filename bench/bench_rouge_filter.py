"""Self-Instruct's ROUGE-L filter on 5,000 instructions: llmcourse's indexed filter vs naive all-pairs.

    .venv/bin/python bench/bench_rouge_filter.py [--n 5000] [--naive-sizes 500 1000 2000]

The task: keep an instruction only if its ROUGE-L F-measure with every instruction kept so far (175
seed tasks first, as in the paper) is <= 0.7. The pool grows as instructions are kept, so the naive
filter compares candidate i with all ~i kept ones: O(n^2) LCS computations.

    naive, rouge-score   every pair through rouge-score's LCS on pre-tokenised text (what the
                         Self-Instruct code does, there spread over a process pool)
    naive, bit-parallel  every pair through llmcourse's bit-parallel LCS (no index)
    llmcourse            RougeLFilter: an inverted index bounds each pair's LCS by the shared-token
                         count and only pairs that could exceed 0.7 get an exact LCS

All three make the same decisions (checked on every size run; rouge-score's floating-point
F-measure is compared with a 1e-12 slack, since its 2PR/(P+R) can land one ulp above an exact 0.7). The instructions are synthetic: 4,000
from a small task grammar and 1,000 near-duplicates made from earlier ones with EDA (so the filter has
something to reject). The naive filters are too slow for 5,000 here; they run on smaller sizes and the
table shows their measured times, the fitted exponent of time vs n, and the extrapolation to n.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time

VERBS = ["Write", "Explain", "Describe", "Summarize", "List", "Give", "Translate", "Classify", "Rewrite", "Suggest",
         "Compare", "Generate", "Find", "Create", "Identify", "Name", "Outline", "Design", "Evaluate", "Plan"]
ADJS = ["short", "funny", "formal", "simple", "detailed", "persuasive", "creative", "clear", "brief", "polite",
        "technical", "friendly", "critical", "balanced", "vivid"]
THINGS = ["poem", "story", "email", "summary", "list", "description", "explanation", "review", "plan", "recipe",
          "dialogue", "letter", "tweet", "slogan", "outline", "quiz", "riddle", "speech", "report", "essay"]
TOPICS = ["the ocean", "climate change", "a busy city", "machine learning", "healthy breakfast", "a job interview",
          "the solar system", "remote work", "a rainy day", "ancient Rome", "electric cars", "time management",
          "a birthday party", "public transport", "honeybees", "the stock market", "friendship", "a hiking trip",
          "online privacy", "renewable energy", "a small bakery", "chess openings", "sleep", "volcanoes"]
EXTRAS = ["", "", "", " for children", " in three sentences", " using bullet points", " for a newsletter",
          " in under 50 words", " with an example", " for beginners", " in the style of a news report"]


def make_instructions(n: int, seed: int = 0) -> list[str]:
    """n instructions: ~80% from a grammar, ~20% EDA near-duplicates of earlier ones (reproducible)."""
    from llmcourse import augment

    rng = random.Random(seed)
    thesaurus = {"write": ["compose", "draft"], "short": ["brief"], "explain": ["describe", "clarify"],
                 "story": ["tale"], "list": ["enumerate"], "funny": ["humorous"], "simple": ["plain", "easy"]}
    out: list[str] = []
    while len(out) < n:
        if out and rng.random() < 0.2:
            out.append(augment.eda(rng.choice(out), num_aug=1, synonyms=thesaurus, rng=rng)[0])
        else:
            out.append(f"{rng.choice(VERBS)} a {rng.choice(ADJS)} {rng.choice(THINGS)} about "
                       f"{rng.choice(TOPICS)}{rng.choice(EXTRAS)}.")
    return out


def naive_rouge_score(instructions, n_seed, threshold=0.7):
    from rouge_score import rouge_scorer, tokenize

    tokens = [tokenize.tokenize(t, None) for t in instructions]
    pool = list(range(n_seed))
    kept = []
    for i in range(n_seed, len(instructions)):
        # + 1e-12: rouge-score's 2PR/(P+R) puts an exact 7/10 at 0.7000000000000001 (one ulp above 0.7)
        if all(rouge_scorer._score_lcs(tokens[j], tokens[i]).fmeasure <= threshold + 1e-12 for j in pool):
            pool.append(i)
            kept.append(i)
    return kept


def naive_bitparallel(instructions, n_seed, threshold=0.7):
    from llmcourse import augment

    tokens = [augment.rouge_tokenize(t) for t in instructions]
    pool = list(range(n_seed))
    kept = []
    for i in range(n_seed, len(instructions)):
        if all(augment.rouge_l(tokens[i], tokens[j]) <= threshold for j in pool):
            pool.append(i)
            kept.append(i)
    return kept


def indexed(instructions, n_seed, threshold=0.7):
    from llmcourse import augment

    pool = augment.RougeLFilter(instructions[:n_seed], threshold)
    return [i for i in range(n_seed, len(instructions)) if pool.add(instructions[i])]


def seconds(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def slope(sizes, times):
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed-tasks", type=int, default=175)
    parser.add_argument("--naive-sizes", type=int, nargs="+", default=[500, 1000, 2000])
    args = parser.parse_args(argv)
    import rouge_score.rouge_scorer  # noqa: F401  (imports NLTK: keep that out of the timings)

    data = make_instructions(args.n)
    print(f"{args.n} instructions ({args.seed_tasks} seed tasks first), threshold 0.7\n")
    ours_sizes = sorted({*args.naive_sizes, args.n // 2, args.n})
    results = {"llmcourse (indexed)": {}, "naive, bit-parallel": {}, "naive, rouge-score": {}}
    for size in ours_sizes:
        t, kept = seconds(indexed, data[:size], args.seed_tasks)
        results["llmcourse (indexed)"][size] = (t, kept)
    for size in args.naive_sizes:
        for label, fn in (("naive, bit-parallel", naive_bitparallel), ("naive, rouge-score", naive_rouge_score)):
            t, kept = seconds(fn, data[:size], args.seed_tasks)
            results[label][size] = (t, kept)
            if kept != results["llmcourse (indexed)"][size][1]:
                print(f"MISMATCH at n={size}: {label} kept {len(kept)}, indexed kept "
                      f"{len(results['llmcourse (indexed)'][size][1])}", file=sys.stderr)
                return 1
    print(f"{'filter':22s} " + " ".join(f"{'n=' + str(s):>10s}" for s in ours_sizes) + f" {'exponent':>9s} {'at n=' + str(args.n):>12s}")
    for label, runs in results.items():
        sizes = sorted(runs)
        cells = [f"{runs[s][0]:9.2f}s" if s in runs else f"{'—':>10s}" for s in ours_sizes]
        k = slope(sizes, [runs[s][0] for s in sizes]) if len(sizes) > 1 else float("nan")
        if args.n in runs:
            at_n = f"{runs[args.n][0]:11.2f}s"
        else:  # extrapolate from the largest measured size with the fitted exponent
            big = max(sizes)
            at_n = f"~{runs[big][0] * (args.n / big) ** k:10.0f}s"
        print(f"{label:22s} " + " ".join(cells) + f" {k:9.2f} {at_n:>12s}")
    kept = len(results["llmcourse (indexed)"][args.n][1])
    print(f"\nkept {kept} of {args.n - args.seed_tasks} candidates; all filters agree on every size measured "
          f"({', '.join(map(str, args.naive_sizes))}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
