import json
import subprocess
import sys

import pytest

from llmcourse import cli, report
from llmcourse.training import resolve_mixed_precision, warmup_cosine


def test_atomic_report_dir_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(KeyboardInterrupt):
        with report.atomic_report_dir(out) as tmp:
            (tmp / "half.txt").write_text("x")
            raise KeyboardInterrupt
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_report_refuses_user_folder_even_with_force(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(report.OutputExistsError, match="not an llmcourse report"):
        with report.atomic_report_dir(out, force=True):
            pass
    assert (out / "thesis.tex").read_text() == "precious"


def test_report_replaced_only_with_force(tmp_path):
    out = tmp_path / "rep"
    with report.atomic_report_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(report.OutputExistsError, match="--force"):
        with report.atomic_report_dir(out):
            pass
    with report.atomic_report_dir(out, force=True) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == [report.MARKER, "b.txt"]


@pytest.mark.slow
def test_demo_quick_runs_all_stages_and_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--seeds", "2", "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["table"]) == ["base", "SFT", "PPO", "DPO", "GRPO"]
    assert results["table"]["base"]["exact_match"] <= 0.1
    assert 0.0 <= results["reward_model_accuracy"] <= 1.0
    report_md = (out / "report.md").read_text()
    for name in ("sft_loss.png", "reward.png", "ppo.png", "dpo.png", "grpo.png", "overoptimisation.png"):
        assert (out / name).stat().st_size > 1000 and f"({name})" in report_md
    # the main table, per method: greedy and sampled exact match, RM score, KL to the SFT model, time;
    # mean ± std over the seeds for the post-SFT methods
    sft = results["table"]["SFT"]
    assert sft["kl_to_sft"] == 0.0 and sft["seconds"] > 0
    for name in ("PPO", "DPO", "GRPO"):
        row, runs = results["table"][name], results["methods"][name]["runs"]
        assert len(runs) == 2 and row["seconds"] > 0 and f"| {name} (2 seeds) |" in report_md
        for key in ("exact_match", "exact_match_sampled", "rm_score", "rm_score_sampled", "kl_to_sft"):
            assert row[key] == pytest.approx(sum(r[key] for r in runs) / 2), (name, key)
            assert results["methods"][name]["std"][key] is not None
        # every seed's policy moved away from the SFT model (a copy frozen as a reference would not)
        assert all(r["kl_to_sft"] != 0.0 for r in runs)
        assert name in results["methods"][name]["verdict"] and "SFT" in results["methods"][name]["verdict"]
        assert f"- {name}: " in report_md and " steps " in results["methods"][name]["budget"]["text"] + " steps "
    assert "exact match (sampled)" in report_md and " ± " in report_md
    # over-optimisation: PPO's and GRPO's first-seed runs measured ≥ 5 times, each with the RM score,
    # exact match and the KL to SFT; DPO's held-out pair curves too
    for method in ("ppo", "grpo"):
        h = json.loads((out / f"history_{method}.json").read_text())
        ev = [e for e in h if "kl_to_sft" in e]
        assert len(ev) >= 5 and all("eval_score" in e and "exact_match_sampled" in e for e in ev), method
        assert (out / f"history_{method}_seed1.json").exists()
    dpo_h = json.loads((out / "history_dpo.json").read_text())
    assert sum("eval_reward_accuracy" in h for h in dpo_h) >= 5
    rm_h = json.loads((out / "history_reward.json").read_text())
    assert sum("eval_accuracy" in h for h in rm_h) >= 4
    assert (out / "samples.md").read_text().count("| GRPO |") == 1
    assert cli.main(["demo", "--quick", "--output", str(out)]) == 2  # exists: refused
    assert "--force" in capsys.readouterr().err
    # the same seed gives the same numbers on a CPU
    assert cli.main(["demo", "--quick", "--seeds", "2", "--output", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    def numbers(r):  # every figure but the wall times
        return {m: {k: v for k, v in row.items() if k != "seconds"} for m, row in r["table"].items()}
    assert numbers(again) == numbers(results)
    assert again["reward_model_accuracy"] == results["reward_model_accuracy"]


def test_demo_stages_are_checked_and_completed_with_what_they_need():
    from llmcourse.demo import parse_stages

    assert parse_stages("sft,ppo") == (("sft", "reward", "ppo"), ["reward added: ppo needs it"])
    assert parse_stages("grpo, dpo") == (("sft", "dpo", "grpo"),
                                         ["sft added: every method starts from the SFT model and is compared with it"])
    assert parse_stages("base,sft")[0] == ("sft",)
    for bad in ("sft,rlhf", "", " , "):
        with pytest.raises(ValueError, match=r"unknown stage name.*valid: base, sft, reward, ppo, dpo, grpo"):
            parse_stages(bad)


def test_demo_unknown_stage_is_a_one_line_error_before_any_model(tmp_path, capsys):
    assert cli.main(["demo", "--quick", "--stages", "sft,pp0", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'pp0'" in err[0] and "ppo" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_demo_stages_runs_only_the_chosen_methods(tmp_path):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--seeds", "1", "--stages", "sft,dpo,grpo", "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["table"]) == ["base", "SFT", "DPO", "GRPO"] and results["stages_run"] == ["sft", "dpo", "grpo"]
    # no reward model: no RM score anywhere, and no empty panel
    assert results["reward_model_accuracy"] is None and results["table"]["GRPO"]["rm_score"] is None
    assert not (out / "reward.png").exists() and not (out / "ppo.png").exists()
    assert len(_measured(out / "history_grpo.json")) >= 5
    report_md = (out / "report.md").read_text()
    assert "| DPO |" in report_md and "one seed, so no noise estimate" in report_md and "not trained (--stages)" in report_md


def _measured(history_path):
    return [e for e in json.loads(history_path.read_text()) if "kl_to_sft" in e and "exact_match" in e]


def test_demo_config_file_unknown_key_is_named(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[sft]\nlearnig_rate = 0.1\n")
    assert cli.main(["demo", "--quick", "--config", str(cfg), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "learnig_rate" in err and "learning_rate" in err
    assert not (tmp_path / "o").exists()


def test_demo_data_file_in_wrong_format_is_named(tmp_path, capsys):
    bad = tmp_path / "d.jsonl"
    bad.write_text('{"instruction": "x", "output": "y"}\n{"instruction": \n')
    assert cli.main(["demo", "--quick", "--data", str(bad), "--output", str(tmp_path / "o")]) == 2
    assert "d.jsonl:2: malformed JSON" in capsys.readouterr().err


def test_demo_bad_model_path_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["demo", "--quick", "--model", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such folder" in err[0]
    assert not (tmp_path / "o").exists()


def test_course_command_outside_a_course_says_so(tmp_path, capsys):
    assert cli.main(["course", "check", "--course", str(tmp_path)]) == 2
    assert "not an nbgrader course" in capsys.readouterr().err


def test_doctor_runs(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "device" in out


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "llmcourse.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout and "course" in r.stdout


def test_warmup_cosine_schedule_by_hand():
    assert warmup_cosine(0, warmup_steps=10, total_steps=110) == pytest.approx(0.1)
    assert warmup_cosine(9, warmup_steps=10, total_steps=110) == pytest.approx(1.0)
    assert warmup_cosine(60, warmup_steps=10, total_steps=110, min_ratio=0.0) == pytest.approx(0.5)
    assert warmup_cosine(110, warmup_steps=10, total_steps=110, min_ratio=0.1) == pytest.approx(0.1)


def test_mixed_precision_auto_is_fp32_on_cpu():
    import torch

    if not torch.cuda.is_available():
        assert resolve_mixed_precision("auto") == "no"
    with pytest.raises(ValueError, match="mixed_precision"):
        resolve_mixed_precision("fp8")


def test_one_process_can_train_in_fp32_then_bf16():
    # Accelerate refuses a second precision in one process; make_accelerator must not (a notebook on a
    # GPU runs an fp32 stage, then a bf16 one). bf16 autocast also runs on a CPU.
    from llmcourse.training import make_accelerator

    assert make_accelerator("no").mixed_precision == "no"
    assert make_accelerator("bf16").mixed_precision == "bf16"
    assert make_accelerator("no").mixed_precision == "no"


def test_demo_stages_share_one_template(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[sft]\ntemplate = "alpaca"\n')  # the RM and PPO would still get simple prompts
    assert cli.main(["demo", "--quick", "--config", str(cfg), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "[demo]" in err and "'alpaca'" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dolly", "preference"])
def test_demo_trains_on_a_user_data_file(kind, tmp_path):
    rows = []
    for i in range(12):
        if kind == "dolly":
            rows.append({"instruction": f"Repeat the number {i}.", "context": "", "response": str(i), "category": "open_qa"})
        else:
            rows.append({"prompt": f"Instruction: Repeat the number {i}.\nOutput:", "chosen": f" {i}", "rejected": f" {i + 1}"})
    data = tmp_path / f"{kind}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--seeds", "1", "--data", str(data), "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert str(data) in results["data"] and list(results["table"]) == ["base", "SFT", "PPO", "DPO", "GRPO"]
    if kind == "dolly":  # SFT on the file, evaluated on its held-out records
        assert "SFT on" in results["data"] and results["sft_eval_loss"] == results["sft_eval_loss"]
    else:  # the reward model on the file's pairs, held-out accuracy over its held-out pairs
        assert "reward model on" in results["data"] and 0.0 <= results["reward_model_accuracy"] <= 1.0


def test_overoptimisation_plot_puts_proxy_and_truth_against_kl():
    from llmcourse import plots

    history = [{"step": 0, "kl_to_sft": 0.0, "exact_match": 0.8, "eval_score": 0.1, "exact_match_sampled": 0.7,
                "eval_score_sampled": 0.0},
               {"step": 1, "kl": 0.5, "score": 0.3},  # a training row without an evaluation: not plotted
               {"step": 2, "kl_to_sft": 1.0, "exact_match": 0.6, "eval_score": 0.4, "exact_match_sampled": 0.5,
                "eval_score_sampled": 0.3}]
    grpo = [{"step": 0, "kl_to_sft": 0.0, "exact_match": 0.8, "eval_score": 0.1},
            {"step": 4, "kl_to_sft": 2.0, "exact_match": 0.9, "eval_score": 0.2}]
    rm, em = plots.plot_overoptimisation({"PPO": history, "GRPO": grpo}, title="t").axes
    assert [list(line.get_xdata()) for line in rm.lines] == [[0.0, 1.0]] * 2 + [[0.0, 2.0]]
    assert [list(line.get_ydata()) for line in rm.lines] == [[0.1, 0.4], [0.0, 0.3], [0.1, 0.2]]
    assert [list(line.get_ydata()) for line in em.lines] == [[0.8, 0.6], [0.7, 0.5], [0.8, 0.9]]
    assert "KL" in em.get_xlabel() and "exact match" in em.get_title() and "exact match" in em.get_ylabel()
    assert "reward-model score" in rm.get_title()
    # no reward model (demo --stages sft,grpo): one panel, never an empty one
    (only,) = plots.plot_overoptimisation({"GRPO": [{k: v for k, v in h.items() if k != "eval_score"} for h in grpo]},
                                          title="t").axes
    assert "exact match" in only.get_title() and len(only.lines) == 1


def test_history_plot_leaves_out_keys_no_entry_has():
    from llmcourse import plots

    fig = plots.plot_history([{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}], ["loss", "eval_score"],
                             labels={"loss": "training loss"})
    (ax,) = fig.axes
    assert ax.get_title() == "training loss" and len(ax.lines[0].get_xdata()) == 2


def test_demo_refuses_zero_seeds(tmp_path, capsys):
    assert cli.main(["demo", "--quick", "--seeds", "0", "--output", str(tmp_path / "o")]) == 2
    assert "seeds" in capsys.readouterr().err


def test_demo_verdicts_are_computed_from_the_numbers():
    from llmcourse.demo_report import _run_course, _verdict

    runs = [{"exact_match": x} for x in (0.78, 0.82, 0.85)]  # mean 0.8167, std 0.0351, 2 SE 0.0405
    assert _verdict("PPO", runs, 0.85) == ("PPO 0.817 ± 0.035 vs SFT 0.850 (Δ -0.033, 2 standard errors 0.041): "
                                           "within the seeds' noise: no better and no worse than SFT")
    assert "outside the seeds' noise: worse than SFT" in _verdict("DPO", [{"exact_match": x} for x in (0.80, 0.81)], 0.85)
    assert "outside the seeds' noise: better than SFT" in _verdict("GRPO", [{"exact_match": x} for x in (0.90, 0.91)], 0.85)
    assert "one seed, so no noise estimate" in _verdict("PPO", runs[:1], 0.85)
    history = [{"step": 0, "exact_match": 0.85, "eval_score": -0.18, "kl_to_sft": 0.0}, {"step": 1, "kl": 0.1},
               {"step": 8, "exact_match": 0.78, "eval_score": -0.17, "kl_to_sft": 0.2}]
    line = _run_course("PPO", history)
    assert "-0.18 → -0.17" in line and "0.85 → 0.78" in line and "the proxy rose while the truth fell" in line
    assert "proxy rose" not in _run_course("GRPO", [history[0], {**history[2], "exact_match": 0.9}])


def test_demo_says_when_grpo_had_nothing_to_learn():
    """SmolLM2 on the task world: every group of answers all wrong, every advantage 0 — the report says
    so rather than leaving a flat row unexplained; a run with some informative groups gets no such line."""
    from llmcourse.demo_report import _grpo_health

    flat = [{"step": 0, "exact_match": 0.0}] + [{"step": i, "reward": 0.0, "frac_zero_std": 1.0} for i in (1, 2, 3)]
    line = _grpo_health(flat)
    assert "GRPO learnt nothing" in line and "3 steps" in line and "all wrong" in line
    assert "all right" in _grpo_health([{"step": 1, "reward": 1.0, "frac_zero_std": 1.0}])
    assert _grpo_health([{"step": 1, "reward": 0.4, "frac_zero_std": 0.5}, {"step": 2, "reward": 0.5, "frac_zero_std": 1.0}]) is None
    assert _grpo_health([{"step": 0, "exact_match": 0.9}]) is None
