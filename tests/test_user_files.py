"""Nothing a user owns is deleted or overwritten: only paths a run created itself are ever removed.

User files are placed at every path next to the report folder that a careless implementation might
use (``X.old``, ``X.tmp``, ``X.partial-…``, ``X~``, …) and checked byte for byte after each way a run
can end: fresh write, ``--force`` replacement, an error half-way, and every refusal.
"""

import os

import pytest

from llmcourse import cli, report

NEIGHBOURS = ["rep.old", "rep.tmp", "rep.bak", "rep~", ".rep", "rep.partial", "rep.new", "rep-old", "rep.old.1",
              "rep.replaced", "rep.swp", "rep.lock"]
FOLDERS = ["rep.old.d", "rep.partial-abc", "rep.replaced-abc", "rep_tmp"]


def _plant(root):
    for i, name in enumerate(NEIGHBOURS):
        (root / name).write_bytes(f"user file {i}\n".encode() + bytes(range(256)))
    for name in FOLDERS:
        (root / name).mkdir()
        (root / name / "notes.txt").write_text(f"mine: {name}")
        (root / name / "empty").mkdir()
    os.rename(root / "rep.old.d", root / "rep.old.dir")  # a folder named like a backup of a folder
    return _snapshot(root, skip="rep")


def _snapshot(root, skip=None):
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if skip and rel.parts[0] == skip:
            continue
        out[str(rel)] = "dir" if p.is_dir() else p.read_bytes()
    return out


def _write_report(out, text="v1", force=False):
    with report.atomic_report_dir(out, force=force) as tmp:
        (tmp / "report.md").write_text(text)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "curve.png").write_bytes(b"\x89PNG" + text.encode())


def test_fresh_report_touches_no_neighbour(tmp_path):
    before = _plant(tmp_path)
    _write_report(tmp_path / "rep")
    assert _snapshot(tmp_path, skip="rep") == before
    assert (tmp_path / "rep" / "report.md").read_text() == "v1"


@pytest.mark.parametrize("old_kind", ["file", "folder"])
def test_force_replaces_only_the_earlier_report(tmp_path, old_kind):
    _write_report(tmp_path / "rep")
    before = _plant(tmp_path)
    if old_kind == "folder":  # the reported bug: `demo --force` deleted the user's rep.old/ folder
        (tmp_path / "rep.old").unlink()
        (tmp_path / "rep.old").mkdir()
        (tmp_path / "rep.old" / "results.json").write_text('{"mine": true}')
        before = _snapshot(tmp_path, skip="rep")
    _write_report(tmp_path / "rep", "v2", force=True)
    assert _snapshot(tmp_path, skip="rep") == before  # rep.old (the bug: it was deleted) and the rest intact
    assert (tmp_path / "rep" / "report.md").read_text() == "v2"


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_a_run_that_fails_leaves_the_earlier_report_and_every_neighbour(tmp_path, exc):
    _write_report(tmp_path / "rep")
    before = _snapshot(tmp_path) | _plant(tmp_path)
    with pytest.raises(exc):
        with report.atomic_report_dir(tmp_path / "rep", force=True) as tmp:
            (tmp / "report.md").write_text("half")
            raise exc
    assert _snapshot(tmp_path) == before


def _refused(tmp_path, force, match):
    before = _snapshot(tmp_path)
    with pytest.raises(report.OutputExistsError, match=match):
        _write_report(tmp_path / "rep", "v2", force=force)
    assert _snapshot(tmp_path) == before


def test_a_user_folder_is_refused_even_with_force(tmp_path):
    _plant(tmp_path)
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "thesis.tex").write_text("precious")
    _refused(tmp_path, True, "not an llmcourse report")


def test_a_file_at_the_output_path_is_refused(tmp_path):
    _plant(tmp_path)
    (tmp_path / "rep").write_text("precious")
    _refused(tmp_path, True, "is a file")


def test_a_report_is_refused_without_force(tmp_path):
    _write_report(tmp_path / "rep")
    _plant(tmp_path)
    _refused(tmp_path, False, "--force")


@pytest.mark.parametrize("change", ["added file", "edited file", "added folder", "added link", "nested file"])
def test_force_refuses_a_report_holding_the_users_own_work(tmp_path, change):
    _write_report(tmp_path / "rep")
    _plant(tmp_path)
    rep = tmp_path / "rep"
    if change == "added file":
        (rep / "my_notes.md").write_text("analysis I wrote")
    elif change == "edited file":
        (rep / "report.md").write_text("v1 plus my comments")
    elif change == "added folder":
        (rep / "drafts").mkdir()
    elif change == "added link":
        (rep / "data").symlink_to(tmp_path / "rep.old")
    else:
        (rep / "sub" / "extra.png").write_bytes(b"mine")
    _refused(tmp_path, True, "files llmcourse did not write or that were edited")


def test_a_report_from_an_older_llmcourse_is_still_replaceable(tmp_path):
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / report.MARKER).write_text("written by llmcourse; safe to replace with --force\n")
    (rep / "report.md").write_text("old")
    before = _plant(tmp_path)
    _write_report(rep, "v2", force=True)
    assert _snapshot(tmp_path, skip="rep") == before and (rep / "report.md").read_text() == "v2"


def test_demo_force_refuses_before_any_model_loads(tmp_path, capsys):
    # the CLI checks --output first: a report with the user's notes inside is refused in a second
    _write_report(tmp_path / "rep")
    (tmp_path / "rep" / "my_notes.md").write_text("mine")
    before = _snapshot(tmp_path)
    assert cli.main(["demo", "--quick", "--force", "--output", str(tmp_path / "rep")]) == 2
    assert "did not write" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before
