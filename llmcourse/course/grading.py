"""Autograding a class (:func:`grade`): intake, the sandboxed runner and the results, in order.

How a class is graded, and why each step is there:

1. A *master* scratch course (``<workdir>/course`` + ``<workdir>/gradebook.db``): the source notebooks
   are copied in and ``generate_assignment`` fills the gradebook. It is never visible to student code.
2. Each submission is checked before it runs (:mod:`~llmcourse.course.intake`): unreadable notebooks,
   deleted, moved or edited nbgrader cells, a changed kernel, symbolic links, code that reaches for the
   grader. Each finding becomes a report line; nbgrader itself decides the score.
3. Each submission is autograded by nbgrader in its own *per-submission* course in a short temporary
   folder: a copy of the gradebook (nbgrader needs its cell records to restore test cells), the
   submission (symlinks removed), and the release's data files -- no solution notebooks. nbgrader runs
   in a child process with a wall-clock limit; its kernel runs under ``llmcourse/sandbox.py``
   (a kernel spec wrapping ipykernel): resource limits, and where Linux allows, a private filesystem
   view in which neither course is reachable, no network, and a minimal environment.
4. The per-submission gradebook's scores and the autograded notebook are merged into the master
   through nbgrader's Gradebook API, so the master is an ordinary nbgrader course (formgrader,
   ``nbgrader export``, feedback).
5. Feedback HTML comes from nbgrader's ``generate_feedback`` with two more preprocessors: nbgrader's
   ``ClearHiddenTests`` and ``RedactHiddenTests`` (:mod:`~llmcourse.course.results`), which removes
   hidden-test lines from every output (tracebacks print the failing line).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from llmcourse.course.intake import _copy_submission, _inspect_folder, _Job, _notebook_infos, _submission_layout
from llmcourse.course.layout import (SOURCE_DIR, CourseError, _api, _env_for_nbgrader, _require_ok, find_course_root,
                                     list_assignments, write_workdir_config)
from llmcourse.course.prepare import prepare_models
from llmcourse.course.results import NotebookScore, _feedback, _merge, _progress_line, _read_scores
from llmcourse.course.runner import (GradingLimits, _execution_report, _kernel_read_paths, _run, _WorkerServer, _write_kernel,
                                     isolation_status)


def grade(submissions: str | Path, *, root: Path | None = None, workdir: Path | None = None,
          timeout: int = 300, assignments: list[str] | None = None, limits: GradingLimits | None = None,
          feedback_dir: str | Path | None = None, jobs: int = 1,
          progress: Callable[[str], None] | None = None) -> list[NotebookScore]:
    """Autograde every ``submissions/<student>/<assignment>/*.ipynb`` with nbgrader, each in a sandbox.

    ``limits`` sets the per-cell and per-submission timeouts, memory, network and isolation
    (default: ``GradingLimits(cell_timeout=timeout)``). The submissions folder is never modified.
    ``workdir`` keeps the master nbgrader course (``course/``, ``gradebook.db``, and an
    ``nbgrader_config.py`` so that Jupyter started there opens it in formgrader) for manual grading,
    :func:`~llmcourse.course.results.feedback` and :func:`~llmcourse.course.results.export_grades`;
    by default it is temporary.
    ``feedback_dir`` receives ``<student>/<assignment>/<notebook>.html`` without hidden tests.
    ``jobs`` submissions are graded at the same time. ``progress`` receives a line saying how student
    code will run, then one line per submission as it finishes (student, assignment, score, seconds).
    Returns one score per notebook, with report lines in ``flagged``.
    """
    import concurrent.futures
    import nbformat

    root = root or find_course_root()
    limits = limits or GradingLimits(cell_timeout=timeout)
    submissions = Path(submissions).resolve()
    known = list_assignments(root)
    missing = [a for a in (assignments or []) if a not in known]
    if missing:
        raise CourseError(f"unknown assignment(s) {missing}; the course has {known}")
    layout = _submission_layout(submissions, assignments or known, known)
    needed = sorted({a for lst in layout.values() for a in lst})
    say = progress or (lambda line: None)
    isolate, how = isolation_status(limits)
    how = f"{how}; {limits.cell_timeout} s per cell, {limits.submission_timeout} s per submission" + (
        f", {limits.memory_mb} MB" if limits.memory_mb else "")
    say(f"student code runs with: {how}")
    _WorkerServer.start()
    prepare_models(needed)  # student kernels read the model cache but cannot write it
    own_tmp = workdir is None
    work = Path(tempfile.mkdtemp(prefix="llmcourse-grade-")) if own_tmp else Path(workdir).resolve()
    scratch_base = Path(tempfile.mkdtemp(prefix="llmcg-"))
    try:
        course = work / "course"
        if course.exists():
            raise CourseError(f"{course}: already exists; pass an empty --workdir")
        for a in needed:
            shutil.copytree(root / SOURCE_DIR / a, course / SOURCE_DIR / a,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        db = work / "gradebook.db"
        release = work / "release"
        write_workdir_config(work)
        with _env_for_nbgrader():
            api = _api(course, db, release_dir=release, timeout=limits.cell_timeout)
            for a in needed:
                _require_ok(api.generate_assignment(a, force=True, create=True), f"generate_assignment {a}")
        infos = {a: _notebook_infos(db, a, release / a, course / SOURCE_DIR / a) for a in needed}
        hidden_from_kernel = [Path(os.path.realpath(p))  # .git holds every version of the solutions
                              for p in (root / SOURCE_DIR, root / ".git", work, scratch_base, submissions)]
        read_paths, refused = _kernel_read_paths(limits, hidden_from_kernel)
        how += "".join(f"; {line}" for line in refused)
        for line in refused:
            say(f"    ! {line}")
        threads = max(1, (os.cpu_count() or 1) // max(1, jobs))

        all_jobs: list[_Job] = []
        for k, (student, a) in enumerate((s, a) for s, lst in layout.items() for a in lst):
            job = _Job(student, a, scratch_base / f"{k:04d}", [])
            submitted = job.course / "submitted" / student / a
            job.report += _copy_submission(submissions / student / a, submitted)
            shutil.copytree(submitted, course / "submitted" / student / a, dirs_exist_ok=True)
            _inspect_folder(job, submitted, infos[a])
            data = job.course / SOURCE_DIR / a  # the release's data files: never a solution notebook
            shutil.copytree(release / a, data, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
            shutil.copy2(db, job.scratch / "gradebook.db")
            all_jobs.append(job)

        merging = threading.Lock()  # one writer on the master gradebook at a time
        finished = []

        def run(job: _Job) -> _Job:
            if job.notebooks:
                _run(job, limits, _write_kernel(job, limits, isolate, read_paths, threads))
            else:
                job.status = "failed"
            with merging:
                _merge(db, job)
                src = job.course / "autograded" / job.student / job.assignment
                if src.is_dir():
                    dst = course / "autograded" / job.student / job.assignment
                    shutil.copytree(src, dst, dirs_exist_ok=True)
                    for nb_path in dst.glob("*.ipynb"):
                        job.nb_report.setdefault(nb_path.stem, []).extend(
                            _execution_report(nbformat.read(nb_path, as_version=4), limits))
                finished.append(job)
                say(_progress_line(db, job, len(finished), len(all_jobs)))
            return job

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(run, all_jobs))
        if feedback_dir is not None:
            _feedback(course, db, all_jobs, Path(feedback_dir))
        return _read_scores(db, all_jobs, how)
    finally:
        shutil.rmtree(scratch_base, ignore_errors=True)
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
