"""What every trainer promises about the models it is given, on tiny random models:

* a model to train with no trainable parameter is refused with an error that says so (it used to
  train nothing, or only PPO's value model, without a word);
* the models a trainer only reads (a reference, PPO's reward model) come back as the caller left
  them: ``requires_grad`` flags, dropout settings and weights untouched (the trainers used to
  freeze them in place)."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from llmcourse import dpo, grpo, models, reward, sft, tasks
from llmcourse.ppo import PPOConfig, prompts_from_records, train_ppo

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see conftest


@pytest.fixture(scope="module")
def tok():
    return models.build_tokenizer()


def _tiny(tok, kind="causal", seed=0, dropout=0.1):
    cfg = models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2, **({"num_labels": 1} if kind != "causal" else {}))
    cfg.attention_dropout = dropout
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = (AutoModelForCausalLM if kind == "causal" else AutoModelForSequenceClassification).from_config(cfg)
    return model.train()


PROMPTS = [d["prompt"] for d in prompts_from_records(tasks.rl_prompts(8, seed=0))]
ROWS = [{"prompt": r["instruction"] + "\n" + r["input"], "answer": r["output"]} for r in tasks.rl_prompts(8, seed=0)]
PAIRS = reward.task_pairs(8, 0, template="simple")


def _ppo(tok, policy, **kw):
    cfg = PPOConfig(max_steps=1, batch_size=4, num_mini_batches=1, num_ppo_epochs=1, response_length=3,
                    eval_steps=0, progress=False, seed=0)
    rm = kw.pop("reward_model", None) or _tiny(tok, "reward", seed=1)
    return train_ppo(policy, tok, rm, PROMPTS, cfg, **kw)


def _grpo(tok, policy, **kw):
    cfg = grpo.GRPOConfig(max_steps=1, num_generations=2, generation_batch_size=4, per_device_train_batch_size=4,
                          max_completion_length=3, eval_steps=0, progress=False, seed=0, beta=0.04)
    return grpo.train_grpo(policy, tok, ROWS, cfg, reward_funcs=lambda prompts, completions, **c: [0.0] * len(completions), **kw)


def _dpo(tok, policy, **kw):
    cfg = dpo.DPOConfig(max_steps=1, per_device_train_batch_size=4, logging_steps=1, seed=0)
    return dpo.train_dpo(policy, tok, PAIRS, cfg, progress=False, **kw)


def _reward(tok, model):
    cfg = reward.RewardConfig(max_steps=1, per_device_train_batch_size=4, logging_steps=1, seed=0)
    return reward.train_reward_model(model, tok, PAIRS, cfg, progress=False)


def _sft(tok, model):
    records = tasks.instruction_records(8, seed=0)
    cfg = sft.SFTConfig(max_steps=1, per_device_train_batch_size=4, logging_steps=1, progress=False, seed=0,
                        template="simple")
    return sft.train_sft(model, tok, sft.SFTDataset(records, tok, template="simple", max_length=64), cfg)


TRAINERS = {"ppo": (_ppo, "causal", "policy"), "grpo": (_grpo, "causal", "policy"), "dpo": (_dpo, "causal", "model"),
            "reward": (_reward, "reward", "model"), "sft": (_sft, "causal", "model")}


@pytest.mark.parametrize("name", list(TRAINERS))
def test_a_model_with_nothing_to_train_is_refused(tok, name):
    run, kind, arg = TRAINERS[name]
    model = _tiny(tok, kind).requires_grad_(False)
    with pytest.raises(ValueError, match=rf"{arg} has no trainable parameter"):
        run(tok, model)


def _state(model):
    return ({n: p.requires_grad for n, p in model.named_parameters()},
            [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] + [model.config.attention_dropout],
            {k: v.clone() for k, v in model.state_dict().items()})


def _assert_untouched(model, before, what):
    grads, dropouts, weights = _state(model)
    assert grads == before[0], f"{what}: requires_grad flags changed"
    assert dropouts == before[1], f"{what}: dropout settings changed"
    assert all(torch.equal(weights[k], v) for k, v in before[2].items()), f"{what}: weights changed"


@pytest.mark.parametrize("name", ["ppo", "grpo", "dpo"])
def test_the_callers_reference_model_is_left_as_it_was(tok, name):
    run = TRAINERS[name][0]
    ref = _tiny(tok, seed=2)
    ref.model.layers[0].requires_grad_(False)  # a mix of flags: each must come back as it was
    before = _state(ref)
    run(tok, _tiny(tok), ref_model=ref)
    _assert_untouched(ref, before, "ref_model")


def test_ppos_reward_model_is_left_as_it_was(tok):
    rm = _tiny(tok, "reward", seed=1)
    before = _state(rm)
    _ppo(tok, _tiny(tok), reward_model=rm)
    _assert_untouched(rm, before, "reward_model")
