"""Shared pieces of the grading tests: a tiny fixture course and the faulty submissions made from it.

The fixture course has one assignment (``50_fixture``) whose kernel imports nothing heavy, so a real
nbgrader autograde of one submission takes a couple of seconds; the course's own notebooks are graded
in ``test_grading_class.py``. Its notebook has two autograded exercises (1 + 2 points, the first with
a hidden test), a read-only setup cell, a manually graded written answer (1 point) and a cell after
the exercises that uses them.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llmcourse.course.cells import code, manual, md, readonly, solution, tests, write_notebook  # noqa: E402

FIXTURE = "50_fixture"
NOTEBOOK = "fixture.ipynb"
HIDDEN_LINE = 'assert double(-3) == -6, "double must handle negative numbers"'
MAX_AUTO = {"test_double": 1.0, "test_square": 2.0}


def fixture_cells() -> list:
    return [
        md("# Fixture\nA tiny assignment for the grading tests."),
        readonly("FACTOR = 2  # read-only setup the tests rely on", "setup"),
        solution('''def double(x):
    ### BEGIN SOLUTION
    return FACTOR * x
    ### END SOLUTION''', grade_id="double"),
        tests(f'''assert double(2) == 4, "double(2) should be 4"
### BEGIN HIDDEN TESTS
{HIDDEN_LINE}
### END HIDDEN TESTS''', grade_id="test_double", points=1),
        solution('''def square(x):
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION''', grade_id="square"),
        tests('''assert square(3) == 9, "square(3) should be 9"''', grade_id="test_square", points=2),
        readonly("**Question.** Why square?", "q_why", markdown=True),
        manual("### BEGIN SOLUTION\nBecause.\n### END SOLUTION", grade_id="why", points=1),
        code("print(double(5), square(5))"),
    ]


def make_course(dest: Path) -> Path:
    """A course folder (``nbgrader_config.py`` + ``solutions/``) and its release notebook."""
    from llmcourse import course

    (dest / "solutions").mkdir(parents=True)
    (dest / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n")
    write_notebook(str(dest / "solutions" / FIXTURE / NOTEBOOK), fixture_cells())
    course.build(dest, assignments=[FIXTURE])
    return dest


def release(course_root: Path):
    return nbformat.read(course_root / "notebooks" / FIXTURE / NOTEBOOK, as_version=4)


def solved(course_root: Path):
    return nbformat.read(course_root / "solutions" / FIXTURE / NOTEBOOK, as_version=4)


def cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_answer(nb, grade_id: str, source: str):
    nb = copy.deepcopy(nb)
    cell(nb, grade_id).source = source.strip("\n")
    return nb


def submit(subs: Path, student: str, nb_or_text, assignment: str = FIXTURE, name: str = NOTEBOOK) -> Path:
    """Place one submission at ``subs/student/assignment/name`` (a notebook, or raw text)."""
    folder = subs / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text, encoding="utf-8")
    else:
        nbformat.write(nb_or_text, path)
    return path


def copy_file(src: Path, subs: Path, student: str, assignment: str) -> Path:
    folder = subs / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / src.name))


def raw_json(nb) -> str:
    return json.dumps(nb, indent=1)


# --------------------------------------------------------------------------- the course's own notebooks


def course_release(a: str, root: Path = ROOT):
    return nbformat.read(next((root / "notebooks" / a).glob("*.ipynb")), as_version=4)


def course_solution(a: str, root: Path = ROOT):
    return nbformat.read(next((root / "solutions" / a).glob("*.ipynb")), as_version=4)


def notebook_name(a: str, root: Path = ROOT) -> str:
    return next((root / "notebooks" / a).glob("*.ipynb")).name


def without_markers(source: str) -> str:
    return "\n".join(ln for ln in source.splitlines() if "BEGIN SOLUTION" not in ln and "END SOLUTION" not in ln)


def student_notebook(a: str, answers: dict[str, str] | None = None, root: Path = ROOT):
    """What a student who solved everything hands in: the release notebook with every answer cell
    (autograded and written) filled in from the solution notebook, then ``answers`` (grade_id ->
    source) on top. Locked cells keep the release's text, so nothing is flagged as tampered; the answers
    lose nbgrader's solution markers, which no student writes (a notebook that has them is reported as a
    copy of the solutions)."""
    nb = course_release(a, root)
    sol = {c.metadata["nbgrader"]["grade_id"]: without_markers(c.source) for c in course_solution(a, root).cells
           if c.metadata.get("nbgrader", {}).get("solution")}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if c.metadata.get("nbgrader", {}).get("solution") and gid in sol:
            c.source = sol[gid]
    for gid, src in (answers or {}).items():
        cell(nb, gid).source = src.strip("\n")
    return nb


def autograded_points(a: str, root: Path = ROOT) -> dict[str, float]:
    """Autograded test cells of an assignment's notebook and their points."""
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in course_release(a, root).cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


# --------------------------------------------------------------------------- one graded run, shared


_RUNS: dict[str, object] = {}


def cached(key: str, make):
    """Compute ``make()`` once per test session (several test modules read the same grading run)."""
    if key not in _RUNS:
        _RUNS[key] = make()
    return _RUNS[key]


# --------------------------------------------------------------------------- the fixture class


SECRET = "GRADING_TEST_SECRET"
DAEMON_ARG = "987651"  # `sleep 987651`: a student process that tries to outlive grading


def _malicious(course_root: Path, work: Path, probe_file: Path) -> str:
    """A correct ``double`` plus code that tries everything student code must not be able to do."""
    return f'''def double(x):
    return FACTOR * x

import glob, json, os, socket
_tries = {{}}
def _try(name, fn):
    try:
        _tries[name] = "OK " + repr(fn())[:60]
    except BaseException as exc:
        _tries[name] = "DENIED " + type(exc).__name__
_try("read_fixture_solution", lambda: open({str(course_root / "solutions" / FIXTURE / NOTEBOOK)!r}).read())
_try("read_course_solutions", lambda: os.listdir({str(ROOT / "solutions")!r}))
_try("read_gradebook", lambda: open({str(work / "gradebook.db")!r}, "rb").read(64))
_try("write_gradebook", lambda: open({str(work / "gradebook.db")!r}, "ab").write(b"student was here"))
_try("find_gradebooks", lambda: [p for p in glob.glob("/tmp/**/*.db", recursive=True) + glob.glob("../../../**/*.db", recursive=True)])
_try("find_notebooks", lambda: [p for p in glob.glob("/tmp/**/*.ipynb", recursive=True) + glob.glob("../../../**/*.ipynb", recursive=True)])
_try("write_package", lambda: open({str(probe_file)!r}, "w").write("x"))
_try("network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
_try("secret_env", lambda: os.environ[{SECRET!r}])
print(json.dumps(_tries))'''


def fixture_students(course_root: Path, work: Path, probe_file: Path) -> dict[str, object]:
    """student -> notebook (or raw text) for the fixture class; see the tests for what each checks."""
    good = student_notebook(FIXTURE, root=course_root)
    nb = {}
    nb["solution"] = good
    nb["blank"] = release(course_root)
    nb["loop"] = with_answer(good, "double", "def double(x):\n    while True:\n        pass")
    nb["raise_early"] = with_answer(good, "double", "raise RuntimeError('oops')\ndef double(x):\n    return FACTOR * x")
    deleted = copy.deepcopy(good)
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_square"]
    nb["deleted_test"] = deleted
    deleted = copy.deepcopy(good)
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "double"]
    nb["deleted_solution"] = deleted
    moved = copy.deepcopy(good)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in moved.cells]
    i, j = ids.index("double"), ids.index("test_double")
    moved.cells[i], moved.cells[j] = moved.cells[j], moved.cells[i]
    nb["reordered"] = moved
    tampered = copy.deepcopy(nb["blank"])
    cell(tampered, "test_double").source = "pass"
    cell(tampered, "test_square").source = "pass"
    nb["tampered_tests"] = tampered
    tampered = copy.deepcopy(good)
    cell(tampered, "setup").source = "FACTOR = 3"
    nb["tampered_readonly"] = tampered
    kernel = copy.deepcopy(good)
    kernel.metadata.kernelspec = {"name": "ir", "display_name": "R", "language": "R"}
    nb["changed_kernel"] = kernel
    nb["not_json"] = raw_json(good)[:-40]
    nb["not_a_notebook"] = '{"hello": "world"}'
    nb["memory_hog"] = with_answer(good, "double", "def double(x):\n    return FACTOR * x\n\n_big = bytearray(3 * 2**30)")
    nb["kernel_dies"] = with_answer(good, "square", "def square(x):\n    return x * x\n\nimport os\nos._exit(3)")
    nb["malicious"] = with_answer(good, "double", _malicious(course_root, work, probe_file))
    nb["hidden_fail"] = with_answer(good, "double", "def double(x):\n    return FACTOR * abs(x)")
    nb["hook_printer"] = with_answer(good, "double", "def double(x):\n    return FACTOR * abs(x)\n\n"
                                     "get_ipython().events.register('pre_run_cell', lambda info: print(info.raw_cell))")
    nb["daemon"] = with_answer(good, "double", "def double(x):\n    return FACTOR * x\n\nimport subprocess\n"
                               f"subprocess.Popen(['sleep', '{DAEMON_ARG}'], start_new_session=True)")
    return nb


def fixture_run():
    """Grade the fixture class once (cached for the session): returns a ``types.SimpleNamespace``."""
    import atexit
    import os
    import tempfile
    import types

    from llmcourse import course

    def make():
        base = Path(tempfile.mkdtemp(prefix="llmcourse-grading-tests-"))
        atexit.register(shutil.rmtree, base, True)
        course_root = make_course(base / "course")
        work, subs, feedback = base / "work", base / "submissions", base / "feedback"
        probe_file = Path(course.__file__).parent / "_sandbox_write_probe.txt"
        for student, nb in fixture_students(course_root, work, probe_file).items():
            submit(subs, student, nb)
        submit(subs, "wrong_name", student_notebook(FIXTURE, root=course_root), name="fixture (1).ipynb")
        symlinked = submit(subs, "symlink", student_notebook(FIXTURE, root=course_root))
        (symlinked.parent / "notes.txt").symlink_to(course_root / "solutions" / FIXTURE / NOTEBOOK)
        os.environ[SECRET] = "s3cret"
        limits = course.GradingLimits(cell_timeout=4, submission_timeout=300, memory_mb=2048)
        import time

        t0 = time.perf_counter()
        try:
            scores = course.grade(subs, root=course_root, workdir=work, assignments=[FIXTURE], limits=limits,
                                  feedback_dir=feedback, jobs=2)
        finally:
            os.environ.pop(SECRET, None)
        seconds = time.perf_counter() - t0
        return types.SimpleNamespace(root=course_root, work=work, subs=subs, feedback=feedback, limits=limits,
                                     scores={s.student: s for s in scores}, seconds=seconds, probe_file=probe_file)

    return cached("fixture", make)


def autograded(run, student: str, name: str = NOTEBOOK):
    return nbformat.read(run.work / "course" / "autograded" / student / FIXTURE / name, as_version=4)


def outputs_text(nb_cell) -> str:
    return "".join(o.get("text", "") + o.get("evalue", "") + "".join(o.get("traceback", []))
                   for o in nb_cell.get("outputs", []))


# --------------------------------------------------------------------------- a class of the course's notebooks

KINDS = ("correct", "blank", "not_json", "tampered_test", "error_cell", "deleted_test")


def selected_assignments() -> list[str]:
    """``$LLMCOURSE_GRADING_ASSIGNMENTS`` (comma-separated, or ``all``); default ``00_welcome``."""
    import os

    from llmcourse import course

    value = os.environ.get("LLMCOURSE_GRADING_ASSIGNMENTS", "00_welcome").strip()
    have = course.list_assignments(ROOT)
    return have if value == "all" else [a for a in value.split(",") if a in have]


def class_size() -> int:
    """Students per assignment in the test class run: ``$LLMCOURSE_GRADING_N`` (default 6)."""
    import os

    return int(os.environ.get("LLMCOURSE_GRADING_N", "6"))


def class_students(assignments: list[str], n: int) -> dict[tuple[str, str], tuple]:
    """(student, assignment) -> (submission, expected score of every autograded test cell).

    ``n`` students per assignment cycle through ``KINDS``. Expectations follow nbgrader's rules:
    restored test cells, a deleted test cell scores 0, an error outside the tests costs nothing.
    (The wrong-answer catalogue has its own class run: ``catalogue_run``.)
    """
    out = {}
    for a in assignments:
        points = autograded_points(a)
        first_test = next(iter(points))
        for i in range(n):
            kind = KINDS[i % len(KINDS)]
            expected = dict(points)
            if kind == "correct":
                nb = student_notebook(a)
            elif kind == "blank":
                nb, expected = course_release(a), {k: 0.0 for k in points}
            elif kind == "not_json":
                nb, expected = raw_json(student_notebook(a))[:-50], {k: 0.0 for k in points}
            elif kind == "tampered_test":
                nb = student_notebook(a)
                cell(nb, first_test).source = "pass"
            elif kind == "error_cell":
                nb = student_notebook(a)
                nb.cells.insert(0, nbformat.v4.new_code_cell("raise RuntimeError('a student experiment')"))
            else:  # deleted_test
                nb = student_notebook(a)
                nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != first_test]
                expected[first_test] = 0.0
            out[(f"{kind}{i:02d}", a)] = (nb, expected)
    return out


def class_run(assignments: list[str], n: int, *, jobs: int = 2, cell_timeout: int = 600, workdir: Path | None = None):
    """Grade a class of the course's notebooks; returns a namespace with the scores and expectations."""
    import atexit
    import tempfile
    import time
    import types

    from llmcourse import course

    base = Path(tempfile.mkdtemp(prefix="llmcourse-class-"))
    atexit.register(shutil.rmtree, base, True)
    subs = base / "submissions"
    students = class_students(assignments, n)
    for (student, a), (nb, _) in students.items():
        submit(subs, student, nb, assignment=a, name=notebook_name(a))
    work = workdir or base / "work"
    t0 = time.perf_counter()
    scores = course.grade(subs, root=ROOT, workdir=work, assignments=assignments, jobs=jobs,
                          limits=course.GradingLimits(cell_timeout=cell_timeout))
    return types.SimpleNamespace(scores={(s.student, s.assignment): s for s in scores}, students=students,
                                 work=work, seconds=time.perf_counter() - t0, assignments=assignments)


def mismatches(run) -> list[str]:
    """Every autograded cell whose score differs from the expected one."""
    bad = []
    for key, (_, expected) in run.students.items():
        got = {k: v[0] for k, v in run.scores[key].cells.items() if k in expected}
        if got != expected:
            bad.append(f"{key}: expected {expected}, got {got}; report: {run.scores[key].flagged}")
    return bad


def catalogue_run(batches: list[list], *, prefix: str = "wrong", jobs: int = 2, cell_timeout: int = 600):
    """Grade wrong-answer submissions in one class run: student ``<prefix>-<index>`` hands in an otherwise
    correct notebook with every entry of ``batches[index]`` in place of its solution cell. Returns the
    scores, the work folder and ``who``: entry -> student."""
    import atexit
    import tempfile
    import time
    import types

    from llmcourse import course

    base = Path(tempfile.mkdtemp(prefix=f"llmcourse-{prefix}-"))
    atexit.register(shutil.rmtree, base, True)
    who = {}
    for i, batch in enumerate(batches):
        a = batch[0].assignment
        student = f"{prefix}-{i:03d}"
        submit(base / "submissions", student, student_notebook(a, {w.grade_id: w.source for w in batch}),
               assignment=a, name=notebook_name(a))
        who.update({w: student for w in batch})
    t0 = time.perf_counter()
    scores = course.grade(base / "submissions", root=ROOT, workdir=base / "work", jobs=jobs,
                          assignments=sorted({b[0].assignment for b in batches}),
                          limits=course.GradingLimits(cell_timeout=cell_timeout))
    return types.SimpleNamespace(scores={(s.student, s.assignment): s for s in scores}, work=base / "work", who=who,
                                 seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------- formgrader on a graded workdir


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def formgrader(work: Path, scratch: Path, timeout: float = 120):
    """Start Jupyter in a graded ``--workdir`` as the README says (on 127.0.0.1 only, a random token, no
    user config) and wait until formgrader answers. A context manager yielding ``call(path, method)``,
    which returns the JSON of ``/formgrader/api/<path>``; the server is stopped on exit."""
    import contextlib
    import os
    import secrets
    import subprocess
    import time
    import urllib.error
    import urllib.request

    @contextlib.contextmanager
    def serve():
        port, token = _free_port(), secrets.token_hex(16)
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(scratch / "config"), JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
                   JUPYTER_DATA_DIR=str(scratch / "data"))
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        server = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
                                   f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--no-browser",
                                   f"--IdentityProvider.token={token}", *(["--allow-root"] if os.geteuid() == 0 else [])],
                                  cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def call(path: str, method: str = "GET"):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/formgrader/api/{path}", method=method,
                                         headers={"Authorization": f"token {token}"},
                                         data=b"{}" if method == "POST" else None)
            with urllib.request.urlopen(req, timeout=300) as r:
                return json.loads(r.read().decode())

        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    call("status")
                    break
                except (urllib.error.URLError, ConnectionError):
                    if server.poll() is not None:
                        raise RuntimeError(f"jupyter server exited: {server.stderr.read()[-3000:]}")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"formgrader did not answer within {timeout} s")
                    time.sleep(0.5)
            yield call
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    return serve()
