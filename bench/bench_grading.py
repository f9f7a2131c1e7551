"""A class-scale grading run: N students of each assignment through real, sandboxed nbgrader autograde.

    .venv/bin/python bench/bench_grading.py [--n 30] [--jobs 2] [--repeats 3] [ASSIGNMENT ...]

Students cycle through correct / blank / not JSON / tampered test
cell / an extra failing cell / a deleted test cell (``tests/grading_helpers.py``). Prints:

* wall time per submission (median and max, per assignment), and the whole run;
* every score checked against the expected one, and nbgrader's CSV export against the scores;
* autograde vs plain execution per assignment (issue 8's goal: autograde <= 1.5x plain execution):
  the same correct notebook run by ``course.execute`` (nbclient, no nbgrader, no sandbox) and by
  ``course.grade`` (one student), interleaved plain/grade/grade/plain over ``--repeats`` rounds after
  a warm-up. "per submission" is nbgrader's work for one submission (what a class pays per student);
  "whole call" adds ``grade``'s fixed set-up (gradebook, generate_assignment), paid once per class.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import grading_helpers as H  # noqa: E402
from llmcourse import course  # noqa: E402


def _median_spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (range {min(values):.2f}-{max(values):.2f})"


def class_run(assignments: list[str], n: int, jobs: int, cell_timeout: int) -> bool:
    run = H.class_run(assignments, n, jobs=jobs, cell_timeout=cell_timeout)
    executed = [s for s in run.scores.values() if s.seconds > 0]
    print(f"\nclass run: {len(run.scores)} submissions ({n} students x {len(assignments)} assignments, "
          f"{jobs} at a time) in {run.seconds:.0f} s; student code ran with: {executed[0].isolation}")
    print(f"{'assignment':<22} {'graded':>6} {'median s':>9} {'max s':>7}")
    for a in assignments:
        per = [s.seconds for s in executed if s.assignment == a]
        if per:
            print(f"{a:<22} {len(per):>6} {statistics.median(per):>9.1f} {max(per):>7.1f}")
    bad = H.mismatches(run)
    print(f"scores equal to the expected ones: {len(run.students) - len(bad)}/{len(run.students)}")
    for line in bad:
        print("  MISMATCH", line)
    with tempfile.TemporaryDirectory() as tmp:
        rows = list(csv.DictReader(open(course.export_grades(run.work, Path(tmp) / "grades.csv"))))
    exported = {(r["student_id"], r["assignment"]): float(r["score"]) for r in rows}
    export_bad = [k for k, s in run.scores.items() if exported.get(k) != s.score]
    print(f"nbgrader CSV export agrees with the scores: {'yes' if not export_bad else f'NO for {export_bad}'}")
    return not bad and not export_bad


def autograde_vs_plain(a: str, repeats: int, cell_timeout: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        nb_path = H.submit(subs, "bench", H.student_notebook(a), assignment=a, name=H.notebook_name(a))
        plain_dir = Path(tmp) / "plain"
        plain_dir.mkdir()
        plain_path = plain_dir / nb_path.name
        plain_path.write_bytes(nb_path.read_bytes())

        def plain() -> float:
            t0 = time.perf_counter()
            course.execute(plain_path, timeout=cell_timeout, allow_errors=True)
            return time.perf_counter() - t0

        def graded() -> tuple[float, float]:
            t0 = time.perf_counter()
            [s] = course.grade(subs, root=ROOT, assignments=[a], limits=course.GradingLimits(cell_timeout=cell_timeout))
            return s.seconds, time.perf_counter() - t0

        plain(), graded()  # warm-up (disk caches, the grading server's imports)
        p, g_sub, g_all = [], [], []
        for _ in range(repeats):
            p.append(plain())
            for _ in range(2):
                sub, whole = graded()
                g_sub.append(sub)
                g_all.append(whole)
            p.append(plain())
    ratio_sub = [gs / pl for gs, pl in zip(g_sub, p)]
    ratio_all = [ga / pl for ga, pl in zip(g_all, p)]
    print(f"{a:<22} plain {_median_spread(p)} s | autograde per submission {_median_spread(g_sub)} s, "
          f"ratio {_median_spread(ratio_sub)} | whole grade call {_median_spread(g_all)} s, ratio "
          f"{_median_spread(ratio_all)}  (goal <= 1.5: {'met' if statistics.median(ratio_sub) <= 1.5 else 'missed'})")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("assignments", nargs="*", help="default: every assignment of the course")
    ap.add_argument("--n", type=int, default=30, help="students per assignment (default 30)")
    ap.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of the autograde/plain comparison (0: skip)")
    ap.add_argument("--timeout", type=int, default=900, help="per-cell timeout (default 900 s)")
    args = ap.parse_args(argv)
    assignments = args.assignments or course.list_assignments(ROOT)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    ok = class_run(assignments, args.n, args.jobs, args.timeout)
    if args.repeats:
        print(f"\nautograde vs plain execution (median over {2 * args.repeats} pairs, interleaved):")
        for a in assignments:
            autograde_vs_plain(a, args.repeats, args.timeout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
