"""Every command and config example in the README runs as written.

The README's shell lines are read from the file itself. Each one is either executed here (the demo
commands with ``--quick`` added so they stay bounded, placeholders such as ``path/to/model`` replaced by
real files written in their own shape), executed by a named test elsewhere, or listed with the reason it
cannot run in a test. A new README command that is none of these fails the inventory test.
"""

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from llmcourse import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def _commands():
    """Every shell command of the README's ```bash blocks: comments removed, continuations joined,
    heredoc bodies skipped."""
    out = []
    for block in _blocks("bash"):
        lines, heredoc = iter(block.splitlines()), None
        for line in lines:
            if heredoc:
                heredoc = None if line.strip() == heredoc else heredoc
                continue
            while line.rstrip().endswith("\\"):
                line = line.rstrip()[:-1] + " " + next(lines).strip()
            line = re.sub(r"\s+", " ", re.sub(r"\s+#.*$", "", line)).strip()
            if not line:
                continue
            m = re.search(r"<<'?(\w+)'?", line)
            heredoc = m.group(1) if m else None
            out.append(line)
    return out


BIG_TOML = _blocks("toml")[0]
DEMO_RUNS = {  # README command -> run here (slow), with --quick and placeholders made real
    "./run demo --model path/to/local/model": "model",
    "./run demo --data my_alpaca.jsonl": "data",
    "./run demo --model path/to/model --config big.toml": "config",
    "./run demo --stages sft,dpo,grpo": "stages",
}
GRADE = "tests/test_grading_class.py::test_nbgrader_csv_export_matches"
LOOP = "tests/test_grading_loop.py::"
ELSEWHERE = {  # README command, exactly -> the test that runs it (with --quick, or on a scratch course)
    "./run demo": "tests/test_report_cli.py::test_demo_quick_runs_all_stages_and_writes_a_complete_report",
    ".venv/bin/llmcourse course build": "tests/test_course_sources.py::test_the_release_notebook_is_what_nbgrader_generates",
    ".venv/bin/llmcourse course check": "tests/test_course_sources.py::test_the_release_notebook_is_what_nbgrader_generates",
    ".venv/bin/llmcourse course grade SUBMISSIONS --csv grades.csv": GRADE,
    ".venv/bin/llmcourse course grade SUBMISSIONS [ASSIGNMENT...] --workdir graded --feedback feedback "
    "--nbgrader-csv grades.csv --jobs 2": GRADE,
    "torchrun --nproc_per_node 2 my_sft_script.py": "tests/test_distributed.py::test_two_processes_match_one_and_only_main_writes",
    ".venv/bin/llmcourse course grade SUBMISSIONS --workdir graded --jobs 2":
        LOOP + "test_grading_prints_progress_first_and_nothing_on_stderr",
    "cd graded && ../.venv/bin/jupyter lab": LOOP + "test_formgrader_opens_the_workdir_as_it_is_and_its_feedback_button_redacts",
    ".venv/bin/llmcourse course feedback graded --feedback feedback":
        LOOP + "test_feedback_after_hand_grading_has_the_manual_scores_and_no_hidden_tests",
    ".venv/bin/llmcourse course export graded --nbgrader-csv grades.csv":
        LOOP + "test_feedback_after_hand_grading_has_the_manual_scores_and_no_hidden_tests",
}
COURSE_RUN = ".venv/bin/llmcourse course run solutions/00_welcome/welcome.ipynb"  # test_course_run_as_written
NOT_RUN = {  # README command prefix -> why a test cannot run it
    "./run test": "the whole suite: a test cannot run the suite that contains it",
    "./run test -k welcome": "starts pytest on the welcome notebook's tests; a test does not start the test runner",
    ".venv/bin/jupyter lab": "an interactive server",
    "accelerate launch --multi_gpu --num_processes 4": "needs 4 GPUs (the launcher itself: test_distributed)",
    "torchrun --nproc_per_node 4 -m llmcourse.cli demo": "needs 4 GPUs (the launcher itself: test_distributed)",
    "docker ": "needs Docker, absent from the test machine",
    "mkdir -p graded": "part of the Docker recipe",
}


def _covered(cmd):
    if cmd in DEMO_RUNS or cmd == COURSE_RUN:
        return "here"
    if cmd in ELSEWHERE:
        return ELSEWHERE[cmd]
    best = max((prefix for prefix in NOT_RUN if cmd.startswith(prefix)), key=len, default=None)
    return NOT_RUN.get(best)


def test_every_readme_command_is_run_or_accounted_for():
    cmds = _commands()
    assert len(cmds) >= 15, cmds  # the parser found the README's commands
    missing = [c for c in cmds if _covered(c) is None]
    assert not missing, f"README commands no test runs: {missing}; run them in tests/test_readme_examples.py"
    for node in ELSEWHERE.values():  # the named tests exist
        path, name = node.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(), node


def test_demo_help_lists_every_option_the_readme_names(capsys):
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    out = capsys.readouterr().out
    listed = re.search(r"`\./run demo --help` lists the options \((.*?)\)", README).group(1)
    for option in re.findall(r"`(--[a-z]+)`", listed):
        assert option in out, option


@pytest.mark.parametrize("quick", [True, False])
def test_the_readme_config_changes_only_what_it_names(tmp_path, quick):
    from llmcourse.demo import demo_settings, stage_configs

    (tmp_path / "big.toml").write_text(BIG_TOML)
    sections = tomllib.loads(BIG_TOML)
    demo, overrides = demo_settings({"seed": 5, "quick": quick}, str(tmp_path / "big.toml"))
    assert demo.n_train == sections["demo"]["n_train"] and demo.seed == 5
    presets = stage_configs(demo)
    for stage, values in sections.items():
        if stage == "demo":
            continue
        cfg = overrides[stage]
        changed = {k for k in values if getattr(presets[stage], k) != values[k]}
        assert {f for f in vars(cfg) if getattr(cfg, f) != getattr(presets[stage], f)} == changed
        assert cfg.seed == 5 and all(getattr(cfg, k) == v for k, v in values.items())


# --------------------------------------------------------------------------- the demo commands, executed


def _alpaca_file(path):
    """Alpaca records (instruction / input, often empty / output) as JSON Lines, the README's file name."""
    rows = [{"instruction": f"Give the number after {i}.", "input": "", "output": str(i + 1)} for i in range(10)]
    rows += [{"instruction": "Add the two numbers.", "input": f"{i} {i + 2}", "output": str(2 * i + 2)} for i in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _as_written(cmd, tmp_path):
    from llmcourse import models

    args = shlex.split(cmd)[1:]  # drop ./run
    real = {"path/to/local/model": str(models.base_model_path()), "path/to/model": str(models.base_model_path()),
            "my_alpaca.jsonl": str(_alpaca_file(tmp_path / "my_alpaca.jsonl")),
            "big.toml": str(tmp_path / "big.toml")}
    (tmp_path / "big.toml").write_text(BIG_TOML)
    return [real.get(a, a) for a in args] + ["--quick", "--seeds", "1", "--output", str(tmp_path / "report")]


@pytest.mark.slow
@pytest.mark.parametrize("cmd", list(DEMO_RUNS))
def test_readme_demo_command_runs_as_written(tmp_path, cmd):
    assert cmd in _commands()
    assert cli.main(_as_written(cmd, tmp_path)) == 0
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    methods = ["DPO", "GRPO"] if DEMO_RUNS[cmd] == "stages" else ["PPO", "DPO", "GRPO"]
    assert list(results["table"]) == ["base", "SFT", *methods] and "truncation" in results
    if DEMO_RUNS[cmd] == "config":  # the file's keys reached the stages, the quick recipe kept the rest
        sections = tomllib.loads(BIG_TOML)
        for stage in (s for s in sections if s != "demo"):
            for k, v in sections[stage].items():
                assert results["stages"][stage][k] == v
        assert results["stages"]["sft"]["max_steps"] == 8  # --quick's, not the full recipe's 350
    if DEMO_RUNS[cmd] == "data":
        assert "SFT on" in results["data"]


@pytest.mark.slow
def test_course_run_as_written(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert COURSE_RUN in _commands()
    assert cli.main(shlex.split(COURSE_RUN)[1:]) == 0
    out = capsys.readouterr().out
    assert "welcome.ipynb" in out and "stderr in cell" not in out
