"""The fast tier itself: ``--fast`` leaves out slow (and real_model) tests and fails a test over the time limit."""

import shutil
import subprocess
import sys
from pathlib import Path

PROBE = '''
import time
import pytest

def test_quick():
    pass

def test_too_slow_for_the_fast_tier():
    time.sleep(1.5)

@pytest.mark.slow
def test_marked_slow():
    time.sleep(30)

@pytest.mark.real_model
def test_marked_real_model_only():
    pass
'''


def _run(tmp_path: Path, *args: str) -> str:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", *args,
                           "-o", "markers=slow: slow", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    return done.stdout + done.stderr


def test_fast_tier_leaves_out_slow_tests_and_fails_a_test_over_the_limit(tmp_path):
    out = _run(tmp_path, "--fast", "--max-test-seconds", "1")
    assert "1 failed, 1 passed, 2 deselected" in out, out  # slow and real_model both left out
    assert "test_too_slow_for_the_fast_tier took 1." in out and "mark it @pytest.mark.slow" in out
    assert "base model: " in out  # the named step, before the first test


def test_without_a_limit_no_test_fails_for_its_time(tmp_path):
    out = _run(tmp_path, "-m", "not slow")
    assert "3 passed, 1 deselected" in out, out
