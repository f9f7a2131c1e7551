"""The instructor's whole loop, timed step by step, on a class of three, through the CLI as the README says.

    .venv/bin/python bench/bench_instructor_loop.py [--jobs 2] [ASSIGNMENT ...]   (default: 00_welcome 06_interview_prep)

Students: ``copier`` hands in the solution notebooks, ``blank`` the release, ``mixed`` every other answer
filled in with the model answer (so both ``copier`` and ``mixed`` are flagged). Steps: ``course grade --workdir`` → formgrader started in the workdir (until its API lists the
submissions) → every written answer hand-graded through nbgrader's Gradebook API → ``course feedback``
→ ``course export``. Checked: the copier is flagged, no hidden-test line in any feedback file, and the
export has the manual points.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import grading_helpers as H  # noqa: E402
from llmcourse import course  # noqa: E402


def _cli(*args: str, cwd: Path) -> str:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run([sys.executable, "-m", "llmcourse.cli", *args], cwd=cwd, env=env, text=True,
                          capture_output=True)
    if done.returncode != 0 or done.stderr:
        raise SystemExit(f"llmcourse {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return done.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("assignments", nargs="*", default=["00_welcome", "06_interview_prep"])
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="llmcourse-loop-"))
    subs = base / "submissions"
    for a in args.assignments:
        name = H.notebook_name(a)
        H.copy_file(next((ROOT / "solutions" / a).glob("*.ipynb")), subs, "copier", a)
        H.copy_file(ROOT / "notebooks" / a / name, subs, "blank", a)
        good, release = H.student_notebook(a), H.course_release(a)
        answers = [i for i, c in enumerate(release.cells) if c.metadata.get("nbgrader", {}).get("solution")]
        for i in answers[1::2]:
            good.cells[i] = release.cells[i]
        H.submit(subs, "mixed", good, assignment=a, name=name)
    steps: dict[str, float] = {}
    t = time.perf_counter()
    out = _cli("course", "grade", str(subs), *args.assignments, "--course", str(ROOT), "--workdir", "graded",
               "--jobs", str(args.jobs),
               cwd=base)
    steps[f"grade (--jobs {args.jobs})"] = time.perf_counter() - t
    print(out)
    work = base / "graded"
    t = time.perf_counter()
    with H.formgrader(work, base) as call:
        listed = {a: len(call(f"submissions/{a}")) for a in args.assignments}
        flagged = sorted({n["student"] for a in args.assignments for nb in call(f"notebooks/{a}")
                          for n in call(f"submitted_notebooks/{a}/{nb['name']}") if n["flagged"]})
    steps["formgrader start + API"] = time.perf_counter() - t
    assert all(n == 3 for n in listed.values()), listed
    assert flagged == ["copier", "mixed"], flagged  # mixed's answers are the model answers, word for word
    from nbgrader.api import Gradebook

    t = time.perf_counter()
    manual = 0
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}", course_id=course.COURSE_ID) as gb:
        for a in args.assignments:
            for sub in gb.assignment_submissions(a):
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.needs_manual_grade:
                            g.manual_score = g.max_score
                            gb.find_comment(g.name, nb.name, a, sub.student.id).manual_comment = "hand-graded"
                            manual += 1
        gb.db.commit()
        expected = {s.id: sum(gb.find_submission(a, s.id).score for a in args.assignments) for s in gb.students}
    steps[f"hand-grade {manual} cells (API)"] = time.perf_counter() - t
    t = time.perf_counter()
    print(_cli("course", "feedback", "graded", "--feedback", "feedback", cwd=base).strip())
    steps["course feedback"] = time.perf_counter() - t
    t = time.perf_counter()
    _cli("course", "export", "graded", "--nbgrader-csv", "grades.csv", cwd=base)
    steps["course export"] = time.perf_counter() - t
    hidden = [ln for a in args.assignments for c in H.course_solution(a).cells
              for ln in course._hidden_lines(c.source) if "HIDDEN TESTS" not in ln and len(ln) > 3]
    pages = [p.read_text() for p in (base / "feedback").rglob("*.html")]
    leaks = [h for h in hidden for p in pages if h in p]
    exported: dict[str, float] = {}
    for r in csv.DictReader(open(base / "grades.csv")):
        exported[r["student_id"]] = exported.get(r["student_id"], 0.0) + float(r["score"])
    print(f"{len(pages)} feedback files, hidden-test lines in them: {len(leaks)}; export == gradebook: "
          f"{exported == expected} {exported}")
    print(f"instructor loop, 3 students × {args.assignments} (busy machine):")
    for k, v in steps.items():
        print(f"  {k:<32} {v:7.1f} s")
    print(f"  {'total':<32} {sum(steps.values()):7.1f} s   (folder: {base})")


if __name__ == "__main__":
    main()
