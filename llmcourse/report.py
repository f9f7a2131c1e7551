"""Report folders that are complete or absent: written aside, renamed into place at the end.

An interrupted run (Ctrl-C, a crash) leaves at most a ``<name>.partial-*`` folder, which no one mistakes
for a finished report; a finished report carries a marker file. Existing folders are never deleted
unless they are llmcourse reports *and* the user passed ``force``; nothing else is ever removed but
folders this run created itself (``tempfile.mkdtemp`` names, which never reuse an existing path — a
user's ``<name>.old`` or ``<name>.tmp`` next to the report is never touched).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

MARKER = ".llmcourse-report"
_MARKER_HEAD = "written by llmcourse; safe to replace with --force. sha256 and path of every file it wrote:"


class OutputExistsError(FileExistsError):
    """The output folder exists; the message says how to proceed."""


def check_output_dir(path: Path, force: bool) -> None:
    """Refuse to touch an existing folder unless it's an llmcourse report and ``force`` is set."""
    if not path.exists():
        return
    if path.is_file():
        raise OutputExistsError(f"{path}: is a file; choose another --output")
    if not any(path.iterdir()):
        return
    if not (path / MARKER).exists():
        raise OutputExistsError(f"{path}: folder exists and is not an llmcourse report; it won't be touched "
                                "(even with --force) — choose another --output")
    if not force:
        raise OutputExistsError(f"{path}: a report is already there; pass --force to replace it, or choose another --output")
    changed = _not_written_by_us(path)
    if changed:
        shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
        raise OutputExistsError(f"{path}: the report holds files llmcourse did not write or that were edited since "
                                f"({shown}); they won't be deleted — move them out, or choose another --output")


def _digest(path: Path) -> str:
    if path.is_symlink():
        return "link"  # never listed by us: a link someone added is reported, not followed
    return "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> list[str]:
    """Every file, folder and link under ``root`` (links not followed), the marker excepted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name != MARKER or p.parent != root)


def _not_written_by_us(path: Path) -> list[str]:
    """Paths of an earlier report that its marker does not list with this content: added or edited by
    someone else. (A marker written before the listing existed is trusted as it was then.)"""
    lines = (path / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or lines[0] != _MARKER_HEAD:
        return []  # an older llmcourse report: its marker lists nothing to compare with
    listed = dict(reversed(line.split("  ", 1)) for line in lines[1:] if "  " in line)
    return [f for f in _files(path) if listed.get(f) in (None, "link") or _digest(path / f) != listed[f]]


@contextlib.contextmanager
def atomic_report_dir(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a scratch folder next to ``path``; on success it becomes ``path`` (with the marker)."""
    path = Path(path)
    check_output_dir(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{path.name}.partial-", dir=path.parent))
    try:
        yield tmp
        listing = [f"{_digest(tmp / f)}  {f}" for f in _files(tmp)]
        (tmp / MARKER).write_text("\n".join([_MARKER_HEAD, *listing]) + "\n", encoding="utf-8")
        if path.exists():
            check_output_dir(path, force)  # re-check: someone may have written there meanwhile
            # the earlier report is moved into a folder this run creates, then that folder is removed
            holder = Path(tempfile.mkdtemp(prefix=f"{path.name}.replaced-", dir=path.parent))
            old = holder / "report"
            path.rename(old)
            try:
                tmp.rename(path)
            except BaseException:
                old.rename(path)  # put the earlier report back
                shutil.rmtree(holder, ignore_errors=True)
                raise
            shutil.rmtree(holder, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
