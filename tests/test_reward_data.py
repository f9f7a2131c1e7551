"""Preference data: pair and ranking records, rankings → pairs, tokenisation, batching."""

import json

import pytest
import torch

from llmcourse import models, reward
from llmcourse.records import RecordError


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer()


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------- pair records


def test_load_pairs_from_jsonl_and_json(tmp_path):
    rows = [{"prompt": "Q1", "chosen": "good", "rejected": "bad"}, {"prompt": "Q2", "chosen": "a", "rejected": "b"}]
    jl = _write(tmp_path, "p.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    js = _write(tmp_path, "p.json", json.dumps(rows))
    assert reward.load_preference_pairs(jl) == rows
    assert reward.load_preference_pairs(js) == rows


def test_missing_field_names_file_line_and_field(tmp_path):
    p = _write(tmp_path, "p.jsonl", '{"prompt": "Q", "chosen": "a", "rejected": "b"}\n{"prompt": "Q", "chosen": "a"}\n')
    with pytest.raises(RecordError, match=r"p\.jsonl:2: missing field 'rejected'"):
        reward.load_preference_pairs(p)


def test_identical_chosen_and_rejected_is_an_error_naming_the_index(tmp_path):
    p = _write(tmp_path, "p.json", json.dumps([{"prompt": "Q", "chosen": "same", "rejected": "same"}]))
    with pytest.raises(RecordError, match=r"p\.json\[0\]: 'chosen' and 'rejected' are identical"):
        reward.load_preference_pairs(p)


def test_non_string_response_is_an_error(tmp_path):
    p = _write(tmp_path, "p.jsonl", '{"prompt": "Q", "chosen": 3, "rejected": "b"}\n')
    with pytest.raises(RecordError, match="field 'chosen' must be a string, got int"):
        reward.load_preference_pairs(p)


def test_malformed_jsonl_line_is_an_error(tmp_path):
    p = _write(tmp_path, "p.jsonl", '{"prompt": "Q", "chosen": "a", "rejected": "b"}\n{"prompt": \n')
    with pytest.raises(RecordError, match=r"p\.jsonl:2: malformed JSON"):
        reward.load_preference_pairs(p)


def test_margin_must_be_a_finite_number_and_all_or_none():
    with pytest.raises(RecordError, match="field 'margin' must be a number"):
        reward.validate_pair({"prompt": "", "chosen": "a", "rejected": "b", "margin": "big"})
    with pytest.raises(RecordError, match="pairs\\[1\\]: has no 'margin'"):
        reward.validate_pairs([{"prompt": "", "chosen": "a", "rejected": "b", "margin": 1.0},
                               {"prompt": "", "chosen": "a", "rejected": "c"}])


def test_empty_prompt_is_allowed_but_empty_response_is_not():
    assert reward.validate_pair({"prompt": "", "chosen": "a", "rejected": "b"})["prompt"] == ""
    with pytest.raises(RecordError, match="field 'rejected' is empty"):
        reward.validate_pair({"prompt": "Q", "chosen": "a", "rejected": "  "})


def test_empty_pair_list_is_an_error():
    with pytest.raises(ValueError, match="pairs is empty"):
        reward.validate_pairs([])


# --------------------------------------------------------------------------- rankings


def test_best_first_ranking_gives_all_k_choose_2_pairs():
    # K = 4 → 4·3/2 = 6 pairs, better one first
    pairs = reward.ranking_to_pairs(["A", "B", "C", "D"])
    assert pairs == [("A", "B"), ("A", "C"), ("A", "D"), ("B", "C"), ("B", "D"), ("C", "D")]


def test_explicit_ranks_decide_who_is_chosen():
    # rank 1 = best: y (1) > z (2) > x (3)
    assert sorted(reward.ranking_to_pairs(["x", "y", "z"], [3, 1, 2])) == [("y", "x"), ("y", "z"), ("z", "x")]


def test_ties_are_skipped_or_refused():
    assert reward.ranking_to_pairs(["x", "y", "z"], [2, 1, 2]) == [("y", "x"), ("y", "z")]
    with pytest.raises(ValueError, match="tied"):
        reward.ranking_to_pairs(["x", "y", "z"], [2, 1, 2], ties="error")


def test_duplicate_response_in_a_ranking_is_an_error():
    with pytest.raises(ValueError, match=r"responses\[2\] repeats responses\[0\]"):
        reward.ranking_to_pairs(["a", "b", "a"])


def test_ranking_needs_two_responses_and_one_rank_each():
    with pytest.raises(ValueError, match="at least 2"):
        reward.ranking_to_pairs(["only"])
    with pytest.raises(ValueError, match="2 ranks for 3 responses"):
        reward.ranking_to_pairs(["a", "b", "c"], [1, 2])


def test_rankings_to_pairs_groups_each_prompt(tmp_path):
    p = _write(tmp_path, "r.jsonl", '{"prompt": "P", "responses": ["a", "b", "c"]}\n'
                                    '{"prompt": "Q", "responses": ["x", "y"], "ranks": [2, 1]}\n')
    pairs = reward.rankings_to_pairs(reward.load_rankings(p))
    assert [pp["group"] for pp in pairs] == [0, 0, 0, 1]
    assert pairs[-1] == {"prompt": "Q", "chosen": "y", "rejected": "x", "group": 1}


def test_ranking_record_with_duplicate_names_the_line(tmp_path):
    p = _write(tmp_path, "r.jsonl", '{"prompt": "P", "responses": ["a", "a"]}\n')
    with pytest.raises(RecordError, match=r"r\.jsonl:1: responses\[1\] repeats"):
        reward.load_rankings(p)


def test_all_tied_rankings_give_an_error_not_an_empty_list():
    with pytest.raises(ValueError, match="gave no pairs"):
        reward.rankings_to_pairs([{"prompt": "P", "responses": ["a", "b"], "ranks": [1, 1]}])


# --------------------------------------------------------------------------- tokenisation and batches


def test_encode_response_is_bos_prompt_response_eos(tok):
    ids = reward.encode_response(tok, "Add the two numbers.\n3 4", "7")
    p = tok("Add the two numbers.\n3 4", add_special_tokens=False)["input_ids"]
    r = tok("7", add_special_tokens=False)["input_ids"]
    assert ids == [tok.bos_token_id] + p + r + [tok.eos_token_id]


def test_over_long_pairs_are_dropped_and_counted_not_truncated(tok):
    pairs = [{"prompt": "Q", "chosen": "1", "rejected": "2"},
             {"prompt": "Q", "chosen": "1 " * 40, "rejected": "2"}]
    ds = reward.PreferenceDataset(pairs, tok, max_length=12)
    assert (len(ds), ds.n_filtered) == (1, 1)
    assert ds[0]["chosen_ids"][-1] == tok.eos_token_id  # EOS kept


def test_all_pairs_too_long_is_a_clear_error(tok):
    with pytest.raises(ValueError, match="raise max_length"):
        reward.PreferenceDataset([{"prompt": "Q " * 30, "chosen": "1", "rejected": "2"}], tok, max_length=8)


def test_collator_stacks_chosen_then_rejected_with_masks():
    coll = reward.PreferenceCollator(pad_token_id=0)
    batch = coll([{"chosen_ids": [5, 6, 7], "rejected_ids": [5, 8]}, {"chosen_ids": [5], "rejected_ids": [5, 9, 9, 9]}])
    torch.testing.assert_close(batch["input_ids"], torch.tensor([[5, 6, 7, 0], [5, 0, 0, 0], [5, 8, 0, 0], [5, 9, 9, 9]]))
    torch.testing.assert_close(batch["attention_mask"], (batch["input_ids"] != 0).long())
    assert "margin" not in batch


def test_collator_passes_margins():
    batch = reward.PreferenceCollator(0)([{"chosen_ids": [1], "rejected_ids": [2], "margin": 1.5}])
    torch.testing.assert_close(batch["margin"], torch.tensor([1.5]))


def test_pad_sequences_left_puts_real_tokens_at_the_end():
    ids, mask = reward.pad_sequences([[1, 2], [3]], pad_token_id=0, padding_side="left")
    torch.testing.assert_close(ids, torch.tensor([[1, 2], [0, 3]]))
    torch.testing.assert_close(mask, torch.tensor([[1, 1], [0, 1]]))


def test_grouped_sampler_keeps_groups_together_and_is_seeded():
    groups = [0, 0, 0, 1, 2, 2]  # three groups: sizes 3, 1, 2
    s = reward.GroupedBatchSampler(groups, batch_size=2, seed=3)
    batches = list(s)
    assert len(batches) == len(s) == 2
    for b in batches:  # every group is wholly inside one batch
        assert all(set(i for i in b if groups[i] == g) in (set(), {j for j, gg in enumerate(groups) if gg == g})
                   for g in (0, 1, 2))
    assert sorted(i for b in batches for i in b) == list(range(6))
    again = reward.GroupedBatchSampler(groups, batch_size=2, seed=3)
    assert list(again) == batches  # same seed, same first epoch


def test_task_preference_data_renders_the_sft_template():
    from llmcourse import templates
    from llmcourse.reward import task_preference_data

    alpaca, _ = task_preference_data(20, 5, seed=3)
    simple, held = task_preference_data(20, 5, seed=3, template="simple")
    for a, s in zip(alpaca, simple):
        assert s["prompt"].startswith("Instruction: ") and s["prompt"].endswith("\nOutput:")
        assert a["prompt"].endswith("### Response:\n")
        assert (s["chosen"], s["rejected"]) == (" " + a["chosen"], " " + a["rejected"])
    # the response is exactly what SFT trains the policy to produce after that prompt
    p, r = templates.single_turn("simple", "Reverse the list.", "1 2", "2 1")
    assert (p, r) == ("Instruction: Reverse the list.\nInput: 1 2\nOutput:", " 2 1")
    assert templates.response("simple", "2 1") == r and templates.response("alpaca", "2 1") == "2 1"
    assert {h["prompt"] for h in held}.isdisjoint({s["prompt"] for s in simple})
    with pytest.raises(ValueError, match="'alpaca', 'simple' or 'chat'"):
        task_preference_data(20, 5, template="chatml")
    with pytest.raises(ValueError, match="'chat' needs the tokenizer"):  # its chat template renders the prompts
        task_preference_data(20, 5, template="chat")
