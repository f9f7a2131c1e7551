"""train_grpo on tiny random models: micro-batch invariance of a real update, the first ratio, health
metrics, student plug-ins, config checks, bad input."""

import pytest
import torch
from torch.testing import assert_close
from transformers import AutoModelForCausalLM

from llmcourse import models, tasks
from llmcourse.grpo import GRPOConfig, functional as G, train_grpo
from llmcourse.grpo.trainer import generate_batch, generate_dynamic_batch, select_groups

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see conftest


@pytest.fixture(scope="module")
def tok():
    return models.build_tokenizer()


def _tiny(tok, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2))


ROWS = [{"prompt": r["instruction"] + "\n" + r["input"], "answer": r["output"]} for r in tasks.rl_prompts(16, seed=0)]


def length_reward(prompts, completions, **columns):
    """Rewards that vary inside a group even for a random model."""
    return [float(len(c.split())) for c in completions]


def _config(**kw):
    base = dict(max_steps=1, num_generations=4, generation_batch_size=16, per_device_train_batch_size=16,
                max_completion_length=5, learning_rate=1e-2, eval_steps=0, progress=False, seed=0)
    return GRPOConfig(**{**base, **kw})


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("loss_type", G.LOSS_TYPES)
def test_micro_batch_size_does_not_change_the_gradient(tok, loss_type):
    """A real accumulated update (SGD, no clipping: Adam's first step is sign(g) and would hide a scale
    error) is the same for micro-batches of 16, 4 and 2 completions, with a reference KL term."""
    from llmcourse import training
    from llmcourse.grpo.trainer import grpo_update

    cfg = _config(loss_type=loss_type, beta=0.1, epsilon_high=0.28)
    batch = generate_batch(_tiny(tok), tok, ROWS[:4], cfg, seed=0, ref_model=_tiny(tok, seed=1),
                           reward_funcs=[length_reward])
    # a random model never stops: cut completions to different lengths (the case the bug needs)
    lengths = 1 + torch.arange(16) % 5
    batch.completion_mask = (torch.arange(5) < lengths.unsqueeze(1)).long()
    batch.completion_ids = batch.completion_ids.masked_fill(batch.completion_mask == 0, tok.pad_token_id)
    after = []
    for micro in (16, 4, 2):
        model = _tiny(tok)
        acc = training.make_accelerator(mixed_precision="no")
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        grpo_update(model, opt, acc, batch, _config(loss_type=loss_type, beta=0.1, epsilon_high=0.28,
                                                    per_device_train_batch_size=micro, max_grad_norm=1e9))
        after.append(_params(model))
    assert (after[0] - _params(_tiny(tok))).abs().max() > 1e-3  # it did train
    assert_close(after[1], after[0], rtol=0, atol=1e-6)
    assert_close(after[2], after[0], rtol=0, atol=1e-6)


def test_history_has_the_health_metrics_and_the_first_ratio_is_one(tok):
    h = train_grpo(_tiny(tok), tok, ROWS, _config(max_steps=2, num_iterations=2, beta=0.1),
                   reward_funcs=["format", length_reward], eval_data=ROWS[:4])
    assert "exact_match" in h[0] and "exact_match" in h[-1]
    for key in ("reward", "reward_std", "frac_zero_std", "entropy", "clip_region", "clip_low", "clip_high",
                "completion_length", "completion_length_max", "loss", "grad_norm", "kl", "reward/format",
                "reward/length_reward", "eos_rate"):
        assert key in h[1], key
    assert h[1]["first_ratio_dev"] < 1e-5
    assert 0 <= h[1]["frac_zero_std"] <= 1 and h[1]["entropy"] > 0


def test_off_policy_iterations_store_the_old_log_probs(tok):
    model = _tiny(tok)
    batch = generate_batch(model, tok, ROWS[:4], _config(num_iterations=2), seed=0, reward_funcs=[length_reward])
    assert batch.old_logprobs is not None and batch.old_logprobs.shape == batch.completion_ids.shape
    assert batch.advantages.shape == (16,)
    on = generate_batch(model, tok, ROWS[:4], _config(), seed=0, reward_funcs=[length_reward])
    assert on.old_logprobs is None and on.completions == batch.completions  # same seed, same samples


def test_student_functions_are_used(tok):
    calls = {"adv": 0, "loss": 0}

    def adv(rewards, num_generations, scale_rewards):
        calls["adv"] += 1
        return G.group_advantages(rewards, num_generations, scale_rewards)

    def loss(*args, **kw):
        calls["loss"] += 1
        return G.grpo_loss(*args, **kw)

    train_grpo(_tiny(tok), tok, ROWS, _config(per_device_train_batch_size=8), reward_funcs=[length_reward],
               advantages_fn=adv, loss_fn=loss)
    assert calls == {"adv": 1, "loss": 2}


def test_a_nan_loss_is_a_clear_error(tok):
    with pytest.raises(FloatingPointError, match="GRPO loss is nan"):
        train_grpo(_tiny(tok), tok, ROWS, _config(), reward_funcs=[length_reward],
                   loss_fn=lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))


@pytest.mark.parametrize("kw, match", [
    (dict(num_generations=1), "num_generations must be >= 2"),
    (dict(generation_batch_size=10), "not a multiple of num_generations"),
    (dict(per_device_train_batch_size=6), "must split into"),
    (dict(loss_type="sum"), "loss_type must be one of"),
    (dict(scale_rewards=False), "scale_rewards must be one of"),
    (dict(beta=-1.0), "beta must be >= 0"),
    (dict(sampling_batch_size=10), "sampling_batch_size=10 must be None or a positive multiple"),
    (dict(max_sampling_rounds=0), "max_sampling_rounds"),
    (dict(lr_scheduler_type="cosine"), "lr_scheduler_type='cosine': expected 'constant' or 'linear'"),
])
def test_config_checks(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _config(**kw)


def test_linear_schedule_ends_at_zero_when_the_run_ends_by_steps_or_by_seconds(tok, monkeypatch):
    from types import SimpleNamespace

    from llmcourse.grpo import trainer

    def lrs(**kw):
        h = train_grpo(_tiny(tok), tok, ROWS, _config(**kw), reward_funcs=[length_reward])
        return [e["learning_rate"] for e in h[1:]]

    assert lrs(max_steps=3) == [1e-2] * 3  # constant by default
    assert lrs(max_steps=4, lr_scheduler_type="linear") == pytest.approx([1e-2, 0.75e-2, 0.5e-2, 0.25e-2])
    # a time budget that ends the run first sets the pace: a fake clock, 1 s per reading, 2 s per step
    clock = iter(range(1000))
    monkeypatch.setattr(trainer, "time", SimpleNamespace(perf_counter=lambda: float(next(clock))))
    assert lrs(max_steps=100, max_seconds=8.0, lr_scheduler_type="linear") == pytest.approx(
        [1e-2, 0.75e-2, 0.5e-2, 0.25e-2])


def test_bad_rows_are_named(tok):
    with pytest.raises(ValueError, match=r"train_data\[1\]"):
        train_grpo(_tiny(tok), tok, [{"prompt": "a"}, {"prompt": ""}], _config())
    with pytest.raises(ValueError, match="same columns"):
        train_grpo(_tiny(tok), tok, [{"prompt": "a", "answer": "1"}, {"prompt": "b"}], _config())


# --------------------------------------------------------------------------- dynamic sampling (DAPO)

FLAT = {r["prompt"] for r in ROWS[::2]}  # every other prompt: all G completions get the same reward


def half_flat_reward(prompts, completions, **columns):
    """Zero-variance groups for the prompts in FLAT, varying rewards for the others."""
    return [0.0 if p in FLAT else float(len(c.split())) for p, c in zip(prompts, completions)]


def _feeder(rows):
    it = iter(rows)
    return lambda n: [next(it) for _ in range(n)]


def test_select_groups_of_one_batch_in_order_is_the_batch(tok):
    batch = generate_batch(_tiny(tok), tok, ROWS[:4], _config(), seed=0, reward_funcs=[length_reward])
    same = select_groups([batch], [(0, g) for g in range(4)], 4, tok.pad_token_id)
    for name in ("query_ids", "query_mask", "completion_ids", "completion_mask", "rewards", "advantages"):
        assert torch.equal(getattr(same, name), getattr(batch, name)), name
    assert same.prompts == batch.prompts and same.completions == batch.completions


def test_dynamic_sampling_keeps_only_groups_with_reward_variance(tok):
    """Rounds of 4 prompts, half of them flat: two rounds fill a batch of 4 groups, every one of them
    informative, with the same completions and advantages those groups had in their own round."""
    model, cfg = _tiny(tok), _config(dynamic_sampling=True)
    batch = generate_dynamic_batch(model, tok, _feeder(ROWS), cfg, seed=0, reward_funcs=[half_flat_reward])
    assert batch.sampling_rounds == 2 and batch.sampled_zero_std == 0.5 and len(batch) == 16
    assert not G.zero_variance_groups(batch.rewards, 4).any()
    assert set(batch.prompts) == {r["prompt"] for r in ROWS[1:8:2]}
    first = generate_batch(model, tok, ROWS[:4], cfg, seed=0, reward_funcs=[half_flat_reward])  # round 0 alone
    kept = [i for i in range(16) if first.prompts[i] not in FLAT]
    assert batch.completions[:8] == [first.completions[i] for i in kept]
    assert torch.equal(batch.advantages[:8], first.advantages[kept])
    w = batch.query_ids.shape[1]  # prompts re-padded on the left to one width, tokens kept
    assert torch.equal(batch.query_ids[:8, -first.query_ids.shape[1]:], first.query_ids[kept])
    assert (batch.query_mask.sum(1) == (batch.query_ids != tok.pad_token_id).sum(1)).all() and w >= first.query_ids.shape[1]


def test_dynamic_sampling_tops_up_with_flat_groups_when_rounds_run_out(tok):
    cfg = _config(dynamic_sampling=True, max_sampling_rounds=1)
    batch = generate_dynamic_batch(_tiny(tok), tok, _feeder(ROWS), cfg, seed=0, reward_funcs=[half_flat_reward])
    assert batch.sampling_rounds == 1 and len(batch) == 16
    assert G.zero_variance_groups(batch.rewards, 4).tolist() == [False, False, True, True]


def test_train_grpo_with_dynamic_sampling_logs_rounds(tok):
    h = train_grpo(_tiny(tok), tok, ROWS, _config(dynamic_sampling=True, sampling_batch_size=32, max_steps=2),
                   reward_funcs=[half_flat_reward])
    for e in h[1:]:  # rounds of 8 prompts drawn from 16, half of them flat: one or two rounds fill 4 groups
        assert e["sampling_rounds"] in (1, 2) and 0 < e["frac_zero_std"] < 1
