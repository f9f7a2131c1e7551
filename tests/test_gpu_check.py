"""``bench/gpu_check.py`` on a CPU (CI has no GPU): every section runs, the device-vs-CPU comparison
works (here a CPU against a CPU child process: the same batches must give the same losses bit for
bit), and the host reads that would be device synchronisations on a GPU stay where they are needed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "gpu_check.json"
    env = {**os.environ, "GPU_CHECK_REF_THREADS": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--quick",
                        "--skip", "trl,dpo_trl,sync_ab,reward_share", "--out", str(out)], capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "fp32 losses, device vs CPU" in r.stdout  # the table
    return json.loads(out.read_text())


def test_every_section_runs_and_the_reference_agrees(report):
    S = report["sections"]
    assert not report["errors"]
    names = [n for n in ("sft", "reward", "dpo", "ppo", "grpo") if f"losses_{n}_fp32" in S]
    assert {"sft", "reward", "ppo", "grpo"} <= set(names)
    for name in names:
        a = S["agreement"][name]
        assert a["ok"] and a["max_abs"] == 0.0 and len(a["cpu"]) >= 2
        for prec in ("fp32", "bf16"):
            assert S[f"throughput_{name}_{prec}"]["tokens_per_s"] > 0
        assert S[f"losses_{name}_bf16"]["max_abs_vs_fp32"] > 0  # bf16 autocast really ran


def _llmcourse_sites(report, name):
    return {site: n for site, n in report["sections"][f"syncs_{name}"]["host_reads"]["sites_per_step"].items()
            if site.startswith("llmcourse/")}


def test_the_sft_loop_reads_nothing_back_per_step(report):
    # the only host read left is the target count of the batch, taken on the CPU before the batch moves
    sites = _llmcourse_sites(report, "sft")
    assert sites and all(" collate_and_count " in s for s in sites), sites


@pytest.mark.parametrize("name", ["ppo", "grpo"])
def test_rl_trainers_read_their_logged_metrics_back_once_per_step(report, name):
    sites = _llmcourse_sites(report, name)
    reads = [n for s, n in sites.items() if " read_metrics " in s]
    assert reads == [1], sites


# ---- the rows the next GPU session runs alone: `--only dpo_trl,sync_ab,reward_share`

ONLY = "dpo_trl,sync_ab,reward_share"


@pytest.fixture(scope="module")
def only_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check_only") / "gpu_check.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--quick",
                        "--only", ONLY, "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "per step: fixes on / undone" in r.stdout  # the A/B table
    return json.loads(out.read_text())


def test_only_runs_the_named_sections(only_report):
    S = only_report["sections"]
    assert not only_report["errors"]
    ran = {k for k in S if k not in ("environment", "setup", "trl")}
    assert ran and all(k.startswith(("dpo_trl_", "sync_ab_", "reward_share_")) for k in ran), sorted(ran)
    assert {f"sync_ab_{n}" for n in ("sft", "reward", "dpo", "ppo", "grpo")} <= ran


@pytest.mark.parametrize("name", ["ppo", "grpo"])
def test_sync_ab_undoes_the_one_transfer_metric_read(only_report, name):
    # undone, every logged metric is read back alone: many reads per step where the fix makes one
    ab = only_report["sections"][f"sync_ab_{name}"]

    def reads(variant):
        return sum(n for s, n in ab[variant]["host_reads"]["sites_per_step"].items() if " read_metrics " in s
                   or "_read_metrics_one_by_one" in s)

    assert reads("fixed") == 1 and reads("undone") >= 10, (ab["fixed"], ab["undone"])
    assert ab["undone"]["host_reads"]["per_step"] > ab["fixed"]["host_reads"]["per_step"]
    assert ab["fixed"]["steps_per_s"] > 0 and ab["undone"]["steps_per_s"] > 0 and ab["speedup"] > 0


def test_reward_share_measures_prompt_sharing_on_and_off(only_report):
    for prec in ("fp32", "bf16"):
        v = only_report["sections"][f"reward_share_{prec}"]
        assert v["ok"] and v["share_on"]["tokens_per_s"] > 0 and v["share_off"]["tokens_per_s"] > 0
        assert len(v["share_on"]["tokens_per_s_runs"]) == len(v["share_off"]["tokens_per_s_runs"]) == 2


def test_dpo_agrees_with_trl_on_identical_batches(only_report):
    pytest.importorskip("trl")
    S = only_report["sections"]
    a = S["dpo_trl_agreement"]
    assert a["token_ids_identical"] and a["max_rel_loss"] <= 1e-5 and a["max_rel_grad"] <= 1e-4, a
    for prec in ("fp32", "bf16"):
        for who in ("ours", "trl"):
            runs = S[f"dpo_trl_{who}_{prec}"]["runs"]
            assert len(runs) == 2 and all(r["tokens_per_s"] > 0 for r in runs)


def test_an_unknown_section_is_refused():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--only", "dpo_trl,nonsense"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown section(s) ['nonsense']" in r.stderr
