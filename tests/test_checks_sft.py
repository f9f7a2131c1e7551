"""Graders of notebook 01: the reference passes, every classic mistake is caught *by name*, a blank
answer says "not implemented", and an answer that calls the package is refused."""

import types

import pytest
import torch

from llmcourse import sft
from llmcourse.checks import CheckFailure
from llmcourse.checks import sft as checks

EXERCISES = [
    (checks.check_format_alpaca, sft.format_alpaca, checks.FORMAT_MISTAKES),
    (checks.check_build_example, sft.build_example, checks.BUILD_MISTAKES),
    (checks.check_pad_collate, sft.pad_collate, checks.COLLATE_MISTAKES),
    (checks.check_sft_loss, sft.sft_loss, checks.LOSS_MISTAKES),
]
IDS = ["format_alpaca", "build_example", "pad_collate", "sft_loss"]


def _own_copy(fn):
    """The reference's code as if the student had typed it (a distinct function object)."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


@pytest.mark.parametrize("check, reference, _", EXERCISES, ids=IDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_reference_passes(check, reference, _, hidden, capsys):
    check(_own_copy(reference), hidden=hidden)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check, mistake", [(c, m) for c, _, ms in EXERCISES for m in ms],
                         ids=[m.name for _, _, ms in EXERCISES for m in ms])
def test_each_classic_mistake_is_caught_by_name(check, mistake):
    with pytest.raises(CheckFailure, match=mistake.name.replace("(", r"\(").replace(")", r"\)")):
        check(mistake.fn)


@pytest.mark.parametrize("check, reference, _", EXERCISES, ids=IDS)
def test_blank_answer_is_not_implemented(check, reference, _):
    def blank(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet"):
        check(blank)


@pytest.mark.parametrize("check, reference, _", EXERCISES, ids=IDS)
def test_calling_the_reference_is_refused(check, reference, _):
    with pytest.raises(CheckFailure, match="calls the package's reference"):
        check(reference)


def test_the_issue_s_named_mistakes_are_all_in_the_catalogue():
    names = {m.name for _, _, ms in EXERCISES for m in ms}
    for required in ["masking the response instead of the prompt", "forgetting EOS",
                     "off-by-one shift (logits and labels not shifted)",
                     "padding labels with the pad id instead of -100", "averaging over padded positions"]:
        assert required in names


def test_build_example_accepts_bos_as_label_zero():
    # labels[0] never becomes a target after the shift: BOS there instead of -100 is not penalised
    def bos_labelled(prompt_ids, response_ids, bos_token_id, eos_token_id):
        ids = [bos_token_id] + list(prompt_ids) + list(response_ids) + [eos_token_id]
        return {"input_ids": ids, "labels": [bos_token_id] + [-100] * len(prompt_ids) + list(response_ids) + [eos_token_id]}

    checks.check_build_example(bos_labelled)


def test_collator_returning_float_tensors_is_told_to_use_long():
    padder = _own_copy(sft.pad_collate)

    def floats(batch, pad_token_id):
        return {k: v.float() for k, v in padder(batch, pad_token_id).items()}

    with pytest.raises(CheckFailure, match="torch.long"):
        checks.check_pad_collate(floats)


def test_loss_that_crashes_reports_the_case():
    def crashes(logits, labels):
        return torch.nn.functional.cross_entropy(logits, labels)  # (B, T, V) vs (B, T): wrong layout

    with pytest.raises(CheckFailure, match="your function raised"):
        checks.check_sft_loss(crashes)
