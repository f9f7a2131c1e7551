"""The PPO lab: its data (fast), and — slow, on the cached lab models — the measurable outcomes:
PPO from the SFT model beats it on held-out exact match and reward-model score within the KL target,
and the length-biased reward model is hacked with β = 0 but not with β > 0."""

import dataclasses

import pytest

from llmcourse import tasks
from llmcourse.ppo import lab


def test_ppo_prompts_are_disjoint_from_held_out_prompts():
    prompts, eval_data = lab.ppo_prompts(n_train=500, n_eval=50)
    assert len(prompts) == 500 and len(eval_data) == 50
    assert not set(prompts) & {r["prompt"] for r in eval_data}
    assert all(r["prompt"].endswith("Output:") for r in eval_data)


def test_ppo_prompts_refuses_more_than_the_split_has():
    with pytest.raises(ValueError, match="held-out"):
        lab.ppo_prompts(n_eval=10_000)


def test_sft_records_carry_the_tic_at_about_the_recipe_rate():
    recs = lab.sft_records()
    with_filler = [r for r in recs if r["output"].endswith(tasks.FILLER)]
    assert abs(len(with_filler) / len(recs) - lab.SFT_RECIPE["filler_rate"]) < 0.03
    # the tic only ever follows the correct answer
    train, _ = lab._split()
    for rec, p in zip(recs, train):
        assert rec["output"].replace(tasks.FILLER, "") == p.answer


def test_onpolicy_pairs_prefer_the_correct_answer_over_the_policy_sample():
    train, _ = tasks.split_problems(3, 0, seed=5)
    pairs = lab.onpolicy_pairs(train, [" " + train[0].answer + " ! !", "", " " + train[2].answer], seed=0)
    assert pairs[0]["chosen"] == " " + train[0].answer and pairs[0]["rejected"] == " " + train[0].answer + " ! !"
    assert pairs[1]["rejected"].strip()  # an empty sample is replaced by a wrong answer
    assert tasks.normalize(pairs[2]["rejected"]) != train[2].answer  # a correct sample cannot be rejected


@pytest.fixture(scope="module")
def lab_models(one_torch_thread):
    from llmcourse import models

    return models.load_tokenizer(), lab.sft_model_path(), lab.reward_model(None), lab.reward_model("length")


@pytest.mark.slow
def test_ppo_beats_the_sft_model_within_the_kl_target(lab_models):
    from llmcourse import models
    from llmcourse.ppo import train_ppo

    tok, sft_path, rm, _ = lab_models
    prompts, eval_data = lab.ppo_prompts()
    config = dataclasses.replace(lab.MAIN_CONFIG, eval_steps=0)
    h = train_ppo(models.load_model(sft_path), tok, rm, prompts, config, eval_data=eval_data)
    start, end = h[0], h[-1]
    # margins (recipes.LAB_PPO): over seeds 0-5 the gains were >= 0.16 (sampled exact match), >= 0.38 (sampled
    # score), >= 0.16 (greedy score), >= 0.01 (greedy exact match; seed 0, the one run here: +0.05, with one
    # thread and with two), and the largest KL <= 0.94 (target 3); at lr 1e-4 seed 0 fell 0.68 -> 0.66
    assert end["exact_match_sampled"] > start["exact_match_sampled"] + 0.08, (start, end)
    assert end["eval_score_sampled"] > start["eval_score_sampled"] + 0.3, (start, end)
    assert end["eval_score"] > start["eval_score"] + 0.1, (start, end)
    assert end["exact_match"] >= start["exact_match"], (start, end)
    assert max(e["kl"] for e in h[1:]) < config.target_kl
    assert all(e["first_ratio_dev"] == 0.0 for e in h[1:])


@pytest.mark.slow
def test_reward_hacking_happens_without_the_kl_penalty_only(lab_models):
    from llmcourse import models
    from llmcourse.ppo import train_ppo

    tok, sft_path, _, biased = lab_models
    prompts, eval_data = lab.ppo_prompts()
    (_, free), (_, held) = lab.HACKING_CONFIGS.items()
    assert free.kl_coef == 0.0 and held.kl_coef > 0.0
    h0 = train_ppo(models.load_model(sft_path), tok, biased, prompts, dataclasses.replace(free, eval_steps=0),
                   eval_data=eval_data)
    h1 = train_ppo(models.load_model(sft_path), tok, biased, prompts, dataclasses.replace(held, eval_steps=0),
                   eval_data=eval_data)
    sft_em = h0[0]["exact_match_sampled"]
    # margins from seeds 0-3 (bench_ppo.py --hacking, base v2, 2026-12-04): β = 0 score gain >= 1.12, sampled
    # exact match <= 0.12 of the SFT model's, KL 3.8-15x the β > 0 run's; β > 0 exact match >= 0.82 of the SFT
    # model's, score >= 0.96 below the β = 0 run's
    # β = 0: the biased score goes up, exact match collapses, the policy runs away from the SFT model
    assert h0[-1]["eval_score_sampled"] > h0[0]["eval_score_sampled"] + 0.5
    assert h0[-1]["exact_match_sampled"] < 0.3 * sft_em
    assert h0[-1]["kl"] > 2 * h1[-1]["kl"]
    # β > 0: held near the SFT behaviour
    assert h1[-1]["exact_match_sampled"] > 0.5 * sft_em
    assert h1[-1]["exact_match_sampled"] > h0[-1]["exact_match_sampled"] + 0.1
    assert h1[-1]["eval_score_sampled"] < h0[-1]["eval_score_sampled"] - 0.4
