"""Self-Instruct's ROUGE-L filter on 5,000 instructions: llmcourse's indexed filter vs naive all-pairs.

    .venv/bin/python bench/bench_rouge_filter.py [--n 5000] [--sizes 500 1000 2000] [--rouge-score-max 2000]

The task: keep an instruction only if its ROUGE-L F-measure with every instruction kept so far (175
seed tasks first, as in the paper) is <= 0.7. The pool grows as instructions are kept, so the naive
filter compares candidate i with up to all ~i kept ones: the number of LCS computations grows with
n x (pool size), quadratically once the kept instructions outnumber the seeds.

    naive, rouge-score   every pair through rouge-score's LCS on pre-tokenised text (what the
                         Self-Instruct code does, there spread over a process pool)
    naive, bit-parallel  every pair through llmcourse's bit-parallel LCS (no index)
    llmcourse            RougeLFilter: an inverted index bounds each pair's LCS by the shared-token
                         count and only pairs that could exceed 0.7 get an exact LCS

All three make the same decisions (checked on every size run; rouge-score's floating-point
F-measure is compared with a 1e-12 slack, since its 2PR/(P+R) can land one ulp above an exact 0.7).
Both naive filters stop at the first too-similar pooled instruction, in the same order, so they do
the same pairs: rouge-score, too slow to run at every size, is extrapolated as its measured time per
pair times the pair count of the bit-parallel run. The instructions are synthetic: ~80% from a small
task grammar and ~20% near-duplicates made from earlier ones with EDA.
"""

from __future__ import annotations

import argparse
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


def naive(instructions, n_seed, similar, tokenize, threshold=0.7):
    """All-pairs filter; returns (kept indices, pairs compared)."""
    tokens = [tokenize(t) for t in instructions]
    pool, kept, pairs = list(range(n_seed)), [], 0
    for i in range(n_seed, len(instructions)):
        ok = True
        for j in pool:
            pairs += 1
            if similar(tokens[i], tokens[j]) > threshold:
                ok = False
                break
        if ok:
            pool.append(i)
            kept.append(i)
    return kept, pairs


def naive_rouge_score(instructions, n_seed, threshold=0.7):
    from rouge_score import rouge_scorer, tokenize

    # - 1e-12: rouge-score's 2PR/(P+R) puts an exact 7/10 at 0.7000000000000001 (one ulp above 0.7)
    return naive(instructions, n_seed, lambda a, b: rouge_scorer._score_lcs(b, a).fmeasure - 1e-12,
                 lambda t: tokenize.tokenize(t, None), threshold)


def naive_bitparallel(instructions, n_seed, threshold=0.7):
    from llmcourse import augment

    return naive(instructions, n_seed, augment.rouge_l, augment.rouge_tokenize, threshold)


def indexed(instructions, n_seed, threshold=0.7):
    from llmcourse import augment

    pool = augment.RougeLFilter(instructions[:n_seed], threshold)
    kept = [i for i in range(n_seed, len(instructions)) if pool.add(instructions[i])]
    return kept, pool.comparisons


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed-tasks", type=int, default=175)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--rouge-score-max", type=int, default=2000, help="largest n run with rouge-score")
    args = parser.parse_args(argv)
    import rouge_score.rouge_scorer  # noqa: F401  (imports NLTK: keep that out of the timings)

    data = make_instructions(args.n)
    sizes = sorted({*args.sizes, args.n})
    runs = {"llmcourse (indexed)": (indexed, sizes), "naive, bit-parallel": (naive_bitparallel, sizes),
            "naive, rouge-score": (naive_rouge_score, [s for s in sizes if s <= args.rouge_score_max])}
    table: dict[str, dict[int, tuple[float, list[int], int]]] = {}
    for label, (fn, run_sizes) in runs.items():
        table[label] = {}
        for size in run_sizes:
            seconds, (kept, pairs) = timed(fn, data[:size], args.seed_tasks)
            table[label][size] = (seconds, kept, pairs)
            reference = table["llmcourse (indexed)"][size][1]
            if kept != reference:
                print(f"MISMATCH at n={size}: {label} kept {len(kept)}, indexed kept {len(reference)}", file=sys.stderr)
                return 1
    # rouge-score at sizes it did not run: its time per pair x the (identical) pair count of the naive run
    rs, bp = table["naive, rouge-score"], table["naive, bit-parallel"]
    per_pair = rs[max(rs)][0] / rs[max(rs)][2]
    for size in sizes:
        if size not in rs:
            rs[size] = (per_pair * bp[size][2], bp[size][1], bp[size][2])

    print(f"{args.n} instructions ({args.seed_tasks} seed tasks first), threshold 0.7; "
          f"kept {len(table['llmcourse (indexed)'][args.n][1])} of {args.n - args.seed_tasks} candidates\n")
    head = " ".join(f"{'n=' + str(s):>11s}" for s in sizes)
    print(f"{'seconds':22s} {head}")
    for label, row in table.items():
        cells = []
        for s in sizes:
            measured = label != "naive, rouge-score" or s <= args.rouge_score_max
            cells.append(f"{row[s][0]:10.2f}{' ' if measured else '*'}")
        print(f"{label:22s} {' '.join(cells)}")
    print(f"\n{'exact LCS computations':22s} {head}")
    for label in ("llmcourse (indexed)", "naive, bit-parallel"):
        print(f"{label:22s} " + " ".join(f"{table[label][s][2]:11,d}" for s in sizes))
    big, ours = args.n, table["llmcourse (indexed)"][args.n][0]
    note = " (* extrapolated: time per pair x pair count)" if big > args.rouge_score_max else ""
    print(f"\nat n={big}: llmcourse {ours:.2f} s; naive bit-parallel {bp[big][0] / ours:.0f}x slower, "
          f"naive rouge-score {rs[big][0] / ours:.0f}x slower{note}; same decisions at every size run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
