"""Report folders that are complete or absent: written aside, renamed into place at the end.

An interrupted run (Ctrl-C, a crash) leaves at most a ``<name>.partial-*`` folder, which no one mistakes
for a finished report; a finished report carries a marker file. Existing folders are never deleted
unless they are llmcourse reports *and* the user passed ``force``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

MARKER = ".llmcourse-report"


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


@contextlib.contextmanager
def atomic_report_dir(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a scratch folder next to ``path``; on success it becomes ``path`` (with the marker)."""
    path = Path(path)
    check_output_dir(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{path.name}.partial-", dir=path.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text("written by llmcourse; safe to replace with --force\n")
        if path.exists():
            check_output_dir(path, force)  # re-check: someone may have written there meanwhile
            old = path.with_name(path.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
