"""train_ppo on tiny random models: the invariants of a correct PPO loop, config checks, bad input."""

import copy
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from llmcourse import models, tasks
from llmcourse.ppo import functional as F
from llmcourse.ppo import PPOConfig, prompts_from_records, train_ppo


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see conftest


@pytest.fixture(scope="module")
def tok():
    return models.build_tokenizer()


def _tiny(tok, kind="causal", seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "causal":
            return AutoModelForCausalLM.from_config(models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2))
        cfg = models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2, num_labels=1)
        return AutoModelForSequenceClassification.from_config(cfg)


DATA = prompts_from_records(tasks.rl_prompts(24, seed=0))
PROMPTS = [d["prompt"] for d in DATA[:16]]
EVAL = DATA[16:]


def _config(**kw):
    base = dict(max_steps=2, batch_size=8, num_mini_batches=2, num_ppo_epochs=2, response_length=6,
                learning_rate=1e-3, eval_steps=0, progress=False, seed=0)
    return PPOConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def run(tok):
    policy, rm = _tiny(tok), _tiny(tok, "reward", seed=1)
    before = copy.deepcopy(policy.state_dict())
    rm_before = copy.deepcopy(rm.state_dict())
    history = train_ppo(policy, tok, rm, PROMPTS, _config(temperature=0.7), eval_data=EVAL)
    return history, policy, rm, before, rm_before


def test_history_has_an_entry_per_step_and_the_start(run):
    history = run[0]
    assert [h["step"] for h in history] == [0, 1, 2]
    for key in ("score", "kl", "kl_k3", "total_reward", "entropy", "clipfrac", "approx_kl", "policy_loss",
                "value_loss", "kl_coef", "time_generate", "time_score", "time_update"):
        assert math.isfinite(history[1][key]), key
    assert {"exact_match", "eval_score"} <= set(history[0]) and {"exact_match", "eval_score"} <= set(history[-1])


def test_ratio_is_exactly_one_on_the_first_minibatch_of_the_first_epoch(run):
    # the update recomputes the log-probs the rollout stored: same weights, same temperature (0.7),
    # same padding, no dropout → exp(0) = 1 exactly, at every step
    assert all(h["first_ratio_dev"] == 0.0 for h in run[0][1:])


def test_kl_is_zero_on_the_first_batch_when_policy_is_the_reference(run):
    # step 1's rollout comes before any update: π = π_ref, so every KL estimate and the penalty are 0
    first = run[0][1]
    assert first["kl"] == 0.0 and first["kl_k3"] == 0.0 and first["non_score_reward"] == 0.0
    assert first["total_reward"] == pytest.approx(first["score"])


def test_policy_is_trained_in_place_and_reward_model_is_not(run):
    _, policy, rm, before, rm_before = run
    assert any(not torch.equal(before[k], v) for k, v in policy.state_dict().items())
    assert all(torch.equal(rm_before[k], v) for k, v in rm.state_dict().items())


def test_value_head_variant_keeps_the_invariants(tok):
    h = train_ppo(_tiny(tok), tok, _tiny(tok, "reward", seed=1), PROMPTS, _config(value_head=True))
    assert h[1]["kl"] == 0.0 and all(e["first_ratio_dev"] == 0.0 for e in h[1:])
    assert h[2]["kl_k3"] > 0.0


def test_value_head_and_value_model_together_are_refused(tok):
    with pytest.raises(ValueError, match="value_head"):
        train_ppo(_tiny(tok), tok, _tiny(tok, "reward"), PROMPTS, _config(value_head=True), value_model=_tiny(tok, "reward"))


def test_kl_grows_once_the_policy_moves(run):
    assert run[0][2]["kl_k3"] > 0.0


def test_same_seed_same_history(tok):
    def once():
        h = train_ppo(_tiny(tok), tok, _tiny(tok, "reward", seed=1), PROMPTS, _config(max_steps=1))
        return [{k: v for k, v in e.items() if not k.startswith("time_")} for e in h]

    assert once() == once()


def test_adaptive_controller_moves_beta_toward_target(tok):
    # a KL target far above anything reached: error = -0.2 each step, β ← β·(1 - 0.2·8/80) = 0.98·β
    h = train_ppo(_tiny(tok), tok, _tiny(tok, "reward", seed=1), PROMPTS,
                  _config(adaptive_kl=True, kl_coef=0.1, target_kl=1000.0, horizon=80))
    assert h[1]["kl_coef"] == pytest.approx(0.1)
    assert h[2]["kl_coef"] == pytest.approx(0.098)


def test_student_functions_are_plugged_in(tok):
    calls = {"rewards": 0, "gae": 0, "loss": 0, "kl": 0}

    def rewards_fn(*a):
        calls["rewards"] += 1
        return F.kl_penalized_rewards(*a)

    def gae_fn(*a):
        calls["gae"] += 1
        return F.gae_advantages(*a)

    def loss_fn(*a):
        calls["loss"] += 1
        return F.clipped_policy_loss(*a)

    def kl_fn(*a):
        calls["kl"] += 1
        return F.adaptive_kl_update(*a)

    train_ppo(_tiny(tok), tok, _tiny(tok, "reward", seed=1), PROMPTS, _config(adaptive_kl=True),
              rewards_fn=rewards_fn, advantages_fn=gae_fn, policy_loss_fn=loss_fn, kl_update_fn=kl_fn)
    # 2 steps; 2 epochs × 2 minibatches of loss per step
    assert calls == {"rewards": 2, "gae": 2, "loss": 8, "kl": 2}


def test_nan_loss_from_a_plugged_in_function_is_a_clear_error(tok):
    def prob_ratio_loss(logprobs, old_logprobs, advantages, mask, cliprange):
        return (torch.exp(logprobs) / torch.exp(old_logprobs - 1000.0)).mean() * float("nan")

    with pytest.raises(FloatingPointError, match="ratio of probabilities"):
        train_ppo(_tiny(tok), tok, _tiny(tok, "reward", seed=1), PROMPTS, _config(max_steps=1),
                  policy_loss_fn=prob_ratio_loss)


def test_missing_eos_penalty_lowers_total_reward(tok):
    # a random tiny model rarely says EOS within 6 tokens: the penalty shows up in total_reward
    base = train_ppo(_tiny(tok), tok, _tiny(tok, "reward", seed=1), PROMPTS, _config(max_steps=1))
    pen = train_ppo(_tiny(tok), tok, _tiny(tok, "reward", seed=1), PROMPTS, _config(max_steps=1, missing_eos_penalty=1.0))
    no_eos = 1.0 - base[1]["eos_rate"]
    assert no_eos > 0
    assert pen[1]["total_reward"] == pytest.approx(base[1]["total_reward"] - no_eos, abs=1e-5)


@pytest.mark.parametrize("kw, match", [
    (dict(batch_size=10, num_mini_batches=4), "divisible"),
    (dict(kl_coef=-0.1), "kl_coef"),
    (dict(adaptive_kl=True, kl_coef=0.0), "never move"),
    (dict(gamma=1.5), "gamma"),
    (dict(temperature=0.0), "temperature"),
    (dict(max_steps=0), "max_steps"),
])
def test_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        _config(**kw)


def test_empty_prompt_list_is_refused(tok):
    with pytest.raises(ValueError, match="prompts is empty"):
        train_ppo(_tiny(tok), tok, _tiny(tok, "reward"), [], _config())


def test_bad_eval_data_names_the_row(tok):
    with pytest.raises(ValueError, match=r"eval_data\[1\]"):
        train_ppo(_tiny(tok), tok, _tiny(tok, "reward"), PROMPTS, _config(), eval_data=[EVAL[0], {"prompt": "x"}])


def test_prompts_from_records_names_the_missing_field():
    with pytest.raises(ValueError, match=r"records\[0\].*'output'"):
        prompts_from_records([{"instruction": "Reverse the list.", "input": "1 2"}])
