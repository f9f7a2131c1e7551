"""SFT files in each ecosystem's own shape load (BOM, compressed, OpenAI chat with content parts), and
hostile files give a RecordError naming file, line and field — never a traceback from json or Python."""

import gzip
import json

import pytest

from llmcourse.preferences import load_preference_pairs
from llmcourse.records import RecordError
from llmcourse.sft.data import load_examples

# OpenAI's chat fine-tuning JSONL: system turn, per-message "weight", content as text parts
OPENAI_CHAT = {"messages": [{"role": "system", "content": "You are terse."},
                            {"role": "user", "content": [{"type": "text", "text": "Sky color?"},
                                                         {"type": "text", "text": "One word."}]},
                            {"role": "assistant", "content": "Blue.", "weight": 1}]}
OPENAI_DEVELOPER = {"messages": [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "Hi"},
                                 {"role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]}]}
ALPACA = {"instruction": "Give three tips for staying healthy.", "input": "",
          "output": "1. Eat a balanced diet.\n2. Exercise.\n3. Sleep."}
DOLLY = {"instruction": "When did Virgin Australia start operating?", "context": "Virgin Australia ... 31 August 2000",
         "response": "On 31 August 2000.", "category": "closed_qa"}
SHAREGPT = {"id": "x1", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}


def test_openai_chat_finetuning_lines_load(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(OPENAI_CHAT) + "\n" + json.dumps(OPENAI_DEVELOPER) + "\n")
    a, b = load_examples(path)
    assert (a.system, a.instruction, a.output) == ("You are terse.", "Sky color?\nOne word.", "Blue.")
    assert (b.system, b.output) == ("Be terse.", "Hello.")


@pytest.mark.parametrize("row", [ALPACA, DOLLY, SHAREGPT, OPENAI_CHAT], ids=["alpaca", "dolly", "sharegpt", "openai"])
@pytest.mark.parametrize("how", ["bom-json-array", "bom-jsonl", "gzip-jsonl", "gzip-bom-json"])
def test_each_format_loads_with_a_bom_or_compressed(tmp_path, row, how):
    if how == "bom-json-array":  # what Windows editors and some exporters write
        path, data = tmp_path / "d.json", ("\ufeff" + json.dumps([row, row], indent=2)).encode()
    elif how == "bom-jsonl":
        path, data = tmp_path / "d.jsonl", ("\ufeff" + (json.dumps(row) + "\r\n") * 2).encode()
    elif how == "gzip-jsonl":
        path, data = tmp_path / "d.jsonl.gz", gzip.compress(((json.dumps(row) + "\n") * 2).encode())
    else:
        path, data = tmp_path / "d.json.gz", gzip.compress(("\ufeff" + json.dumps([row, row])).encode())
    path.write_bytes(data)
    examples = load_examples(path)
    assert len(examples) == 2 and examples[0].output == examples[1].output != ""


HOSTILE = [
    ('{"instruction": "a", "output": "\\ud800"}', r"d.jsonl:2: field 'output' holds a lone surrogate"),
    ('{"instruction": "\\udfff x", "output": "b"}', r"d.jsonl:2: field 'instruction' holds a lone surrogate"),
    ('{"instruction": "a", "output": ' + "[" * 20_000 + "]" * 20_000 + "}", r"d.jsonl:2: JSON nested too deeply"),
    ('{"instruction": "a", "output": ' + "9" * 5000 + "}", r"d.jsonl:2: Exceeds the limit"),
    ('{"instruction": "a", "output": null}', r"d.jsonl:2: field 'output' is null"),
    ('{"instruction": "a", "output": "b"', r"d.jsonl:2: malformed JSON"),
    ("[1, 2]", r"d.jsonl:2: line holds a list"),
    ('{"instruction": "a", "output": NaN}', r"d.jsonl:2: field 'output' must be a string, got float"),
    ('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [{"type": "input_audio"}]}]}',
     r"d.jsonl:2: missing field 'instruction'"),
]


@pytest.mark.parametrize("line,message", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_sft_line_is_a_record_error(tmp_path, line, message):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ALPACA) + "\n" + line + "\n")
    with pytest.raises(RecordError, match=message):
        load_examples(path)


def test_a_huge_integer_margin_is_named(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b", "margin": 1' + "0" * 400 + "}\n")
    with pytest.raises(RecordError, match="p.jsonl:1: field 'margin' is an integer too large"):
        load_preference_pairs(path)


def test_a_huge_integer_setting_is_named():
    from llmcourse.sft import SFTConfig

    with pytest.raises(ValueError, match=r"SFTConfig.max_steps must be an integer below 2\*\*63, got an integer of"):
        SFTConfig(max_steps=10**5000)


def test_not_utf8_is_named(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(json.dumps(ALPACA).encode().replace(b"tips", b"tips \xe9"))
    with pytest.raises(RecordError, match=r"d.jsonl: not UTF-8 text \(byte \d+\); re-save the file as UTF-8"):
        load_examples(path)
