"""Running one submission: the grading limits, the sandboxed kernel spec (``llmcourse/sandbox.py``),
the fork server that imports nbgrader once per class, and the per-submission autograde with its
wall-clock limit and its report lines (timeouts, dead kernels, errors outside the test cells).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from llmcourse.course.intake import _Job
from llmcourse.course.layout import CourseError, _api, _env_for_nbgrader

@dataclass
class GradingLimits:
    """What a student's code may use while it is graded (see the README, *Grading untrusted code*)."""

    cell_timeout: int = 300
    """Seconds per cell (nbgrader's ``Execute.timeout``); a cell that takes longer is interrupted and
    its test cell scores 0, the rest of the notebook still runs."""
    submission_timeout: int = 1800
    """Seconds for one student's whole assignment folder; past it nbgrader is stopped and every cell of
    that submission scores 0 with a report line (catches loops that swallow the interrupt)."""
    memory_mb: int | None = 4096
    """Address-space limit of the kernel (``RLIMIT_AS``); allocations beyond raise ``MemoryError``."""
    file_size_mb: int | None = 256
    """Largest file the kernel may write (``RLIMIT_FSIZE``)."""
    scratch_mb: int = 512
    """In-memory space for the kernel's home, ``/tmp`` and working copy (isolated runs only)."""
    network: bool = False
    """Let student code reach the network (isolated runs only; without isolation it always can)."""
    isolation: str = "auto"
    """``auto``: Linux namespaces when the platform allows, else limits only (with a warning);
    ``required``: refuse to grade without namespaces; ``none``: limits only."""
    read_paths: tuple[str, ...] = ()
    """More host paths the kernel may read (data a notebook needs), read-only."""

    def __post_init__(self):
        if self.isolation not in ("auto", "required", "none"):
            raise ValueError(f"GradingLimits.isolation={self.isolation!r}; use 'auto', 'required' or 'none'")
        for name in ("cell_timeout", "submission_timeout", "scratch_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"GradingLimits.{name}={getattr(self, name)} must be positive")


# environment variables a grading kernel keeps; everything else (tokens, keys, the instructor's


# settings) is dropped, since student code can read and print its environment
KERNEL_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONHASHSEED", "MPLBACKEND", "MPLCONFIGDIR",
              "TOKENIZERS_PARALLELISM", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NLTK_DATA", "HF_HUB_OFFLINE",
              "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE",
              # set by nbgrader while it autogrades or validates: notebooks read it (pretrained.notebook_path
              # skips the real-model cells, which grade nothing and would not fit the kernel's memory limit)
              "NBGRADER_EXECUTION", "NBGRADER_VALIDATING")
KERNEL_ENV_PREFIXES = ("LC_", "LLMCOURSE_", "JPY_")


def isolation_status(limits: GradingLimits | None = None) -> tuple[bool, str]:
    """Whether student code will run in namespaces here, and a sentence saying how it will run."""
    from llmcourse import sandbox

    limits = limits or GradingLimits()
    if limits.isolation == "none":
        return False, "limits only (isolation turned off): student code can read and write what you can"
    why = sandbox.probe()
    if why is None:
        net = "with network" if limits.network else "no network"
        return True, f"namespaces ({net}, private filesystem view)"
    if limits.isolation == "required":
        raise CourseError(f"isolation required but not available here: {why}; grade inside a container "
                          "(see the README, Grading untrusted code) or pass isolation='auto'")
    return False, f"NOT isolated ({why}): student code can read and write what you can; grade inside a container"


def _kernel_read_paths(limits: GradingLimits, hidden: list[Path]) -> tuple[list[str], list[str]]:
    """Host paths the grading kernel may read, and report lines for requested paths that were refused
    because they would expose ``hidden`` (the course's solutions, the grading folders)."""
    from llmcourse import sandbox

    home = Path.home()
    data = [Path(__file__).resolve().parents[1],  # the llmcourse package (open-book by design)
            Path(os.environ.get("LLMCOURSE_CACHE") or home / ".cache" / "llmcourse"),  # = models.cache_dir()
            home / "nltk_data", home / ".cache" / "matplotlib", home / ".config" / "matplotlib"]
    data += [Path(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    data += [Path(sys.prefix) / d for d in ("nltk_data", "share/nltk_data", "lib/nltk_data")]
    wanted = sandbox.python_read_paths() + [str(p) for p in data if p.exists()]
    refused: list[str] = []
    out: list[str] = []
    for p in wanted + [str(p) for p in limits.read_paths]:
        real = Path(os.path.realpath(p))
        clash = [h for h in hidden if h == real or real in h.parents]
        if clash:
            refused.append(f"read path {p} not shared with student code: it contains {clash[0]}")
        elif p not in out:
            out.append(p)
    return out, refused


def _writable_caches(runtime: Path) -> dict[str, str]:
    """A writable config/cache folder for matplotlib, in the kernel's runtime folder (read-write in both
    modes): in the sandbox the home caches are read-only or absent, and matplotlib then writes a warning
    to stderr -- into whichever cell imports it. Its font list is copied in so it is not rebuilt.
    (Not ``XDG_CACHE_HOME``: other caches the notebooks read, Hugging Face's, are found through it.)"""
    mpl = runtime / "mpl"
    mpl.mkdir(parents=True, exist_ok=True)
    for font_list in (Path.home() / ".cache" / "matplotlib").glob("fontlist-*.json"):
        shutil.copy2(font_list, mpl / font_list.name)
    return {"MPLCONFIGDIR": str(mpl)}


def _write_kernel(job: _Job, limits: GradingLimits, isolate: bool, read_paths: list[str], threads: int) -> dict:
    """The sandboxed kernel spec and the nbgrader settings that make every notebook use it."""
    from llmcourse import sandbox

    box = job.scratch / "box"
    runtime = job.scratch / "rt"
    for d in (box / "root", runtime, box / "kernels" / "python3"):
        d.mkdir(parents=True, exist_ok=True)
    spec = sandbox.Spec(memory_mb=limits.memory_mb, file_size_mb=limits.file_size_mb, isolate=isolate,
                        network=limits.network, scratch_mb=limits.scratch_mb, ro_paths=read_paths,
                        rw_paths=[str(runtime)], root_dir=str(box / "root"), pidfile=str(box / "pid"),
                        env_keep=list(KERNEL_ENV), env_keep_prefixes=list(KERNEL_ENV_PREFIXES))
    spec.write(box / "spec.json")
    argv = sandbox.command(box / "spec.json", [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    env = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k not in os.environ}
    env.update(_writable_caches(runtime))
    (box / "kernels" / "python3" / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "Python 3 (llmcourse grading sandbox)", "language": "python",
         "interrupt_mode": "signal", "env": env}, indent=1), encoding="utf-8")
    ipc = str(runtime / "k")
    if len(ipc) > 90:
        raise CourseError(f"{ipc}: path too long for the kernel's sockets; set TMPDIR to a short folder")
    return {"Execute.kernel_name": "python3", "KernelManager.transport": "ipc", "KernelManager.ip": ipc,
            "KernelManager.connection_file": str(runtime / "kernel.json")}


def _autograde_worker(job: dict) -> None:
    """Child process: run nbgrader's autograde for one student's assignment in its scratch course."""
    scratch = Path(job["scratch"])
    os.environ.clear()
    os.environ.update(job["env"])  # the grader's environment now, not when the server started
    os.environ["JUPYTER_PATH"] = str(scratch / "box")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(scratch / "rt")
    os.environ["JUPYTER_CONFIG_DIR"] = str(scratch / "jupyter-config")  # no instructor config in here
    os.chdir(scratch / "course")
    with _env_for_nbgrader():
        api = _api(scratch / "course", scratch / "gradebook.db", release_dir=scratch / "release",
                   timeout=job["cell_timeout"], extra=job["config"])
        result = api.autograde(job["assignment"], job["student"], force=True, create=True)
    (scratch / "result.json").write_text(json.dumps(
        {"success": bool(result.get("success")), "error": result.get("error") or "", "log": result.get("log") or ""}),
        encoding="utf-8")


class _WorkerServer:
    """A child process that imports nbgrader once, then forks one grading process per submission.

    nbgrader's imports cost ~5 s of CPU; paying them once per class instead of once per submission is
    most of grading's overhead on a cheap notebook. (``multiprocessing``'s forkserver would re-run the
    caller's ``__main__`` in each child; this protocol does not.) The master sends one JSON job per
    line and reads back the pid of the forked child; the server reaps children and writes each exit
    code to ``<scratch>/exitcode``.
    """

    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None

    @classmethod
    def start(cls) -> None:
        """Start the server (if not running) so its imports overlap with the grader's own set-up."""
        with cls._lock:
            cls._start()

    @classmethod
    def _start(cls) -> None:
        if cls._proc is None or cls._proc.poll() is not None:
            cls._proc = subprocess.Popen([sys.executable, "-c", "from llmcourse.course.runner import _serve; _serve()"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                         start_new_session=True)
            atexit.register(cls._proc.kill)

    @classmethod
    def submit(cls, job: dict) -> int:
        with cls._lock:
            cls._start()
            cls._proc.stdin.write(json.dumps(job) + "\n")
            cls._proc.stdin.flush()
            line = cls._proc.stdout.readline()
        if not line.strip().isdigit():
            raise CourseError(f"the grading server failed to start a grading process ({line.strip() or 'no answer'})")
        return int(line)


def _serve() -> None:
    """The grading server's loop (see ``_WorkerServer``)."""
    import select

    import nbgrader.api  # noqa: F401  (the point of the server: imported once)
    import nbgrader.apps  # noqa: F401

    children: dict[int, Path] = {}

    def reap() -> None:
        for pid, scratch in list(children.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                (scratch / "exitcode").write_text(str(os.waitstatus_to_exitcode(status)))
                del children[pid]

    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.2)
        reap()
        if not ready:
            continue
        line = sys.stdin.readline()
        if not line:
            break
        job = json.loads(line)  # one line at a time: the master waits for each answer before the next job
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setpgid(0, 0)
                if job.get("memory_mb"):  # nbgrader keeps every output in memory: a flood of prints stops here
                    import resource

                    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
                    resource.setrlimit(resource.RLIMIT_AS, (job["memory_mb"] * 2**20, hard))
                log = os.open(os.path.join(job["scratch"], "worker.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(log, 1)  # stdout is the server's answer pipe: keep it clean
                os.dup2(log, 2)
                _autograde_worker(job)
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = Path(job["scratch"])
        print(pid, flush=True)
    for pid in children:
        os.kill(pid, 9)


def _kill_leftovers(pidfile: Path) -> None:
    """Kill the kernel's process group if it outlived nbgrader (only if it is still our launcher/kernel)."""
    import signal

    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"sandbox.py" in cmdline or b"ipykernel" in cmdline:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _run(job: _Job, limits: GradingLimits, config: dict) -> None:
    import signal
    import time

    pid = _WorkerServer.submit({"scratch": str(job.scratch), "student": job.student, "assignment": job.assignment,
                                "cell_timeout": limits.cell_timeout, "config": config,
                                "memory_mb": max(4096, limits.memory_mb or 0), "env": dict(os.environ)})
    t0 = time.perf_counter()  # after the server has started (its imports are paid once per class)
    exitcode = job.scratch / "exitcode"
    while not exitcode.exists() and time.perf_counter() - t0 < limits.submission_timeout:
        time.sleep(0.1)
    if not exitcode.exists():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while not exitcode.exists() and time.perf_counter() - t0 < limits.submission_timeout + 30:
            time.sleep(0.1)
        job.status = "timed out"
        job.report.append(f"grading stopped after {limits.submission_timeout} s (the per-submission limit): "
                          "every cell of this submission scores 0; review it by hand")
    _kill_leftovers(job.scratch / "box" / "pid")
    job.seconds = time.perf_counter() - t0
    if job.status == "timed out":
        return
    try:
        result = json.loads((job.scratch / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        code = exitcode.read_text().strip() if exitcode.exists() else "?"
        result = {"success": False, "error": f"the grading process exited with code {code}", "log": ""}
    if result["success"]:
        job.status = "ok"
        return
    job.status = "failed"
    text = result["log"] + "\n" + result["error"]
    if "CellTimeoutError" in text or "Cell execution timed out" in text:
        job.report.append(f"a cell ran past the {limits.cell_timeout} s per-cell limit and did not stop when "
                          "interrupted (does it catch KeyboardInterrupt?): nbgrader shut the kernel down; every "
                          "cell scores 0; review it by hand")
    elif "DeadKernelError" in text or "Kernel died" in text:
        job.report.append("the kernel died while running this notebook (killed: memory, os._exit, a crash in "
                          "native code); nbgrader could not grade it: every cell scores 0; review it by hand")
    elif job.notebooks:
        last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or ["no message"]
        job.report.append(f"nbgrader could not autograde this submission ({last[0][:200]}): every cell scores 0")


def _execution_report(nb, limits: GradingLimits) -> list[str]:
    """Report lines from an autograded notebook: cells stopped by the timeout, out of memory, and a
    summary of errors outside the test cells (which nbgrader does not score, but the student should fix)."""
    lines, others = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        where = f"cell {meta['grade_id']!r}" if meta.get("grade_id") else f"cell #{i + 1}"  # counted from 1
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if any(o.get("ename") == "CellTimeoutError" for o in errors):  # its KeyboardInterrupt is the timeout's
            errors = [o for o in errors if o.get("ename") != "KeyboardInterrupt"]
        for out in errors:
            if out.get("ename") == "CellTimeoutError":
                lines.append(f"{where} stopped after the {limits.cell_timeout} s per-cell timeout "
                             "(an infinite loop?); it was interrupted and grading went on")
            elif out.get("ename") == "MemoryError" and limits.memory_mb:
                lines.append(f"{where} ran out of memory (limit {limits.memory_mb} MB)")
            elif not meta.get("grade"):
                others.append(f"{where}: {out.get('ename')}")
    if others:
        lines.append(f"{len(others)} cell(s) outside the tests raised an error (first: {others[0]})")
    return lines
