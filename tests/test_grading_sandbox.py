"""The kernel launcher (``llmcourse/sandbox.py``) on its own: a plain ``python -c`` under each limit.

Fast (no Jupyter, no nbgrader); the namespace tests skip, saying why, where Linux refuses them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmcourse import sandbox

WHY = sandbox.probe()
needs_namespaces = pytest.mark.skipif(WHY is not None, reason=f"no namespace sandbox here: {WHY}")


def _run(tmp_path: Path, code: str, **spec) -> subprocess.CompletedProcess:
    (tmp_path / "root").mkdir(exist_ok=True)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    spec.setdefault("ro_paths", sandbox.python_read_paths())
    spec.setdefault("root_dir", str(tmp_path / "root"))
    path = sandbox.Spec(**spec).write(tmp_path / "spec.json")
    return subprocess.run(sandbox.command(path, [sys.executable, "-I", "-c", code]), cwd=work,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("isolate", [False, pytest.param(True, marks=needs_namespaces)])
def test_memory_limit_turns_a_big_allocation_into_memory_error(tmp_path, isolate):
    # 1 GiB under a 512 MB address-space limit
    r = _run(tmp_path, "try:\n    bytearray(2**30)\nexcept MemoryError:\n    print('MemoryError')",
             memory_mb=512, isolate=isolate)
    assert r.stdout.strip() == "MemoryError", r.stderr


def test_file_size_limit_stops_a_big_write(tmp_path):
    # 2 MiB into a file under a 1 MB limit: the write fails (SIGXFSZ is ignored, so an OSError)
    code = ("import signal, os; signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "try:\n    open('big', 'wb').write(b'x' * 2**21)\nexcept OSError as e:\n    print('refused', e.errno)")
    r = _run(tmp_path, code, file_size_mb=1, isolate=False)
    assert r.stdout.startswith("refused 27"), r.stderr  # EFBIG


def test_only_allowed_environment_variables_reach_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_TOKEN", "secret")
    monkeypatch.setenv("LLMCOURSE_CACHE", "/x")
    r = _run(tmp_path, "import os, json; print(json.dumps(sorted(os.environ)))", isolate=False,
             env_keep=["PATH"], env_keep_prefixes=["LLMCOURSE_"])
    names = json.loads(r.stdout)
    assert "SOME_TOKEN" not in names and "LLMCOURSE_CACHE" in names and "PATH" in names


def test_the_grading_kernel_knows_nbgrader_is_running(tmp_path, monkeypatch):
    # nbgrader sets NBGRADER_EXECUTION in its own process while it autogrades; the kernel it starts is ours,
    # so our list of kept variables must carry it, or a notebook's "skip under autograde" cells run anyway
    # (notebook 07's SmolLM2 cell then ran out of the kernel's 4 GB address space in CI)
    from llmcourse.course import runner

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    r = _run(tmp_path, "import os; print(os.environ.get('NBGRADER_EXECUTION'))", isolate=False,
             env_keep=list(runner.KERNEL_ENV), env_keep_prefixes=list(runner.KERNEL_ENV_PREFIXES))
    assert r.stdout.strip() == "autograde", r.stderr


@needs_namespaces
def test_isolated_command_sees_only_the_allowed_paths(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("answers")
    (tmp_path / "work" / "data.csv").parent.mkdir(exist_ok=True)
    (tmp_path / "work" / "data.csv").write_text("1,2")
    (tmp_path / "work" / "nb.ipynb").write_text("{}")
    code = f"""import os, json
print(json.dumps({{"secret": os.path.exists({str(secret)!r}), "cwd": sorted(os.listdir(".")),
                   "tmp": [d for d in os.listdir("/tmp") if not os.getcwd().startswith("/tmp/" + d + "/")],
                   "pid": os.getpid(), "uid": os.getuid()}}))"""
    seen = json.loads(_run(tmp_path, code).stdout)
    # the working folder is copied without notebooks; the rest of the host is absent (/tmp holds only
    # the folders leading to the working copy, and to the read-only Python/package paths when those
    # live under /tmp, as in a checkout cloned there)
    leading = {p.split("/")[2] for p in sandbox.python_read_paths() if p.startswith("/tmp/")}
    assert seen["secret"] is False and seen["cwd"] == ["data.csv"] and set(seen["tmp"]) <= leading, seen["tmp"]
    assert seen["pid"] == 1 and seen["uid"] != 0


@needs_namespaces
def test_isolated_command_cannot_write_read_only_paths_or_reach_the_network(tmp_path):
    ro = tmp_path / "shared"
    ro.mkdir()
    code = f"""import socket
for what, fn in [("write", lambda: open({str(ro / "x")!r}, "w")),
                 ("net", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2)),
                 ("sysctl", lambda: open("/proc/sys/vm/swappiness", "w"))]:
    try:
        fn(); print(what, "allowed")
    except OSError as e:
        print(what, "refused")"""
    r = _run(tmp_path, code, ro_paths=sandbox.python_read_paths() + [str(ro)])
    assert r.stdout.split("\n")[:3] == ["write refused", "net refused", "sysctl refused"], r.stderr
    assert not (ro / "x").exists()


@needs_namespaces
def test_network_can_be_kept_on_request(tmp_path):
    # with network=True the host's interfaces stay: more than the loopback device is listed
    r = _run(tmp_path, "import socket; print(len(socket.if_nameindex()))", network=True)
    assert int(r.stdout) >= 1
    r = _run(tmp_path, "import socket; print([n for _, n in socket.if_nameindex()])")
    assert r.stdout.strip() == "['lo']"


@needs_namespaces
def test_the_namespace_dies_with_the_launcher(tmp_path):
    # the command starts a detached `sleep`, prints its pid and waits; killing the launcher's outer
    # process kills PID 1 of the namespace, and with it every process inside
    code = "import subprocess, time; subprocess.Popen(['sleep', '987652'], start_new_session=True); print('up', flush=True); time.sleep(60)"
    (tmp_path / "root").mkdir()
    (tmp_path / "work").mkdir()
    spec = sandbox.Spec(ro_paths=sandbox.python_read_paths(), root_dir=str(tmp_path / "root")).write(tmp_path / "s.json")
    proc = subprocess.Popen(sandbox.command(spec, [sys.executable, "-I", "-c", code]), cwd=tmp_path / "work",
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    proc.kill()
    proc.wait()
    import time

    time.sleep(1)
    alive = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == ["sleep", "987652"]]
    assert alive == []


def _cmdline(p: Path) -> list[str]:
    try:
        return [a.decode() for a in (p / "cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def test_probe_answers_none_or_a_reason():
    assert WHY is None or isinstance(WHY, str) and WHY
    assert os.path.basename(sandbox.command("s.json", ["x"])[3]) == "sandbox.py"
