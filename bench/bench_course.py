"""Full course execution time: every solution notebook run top to bottom in a fresh kernel.

    .venv/bin/python bench/bench_course.py [ASSIGNMENT ...]

Prints seconds per notebook (goal from issue 8: the whole course ≤ 6 min on 2 cores) and the three
slowest cells of each, so a slow notebook shows where its time goes.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmcourse import course  # noqa: E402


def main(argv: list[str]) -> None:
    assignments = argv or course.list_assignments(ROOT)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    total = 0.0
    for a in assignments:
        nb_path = next((ROOT / "solutions" / a).glob("*.ipynb"))
        t0 = time.perf_counter()
        _, timings = course.execute(nb_path, timeout=900)
        seconds = time.perf_counter() - t0
        total += seconds
        slow = ", ".join(f"cell {i}: {t:.1f}s" for i, t in timings[:3])
        print(f"{a:<22} {seconds:7.1f} s   (slowest: {slow})")
    print(f"{'total':<22} {total:7.1f} s   goal ≤ 360 s → {'met' if total <= 360 else f'missed by {total - 360:.0f} s'}")


if __name__ == "__main__":
    main(sys.argv[1:])
