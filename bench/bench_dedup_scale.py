"""Near-duplicate detection at scale: MinHash + LSH on a generated crawl (default 120 000 pages, ≥ 100 000 of
which pass the quality rules and go through near-dup detection).

In the pipeline's order: the quality rules first (timed apart), then near-dup detection on the pages
that pass them, each step timed (wall and CPU seconds: on a busy machine the CPU figure is the one
that transfers) in one process with OMP_NUM_THREADS=1. Recall and precision against the crawl's known
duplicates: every pair of pages copied from one original (``Crawl.duplicate_pairs``) among the pages
that passed the filters. (Run on *all* pages, the 4 % spam pages — near-copies of each other that the
generator does not list as pairs — make millions of candidate pairs: filter first.)

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_dedup_scale.py [--docs 120000] [--num-perm 128 --bands 32 --rows 4]

Running it distributed: the same steps map onto datatrove's MinHash pipeline (MinhashDedupSignature →
MinhashDedupBuckets → MinhashDedupCluster → MinhashDedupFilter, each a stage on a Slurm or local
executor with tasks sharding the input) or onto Spark (signatures with a UDF per partition, then one
groupBy per band key and a connected-components pass over the pairs) — see bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from llmcourse import curation  # noqa: E402
from llmcourse.curation import dedup  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=120_000)  # ≥ 100k pass the quality rules (84.5 %)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--bands", type=int, default=32)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--threshold", type=float, default=0.7)
    args = ap.parse_args()

    t0 = time.perf_counter()
    crawl = curation.web_crawl(args.docs, seed=args.seed)
    t_gen = time.perf_counter() - t0
    texts = crawl.texts
    words = sum(len(t.split()) for t in texts)
    print(f"crawl: {len(texts)} pages, {words} words, generated in {t_gen:.1f} s (not timed below)")

    def timed(label, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        times[label] = (time.perf_counter() - w, time.process_time() - c)
        return out

    times: dict[str, tuple[float, float]] = {}
    good = timed("quality rules", lambda: [d.id for d in crawl.docs if not curation.failed_rules(d.text)])
    print(f"{len(good)} pages pass the quality rules: {times['quality rules'][0]:.1f} s wall, "
          f"{times['quality rules'][1]:.1f} s CPU (not part of near-dup detection)")
    del times["quality rules"]
    hashes = timed("shingle hashes", lambda: [dedup.shingle_hashes(dedup.word_shingles(texts[i])) for i in good])
    a, b = dedup.minhash_permutations(args.num_perm, args.seed)
    sigs = timed("signatures", lambda: dedup.minhash_signatures(hashes, a, b))
    cands = timed("LSH banding", lambda: dedup.lsh_candidate_pairs(sigs, args.bands, args.rows))
    local = timed("signature check", lambda: {(i, j) for i, j in cands
                                              if np.mean(sigs[i] == sigs[j]) >= args.threshold})
    pairs = {(good[i], good[j]) for i, j in local}
    for k, (w, c) in times.items():
        print(f"  {k:<16} {w:6.1f} s wall {c:6.1f} s CPU")
    wall, cpu = sum(w for w, _ in times.values()), sum(c for _, c in times.values())
    print(f"near-dup detection: {wall:.1f} s wall, {cpu:.1f} s CPU for {len(good)} pages "
          f"(1 process, busy machine), {len(cands)} candidates, {len(pairs)} pairs")

    kept = set(good)
    truth = {p for p in crawl.duplicate_pairs() if set(p) <= kept}
    near = {p for p in crawl.near_dup_pairs if set(p) <= kept}
    print(f"recall (generated near-duplicates found): {len(pairs & near) / len(near):.4f} of {len(near)}")
    print(f"recall (every known duplicate pair):      {len(pairs & truth) / len(truth):.4f} of {len(truth)}")
    print(f"precision: {len(pairs & truth) / max(1, len(pairs)):.4f} of {len(pairs)} pairs")
    print(f"LSH: b={args.bands}, r={args.rows}, P(candidate | s=0.75) = "
          f"{dedup.lsh_candidate_probability(0.75, args.bands, args.rows):.4f}, "
          f"P(candidate | s=0.3) = {dedup.lsh_candidate_probability(0.3, args.bands, args.rows):.4f}")


if __name__ == "__main__":
    main()
