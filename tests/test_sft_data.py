"""SFT records: format detection, validation errors that say where, templates → (prompt, response)."""

import json

import pytest

from llmcourse import templates
from llmcourse.records import RecordError
from llmcourse.sft import Example, detect_format, examples_from_records, format_alpaca, load_examples, render, render_segments


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("record, fmt", [
    ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
    ({"instruction": "a", "context": "c", "response": "b", "category": "open_qa"}, "dolly"),
    ({"system_prompt": "s", "question": "q", "response": "r", "id": "niv.1"}, "openorca"),
    ({"prompt": "p", "completion": "c"}, "prompt_completion"),
    ({"input": "p", "output": "c"}, "prompt_completion"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, "chat"),
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}, "sharegpt"),
])
def test_format_is_detected_from_the_fields(record, fmt):
    assert detect_format(record) == fmt


def test_every_format_maps_to_the_same_example_fields():
    recs = {
        "alpaca": {"instruction": "Add.", "input": "3 4", "output": "7"},
        "dolly": {"instruction": "Add.", "context": "3 4", "response": "7", "category": "closed_qa"},
    }
    exs = [examples_from_records([r])[0] for r in recs.values()]
    assert {(e.instruction, e.input, e.output) for e in exs} == {("Add.", "3 4", "7")}


def test_openorca_system_prompt_becomes_the_system_turn():
    (ex,) = examples_from_records([{"system_prompt": "Be brief.", "question": "2+2?", "response": "4"}])
    assert (ex.system, ex.instruction, ex.output) == ("Be brief.", "2+2?", "4")


def test_sharegpt_is_converted_to_chat_roles():
    (ex,) = examples_from_records([{"conversations": [
        {"from": "system", "value": "S"}, {"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
        {"from": "human", "value": "c"}, {"from": "gpt", "value": "d"}]}])
    assert ex.messages() == [{"role": "system", "content": "S"}, {"role": "user", "content": "a"},
                             {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
                             {"role": "assistant", "content": "d"}]


def test_load_examples_reads_a_json_array_and_names_each_index(tmp_path):
    p = tmp_path / "alpaca.json"
    p.write_text(json.dumps([{"instruction": "a", "input": "", "output": "b"}] * 2), encoding="utf-8")
    exs = load_examples(p)
    assert [e.where for e in exs] == [f"{p}[0]", f"{p}[1]"]


# --------------------------------------------------------------------------- bad input


def test_malformed_jsonl_line_names_the_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": \n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"d\.jsonl:2: malformed JSON"):
        load_examples(p)


def test_malformed_json_array_names_line_and_column(tmp_path):
    p = tmp_path / "d.json"
    p.write_text('[{"instruction": "a", "output": "b"},\n {"instruction": "a" "output": "b"}]', encoding="utf-8")
    with pytest.raises(RecordError, match=r"d\.json:2:\d+: malformed JSON"):
        load_examples(p)


def test_non_string_field_names_the_record_and_field(tmp_path):
    p = _write_jsonl(tmp_path / "d.jsonl", [{"instruction": "a", "output": "b"}, {"instruction": "a", "output": 7}])
    with pytest.raises(RecordError, match=r"d\.jsonl:2: field 'output' must be a string, got int"):
        load_examples(p)


def test_empty_output_is_rejected(tmp_path):
    p = _write_jsonl(tmp_path / "d.jsonl", [{"instruction": "a", "input": "", "output": "  "}])
    with pytest.raises(RecordError, match=r"d\.jsonl:1: field 'output' is empty; an empty output"):
        load_examples(p)


def test_empty_instruction_is_rejected():
    with pytest.raises(RecordError, match=r"records\[0\]: field 'instruction' is empty"):
        examples_from_records([{"instruction": "", "output": "b"}])


def test_missing_field_in_a_later_record_names_its_index():
    # the format comes from record 0 (alpaca); record 1 lacks 'output'
    with pytest.raises(RecordError, match=r"records\[1\]: missing field 'output'"):
        examples_from_records([{"instruction": "a", "output": "b"}, {"instruction": "a", "response": "b"}])


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(RecordError, match=r"unknown record format \(fields \['answer', 'q'\]\).*alpaca.*sharegpt"):
        examples_from_records([{"q": "a", "answer": "b"}])


def test_empty_file_is_an_error_not_an_empty_dataset(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("\n\n", encoding="utf-8")
    with pytest.raises(RecordError, match="file is empty"):
        load_examples(p)


def test_empty_json_array_is_an_error(tmp_path):
    p = tmp_path / "d.json"
    p.write_text("[]", encoding="utf-8")
    with pytest.raises(RecordError, match="no records"):
        load_examples(p)


def test_chat_unknown_role_is_named():
    with pytest.raises(RecordError, match=r"messages\[1\]: 'role' is 'bot'"):
        examples_from_records([{"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]}])


def test_chat_must_end_with_an_assistant_turn():
    with pytest.raises(RecordError, match="must end with an assistant turn"):
        examples_from_records([{"messages": [{"role": "user", "content": "a"}]}])


def test_chat_turns_must_alternate():
    with pytest.raises(RecordError, match=r"messages\[1\] has role 'user' where 'assistant' was expected"):
        examples_from_records([{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                                             {"role": "assistant", "content": "c"}]}])


def test_chat_messages_must_be_a_list():
    with pytest.raises(RecordError, match="field 'messages' must be a list of turns, got str"):
        examples_from_records([{"messages": "hello"}])


def test_chat_content_must_be_a_string_or_text_parts():
    with pytest.raises(RecordError, match=r"messages\[0\]: field 'content' must be a string, got int"):
        examples_from_records([{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "b"}]}])
    with pytest.raises(RecordError, match=r"messages\[0\]: content\[0\] is str; a content part is an object"):
        examples_from_records([{"messages": [{"role": "user", "content": ["a"]}, {"role": "assistant", "content": "b"}]}])


def test_empty_assistant_turn_is_rejected():
    with pytest.raises(RecordError, match=r"messages\[1\]: field 'content' is empty"):
        examples_from_records([{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]}])


def test_sharegpt_unknown_speaker_is_named():
    with pytest.raises(RecordError, match=r"conversations\[0\]: 'from' is 'robot'"):
        examples_from_records([{"conversations": [{"from": "robot", "value": "a"}]}])


def test_a_record_that_is_not_an_object_is_rejected():
    with pytest.raises(RecordError, match=r"records\[0\]: record is list"):
        examples_from_records([["instruction", "output"]])


def test_a_dict_instead_of_a_list_of_records_is_a_type_error():
    with pytest.raises(TypeError, match="expected a list of record dicts, got dict"):
        examples_from_records({"instruction": "a", "output": "b"})


# --------------------------------------------------------------------------- templates


def test_format_alpaca_uses_the_no_input_preamble_for_blank_input():
    prompt, response = format_alpaca({"instruction": "Name a prime.", "input": "  ", "output": "7"})
    assert prompt == templates.ALPACA_NO_INPUT.format(instruction="Name a prime.") and response == "7"


def test_alpaca_render_ends_the_prompt_at_the_response_header():
    ex = Example(instruction="Reverse the list.", input="3 1 4", output="4 1 3")
    prompt, response = render(ex, "alpaca")
    assert prompt.endswith("### Input:\n3 1 4\n\n### Response:\n") and response == "4 1 3"


def test_simple_template_moves_the_seam_space_into_the_response():
    # the seed's template is "…\nOutput: " + answer; we end the prompt at "Output:" and start the answer with " "
    prompt, response = render(Example(instruction="Add.", input="3 4", output="7"), "simple")
    assert (prompt, response) == ("Instruction: Add.\nInput: 3 4\nOutput:", " 7")


def test_chat_render_strips_bos_and_ends_with_the_generation_prompt(tokenizer):
    prompt, response = render(Example(instruction="hi", output="yo"), "chat", tokenizer)
    assert (prompt, response) == ("<|user|>\nhi\n<|assistant|>\n", "yo")


def test_chat_segments_mark_every_assistant_turn_as_a_target(tokenizer):
    ex = Example(instruction="c", output="d", history=(("user", "a"), ("assistant", "b")))
    segs = render_segments(ex, "chat", tokenizer)
    assert [t for t, is_target in segs if is_target] == ["b", "d"]
    # the segments plus an EOS after each target rebuild the template's own text (minus BOS)
    rebuilt = "".join(t + (tokenizer.eos_token if is_target else "") for t, is_target in segs)
    assert tokenizer.bos_token + rebuilt == tokenizer.apply_chat_template(ex.messages(), tokenize=False)


def test_multi_turn_chat_with_a_single_turn_template_is_an_error():
    ex = Example(instruction="c", output="d", history=(("user", "a"), ("assistant", "b")), where="chat.jsonl:3")
    with pytest.raises(ValueError, match="chat.jsonl:3: the 'alpaca' template renders one exchange"):
        render(ex, "alpaca")


def test_chat_template_needs_the_tokenizer():
    with pytest.raises(ValueError, match="needs the tokenizer"):
        render(Example(instruction="a", output="b"), "chat")


def test_unknown_template_is_rejected():
    with pytest.raises(ValueError, match="template must be one of"):
        render(Example(instruction="a", output="b"), "vicuna")
