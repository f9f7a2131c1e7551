"""The RL layer is one implementation: PPO re-exports the shared functions, it does not copy them."""

import pytest

from llmcourse.ppo import functional as PF
from llmcourse.ppo import rollout as PR
from llmcourse.rl import functional as F
from llmcourse.rl import rollout as R


def test_ppo_uses_the_shared_rollout_functions():
    for name in R.__all__:
        assert getattr(PR, name) is getattr(R, name), name


def test_ppo_uses_the_shared_math():
    for name in F.__all__:
        assert getattr(PF, name) is getattr(F, name), name


def test_sampled_kl_is_zero_for_the_same_model_and_positive_for_another(tokenizer, tiny_model, one_torch_thread):
    import copy

    import torch

    prompts = ["Instruction: Reverse the list.\nInput: 1 2 3\nOutput:", "Instruction: Count the numbers.\nInput: 4 5\nOutput:"]
    same = copy.deepcopy(tiny_model)
    assert R.sampled_kl(tiny_model, tiny_model, tokenizer, prompts, response_length=4) == 0.0
    assert abs(R.sampled_kl(tiny_model, same, tokenizer, prompts, response_length=4)) < 1e-5  # equal weights
    other = copy.deepcopy(tiny_model)
    with torch.no_grad():
        other.lm_head.weight.mul_(3.0)
    kl = R.sampled_kl(tiny_model, other, tokenizer, prompts * 8, response_length=4, seed=3)
    assert kl > 0 and kl == R.sampled_kl(tiny_model, other, tokenizer, prompts * 8, response_length=4, seed=3)
    # by hand: the k1 sum over the sampled tokens, averaged over prompts
    q, qm = R.left_pad(R.encode_prompts(tokenizer, prompts), tokenizer.pad_token_id)
    ids, mask, _ = R.sample_responses(tiny_model, tokenizer, q, qm, response_length=4, seed=0)
    by_hand = ((R.response_logprobs(tiny_model, q, qm, ids, mask, 1.0)
                - R.response_logprobs(other, q, qm, ids, mask, 1.0)) * mask).sum(-1).mean().detach()
    assert R.sampled_kl(tiny_model, other, tokenizer, prompts, response_length=4) == pytest.approx(by_hand.item(), abs=1e-5)


@pytest.mark.parametrize("do_sample", [False, True])
def test_groups_share_their_prompt_and_sample_the_same_responses(tokenizer, tiny_model, one_torch_thread, do_sample):
    """group_size=G runs each prompt once and repeats its cache for the G copies: the same responses, for
    greedy and for sampled decoding with the same seed, with prompts of different lengths (left padding)."""
    prompts = ["Instruction: Reverse the list.\nInput: 1 2 3 4 5 6\nOutput:", "Instruction: Count the numbers.\nInput: 4\nOutput:",
               "Instruction: Sort the list.\nInput: 9 1 5\nOutput:"]
    q, qm = R.left_pad(R.encode_prompts(tokenizer, [p for p in prompts for _ in range(4)]), tokenizer.pad_token_id)
    tokens_run = []  # input tokens the model's forward passes read: the shared path reads each prompt once
    hook = tiny_model.register_forward_pre_hook(
        lambda module, args, kwargs: tokens_run.append(kwargs["input_ids"].numel()), with_kwargs=True)
    try:
        alone = R.sample_responses(tiny_model, tokenizer, q, qm, response_length=6, seed=5, do_sample=do_sample)
        n_alone, tokens_run[:] = sum(tokens_run), []
        shared = R.sample_responses(tiny_model, tokenizer, q, qm, response_length=6, seed=5, do_sample=do_sample,
                                    group_size=4)
    finally:
        hook.remove()
    assert sum(tokens_run) < n_alone - 2 * q.numel() // 4, (sum(tokens_run), n_alone)  # 3 of 4 prompt copies not run
    for a, b in zip(alone, shared):
        assert a.equal(b)
    if do_sample:  # the samples differ inside a group, so the test sees more than one response per prompt
        assert len({tuple(r) for r in alone[0][:4].tolist()}) > 1


def test_rows_that_are_not_groups_are_sampled_as_usual(tokenizer, tiny_model):
    q, qm = R.left_pad(R.encode_prompts(tokenizer, ["Input: 1 2\nOutput:", "Input: 3\nOutput:"] * 2), tokenizer.pad_token_id)
    assert R._shared_prompt_cache(tiny_model, q, qm, 2) == {}  # rows alternate: not runs of one prompt
    assert R._shared_prompt_cache(tiny_model, q, qm, 3) == {}  # 4 rows are not groups of 3
