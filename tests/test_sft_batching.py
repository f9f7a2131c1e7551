"""Tokenisation with masks, SFTDataset, the padding collator, packing (and that packed rows really
do not attend across examples)."""

import pytest
import torch

from llmcourse import tasks, templates
from llmcourse.sft import batching as sft_batching
from llmcourse.sft import (IGNORE_INDEX, Example, SFTDataset, block_diagonal_mask, build_example, pack_examples,
                           packed_collate, pad_collate, padding_efficiency, tokenize_segments, truncate_example)


# --------------------------------------------------------------------------- tokenisation


def test_build_example_masks_bos_and_prompt_and_keeps_eos():
    # [BOS]=1, prompt 10 11, response 20 21, EOS=2 → labels -100 ×3 then 20 21 2
    out = build_example([10, 11], [20, 21], 1, 2)
    assert out == {"input_ids": [1, 10, 11, 20, 21, 2], "labels": [IGNORE_INDEX] * 3 + [20, 21, 2]}


def test_build_example_without_bos():
    assert build_example([10], [20], None, 2) == {"input_ids": [10, 20, 2], "labels": [IGNORE_INDEX, 20, 2]}


def test_separate_tokenisation_gives_exact_seam_where_the_seed_method_does_not(tokenizer):
    # the seed's template: "…\nOutput: " (trailing space) + answer. Tokenised as one text, BPE merges the
    # space into " 4"; the prompt alone ends with a lone " " token — one token longer than its share.
    prompt = "Instruction: Reverse the list.\nInput: 3 1 4\nOutput: "
    full = tokenizer(tokenizer.bos_token + prompt + "4 1 3" + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    seed_prompt_len = len(tokenizer(tokenizer.bos_token + prompt, add_special_tokens=False)["input_ids"])
    assert full[:seed_prompt_len] != tokenizer(tokenizer.bos_token + prompt, add_special_tokens=False)["input_ids"]
    seed_targets = tokenizer.decode([t for t in full[seed_prompt_len:]], skip_special_tokens=True)
    assert seed_targets == " 1 3"  # the first answer token " 4" was masked away
    # ours: the response starts with the space (" 4 1 3"), tokenised on its own → exactly the answer is a target
    ours = tokenize_segments([(prompt.rstrip(" "), False), (" 4 1 3", True)], tokenizer)
    targets = [t for t in ours["labels"] if t != IGNORE_INDEX]
    assert tokenizer.decode(targets, skip_special_tokens=True) == " 4 1 3" and targets[-1] == tokenizer.eos_token_id


def test_labels_are_minus_100_exactly_on_bos_and_prompt(tokenizer):
    ds = SFTDataset(tasks.instruction_records(20, seed=3), tokenizer, template="alpaca")
    for ex, item in zip(ds.examples, ds.items):
        n_prompt = 1 + len(tokenizer(templates.alpaca_prompt(ex.instruction, ex.input), add_special_tokens=False)["input_ids"])
        assert item["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
        assert item["labels"][n_prompt:] == item["input_ids"][n_prompt:]
        assert item["input_ids"][-1] == tokenizer.eos_token_id and item["input_ids"][0] == tokenizer.bos_token_id


def test_chat_data_masks_user_turns_and_trains_every_assistant_turn(tokenizer):
    rec = {"messages": [{"role": "user", "content": "Sort the list in ascending order.\n3 1 2"},
                        {"role": "assistant", "content": "1 2 3"},
                        {"role": "user", "content": "Reverse the list.\n1 2 3"},
                        {"role": "assistant", "content": "3 2 1"}]}
    (item,) = SFTDataset([rec], tokenizer, template="chat").items
    targets = [t for t in item["labels"] if t != IGNORE_INDEX]
    eos = tokenizer.eos_token_id
    assert targets.count(eos) == 2
    answer_ids = [t for t in targets if t != eos]
    assert tokenizer.decode(answer_ids) == "1 2 33 2 1"  # both answers, nothing else
    # the full ids equal the chat template tokenised in one go (the segments are seam-exact here)
    assert item["input_ids"] == tokenizer.apply_chat_template(rec["messages"], tokenize=True, return_dict=True)["input_ids"]


def test_completion_only_loss_false_trains_on_the_prompt_too(tokenizer):
    (item,) = SFTDataset([{"instruction": "Add the two numbers.", "input": "3 4", "output": "7"}], tokenizer,
                         completion_only_loss=False).items
    assert item["labels"][0] == IGNORE_INDEX and item["labels"][1:] == item["input_ids"][1:]


def test_right_truncation_keeps_an_example_with_some_response_left():
    ex = {"input_ids": [1, 10, 11, 20, 21, 2], "labels": [IGNORE_INDEX] * 3 + [20, 21, 2]}
    assert truncate_example(ex, 4, "right") == {"input_ids": [1, 10, 11, 20], "labels": [IGNORE_INDEX] * 3 + [20]}


def test_right_truncation_drops_an_example_whose_response_is_cut_away():
    ex = {"input_ids": [1, 10, 11, 20, 2], "labels": [IGNORE_INDEX] * 3 + [20, 2]}
    assert truncate_example(ex, 3, "right") is None


def test_drop_policy_drops_any_overlong_example():
    ex = {"input_ids": [1, 10, 20, 2], "labels": [IGNORE_INDEX] * 2 + [20, 2]}
    assert truncate_example(ex, 3, "drop") is None and truncate_example(ex, 4, "drop") is ex


def test_over_long_prompts_are_dropped_and_counted(tokenizer):
    recs = [{"instruction": "Add the two numbers.", "input": "3 4", "output": "7"},
            {"instruction": "Summarise. " * 40, "input": "", "output": "ok"}]
    ds = SFTDataset(recs, tokenizer, template="alpaca", max_length=80)
    assert (ds.stats.kept, ds.stats.dropped, len(ds)) == (1, 1, 1)
    assert "records[1]" in ds.stats.dropped_where[0] and "1 dropped" in str(ds.stats)


def test_all_examples_dropped_is_an_error_with_the_fix(tokenizer):
    with pytest.raises(ValueError, match="all 1 examples were dropped.*raise max_length"):
        SFTDataset([{"instruction": "Summarise. " * 40, "output": "ok"}], tokenizer, max_length=20)


def test_empty_dataset_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="empty dataset"):
        SFTDataset([], tokenizer)


def test_tokenizer_without_eos_is_rejected(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.eos_token = None
    with pytest.raises(ValueError, match="no EOS token"):
        SFTDataset([{"instruction": "a", "output": "b"}], tok)


def test_invalid_max_length_is_rejected(tokenizer):
    with pytest.raises(ValueError, match="max_length must be an int >= 2"):
        SFTDataset([{"instruction": "a", "output": "b"}], tokenizer, max_length=1)


def test_custom_build_fn_is_used(tokenizer):
    calls = []

    def build(p, r, bos, eos):
        calls.append((len(p), len(r)))
        return build_example(p, r, bos, eos)

    SFTDataset([{"instruction": "a", "output": "b"}] * 3, tokenizer, build_fn=build)
    assert len(calls) == 3


# --------------------------------------------------------------------------- padding


def test_pad_collate_pads_right_with_pad_id_and_minus_100():
    batch = [{"input_ids": [1, 5, 2], "labels": [IGNORE_INDEX, 5, 2]}, {"input_ids": [1, 2], "labels": [IGNORE_INDEX, 2]}]
    out = pad_collate(batch, pad_token_id=9)
    torch.testing.assert_close(out["input_ids"], torch.tensor([[1, 5, 2], [1, 2, 9]]))
    torch.testing.assert_close(out["labels"], torch.tensor([[IGNORE_INDEX, 5, 2], [IGNORE_INDEX, 2, IGNORE_INDEX]]))
    torch.testing.assert_close(out["attention_mask"], torch.tensor([[1, 1, 1], [1, 1, 0]]))


def test_pad_to_multiple_of_rounds_the_width_up():
    out = pad_collate([{"input_ids": [1, 2, 3], "labels": [IGNORE_INDEX, 2, 3]}], 0, pad_to_multiple_of=8)
    assert out["input_ids"].shape == (1, 8)


def test_collate_without_pad_token_says_how_to_add_one():
    with pytest.raises(ValueError, match="ensure_pad_token"):
        pad_collate([{"input_ids": [1], "labels": [1]}], None)


def test_collate_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="empty batch"):
        pad_collate([], 0)


def test_collate_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"batch\[0\]: 3 input_ids but 2 labels"):
        pad_collate([{"input_ids": [1, 2, 3], "labels": [1, 2]}], 0)


def test_padding_does_not_change_the_logits_of_real_tokens(tiny_model):
    a = {"input_ids": [1, 40, 41, 42, 2], "labels": [IGNORE_INDEX] * 5}
    b = {"input_ids": [1, 50, 2], "labels": [IGNORE_INDEX] * 3}
    batch = pad_collate([a, b], pad_token_id=0)
    with torch.no_grad():
        padded = tiny_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        alone = tiny_model(input_ids=torch.tensor([b["input_ids"]])).logits
    torch.testing.assert_close(padded[1, :3], alone[0], atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------- packing


def _items(lengths):
    out = []
    for k, n in enumerate(lengths):
        ids = [1] + [10 + k] * (n - 2) + [2]
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] + ids[1:]})
    return out


def test_packing_keeps_every_token_once_and_restarts_positions():
    items = _items([5, 3, 4, 2, 6])
    rows = pack_examples(items, max_length=8)
    # first-fit decreasing over 6 5 4 3 2 with rows of 8: [6, 2], [5, 3], [4]
    assert [r["lengths"] for r in rows] == [[6, 2], [5, 3], [4]]
    assert sum(len(r["input_ids"]) for r in rows) == 20
    for r in rows:
        starts = [i for i, p in enumerate(r["position_ids"]) if p == 0]
        assert len(starts) == len(r["lengths"])  # one restart per example
        assert all(r["labels"][s] == IGNORE_INDEX for s in starts)  # no loss predicting an example's BOS


def test_packing_rejects_an_example_longer_than_a_row():
    with pytest.raises(ValueError, match="tokenise with the same max_length"):
        pack_examples(_items([9]), max_length=8)


def test_packed_collate_pads_rows_as_their_own_segment():
    rows = pack_examples(_items([3, 2]), max_length=5) + pack_examples(_items([3]), max_length=5)
    out = packed_collate(rows, pad_token_id=0)
    assert out["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 0, 1]]
    assert out["labels"][1, 3:].tolist() == [IGNORE_INDEX, IGNORE_INDEX]
    assert out["num_real_tokens"].tolist() == [5, 3] and "attention_mask" not in out


def test_block_diagonal_mask_allows_only_same_example_causal_attention():
    m = block_diagonal_mask(torch.tensor([[0, 1, 0, 1, 2]]))
    allowed = (m[0, 0] == 0).int().tolist()
    assert allowed == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 1, 1, 1]]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("four_d", [False, True])
def test_packed_logits_equal_unpacked_logits(tiny_model, attn, four_d):
    # no attention across examples: each example's logits inside a packed row equal its logits alone
    tiny_model.config._attn_implementation = attn
    items = _items([5, 4, 3])
    rows = pack_examples(items, max_length=12)
    assert len(rows) == 1
    batch = packed_collate(rows, pad_token_id=0, four_d_mask=four_d)
    kwargs = {"position_ids": batch["position_ids"], "use_cache": False}
    if four_d:
        kwargs["attention_mask"] = batch["attention_mask"]
    with torch.no_grad():
        packed = tiny_model(input_ids=batch["input_ids"], **kwargs).logits[0]
        start = 0
        for n in rows[0]["lengths"]:
            ids = torch.tensor([rows[0]["input_ids"][start:start + n]])
            alone = tiny_model(input_ids=ids).logits[0]
            torch.testing.assert_close(packed[start:start + n], alone, atol=1e-5, rtol=1e-4)
            start += n
    tiny_model.config._attn_implementation = "sdpa"


def test_with_a_cache_transformers_ignores_packing_so_the_trainer_disables_it(tiny_model):
    # documents *why* the trainer passes use_cache=False: with a cache, position_ids do not isolate examples
    rows = pack_examples(_items([4, 4]), max_length=8)
    batch = packed_collate(rows, pad_token_id=0)
    with torch.no_grad():
        with_cache = tiny_model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=True).logits
        without = tiny_model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    assert not torch.allclose(with_cache[0, 4:], without[0, 4:], atol=1e-4)


def test_padding_efficiency_counts_real_tokens():
    # 3 + 2 real tokens in a 2×3 batch → 5/6
    b = pad_collate([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}, {"input_ids": [1, 2], "labels": [1, 2]}], 0)
    assert padding_efficiency([b]) == pytest.approx(5 / 6)


def test_packing_reaches_95_percent_efficiency_on_the_task_world(tokenizer):
    ds = SFTDataset(tasks.instruction_records(400, seed=5), tokenizer, template="alpaca", max_length=256)
    rows = pack_examples(ds.items, 256)
    batches = [packed_collate(rows[i:i + 8], 0) for i in range(0, len(rows), 8)]
    assert padding_efficiency(batches) >= 0.95


def test_padding_efficiency_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no batches"):
        padding_efficiency([])


def test_dataset_accepts_examples_and_paths(tokenizer, tmp_path):
    import json

    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"prompt": "Add 3 and 4.", "completion": "7"}) + "\n", encoding="utf-8")
    a = SFTDataset(p, tokenizer, template="simple")
    b = SFTDataset([Example(instruction="Add 3 and 4.", output="7")], tokenizer, template="simple")
    assert a.items == b.items


def test_length_grouped_batches_cover_every_index_once_and_group_lengths():
    lengths = [3, 50, 4, 51, 5, 52, 6, 53]
    sampler = sft_batching.LengthGroupedBatchSampler(lengths, 2, torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(8)) and len(sampler) == 4
    # within one mega-batch, sorted lengths pair the two shortest, …, the two longest
    assert sorted(sorted(lengths[i] for i in b) for b in batches) == [[3, 4], [5, 6], [50, 51], [52, 53]]


def test_length_grouped_sampler_is_seeded():
    a = list(sft_batching.LengthGroupedBatchSampler(list(range(40)), 4, torch.Generator().manual_seed(1)))
    b = list(sft_batching.LengthGroupedBatchSampler(list(range(40)), 4, torch.Generator().manual_seed(1)))
    assert a == b
