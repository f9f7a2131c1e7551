import json

import pytest

from llmcourse.records import RecordError, read_records, require_str


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_json_array_records_carry_their_index(tmp_path):
    p = write(tmp_path, "d.json", json.dumps([{"a": "1"}, {"a": "2"}]))
    recs = read_records(p)
    assert [r.record["a"] for r in recs] == ["1", "2"] and recs[1].where.endswith("d.json[1]")


def test_jsonl_records_carry_their_line_and_skip_blank_lines(tmp_path):
    p = write(tmp_path, "d.jsonl", '{"a": "1"}\n\n{"a": "2"}\n')
    assert [r.where.rsplit(":", 1)[1] for r in read_records(p)] == ["1", "3"]


def test_malformed_jsonl_line_names_the_line(tmp_path):
    p = write(tmp_path, "d.jsonl", '{"a": "1"}\n{"a": \n')
    with pytest.raises(RecordError, match=r"d.jsonl:2: malformed JSON"):
        read_records(p)


def test_malformed_json_names_line_and_column(tmp_path):
    p = write(tmp_path, "d.json", '[{"a": "1"},\n {"a" "2"}]')
    with pytest.raises(RecordError, match=r"d.json:2:\d+: malformed JSON"):
        read_records(p)


@pytest.mark.parametrize("text, fragment", [
    ("", "file is empty"),
    ("[]", "no records found"),
    ("[1, 2]", r"\[0\]: record is int"),
    ('"x"', "top-level JSON is str"),
    ('{"a": 1}', "top-level JSON object"),
    ("[1]\n", r"\[0\]: record is int"),
])
def test_bad_files_are_errors_never_empty_datasets(tmp_path, text, fragment):
    with pytest.raises(RecordError, match=fragment):
        read_records(write(tmp_path, "d.json", text))


def test_object_with_one_list_is_accepted(tmp_path):
    assert len(read_records(write(tmp_path, "d.json", '{"data": [{"a": "1"}]}'))) == 1


def test_missing_file_and_folder_and_non_utf8(tmp_path):
    with pytest.raises(RecordError, match="no such file"):
        read_records(tmp_path / "nope.json")
    with pytest.raises(RecordError, match="is a folder"):
        read_records(tmp_path)
    p = tmp_path / "latin1.jsonl"
    p.write_bytes('{"a": "café"}'.encode("latin-1"))
    with pytest.raises(RecordError, match="not UTF-8"):
        read_records(p)


def test_require_str_names_field_and_where():
    with pytest.raises(RecordError, match=r"f.jsonl:3: missing field 'output' \(found \['instruction'\]\)"):
        require_str({"instruction": "x"}, "output", "f.jsonl:3")
    with pytest.raises(RecordError, match="must be a string, got int"):
        require_str({"output": 3}, "output", "w")
    with pytest.raises(RecordError, match="is empty"):
        require_str({"output": "  "}, "output", "w")
    assert require_str({}, "input", "w", optional=True) == ""
    assert require_str({"input": ""}, "input", "w", allow_empty=True) == ""
