"""The DPO trainer: it learns the preferences, the reference stays frozen, precomputed reference
log-probs give the same run, students' functions plug in, bad settings are refused."""

import copy

import pytest
import torch

from llmcourse import dpo, models, reward

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup():
    tok = models.load_tokenizer()
    base = models.load_model()
    pairs = reward.task_pairs(96, 0, template="simple")
    return tok, base, pairs


CFG = dict(max_steps=8, per_device_train_batch_size=16, learning_rate=1e-3, logging_steps=4, seed=0)


def test_dpo_raises_held_out_reward_accuracy_and_leaves_the_reference_alone():
    from llmcourse.dpo import lab

    tok, sft = models.load_tokenizer(lab.sft_model_path()), lab.load_sft_model()
    pairs = reward.task_pairs(96, 0, template="simple")
    model, ref = copy.deepcopy(sft), copy.deepcopy(sft)
    before = {k: v.clone() for k, v in ref.state_dict().items()}
    cfg = dpo.DPOConfig(max_steps=12, per_device_train_batch_size=16, learning_rate=5e-4, logging_steps=4, seed=0,
                        eval_at_start=True)
    hist = dpo.train_dpo(model, tok, pairs[:64], cfg, eval_pairs=pairs[64:], ref_model=ref, progress=False)
    evals = [h for h in hist if "eval_loss" in h]
    # at the start π_θ = π_ref: loss log 2, every implicit reward 0 (ties count as wrong)
    assert evals[0]["eval_loss"] == pytest.approx(0.6931, abs=1e-4) and evals[0]["eval_reward_accuracy"] == 0.0
    assert evals[-1]["eval_loss"] < 0.65 and evals[-1]["eval_reward_accuracy"] > 0.7
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in before.items())
    assert all(p.requires_grad for p in ref.parameters())  # only read: the caller's flags are left as given
    first = next(h for h in hist if "loss" in h)
    assert first["filtered_pairs"] == 0 and {"logps_chosen", "reward_margin"} <= set(first)


def test_precomputed_reference_logps_give_the_same_run(setup):
    tok, base, pairs = setup
    runs = []
    for pre in (False, True):
        model = copy.deepcopy(base)
        runs.append(dpo.train_dpo(model, tok, pairs[:64], dpo.DPOConfig(**CFG, precompute_ref_log_probs=pre), progress=False))
    for a, b in zip(*runs):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)


def test_students_functions_plug_in(setup):
    tok, base, pairs = setup
    calls = {"logps": 0, "loss": 0, "rewards": 0}

    def sequence_logprobs(logits, labels):
        calls["logps"] += 1
        return dpo.sequence_logprobs(logits, labels)

    def dpo_loss(pc, pr, rc, rr, beta):
        calls["loss"] += 1
        return -torch.nn.functional.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()

    def implicit_rewards(policy, ref, beta):
        calls["rewards"] += 1
        return beta * (policy - ref).detach()

    hist = dpo.train_dpo(copy.deepcopy(base), tok, pairs[:32], dpo.DPOConfig(max_steps=2, per_device_train_batch_size=16),
                         loss_fn=dpo_loss, logps_fn=sequence_logprobs, rewards_fn=implicit_rewards, progress=False)
    assert all(v >= 2 for v in calls.values()) and hist[-1]["step"] == 2


def test_a_loss_without_gradient_or_the_model_as_its_own_reference_is_refused(setup):
    tok, base, pairs = setup
    model = copy.deepcopy(base)
    with pytest.raises(ValueError, match="reference must stay frozen"):
        dpo.train_dpo(model, tok, pairs[:16], dpo.DPOConfig(max_steps=1), ref_model=model, progress=False)
    with pytest.raises(ValueError, match="without gradient"):
        dpo.train_dpo(model, tok, pairs[:16], dpo.DPOConfig(max_steps=1), progress=False,
                      loss_fn=lambda pc, pr, rc, rr, beta: (rc - rr).mean())


@pytest.mark.parametrize("loss_type", ["ipo", "sigmoid_norm", "robust"])
def test_every_loss_type_trains(setup, loss_type):
    tok, base, pairs = setup
    cfg = dpo.DPOConfig(max_steps=2, per_device_train_batch_size=16, loss_type=loss_type,
                        label_smoothing=0.1 if loss_type == "robust" else 0.0)
    hist = dpo.train_dpo(copy.deepcopy(base), tok, pairs[:32], cfg, progress=False)
    assert torch.isfinite(torch.tensor(hist[-1]["loss"]))


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="beta"):
        dpo.DPOConfig(beta=0)
    with pytest.raises(ValueError, match="loss_type"):
        dpo.DPOConfig(loss_type="hinge_typo")
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo.DPOConfig(loss_type="ipo", label_smoothing=0.1)


def test_lab_pairs_prefer_the_correct_answer_to_the_sft_models_mistakes():
    from llmcourse import tasks
    from llmcourse.dpo import lab

    tok = models.load_tokenizer(lab.sft_model_path())
    sft = lab.load_sft_model()
    problems = lab.dpo_problems(60, seed=0)
    assert not set(problems) & set(lab.split()[1])  # never a held-out problem
    pairs = lab.task_dpo_pairs(sft, tok, problems, seed=0, recipe={**lab.PAIRS_RECIPE, "n_samples": 1, "n_task": 10})
    answers = {lab.prompt(p): p.answer for p in problems}
    onpolicy = [p for p in pairs if p["prompt"] in answers]
    assert onpolicy  # a 77 % model makes mistakes on 60 problems
    for p in onpolicy:  # the exact-match checker labelled them: chosen right, rejected wrong
        assert tasks.normalize(p["chosen"]) == answers[p["prompt"]] != tasks.normalize(p["rejected"])
