"""``./run``, the README's two commands: the demo runs in the caller's directory, so a relative
``--data`` / ``--config`` / ``--output`` path means what the user typed (before, ``./run`` changed to the
repository first: ``cd elsewhere && /path/to/run demo --data mine.jsonl`` said "no such file", and a
relative ``--output`` landed inside the repository)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_demo_reads_a_relative_data_path_from_the_callers_directory(tmp_path):
    venv = Path(sys.prefix)
    if not (venv / ".llmcourse-installed").is_file():  # ./run would install into this interpreter first
        pytest.skip(f"{venv} was not set up by ./run (no .llmcourse-installed stamp)")
    (tmp_path / "mine.jsonl").write_text('{"instruction": "Say hi.", "output": "hi"}\n{"instruction": "Say yo."}\n')
    proc = subprocess.run([str(ROOT / "run"), "demo", "--quick", "--data", "mine.jsonl", "--output", "out"], cwd=tmp_path,
                          env={**os.environ, "LLMCOURSE_VENV": str(venv)}, capture_output=True, text=True, timeout=300)
    # the file was found and read: the error names its second record's missing field, before any model loads
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "mine.jsonl:2: missing field 'output'" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "out").exists() and not (ROOT / "out").exists()
