"""DPO data (llmcourse.dpo.data): labels on the response only, shared prompt ids, every template and
record format, precise errors."""

import json

import pytest

from llmcourse import dpo, models, templates
from llmcourse.records import RecordError


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer()


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_labels_are_minus_100_exactly_on_bos_and_prompt(tok):
    chosen, rejected = dpo.encode_pair(tok, "Reverse 1 2", " 2 1", " 1 2")
    n_prompt = 1 + len(_ids(tok, "Reverse 1 2"))
    for seq, resp in ((chosen, " 2 1"), (rejected, " 1 2")):
        assert seq["input_ids"][:n_prompt] == [tok.bos_token_id] + _ids(tok, "Reverse 1 2")
        assert seq["labels"] == [-100] * n_prompt + _ids(tok, resp) + [tok.eos_token_id]
        assert seq["input_ids"][n_prompt:] == seq["labels"][n_prompt:]


@pytest.mark.parametrize("template", ["alpaca", "simple", "chat"])
def test_every_template_renders_the_prompt_once_for_both_responses(tok, template):
    ds = dpo.DPODataset([{"prompt": "Add the two numbers.", "chosen": "7", "rejected": "8"}], tok, template=template)
    prompt, chosen, rejected = ds.texts[0]
    if template == "simple":
        assert prompt == templates.simple_prompt("Add the two numbers.") and chosen == " 7"
    elif template == "alpaca":
        assert prompt == templates.alpaca_prompt("Add the two numbers.") and chosen == "7"
    else:  # the tokenizer's chat template, BOS text removed (the BOS id is added at tokenisation)
        assert prompt == "<|user|>\nAdd the two numbers.\n<|assistant|>\n" and chosen == "7"
    item = ds[0]
    n = sum(t == -100 for t in item["chosen"]["labels"])
    assert item["chosen"]["input_ids"][:n] == item["rejected"]["input_ids"][:n]


def test_conversational_pairs_keep_system_prompt_and_turns(tok):
    rec = {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Max of 3 9?"}],
           "chosen": [{"role": "assistant", "content": "9"}], "rejected": [{"role": "assistant", "content": "3"}]}
    ds = dpo.DPODataset([rec], tok, template="chat")
    assert ds.texts[0] == ("<|system|>\nBe brief.\n<|user|>\nMax of 3 9?\n<|assistant|>\n", "9", "3")
    # template=None: the tokenizer's chat template (it has one); "simple" renders one exchange
    assert dpo.DPODataset([rec], tok, template=None).texts == ds.texts
    assert dpo.DPODataset([rec], tok, template="simple").texts[0] == ("Be brief.\n\nInstruction: Max of 3 9?\nOutput:", " 9", " 3")


def test_implicit_prompt_records_are_split_at_their_common_beginning(tok):
    rec = {"chosen": [{"role": "user", "content": "Max of 3 9?"}, {"role": "assistant", "content": "9"}],
           "rejected": [{"role": "user", "content": "Max of 3 9?"}, {"role": "assistant", "content": "3"}]}
    assert dpo.DPODataset([rec], tok, template="chat").texts == [("<|user|>\nMax of 3 9?\n<|assistant|>\n", "9", "3")]


def test_rankings_become_all_their_pairs(tok):
    ds = dpo.DPODataset([{"prompt": "p", "responses": ["a", "b", "c"]}], tok)
    assert [t[1:] for t in ds.texts] == [("a", "b"), ("a", "c"), ("b", "c")]


def test_file_errors_name_file_line_and_field(tok, tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n"
                    + json.dumps({"prompt": "p", "chosen": "a"}) + "\n")
    with pytest.raises(RecordError, match=r"prefs.jsonl:2.*rejected"):
        dpo.DPODataset(path, tok)
    with pytest.raises(RecordError, match=r"pairs\[0\].*identical"):
        dpo.DPODataset([{"prompt": "p", "chosen": "a", "rejected": "a"}], tok)


def test_long_pairs_are_dropped_and_counted_never_truncated(tok):
    pairs = [{"prompt": "p", "chosen": "1 2", "rejected": "3"}, {"prompt": "p", "chosen": "1 " * 50, "rejected": "3"}]
    ds = dpo.DPODataset(pairs, tok, max_length=20)
    assert len(ds) == 1 and ds.n_filtered == 1
    assert ds[0]["chosen"]["input_ids"][-1] == tok.eos_token_id
    with pytest.raises(ValueError, match="max_length"):
        dpo.DPODataset(pairs[1:], tok, max_length=20)


def test_collator_puts_chosen_rows_first_and_pads_labels(tok):
    ds = dpo.DPODataset([{"prompt": "p", "chosen": "1 2 3", "rejected": "4"}, {"prompt": "q", "chosen": "5", "rejected": "6 7"}], tok)
    batch = dpo.DPOCollator(tok.pad_token_id)([ds[0], ds[1]])
    assert batch["input_ids"].shape[0] == 4
    for row, item in zip(batch["labels"].tolist(), [ds[0]["chosen"], ds[1]["chosen"], ds[0]["rejected"], ds[1]["rejected"]]):
        n = len(item["labels"])
        assert row[:n] == item["labels"] and set(row[n:]) <= {-100}
    assert batch["attention_mask"].sum().item() == sum(len(ds[i][k]["input_ids"]) for i in range(2) for k in ("chosen", "rejected"))
