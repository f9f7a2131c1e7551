"""Preference files in each ecosystem's own shape load into the same text pairs; bad ones name file, line, field."""

import bz2
import gzip
import json
import lzma

import pytest

from llmcourse import models
from llmcourse.preferences import (SHAPES, load_preference_pairs, pairs_from_records, read_preference_records,
                                   render_pair)
from llmcourse.records import RecordError


def U(text):
    return {"role": "user", "content": text}


def A(text):
    return {"role": "assistant", "content": text}


# One row per ecosystem, as its own files write it (field order, extra columns and all).
TRL_CONVERSATIONAL = {"prompt": [U("What color is the sky?")], "chosen": [A("It is blue.")],
                      "rejected": [A("It is green.")]}
TRL_IMPLICIT = {"chosen": [U("What color is the sky?"), A("It is blue.")],
                "rejected": [U("What color is the sky?"), A("It is green.")]}
HH_RLHF = {"chosen": "\n\nHuman: What color is the sky?\n\nAssistant: It is blue.",
           "rejected": "\n\nHuman: What color is the sky?\n\nAssistant: It is green."}
ULTRAFEEDBACK = {"prompt": "What color is the sky?",
                 "prompt_id": "7b1c09d3f7a3e2f14e0c1b2d9d1ff6a0d6a1b8b2c3f4e5d6a7b8c9d0e1f2a3b4",
                 "chosen": [U("What color is the sky?"), A("It is blue.")],
                 "rejected": [U("What color is the sky?"), A("It is green.")],
                 "messages": [U("What color is the sky?"), A("It is blue.")],
                 "score_chosen": 8.5, "score_rejected": 4.0}
OPENAI_PARTS = {"prompt": [{"role": "user", "content": [{"type": "text", "text": "What color is the sky?"}]}],
                "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "It is blue."}]}],
                "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "It is green."}]}]}
OPENAI_DPO = {"input": {"messages": [U("What color is the sky?")], "tools": [], "parallel_tool_calls": True},
              "preferred_output": [A("It is blue.")], "non_preferred_output": [A("It is green.")]}
TEXT = {"prompt": "What color is the sky?", "chosen": "It is blue.", "rejected": "It is green."}

ECOSYSTEMS = {"trl_conversational": (TRL_CONVERSATIONAL, "conversational"),
              "trl_implicit": (TRL_IMPLICIT, "implicit_messages"),
              "ultrafeedback_binarized": (ULTRAFEEDBACK, "ultrafeedback"),
              "openai_content_parts": (OPENAI_PARTS, "conversational"),
              "openai_preference_finetuning": (OPENAI_DPO, "openai")}


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer(None)


def write_jsonl(path, rows, *, opener=open, encoding="utf-8", **dump):
    with opener(path, "wt", encoding=encoding) as f:
        for row in rows:
            f.write(json.dumps(row, **dump) + "\n")
    return path


@pytest.mark.parametrize("name", list(ECOSYSTEMS))
def test_each_conversational_shape_gives_the_same_pair(tmp_path, tokenizer, name):
    # every shape says the same thing: one user question, a better and a worse answer
    row, shape = ECOSYSTEMS[name]
    path = write_jsonl(tmp_path / f"{name}.jsonl", [row, row])
    (pair, _) = read_preference_records(path)
    assert pair.shape == shape and pair.prompt == (("user", "What color is the sky?"),)
    assert (pair.chosen, pair.rejected) == ("It is blue.", "It is green.")
    chat = load_preference_pairs(path, tokenizer=tokenizer)[0]
    assert chat == {"prompt": "<|user|>\nWhat color is the sky?\n<|assistant|>\n", "chosen": "It is blue.",
                    "rejected": "It is green."}
    simple = load_preference_pairs(path, template="simple")[0]
    assert simple == {"prompt": "Instruction: What color is the sky?\nOutput:", "chosen": " It is blue.",
                      "rejected": " It is green."}


def test_hh_rlhf_strings_split_after_the_last_assistant_mark(tmp_path):
    multi = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Sky color?\n\nAssistant: Blue.",
             "rejected": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Sky color?\n\nAssistant: Green."}
    pairs = load_preference_pairs(write_jsonl(tmp_path / "hh.jsonl", [HH_RLHF, multi]))
    assert pairs[0] == {"prompt": "\n\nHuman: What color is the sky?\n\nAssistant:", "chosen": " It is blue.",
                        "rejected": " It is green."}
    assert pairs[1]["prompt"].endswith("Sky color?\n\nAssistant:") and pairs[1]["chosen"] == " Blue."


def test_implicit_text_without_marker_splits_at_a_word_boundary():
    (pair,) = pairs_from_records([{"chosen": "The sky is blue.", "rejected": "The sky is green."}])
    # the shared "The sky is" is the prompt; the space goes with the answer (" blue." is one BPE word)
    assert pair == {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}


def test_package_text_pairs_keep_loading_with_margin_and_group(tmp_path):
    rows = [{**TEXT, "margin": 1.5, "group": "g1"}, {**TEXT, "chosen": "Blue.", "margin": 0, "group": "g1"}]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(rows))
    assert load_preference_pairs(path) == [{**TEXT, "margin": 1.5, "group": "g1"},
                                           {**TEXT, "chosen": "Blue.", "margin": 0.0, "group": "g1"}]


def test_reward_module_reexports_the_one_reader():
    from llmcourse import preferences
    from llmcourse.reward import load_preference_pairs as from_reward

    assert from_reward is preferences.load_preference_pairs


@pytest.mark.parametrize("encoding,opener,suffix", [("utf-8-sig", open, ".jsonl"), ("utf-8", gzip.open, ".jsonl.gz"),
                                                    ("utf-8", bz2.open, ".jsonl.bz2"), ("utf-8", lzma.open, ".jsonl.xz"),
                                                    ("utf-8-sig", gzip.open, ".jsonl.gz")])
def test_bom_and_compressed_jsonl_are_read(tmp_path, encoding, opener, suffix):
    path = write_jsonl(tmp_path / f"d{suffix}", [TEXT, ULTRAFEEDBACK], opener=opener, encoding=encoding)
    assert [p["chosen"] for p in load_preference_pairs(path, template="simple")] == ["It is blue.", " It is blue."]


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_bom_json_array_is_read(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    data = ("\ufeff" + json.dumps([TEXT], indent=2)).encode("utf-8")
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    assert load_preference_pairs(path) == [TEXT]


def test_non_ascii_and_line_separator_inside_strings_stay_one_record(tmp_path):
    row = {**TEXT, "prompt": "Ciel\u2028bleu ? \u00e9\u00e8 \u4e2d\u6587 \U0001f600", "chosen": "a\x85b"}
    path = write_jsonl(tmp_path / "d.jsonl", [row, TEXT], ensure_ascii=False)
    assert load_preference_pairs(path)[0] == row


@pytest.mark.parametrize("magic,name", [(b"PK\x03\x04", "zip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"PAR1", "Parquet")])
def test_other_containers_are_named_with_the_fix(tmp_path, magic, name):
    path = tmp_path / "d.jsonl"
    path.write_bytes(magic + b"\x00" * 20)
    with pytest.raises(RecordError, match=f"d.jsonl: a {name} file, not JSON text; "):
        load_preference_pairs(path)


def test_damaged_gzip_is_named(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps(TEXT).encode())[:-12])
    with pytest.raises(RecordError, match="d.jsonl.gz: a damaged gzip file"):
        load_preference_pairs(path)


def test_utf16_is_named(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(TEXT), encoding="utf-16")
    with pytest.raises(RecordError, match="UTF-16 text .*re-save the file as UTF-8"):
        load_preference_pairs(path)


# --------------------------------------------------------------------------- every record problem: file, line, field

BAD = [
    ({"prompt": None, "chosen": "a", "rejected": "b"}, r":2: field 'prompt' is null; expected a string \(\"\" for none\)"),
    ({"chosen": "a", "rejected": None}, r":2: field 'rejected' is null"),
    ({"prompt": "p", "chosen": "a"}, r":2: missing field 'rejected'"),
    ({"prompt": "p", "chosen": "\ud800", "rejected": "b"}, r":2: field 'chosen' holds a lone surrogate"),
    ({"prompt": "p", "chosen": "a", "rejected": "a"}, r":2: 'chosen' and 'rejected' are identical"),
    ({"prompt": "p", "chosen": "a", "rejected": "b", "margin": "big"}, r":2: field 'margin' must be a number"),
    ({"prompt": "p", "chosen": "a", "rejected": "b", "margin": float("nan")}, r":2: field 'margin' is nan"),
    ({"prompt": "p", "chosen": [A("a")], "rejected": "b"}, r":2: 'chosen' is list but 'rejected' is str"),
    ({**ULTRAFEEDBACK, "score_chosen": 2.0}, r":2: score_chosen 2 < score_rejected 4; the label contradicts"),
    ({**ULTRAFEEDBACK, "score_chosen": float("inf")}, r":2: field 'score_chosen' is inf"),
    ({**TRL_CONVERSATIONAL, "chosen": [U("again?")]}, r":2: field 'chosen' must end with an assistant turn"),
    ({**TRL_CONVERSATIONAL, "prompt": [A("hi")]}, r":2: prompt\[0\] has role 'assistant' where 'user' was expected"),
    ({**TRL_CONVERSATIONAL, "prompt": [{"role": "tool", "content": "x"}]}, r":2: prompt\[0\]: 'role' is 'tool'"),
    ({**TRL_CONVERSATIONAL, "chosen": [{"role": "assistant", "content": [{"type": "image_url", "image_url": {}}]}]},
     r":2: chosen\[1\]: content\[0\] is a 'image_url' part; only text parts"),
    ({**TRL_CONVERSATIONAL, "rejected": [{"role": "assistant", "content": "\ud800"}]},
     r":2: rejected\[1\]: field 'content' holds a lone surrogate"),
    ({**TRL_IMPLICIT, "rejected": [U("Other question"), A("It is green.")]}, r":2: the chosen and rejected conversations "
                                                                             r"differ at chosen\[0\]"),
    ({**TRL_IMPLICIT, "rejected": TRL_IMPLICIT["chosen"]}, r":2: the chosen and rejected conversations are identical"),
    ({**OPENAI_DPO, "input": {"messages": "hi"}}, r":2: input: field 'messages' must be a list of turns"),
    ({**OPENAI_DPO, "input": "hi"}, r":2: field 'input' must be an object with 'messages'"),
    ({"preferred_output": [A("x")]}, r":2: missing field 'input'"),
    ({"chosen": "\n\nHuman: Hi\n\nAssistant:", "rejected": "\n\nHuman: Hi\n\nAssistant: Hello"}, r":2: no 'prompt', and one of 'chosen'/'rejected' is the other plus"),
    ({"prompt": "p", "chosen": {"text": "a"}, "rejected": "b"}, r":2: field 'chosen' must be a string, got dict"),
]


@pytest.mark.parametrize("row,message", BAD, ids=range(len(BAD)))
def test_bad_record_names_file_line_and_field(tmp_path, row, message):
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps(TEXT) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(RecordError, match="prefs.jsonl" + message):
        load_preference_pairs(path, template="simple")


def test_bad_record_in_a_json_array_names_its_index(tmp_path):
    path = tmp_path / "prefs.json"
    path.write_text(json.dumps([TEXT, TEXT, {"prompt": None, "chosen": "a", "rejected": "b"}]))
    with pytest.raises(RecordError, match=r"prefs.json\[2\]: field 'prompt' is null"):
        load_preference_pairs(path)


@pytest.mark.parametrize("text,message", [
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    ('{"prompt": "p", "chosen": ' + "[" * 100_000 + "]" * 100_000 + ', "rejected": "b"}', ":1: JSON nested too deeply"),
    ('{"prompt": "p", "chosen": ' + "[" * 900 + "]" * 900 + ', "rejected": "b"}', r":1: 'chosen' is list but"),
    ('{"prompt": "p", "chosen": "a", "rejected": "b"', ":1: malformed JSON"),
    ("\ufeff", "file is empty"),
    ('"just a string"\n', ":1: line holds a str"),
])
def test_hostile_json_gives_a_record_error_not_a_traceback(tmp_path, text, message):
    path = tmp_path / "h.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordError, match=message):
        load_preference_pairs(path)


def test_conversations_need_a_template_and_multi_turn_needs_chat(tokenizer):
    with pytest.raises(RecordError, match=r"records\[0\]: a conversation \(conversational record\) needs a template"):
        pairs_from_records([TRL_CONVERSATIONAL])
    two = {"prompt": [U("Hi"), A("Hello."), U("Sky?")], "chosen": [A("Blue.")], "rejected": [A("Green.")]}
    with pytest.raises(RecordError, match="multi-turn conversation .* use template='chat'"):
        pairs_from_records([two], template="alpaca")
    (pair,) = pairs_from_records([two], tokenizer=tokenizer)
    # the chat template's own rendering, its BOS text removed (tokenisation adds the BOS id)
    assert pair["prompt"].startswith("<|user|>\nHi\n<|assistant|>\nHello." + tokenizer.eos_token)
    assert pair["prompt"].endswith("<|user|>\nSky?\n<|assistant|>\n")


def test_system_turn_goes_before_a_single_turn_template():
    row = {"prompt": [{"role": "system", "content": "Be brief."}, U("Sky?")], "chosen": [A("Blue")],
           "rejected": [A("Green")]}
    assert pairs_from_records([row], template="simple")[0]["prompt"] == "Be brief.\n\nInstruction: Sky?\nOutput:"


def test_margins_all_or_none_across_shapes():
    with pytest.raises(RecordError, match=r"records\[1\]: has no 'margin' while other records do"):
        pairs_from_records([{**TEXT, "margin": 1.0}, HH_RLHF])


def test_render_pair_refuses_an_unknown_template():
    with pytest.raises(ValueError, match="template must be one of"):
        pairs_from_records([TRL_CONVERSATIONAL], template="chatml")


def test_every_shape_is_tested():
    assert {shape for _, shape in ECOSYSTEMS.values()} | {"text", "implicit_text"} == set(SHAPES)


def test_render_pair_passes_text_through():
    from llmcourse.preferences import parse_preference

    assert render_pair(parse_preference({**TEXT, "margin": 2}), template="alpaca") == {**TEXT, "margin": 2.0}
