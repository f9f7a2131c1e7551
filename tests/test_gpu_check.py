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
                        "--skip", "trl", "--out", str(out)], capture_output=True, text=True, timeout=900, env=env)
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
