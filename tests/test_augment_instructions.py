"""ROUGE-L (against rouge-score), the Self-Instruct ROUGE-L filter, prompt/parse, and the pipeline."""

import random

import pytest
from rouge_score import rouge_scorer

from llmcourse.augment import (
    RougeLFilter, encode_prompt, instruction_filter_reason, lcs_length, parse_tasks, rouge_l, rouge_l_filter,
    rouge_tokenize, self_instruct,
)

VOCAB = "the a list sort reverse numbers add two of in write story poem about cat dog explain why how".split()


def dp_lcs(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            table[i][j] = table[i - 1][j - 1] + 1 if x == y else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


def random_sentence(rng, lo=0, hi=14):
    return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(lo, hi)))


# --------------------------------------------------------------------------- LCS and ROUGE-L


def test_lcs_hand_example():
    # a b c d / a c e d: common subsequence a c d -> 3
    assert lcs_length("a b c d".split(), "a c e d".split()) == 3


def test_lcs_matches_dynamic_programming_on_random_pairs():
    rng = random.Random(0)
    for _ in range(500):
        a, b = random_sentence(rng).split(), random_sentence(rng).split()
        assert lcs_length(a, b) == dp_lcs(a, b)


def test_lcs_on_sequences_longer_than_a_machine_word():
    rng = random.Random(1)
    a = [rng.choice("abcd") for _ in range(300)]
    b = [rng.choice("abcd") for _ in range(250)]
    assert lcs_length(a, b) == dp_lcs(a, b)


def test_rouge_l_matches_rouge_score_package():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(2)
    for _ in range(500):
        a, b = random_sentence(rng), random_sentence(rng)
        a = a.capitalize() + "!" if a else a  # punctuation and case are tokenised away by both
        assert rouge_l(a, b) == pytest.approx(scorer.score(b, a)["rougeL"].fmeasure, abs=1e-12)


def test_rouge_l_hand_example_and_symmetry():
    # 'sort the list' vs 'sort the numbers in the list': LCS = 3, F = 2*3/(3+6) = 2/3
    assert rouge_l("Sort the list.", "sort the numbers in the list") == pytest.approx(2 / 3)
    assert rouge_l("sort the numbers in the list", "Sort the list.") == pytest.approx(2 / 3)


def test_rouge_l_of_empty_text_is_zero():
    assert rouge_l("", "sort the list") == 0.0 and rouge_l("!!!", "") == 0.0


def test_tokenizer_equals_rouge_score_on_ascii_and_keeps_non_ascii_letters():
    from rouge_score.tokenize import tokenize

    text = "Write a 3-line poem, about   CATS & dogs!"
    assert rouge_tokenize(text) == tokenize(text, None)
    assert rouge_tokenize("Café au lait, naïve 東京") == ["café", "au", "lait", "naïve", "東京"]


# --------------------------------------------------------------------------- the filter


def naive_filter(candidates, existing, threshold):
    kept, pool = [], list(existing)
    for c in candidates:
        if all(rouge_l(c, p) <= threshold for p in pool):
            kept.append(c)
            pool.append(c)
    return kept


def test_filter_compares_with_instructions_kept_earlier_in_the_same_batch():
    out = rouge_l_filter(["Sort the list.", "Sort the list!", "Add two numbers."], ["Reverse the list."])
    assert out == ["Sort the list.", "Add two numbers."]  # the 2nd is a copy of the 1st (ROUGE-L 1.0)


def test_filter_keeps_exactly_at_the_threshold():
    # 10 tokens each, LCS 7 -> F = 14/20 = 0.7: kept (the rule rejects > 0.7)
    a = "a b c d e f g h i j"
    b = "a b c d e f g x y z"
    assert rouge_l(a, b) == 0.7
    assert rouge_l_filter([b], [a]) == [b] and rouge_l_filter([b], [a], threshold=0.69) == []


def test_filter_agrees_with_naive_all_pairs_on_random_pools():
    rng = random.Random(3)
    for threshold in (0.3, 0.5, 0.7):
        existing = [random_sentence(rng, 1) for _ in range(30)]
        candidates = [random_sentence(rng, 1) for _ in range(200)]
        assert rouge_l_filter(candidates, existing, threshold) == naive_filter(candidates, existing, threshold)


def test_index_skips_most_exact_comparisons():
    # 40 distinct instructions, then exact copies of them: each copy needs one LCS (with its original);
    # all-pairs would compute 40*39/2 + 40*40 = 2,380
    rng = random.Random(4)
    words = [f"w{i}" for i in range(400)]
    originals = [" ".join(rng.sample(words, 8)) for _ in range(40)]
    pool = RougeLFilter([], 0.7)
    kept = [c for c in originals + originals if pool.add(c)]
    assert kept == originals and pool.comparisons < 100


def test_filter_does_not_modify_its_inputs():
    existing, candidates = ["sort the list"], ["sort the list", "add two numbers"]
    rouge_l_filter(candidates, existing)
    assert existing == ["sort the list"] and candidates == ["sort the list", "add two numbers"]


def test_filter_max_similarity_names_the_closest_instruction():
    pool = RougeLFilter(["reverse the list", "write a poem about a cat"])
    score, index = pool.max_similarity("Write a poem about a dog")
    assert index == 1 and score == pytest.approx(2 * 5 / 12)  # LCS 'write a poem about a' = 5 of 6 + 6


def test_filter_rejects_bad_threshold_and_a_string_pool():
    with pytest.raises(ValueError, match="threshold"):
        RougeLFilter([], threshold=1.5)
    with pytest.raises(TypeError, match="single str"):
        RougeLFilter("sort the list")


def test_filter_handles_non_ascii_and_empty_candidates():
    out = rouge_l_filter(["東京 の 天気", "東京 の 天気", "", "!!!"], [])
    assert out == ["東京 の 天気", "", "!!!"]  # no tokens -> ROUGE-L 0 with everything -> kept (length filters drop them)


# --------------------------------------------------------------------------- prompt, parsing, filters


SEEDS = [
    {"instruction": "Reverse the list.", "input": "3 1 4", "output": "4 1 3"},
    {"instruction": "Write a haiku about autumn leaves.", "input": "", "output": "Red leaves drift..."},
    {"instruction": "Give three synonyms for happy.", "input": "", "output": "glad, joyful, cheerful"},
]


def test_prompt_lists_tasks_and_ends_at_the_next_instruction():
    prompt = encode_prompt(SEEDS[:2])
    assert "Task 1\nInstruction: Reverse the list.\nInput: 3 1 4\nOutput: 4 1 3" in prompt
    assert "Input: <none>" in prompt and prompt.endswith("Task 3\nInstruction:")


def test_parse_tasks_reads_several_tasks_and_counts_broken_ones():
    completion = (" Name a fruit that is red.\nInput: <none>\nOutput: A strawberry.\n\n"
                  "Task 5\nInstruction: Add the numbers.\nInput: 2 5\nOutput: 7\n\n"
                  "Task 6\nInstruction: This one has no output\n")
    records, bad = parse_tasks(completion)
    assert records == [{"instruction": "Name a fruit that is red.", "input": "", "output": "A strawberry."},
                       {"instruction": "Add the numbers.", "input": "2 5", "output": "7"}]
    assert bad == 1


@pytest.mark.parametrize("instruction,reason", [
    ("Sort it.", "too_short"),
    (" ".join(["word"] * 151), "too_long"),
    ("- Write a list of fruits.", "bad_start"),
    ("Draw a picture of a cat.", "banned_keyword"),
    ("Open the file and count the lines.", "banned_keyword"),
    ("Write a short poem about rain.", None),
])
def test_instruction_filters(instruction, reason):
    assert instruction_filter_reason(instruction) == reason


# --------------------------------------------------------------------------- the pipeline


def scripted_generator(completions):
    """A stand-in for a model: returns the scripted completions in turn (one per prompt)."""
    queue = list(completions)
    prompts_seen = []

    def generate(prompts):
        prompts_seen.extend(prompts)
        return [queue.pop(0) if queue else "" for _ in prompts]

    generate.prompts = prompts_seen
    return generate


def test_self_instruct_keeps_new_tasks_and_reports_what_was_filtered():
    gen = scripted_generator([
        " Name a fruit that is red.\nInput: <none>\nOutput: A strawberry.\n",
        " Reverse the list.\nInput: 1 2\nOutput: 2 1\n",                        # copy of a seed -> similar
        " Draw a map of France.\nInput: <none>\nOutput: ...\n",                  # banned keyword
        " Name a fruit that is red!\nInput: <none>\nOutput: A cherry.\n",        # copy of a new one -> similar
        " Explain why the sky is blue.\nInput: <none>\nOutput: Rayleigh scattering.\n",
        "garbage without fields",
    ])
    result = self_instruct(SEEDS, gen, num_instructions=2, batch_size=3, rng=0, num_seed_tasks=2)
    assert [r["instruction"] for r in result.records] == ["Name a fruit that is red.", "Explain why the sky is blue."]
    assert result.stats["similar"] == 2 and result.stats["banned_keyword"] == 1 and result.stats["kept"] == 2
    assert all(set(r) == {"instruction", "input", "output"} for r in result.records)


def test_self_instruct_puts_generated_tasks_in_later_prompts():
    gen = scripted_generator([" Name a fruit that is red.\nInput: <none>\nOutput: A strawberry.\n"] + [""] * 10)
    self_instruct(SEEDS, gen, num_instructions=5, batch_size=1, max_calls=3, rng=0, num_seed_tasks=1,
                  num_generated_tasks=1)
    assert "Name a fruit that is red." not in gen.prompts[0] and "Name a fruit that is red." in gen.prompts[1]


def test_self_instruct_stops_after_max_calls():
    gen = scripted_generator([])
    result = self_instruct(SEEDS, gen, num_instructions=10, batch_size=2, max_calls=4, rng=0)
    assert result.records == [] and result.stats["calls"] == 4 and len(gen.prompts) == 8


def test_self_instruct_is_reproducible_with_a_seed():
    def run():
        gen = scripted_generator([])
        self_instruct(SEEDS, gen, num_instructions=1, batch_size=2, max_calls=2, rng=7, num_seed_tasks=2)
        return gen.prompts

    assert run() == run()


def test_self_instruct_explains_a_generator_with_the_wrong_shape():
    with pytest.raises(TypeError, match="one per prompt"):
        self_instruct(SEEDS, lambda prompts: "one string", num_instructions=1, rng=0)


def test_self_instruct_rejects_records_without_output():
    with pytest.raises(ValueError, match=r"seed_records\[1\].*'output'"):
        self_instruct([SEEDS[0], {"instruction": "x"}], scripted_generator([]), num_instructions=1)
