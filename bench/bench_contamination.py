"""The contamination lab, measured: held-out exact match after SFT on a training set that contains the
held-out problems (each copied 4 times) versus the same set decontaminated by 13-gram overlap.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_contamination.py [--seeds 0 1 2] [--max-steps 150] [--cached]

``--cached`` prints the rows the notebook reads (``lab.lab_results``: seeds 0–2 at the recipe, built once);
without it the runs are trained afresh. Recipe: ``llmcourse.recipes.CONTAMINATION_LAB``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from llmcourse import recipes  # noqa: E402
from llmcourse.curation import lab  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--copies", type=int, default=None)
    ap.add_argument("--cached", action="store_true", help="read the notebook's cached rows (seeds 0-2)")
    args = ap.parse_args()
    print("recipe:", {**recipes.CONTAMINATION_LAB, **({"max_steps": args.max_steps} if args.max_steps else {}),
                      **({"copies": args.copies} if args.copies else {})})
    t0 = time.perf_counter()
    rows = lab.lab_results() if args.cached else lab.run_contamination_lab(
        args.seeds, max_steps=args.max_steps, copies=args.copies)
    print(f"{time.perf_counter() - t0:.0f} s wall (busy machine)")
    means = {}
    for name in ("contaminated", "decontaminated"):
        em = [r["exact_match"] for r in rows if r["data"] == name]
        means[name] = statistics.mean(em)
        n = next(r["n_records"] for r in rows if r["data"] == name)
        print(f"{name:<15} {n:5d} records  held-out exact match {statistics.mean(em):.3f} ± "
              f"{statistics.stdev(em) if len(em) > 1 else 0.0:.3f} over {len(em)} seeds ({', '.join(f'{x:.2f}' for x in em)})")
    print(f"inflation from the leak: {means['contaminated'] - means['decontaminated']:+.3f} exact match")


if __name__ == "__main__":
    main()
