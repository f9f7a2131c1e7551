"""Rollouts on tiny random models: padding, EOS truncation, log-prob alignment, scoring, bad input."""

import copy

import pytest
import torch
from torch.testing import assert_close
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from llmcourse import models
from llmcourse.ppo import functional as F
from llmcourse.ppo import rollout as R

PROMPTS = ["Reverse the list.\n3 1 4", "Add the two numbers.\n2 5", "What is the largest number?\n7 0 9 1 2"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see conftest


@pytest.fixture(scope="module")
def tok():
    return models.build_tokenizer()


def _tiny(tok, kind="causal", seed=0, **kw):
    cfg = models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2, **kw)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "causal":
            return AutoModelForCausalLM.from_config(cfg).eval()
        return AutoModelForSequenceClassification.from_config(models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2, num_labels=1, **kw)).eval()


@pytest.fixture(scope="module")
def policy(tok):
    return _tiny(tok, seed=0)


@pytest.fixture(scope="module")
def rm(tok):
    return _tiny(tok, "reward", seed=1)


def test_encode_prompts_prepends_bos_once(tok):
    ids = R.encode_prompts(tok, ["hi", tok.bos_token + "hi"])
    assert ids[0][0] == tok.bos_token_id and ids[0][1] != tok.bos_token_id
    assert ids[0] == ids[1]


def test_encode_prompts_refuses_empty_prompt(tok):
    with pytest.raises(ValueError, match=r"prompts\[1\] is empty"):
        R.encode_prompts(tok, ["ok", "  "])


def test_encode_prompts_refuses_a_bare_string(tok):
    with pytest.raises(TypeError, match="wrap it"):
        R.encode_prompts(tok, "Reverse the list.")


def test_left_pad_and_positions():
    ids, mask = R.left_pad([[5, 6, 7], [8]], pad_token_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    # positions count real tokens only: the lone token of row 1 is at position 0
    assert R.position_ids_from_mask(mask).tolist() == [[0, 1, 2], [0, 0, 0]]


def test_sample_responses_is_seeded_and_cut_after_eos(tok, policy):
    q, qm = R.left_pad(R.encode_prompts(tok, PROMPTS), tok.pad_token_id)
    a = R.sample_responses(policy, tok, q, qm, response_length=6, temperature=1.0, seed=3)
    b = R.sample_responses(policy, tok, q, qm, response_length=6, temperature=1.0, seed=3)
    ids, mask, has_eos = a
    assert ids.shape == (3, 6)
    assert torch.equal(ids, b[0]) and torch.equal(mask, b[1])
    for row, m in zip(ids.tolist(), mask.tolist()):
        if tok.eos_token_id in row:
            k = row.index(tok.eos_token_id)
            assert m == [1] * (k + 1) + [0] * (5 - k) and all(t == tok.pad_token_id for t in row[k + 1:])
        else:
            assert m == [1] * 6


def test_sample_responses_leaves_global_rng_alone(tok, policy):
    q, qm = R.left_pad(R.encode_prompts(tok, PROMPTS), tok.pad_token_id)
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    R.sample_responses(policy, tok, q, qm, response_length=4, temperature=1.0, seed=0)
    assert torch.equal(torch.rand(1), expected)


def test_logprobs_do_not_depend_on_left_padding(tok, policy):
    # the same prompt + response alone and inside a left-padded batch gets the same log-probs
    q, qm = R.left_pad(R.encode_prompts(tok, PROMPTS), tok.pad_token_id)
    r = torch.tensor([[40, 41, 2], [42, 2, 0], [43, 44, 45]])
    rm_ = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1]])
    batch = R.response_logprobs(policy, q, qm, r, rm_, temperature=0.7)
    q1, qm1 = R.left_pad(R.encode_prompts(tok, PROMPTS[1:2]), tok.pad_token_id)
    alone = R.response_logprobs(policy, q1, qm1, r[1:2], rm_[1:2], temperature=0.7)
    assert_close(batch[1, :2], alone[0, :2], atol=1e-5, rtol=1e-5)


def test_logprobs_column_t_scores_response_token_t(tok, policy):
    # column t must be log π(a_t | prompt, a_<t): compare with a full forward pass done by hand
    ids = R.encode_prompts(tok, PROMPTS[:1])[0]
    resp = [40, 41, 2]
    full = torch.tensor([ids + resp])
    logits = policy(input_ids=full).logits[0]
    expected = [torch.log_softmax(logits[len(ids) - 1 + t], -1)[a] for t, a in enumerate(resp)]
    got = R.response_logprobs(policy, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long),
                              torch.tensor([resp]), torch.ones(1, 3, dtype=torch.long), temperature=1.0)
    assert_close(got[0], torch.stack(expected), atol=1e-5, rtol=1e-5)


def test_sequence_scores_read_the_last_real_token(tok, rm):
    # right-padded batch: our score equals the model's own pooled score (last non-pad token)
    ids = torch.tensor([[1, 40, 41, 2], [1, 42, 2, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    hf = rm(input_ids=ids, attention_mask=mask).logits.squeeze(-1)
    assert_close(R.sequence_scores(rm, ids, mask), hf, atol=1e-5, rtol=1e-5)


def test_scores_are_the_same_left_or_right_padded(tok, rm):
    right = R.sequence_scores(rm, torch.tensor([[1, 42, 2, 0]]), torch.tensor([[1, 1, 1, 0]]))
    left = R.sequence_scores(rm, torch.tensor([[0, 1, 42, 2]]), torch.tensor([[0, 1, 1, 1]]))
    assert_close(left, right, atol=1e-5, rtol=1e-5)


def test_rollout_with_policy_as_reference_has_zero_kl(tok, policy, rm):
    ro = R.collect_rollout(R.PolicyAndValue(policy, rm), copy.deepcopy(policy), rm, tok, PROMPTS, response_length=5,
                           temperature=1.0, seed=0)
    assert torch.equal(ro.logprobs, ro.ref_logprobs)
    rewards = F.kl_penalized_rewards(ro.scores, ro.logprobs, ro.ref_logprobs, ro.response_mask, 0.5)
    # KL term 0: the only reward is the score, at the last real token
    expected = ro.scores.unsqueeze(1) * torch.nn.functional.one_hot(F.last_token_index(ro.response_mask), 5)
    assert_close(rewards, expected)


def test_rollout_forward_chunks_do_not_change_results(tok, policy, rm):
    a = R.collect_rollout(R.PolicyAndValue(policy, rm), policy, rm, tok, PROMPTS, response_length=5, temperature=1.0, seed=1)
    b = R.collect_rollout(R.PolicyAndValue(policy, rm), policy, rm, tok, PROMPTS, response_length=5, temperature=1.0, seed=1,
                          forward_batch_size=1)
    for name in ("logprobs", "values", "scores"):
        assert_close(getattr(a, name), getattr(b, name), atol=1e-5, rtol=1e-5)


def test_rollout_padding_is_zeroed(tok, policy, rm):
    ro = R.collect_rollout(R.PolicyAndValue(policy, rm), policy, rm, tok, PROMPTS, response_length=8, temperature=1.0, seed=2)
    pad = ro.response_mask == 0
    assert (ro.logprobs[pad] == 0).all() and (ro.values[pad] == 0).all()
    assert len(ro.responses) == 3 and set(ro.timings) == {"generate", "score"}


def test_empty_response_is_scored_at_its_eos(tok, policy, rm):
    # a response that is EOS alone: mask (1, 0, 0); the score lands on the EOS, the KL term too
    q, qm = R.left_pad(R.encode_prompts(tok, PROMPTS[:1]), tok.pad_token_id)
    r, m = torch.tensor([[tok.eos_token_id, 0, 0]]), torch.tensor([[1, 0, 0]])
    logp = R.response_logprobs(policy, q, qm, r, m, 1.0) * m
    ids, mask, _ = R.join(q, qm, r, m)
    score = R.sequence_scores(rm, ids, mask)
    rewards = F.kl_penalized_rewards(score, logp, logp, m, 0.1)
    assert_close(rewards, torch.stack([score[0], torch.tensor(0.0), torch.tensor(0.0)]).unsqueeze(0))


def test_nan_reward_scores_are_a_clear_error(tok, policy):
    bad_rm = _tiny(tok, "reward", seed=2)
    with torch.no_grad():
        bad_rm.score.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite score"):
        R.collect_rollout(R.PolicyAndValue(policy, _tiny(tok, "reward")), policy, bad_rm, tok, PROMPTS, response_length=3,
                          temperature=1.0, seed=0)


def test_reward_model_with_another_vocabulary_needs_its_tokenizer(tok, policy):
    big_rm = _tiny(tok, "reward", vocab_size=len(tok) - 100)
    with pytest.raises(ValueError, match="reward_tokenizer"):
        R.check_reward_tokenizer(big_rm, tok)


def test_same_tokenizer_is_scored_directly(tok, rm):
    assert R.check_reward_tokenizer(rm, tok) is False
    assert R.check_reward_tokenizer(rm, tok, models.build_tokenizer()) is False  # equal vocabularies


def test_retokenised_scores_match_direct_scores(tok, rm):
    # prompt + "4 1 3" + EOS scored from the policy's ids and re-tokenised from text give the same score
    q, qm = R.left_pad(R.encode_prompts(tok, PROMPTS[:2]), tok.pad_token_id)
    texts = ["4 1 3", "7"]
    rows = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in texts]
    width = max(map(len, rows))
    r = torch.tensor([x + [tok.pad_token_id] * (width - len(x)) for x in rows])
    m = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in rows])
    ids, mask, _ = R.join(q, qm, r, m)
    direct = R.sequence_scores(rm, ids, mask)
    via_text = R.score_responses(rm, models.build_tokenizer(), PROMPTS[:2], texts, torch.tensor([True, True]))
    assert_close(via_text, direct, atol=1e-5, rtol=1e-5)


def test_value_model_must_have_a_scalar_head(tok, policy):
    with pytest.raises(TypeError, match="num_labels=1"):
        R.PolicyAndValue(policy, copy.deepcopy(policy))


def test_value_head_gives_the_same_logits_as_the_policy(tok, policy):
    # the value-head path computes logits from the trunk + LM head itself: same numbers as the model's forward
    q, qm = R.left_pad(R.encode_prompts(tok, PROMPTS), tok.pad_token_id)
    r, m = torch.tensor([[40, 2, 0], [41, 42, 2], [43, 44, 45]]), torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    logits, values = R.PolicyAndValue(policy)(q, qm, r, m)
    torch.testing.assert_close(logits, R.response_logits(policy, q, qm, r, m), atol=1e-5, rtol=1e-5)
    assert values.shape == (3, 3) and (values == 0).all()  # the head starts at zero


def test_our_scores_match_the_reward_stage(tok, rm):
    from llmcourse.reward import reward_scores

    ids = torch.tensor([[0, 1, 40, 41, 2], [1, 42, 2, 0, 0]])
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert_close(R.sequence_scores(rm, ids, mask), reward_scores(rm, ids, mask), atol=1e-6, rtol=1e-6)
