"""Run one command -- the Jupyter kernel that executes a student's notebook -- with limits and, where
Linux allows it, in a private view of the filesystem with no network.

Used by :func:`llmcourse.course.grade` through a kernel spec whose ``argv`` is
``python sandbox.py SPEC.json -- python -m ipykernel_launcher -f {connection_file}``. This file uses
the standard library only and imports nothing from ``llmcourse``, so the launcher starts fast.

What the launcher does, in order (each step is skipped when the spec turns it off):

1. resource limits: address space (``RLIMIT_AS``), size of any file written (``RLIMIT_FSIZE``), no
   core dumps;
2. Linux namespaces (``isolate``): a new user, mount, PID, IPC and UTS namespace, and a new network
   namespace unless ``network`` is true (only a loopback device, down: no connection anywhere);
3. a new root filesystem on a size-limited ``tmpfs`` holding only: read-only binds of the paths the
   kernel needs (the Python installation, the package, data caches -- ``ro_paths``), read-write binds
   of ``rw_paths`` (the kernel's connection folder), a *copy* of the working directory without its
   notebooks, ``/tmp``, a minimal ``/dev`` and a fresh ``/proc`` (``/proc/sys`` read-only, kernel
   information files masked). Everything else -- the course's ``solutions/``, the gradebook, other
   students' work, your home folder -- does not exist in that view;
4. a second, nested user namespace in which the kernel runs as an ordinary uid with no capabilities
   (so it cannot undo the mounts), ``no_new_privs``, and a parent-death signal;
5. ``exec`` of the command. The launcher's outer process stays as the kernel's parent: it ignores
   ``SIGINT`` (interrupts go to the kernel), and kills the whole namespace when the grader that
   started it goes away, so no student process outlives grading.

Without namespaces (``isolate`` false, or a platform that refuses them) only step 1 runs.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}

# statvfs flag -> mount flag: a read-only remount inside a user namespace must keep these
_LOCKED = [(os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
           (getattr(os, "ST_NOATIME", 1024), MS_NOATIME), (getattr(os, "ST_NODIRATIME", 2048), MS_NODIRATIME),
           (getattr(os, "ST_RELATIME", 4096), MS_RELATIME)]

# the parts of /etc a Python kernel needs (not /etc itself: it may hold keys readable by the grader's uid)
ETC_FILES = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/ld.so.conf",
             "/etc/ld.so.conf.d", "/etc/localtime", "/etc/hosts", "/etc/host.conf", "/etc/mime.types",
             "/etc/ssl/certs", "/etc/ca-certificates", "/etc/fonts", "/etc/alternatives")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEV_NODES = ("null", "zero", "full", "random", "urandom")
PROC_READONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
PROC_MASKED = ("kcore", "keys", "timer_list", "sched_debug", "latency_stats", "kallsyms", "acpi", "scsi", "asound")


@dataclass
class Spec:
    """What the launcher does; written as JSON next to (never inside) the student's folder."""

    memory_mb: int | None = 4096
    """Address-space limit of the kernel (``RLIMIT_AS``); a larger allocation raises ``MemoryError``."""
    file_size_mb: int | None = 256
    """Largest file the kernel may write (``RLIMIT_FSIZE``)."""
    isolate: bool = True
    """Use Linux namespaces (private filesystem view, PID space, no network)."""
    network: bool = False
    """Keep the host's network (only meaningful with ``isolate``; off = no network at all)."""
    scratch_mb: int = 512
    """Size of the in-memory filesystem holding the kernel's home, ``/tmp`` and working copy."""
    ro_paths: list[str] = field(default_factory=list)
    """Host paths visible read-only, at the same place."""
    rw_paths: list[str] = field(default_factory=list)
    """Host paths visible read-write (the kernel's connection folder)."""
    root_dir: str = ""
    """An empty host folder used as the mount point of the new root."""
    pidfile: str = ""
    """Where the launcher writes its pid, so the grader can kill what is left after a hard stop."""
    env_keep: list[str] | None = None
    """Environment variables the command keeps (``None``: all); the others are dropped."""
    env_keep_prefixes: list[str] = field(default_factory=list)
    """... and those starting with one of these prefixes."""

    def environment(self) -> dict[str, str]:
        if self.env_keep is None:
            return dict(os.environ)
        keep = set(self.env_keep)
        env = {k: v for k, v in os.environ.items() if k in keep or k.startswith(tuple(self.env_keep_prefixes))}
        return env

    def write(self, path: str | Path) -> Path:
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=1), encoding="utf-8")
        return Path(path)

    @classmethod
    def read(cls, path: str | Path) -> "Spec":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def command(spec_path: str | Path, cmd: list[str]) -> list[str]:
    """The command line that runs ``cmd`` under the launcher with the spec at ``spec_path``."""
    return [sys.executable, "-I", "-S", str(Path(__file__).resolve()), str(spec_path), "--", *cmd]


def python_read_paths() -> list[str]:
    """What a kernel of this interpreter reads: system libraries, Python prefixes and site folders."""
    import sysconfig

    paths = [p for p in SYSTEM_DIRS + ETC_FILES if os.path.lexists(p)]
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable))):
        paths.append(p)
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            paths.append(p)
    return _dedupe(paths)


def _dedupe(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        if p and os.path.lexists(p) and p not in out:
            out.append(p)
    return out


# --------------------------------------------------------------------------- probing


_PROBE: dict[str, str | None] = {}


def probe() -> str | None:
    """``None`` if the namespace sandbox works here, else why not (cached per process).

    Runs ``python -c`` under a full sandbox in a temporary folder: the only reliable test, since
    kernels, container runtimes and security modules each refuse namespaces in their own way.
    """
    if "result" in _PROBE:
        return _PROBE["result"]
    if platform.system() != "Linux":
        _PROBE["result"] = f"namespaces are Linux-only (this is {platform.system()})"
        return _PROBE["result"]
    if platform.machine() not in _SYS_PIVOT_ROOT:
        _PROBE["result"] = f"pivot_root system call number unknown on {platform.machine()}"
        return _PROBE["result"]
    with tempfile.TemporaryDirectory(prefix="llmcourse-probe-") as tmp:
        root, work = Path(tmp) / "root", Path(tmp) / "work"
        root.mkdir()
        work.mkdir()
        spec = Spec(memory_mb=None, ro_paths=python_read_paths(), root_dir=str(root)).write(Path(tmp) / "spec.json")
        code = "import os; print('ok', os.path.exists(%r))" % str(spec)  # the spec must be out of sight
        try:
            run = subprocess.run(command(spec, [sys.executable, "-I", "-c", code]), capture_output=True,
                                 text=True, timeout=60, cwd=work)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _PROBE["result"] = f"the sandbox launcher did not run: {exc}"
            return _PROBE["result"]
        if run.returncode != 0 or run.stdout.strip() != "ok False":
            why = (run.stderr.strip().splitlines() or ["no output"])[-1]
            _PROBE["result"] = f"Linux refused the namespaces ({why})"
        else:
            _PROBE["result"] = None
    return _PROBE["result"]


# --------------------------------------------------------------------------- the launcher


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.unshare.argtypes = [ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


_C = None


def _call(name: str, *args, what: str = ""):
    global _C
    _C = _C or _libc()
    ret = getattr(_C, name)(*args)
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name} {what}: {os.strerror(err)}".strip())


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _call("mount", _b(src), _b(target), _b(fstype), flags, _b(data), what=target)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _map_ids(inner_uid: int, outer_uid: int, inner_gid: int, outer_gid: int) -> None:
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{inner_uid} {outer_uid} 1")
    _write("/proc/self/gid_map", f"{inner_gid} {outer_gid} 1")


def _bind(src: str, dst: str, *, readonly: bool) -> None:
    """Bind ``src`` at ``dst`` (not recursive: mounts below ``src`` stay hidden); read-only if asked."""
    _mount(src, dst, None, MS_BIND)
    if readonly:
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID
        have = os.statvfs(dst).f_flag
        for st_flag, ms_flag in _LOCKED:
            if have & st_flag:
                flags |= ms_flag
        _mount(None, dst, None, flags)


def _place(src: str, root: str, *, readonly: bool) -> None:
    """Make host path ``src`` appear at the same path under ``root``."""
    dst = root + src
    if os.path.islink(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.lexists(dst):
            os.symlink(os.readlink(src), dst)
        real = os.path.realpath(src)
        if real != src and os.path.exists(real) and not os.path.exists(dst):
            _place(real, root, readonly=readonly)
        return
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            open(dst, "a").close()
    _bind(src, dst, readonly=readonly)


def _copy_workdir(cwd: str, root: str) -> None:
    """Copy the working folder into the sandbox (no notebooks: they hold the restored hidden tests).

    Symbolic links are copied as links: they resolve inside the sandbox, never to the host's files.
    """
    dst = root + cwd
    os.makedirs(dst, exist_ok=True)
    for entry in os.scandir(cwd):
        if entry.name.endswith(".ipynb") or os.path.realpath(entry.path) == os.path.realpath(root):
            continue
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            shutil.copytree(entry.path, target, symlinks=True, ignore=shutil.ignore_patterns("*.ipynb"))
        elif entry.is_file():
            shutil.copy2(entry.path, target)


def _build_root(spec: Spec, cwd: str) -> None:
    root = spec.root_dir
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec.scratch_mb}m,mode=755")
    for d, mode in (("tmp", 0o1777), ("dev", 0o755), ("dev/shm", 0o1777), ("proc", 0o555)):
        os.makedirs(os.path.join(root, d), exist_ok=True)
        os.chmod(os.path.join(root, d), mode)
    for node in DEV_NODES:
        if os.path.exists("/dev/" + node):
            _place("/dev/" + node, root, readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(root, "dev", name))
    home = os.environ.get("HOME")
    if home and home.startswith("/"):
        os.makedirs(root + home, exist_ok=True)
    for p in sorted({os.path.normpath(p) for p in spec.ro_paths if os.path.lexists(p)}, key=lambda p: p.count("/")):
        _place(p, root, readonly=True)
    _copy_workdir(cwd, root)
    for p in sorted({os.path.normpath(p) for p in spec.rw_paths if os.path.exists(p)}, key=lambda p: p.count("/")):
        _place(p, root, readonly=False)
    # /proc of the new PID namespace, with the host-wide knobs read-only and kernel internals masked
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READONLY:
        p = f"{root}/proc/{name}"
        if os.path.exists(p):
            _bind(p, p, readonly=True)
    for name in PROC_MASKED:
        p = f"{root}/proc/{name}"
        if os.path.isdir(p):
            _mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k")
        elif os.path.exists(p):
            _bind("/dev/null", p, readonly=True)
    # swap roots: afterwards the host's tree is detached and unreachable
    os.chdir(root)
    nr = _SYS_PIVOT_ROOT[platform.machine()]
    global _C
    _C = _C or _libc()
    if _C.syscall(ctypes.c_long(nr), b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    _call("umount2", b".", MNT_DETACH, what="old root")
    os.chdir("/")


def _set_limits(spec: Spec) -> None:
    import resource

    def cap(limit: int, mb: int) -> int:
        n = mb * 2**20
        return n if limit == resource.RLIM_INFINITY else min(n, limit)

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if spec.memory_mb:
        n = cap(hard, spec.memory_mb)
        resource.setrlimit(resource.RLIMIT_AS, (n, n))
    else:  # no limit asked: drop a soft limit inherited from the grading process
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    if spec.file_size_mb:
        n = cap(resource.getrlimit(resource.RLIMIT_FSIZE)[1], spec.file_size_mb)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child(spec: Spec, cmd: list[str], cwd: str, uid: int, gid: int) -> None:
    """PID 1 of the new namespace: build the root, drop to an ordinary uid, exec the kernel."""
    _build_root(spec, cwd)
    # a nested user namespace, mapped to an ordinary uid: no capabilities after exec, and the mounts
    # above become locked (they cannot be unmounted or made writable from inside)
    _call("unshare", CLONE_NEWUSER | CLONE_NEWNS, what="(nested)")
    _map_ids(uid or 1000, 0, gid or 1000, 0)
    _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, what="no_new_privs")
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0, what="pdeathsig")
    _set_limits(spec)
    os.chdir(cwd)
    os.execvpe(cmd[0], cmd, dict(spec.environment(), TMPDIR="/tmp"))


def _supervise(child: int) -> int:
    """The outer process: wait for the kernel, kill it if the grader that started us disappears."""
    def kill(*_):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel
    signal.signal(signal.SIGTERM, kill)
    signal.signal(signal.SIGHUP, kill)
    parent = os.getppid()
    while True:
        try:
            pid, status = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid:
            return os.waitstatus_to_exitcode(status) if status else 0
        if os.getppid() != parent:
            kill()
        time.sleep(0.2)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: sandbox.py SPEC.json -- COMMAND...", file=sys.stderr)
        return 2
    spec, cmd = Spec.read(argv[0]), argv[2:]
    if spec.pidfile:
        _write(spec.pidfile, str(os.getpid()))
    if not spec.isolate:
        _set_limits(spec)
        os.execvpe(cmd[0], cmd, spec.environment())
    cwd, uid, gid = os.getcwd(), os.getuid(), os.getgid()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if not spec.network:
        flags |= CLONE_NEWNET
    _call("unshare", flags, what="(user, mount, pid, ipc, uts, net namespaces)")
    _map_ids(0, uid, 0, gid)
    child = os.fork()
    if child == 0:
        try:
            _child(spec, cmd, cwd, uid, gid)
        except BaseException as exc:  # report, never fall back to running unsandboxed
            print(f"llmcourse sandbox: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    return _supervise(child)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
