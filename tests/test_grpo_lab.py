"""The GRPO lab: its data (fast), and — slow, on the cached lab SFT model — the measurable outcome:
a short GRPO run with the exact-match reward beats the SFT model on held-out exact match."""

import pytest

from llmcourse.grpo import lab


def test_grpo_rows_are_disjoint_and_carry_the_reward_columns():
    train, held = lab.grpo_rows(n_train=500, n_eval=50)
    assert len(train) == 500 and len(held) == 50
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held}
    assert all(set(r) == {"prompt", "answer", "task"} for r in train + held)
    with pytest.raises(ValueError, match="held-out"):
        lab.grpo_rows(n_eval=10_000)


@pytest.mark.slow
def test_grpo_from_sft_raises_held_out_exact_match(one_torch_thread):
    from llmcourse import models
    from llmcourse.grpo import train_grpo

    train, held = lab.grpo_rows()
    h = train_grpo(lab.load_sft_model(), models.load_tokenizer(), train, lab.with_(max_seconds=25.0), eval_data=held)
    # bench/bench_grpo.py: 0.62 → 0.75 in 110 s; a 25 s run gains less
    assert h[-1]["exact_match"] >= h[0]["exact_match"] + 0.04, (h[0]["exact_match"], h[-1]["exact_match"])
    assert h[-1]["first_ratio_dev"] < 1e-4
    assert all(0.0 <= e["frac_zero_std"] <= 1.0 for e in h[1:])


def test_effect_rows_are_fresh_prompts_of_the_unsolved_tasks():
    """The effect run's prompts: none held out, none among its SFT model's problems, only the tasks of
    recipes.GRPO_EFFECT_TASKS; its held-out rows are the lab's."""
    from llmcourse import recipes

    train, held = lab.effect_rows(n_train=300)
    assert held == lab.grpo_rows()[1] and len(train) == 300 and len({r["prompt"] for r in train}) == 300
    assert {r["task"] for r in train} == set(recipes.GRPO_EFFECT_TASKS)
    sft = {lab._row(p)["prompt"] for p in lab._effect_sft_problems()}
    assert not {r["prompt"] for r in train} & ({r["prompt"] for r in held} | sft)
    assert not {r["prompt"] for r in held} & sft


def test_effect_sft_problems_repeat_add_and_keep_the_rest_distinct():
    """Add has 100 problems: the effect SFT draws them again (1/7 of the data) rather than 99 among 48,000;
    every other task's problems stay distinct, and no held-out problem is among them."""
    from collections import Counter

    from llmcourse import recipes, tasks

    r = recipes.GRPO_SFT_RECIPE
    problems = lab._effect_sft_problems()
    held = set(tasks.split_problems(r["n_train"], r["n_eval"], seed=r["split_seed"])[1])
    counts = Counter(p.task for p in problems)
    assert len(problems) == r["n_problems"] and counts["add"] > r["n_problems"] // 10
    others = [p for p in problems if p.task != "add"]
    assert len(set(others)) == len(others) and not set(problems) & held
    assert len({p for p in problems if p.task == "add"}) == 100 - sum(p.task == "add" for p in held)
