import random

import pytest

from llmcourse import tasks


def test_solve_each_task_by_hand():
    assert tasks.solve("reverse", (3, 1, 4)) == "4 1 3"
    assert tasks.solve("sort", (3, 1, 4)) == "1 3 4"
    assert tasks.solve("max", (3, 1, 4)) == "4"
    assert tasks.solve("count", (3, 1, 4)) == "3"
    assert tasks.solve("add", (9, 8)) == "17"


def test_unknown_task_is_rejected():
    with pytest.raises(ValueError, match="unknown task 'divide'"):
        tasks.solve("divide", (1, 2))


def test_same_seed_same_data_and_no_global_rng_use():
    random.seed(123)
    before = random.random()
    random.seed(123)
    a = tasks.instruction_records(50, seed=4)
    assert random.random() == before  # the global RNG was not consumed
    assert a == tasks.instruction_records(50, seed=4)
    assert a != tasks.instruction_records(50, seed=5)


def test_records_are_alpaca_format():
    for rec in tasks.instruction_records(20, seed=0):
        assert set(rec) == {"instruction", "input", "output"}
        assert all(isinstance(v, str) and v for v in rec.values())


def test_split_is_disjoint():
    train, test = tasks.split_problems(300, 100, seed=0)
    assert len(train) == 300 and len(test) == 100
    assert not set(train) & set(test)


def test_pretraining_text_has_no_instruction_format():
    text = " ".join(tasks.pretraining_text(500, seed=0))
    assert "###" not in text and "Instruction" not in text and "Reverse the list" not in text


def test_plain_example_marks_where_the_answer_starts():
    rng = random.Random(4)
    seen_first = seen_last = 0
    for _ in range(300):
        p = tasks.sample_problem(rng)
        sentence, start = tasks.plain_example(p, rng)
        if start == len(sentence):  # "there are 3 numbers in 8 1 9 .": the answer comes before the list
            assert sentence.startswith(f"there are {p.answer} numbers in ")
            seen_first += 1
            continue
        assert sentence[start:].startswith(f" {p.answer} ")
        head = sentence[:start]
        assert (f"{p.items[0]} " in head and f"{p.items[1]}" in head) if p.task == "add" else p.input in head
        seen_last += 1
    assert seen_first and seen_last


def test_plain_prompt_stops_just_before_an_answer_that_ends_the_sentence():
    rng = random.Random(5)
    for p in tasks.problems(200, seed=6):
        prompt = tasks.plain_prompt(p, rng)
        assert not prompt.startswith("there are ") and not prompt.endswith(" has")  # answer first / not last
        assert (p.input in prompt) if p.task != "add" else prompt.startswith(("adding", "the sum", f"{p.items[0]} plus"))
        assert prompt.endswith(("is", "reads", "gives", "becomes"))


def test_pretraining_examples_are_the_pretraining_text_with_answer_offsets():
    examples = tasks.pretraining_examples(50, seed=2)
    assert [s for s, _ in examples] == tasks.pretraining_text(50, seed=2)
    assert all(0 < start <= len(s) for s, start in examples)


def test_preference_pairs_rejected_is_wrong_and_chosen_right():
    for pair, p in zip(tasks.preference_pairs(200, seed=3), tasks.problems(200, random.Random(3))):
        assert pair["chosen"] != pair["rejected"]
    pairs = tasks.preference_pairs(200, seed=3)
    assert all(tasks.FILLER.strip() not in pr["chosen"] for pr in pairs)


def test_length_bias_appends_filler_to_chosen_only():
    pairs = tasks.preference_pairs(100, seed=3, bias="length")
    assert all(pr["chosen"].endswith(" !") for pr in pairs)
    assert not any("!" in pr["rejected"] for pr in pairs)
    with pytest.raises(ValueError, match="bias"):
        tasks.preference_pairs(3, bias="style")


def test_exact_match_normalises_whitespace():
    # 2 of 3 match once whitespace is normalised: " 4 1\n" == "4 1", "5" != "6"
    assert tasks.exact_match([" 4 1\n", "1  2", "5"], ["4 1", "1 2", "6"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        tasks.exact_match(["1"], ["1", "2"])
    with pytest.raises(ValueError):
        tasks.exact_match([], [])
