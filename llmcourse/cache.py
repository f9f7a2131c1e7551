"""The model cache: every model the package builds for itself, built once per machine and kept on disk.

One mechanism serves the base model, the task reward models and the PPO lab's models:
:func:`build_cached` names an entry by a hash of its recipe, builds it in a temporary folder beside
the cache, and renames the folder into place only when it is complete, so a half-built entry is never
mistaken for a finished one. A file lock per entry makes a second process that asks for the same entry
wait for the first one's build and then use it, instead of training the same model again.

An entry derived from the base model must carry the base model's identity in its recipe
(:func:`llmcourse.recipes.on_base`), so a new base recipe never reuses models trained from the old one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["cache_dir", "recipe_key", "entry_path", "is_built", "build_cached"]


def cache_dir() -> Path:
    """Where built artefacts live: ``$LLMCOURSE_CACHE`` or ``~/.cache/llmcourse``."""
    return Path(os.environ.get("LLMCOURSE_CACHE") or Path.home() / ".cache" / "llmcourse")


def recipe_key(recipe: dict[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the recipe as canonical JSON (keys sorted; values that JSON
    cannot hold, such as paths, as their ``str``). Equal recipes give equal keys on every machine."""
    blob = json.dumps(recipe, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def entry_path(name: str, recipe: dict[str, Any]) -> Path:
    """The folder of the entry ``name`` built from ``recipe``: ``cache_dir()/<name>-<recipe key>``."""
    return cache_dir() / f"{name}-{recipe_key(recipe)}"


def is_built(folder: Path, marker: str = "llmcourse_build.json") -> bool:
    """Whether ``folder`` is a complete entry (its ``marker`` file is written last, inside the build)."""
    return (folder / marker).is_file()


@contextlib.contextmanager
def _entry_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder``'s entry for as long as the block runs (other processes
    asking for the same entry wait). The lock file stays in place: removing it while another process
    waits on it would let a third one lock a new file and build alongside the first."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the atomic rename still keeps entries whole
        yield
        return
    lock = folder.parent / f".{folder.name}.lock"
    with open(lock, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_cached(name: str, recipe: dict[str, Any], build: Callable[[Path], dict[str, Any]], *,
                 marker: str = "llmcourse_build.json") -> Path:
    """The folder of the cache entry ``name`` for ``recipe``, built first if it is not there yet.

    ``build(folder)`` writes the entry (weights, tokenizer, …) into an empty temporary folder and
    returns facts about it (JSON-serialisable); they are written to ``marker`` together with the recipe
    and the build's ``seconds`` (unless the facts carry their own), and the folder is renamed to :func:`entry_path` — an atomic step, so readers see either nothing or
    a complete entry. A process that finds another one building the same entry waits for it and uses
    its result. A finished entry is only read, never locked, so a read-only cache works once built.
    Leftovers of a build that was killed are removed by the next build of the same entry.
    """
    final = entry_path(name, recipe)
    if is_built(final, marker):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _entry_lock(final):
        if is_built(final, marker):  # built by the process we waited for
            return final
        for stale in final.parent.glob(f".building-{final.name}-*"):  # a killed build's folder
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():  # an entry without its marker is incomplete (copied by hand, or damaged)
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".building-{final.name}-", dir=final.parent))
        try:
            t0 = time.perf_counter()
            facts = build(tmp)
            facts = {"recipe": recipe, "seconds": round(time.perf_counter() - t0, 1), **facts}
            (tmp / marker).write_text(json.dumps(facts, indent=2))
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
