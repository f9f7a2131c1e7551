"""`demo --data`: every record is checked before shuffling and before any model loads (errors name the
file, the record's own line or index, and the field); truncation is counted and reported."""

import json
import math
import re

import pytest
import torch
from transformers import AutoModelForCausalLM

from llmcourse import cli, models, tasks
from llmcourse.sft import SFTConfig, train_sft


@pytest.fixture()
def no_model(monkeypatch):
    """Loading a model (or tokenizer) fails the test: data errors must come first."""
    def refuse(*a, **k):
        raise AssertionError("a model was loaded before the data file was checked")

    monkeypatch.setattr(models, "load_model", refuse)
    monkeypatch.setattr(models, "load_tokenizer", refuse)


def _alpaca(i):
    return {"instruction": f"Repeat the number {i}.", "input": "", "output": str(i)}


def _write(path, rows, bom=False):
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


BAD_SFT = [
    ({"instruction": "x", "input": "", "output": None}, r"d.jsonl:7: field 'output' is null"),
    ({"instruction": "x", "output": 3}, r"d.jsonl:7: field 'output' must be a string, got int"),
    ({"instruction": "x\ud800", "output": "y"}, r"d.jsonl:7: field 'instruction' holds a lone surrogate"),
    ({"messages": [{"role": "user", "content": "a"}]}, r"d.jsonl:7: field 'messages' must end with an assistant turn"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                   {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]},
     r"d.jsonl:7: a multi-turn chat \(2 exchanges\); the demo trains every stage on single-exchange 'simple' prompts"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                   {"role": "assistant", "content": "d"}]}, r"d.jsonl:7: messages\[0\]: content\[0\] is a 'image_url' part"),
    ({"text": "hello"}, r"d.jsonl:7: missing field 'instruction' \(found \['text'\]\)"),
]


def _like(row, i):
    """A good record of the same format as ``row`` (the format is taken from the file's first record)."""
    if "messages" in row:
        return {"messages": [{"role": "user", "content": f"Repeat {i}."}, {"role": "assistant", "content": str(i)}]}
    return _alpaca(i)


@pytest.mark.parametrize("row,message", BAD_SFT, ids=range(len(BAD_SFT)))
def test_a_bad_instruction_record_is_named_by_its_own_line_before_any_model(tmp_path, capsys, no_model, row, message):
    data = _write(tmp_path / "d.jsonl", [_like(row, i) for i in range(6)] + [row] + [_like(row, 9)] * 5)
    assert cli.main(["demo", "--quick", "--data", str(data), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert not (tmp_path / "o").exists()


BAD_PREF = [
    ({"prompt": None, "chosen": "a", "rejected": "b"}, r"p.json\[4\]: field 'prompt' is null"),
    ({"prompt": "p", "chosen": "a", "rejected": "a"}, r"p.json\[4\]: 'chosen' and 'rejected' are identical"),
    ({"prompt": "p", "chosen": "a"}, r"p.json\[4\]: missing field 'rejected'"),
    ({"prompt": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                 {"role": "user", "content": "and?"}], "chosen": [{"role": "assistant", "content": "a"}],
      "rejected": [{"role": "assistant", "content": "b"}]}, r"p.json\[4\]: a multi-turn conversation"),
]


@pytest.mark.parametrize("row,message", BAD_PREF, ids=range(len(BAD_PREF)))
def test_a_bad_preference_record_is_named_by_its_own_index_before_any_model(tmp_path, capsys, no_model, row, message):
    good = {"prompt": "Instruction: Repeat 1.\nOutput:", "chosen": " 1", "rejected": " 2"}
    data = tmp_path / "p.json"
    data.write_text(json.dumps([good] * 4 + [row] + [good] * 7))
    assert cli.main(["demo", "--quick", "--data", str(data), "--output", str(tmp_path / "o")]) == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("text,message", [("", "file is empty"), ("[]", "no records found"),
                                          ("[" * 50_000 + "]" * 50_000, "nested too deeply")])
def test_an_empty_or_hostile_data_file_is_named(tmp_path, capsys, no_model, text, message):
    data = tmp_path / "d.json"
    data.write_text(text)
    assert cli.main(["demo", "--quick", "--data", str(data), "--output", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_the_split_follows_the_seed_and_checks_everything_first(tmp_path):
    from llmcourse.demo import _split_user_data

    data = _write(tmp_path / "d.jsonl", [_alpaca(i) for i in range(20)], bom=True)
    kind, train, held = _split_user_data(str(data), 0, "simple")
    again = _split_user_data(str(data), 0, "simple")
    assert kind == "instruction" and len(held) == 2 and len(train) == 18
    assert [e.where for e in train] == [e.where for e in again[1]]  # seeded
    assert sorted(e.where for e in train + held) == sorted(f"{data}:{i}" for i in range(1, 21))


# --------------------------------------------------------------------------- truncation is counted and reported


@pytest.mark.slow  # trains (one step)
@pytest.mark.parametrize("policy", ["right", "drop"])
def test_sft_trainer_reports_truncated_and_dropped_examples(tokenizer, capsys, policy):
    records = tasks.instruction_records(8, seed=0)
    long = [{**r, "output": r["output"] + " and more words" * 20} for r in records[:3]]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(models.tiny_config(tokenizer, hidden_size=32, num_layers=1, num_heads=2))
    cfg = SFTConfig(max_steps=1, per_device_train_batch_size=4, max_length=48, truncation=policy, progress=False,
                    eval_exact_match=False, template="simple")
    first = next(h for h in train_sft(model, tokenizer, long + records[3:], cfg) if "loss" in h)
    cut = (3, 0) if policy == "right" else (0, 3)
    assert (first["truncated_examples"], first["dropped_examples"], first["examples"]) == (*cut, 8 - cut[1])
    assert f"{8 - cut[1]}/8 examples kept ({cut[0]} truncated, {cut[1]} dropped" in capsys.readouterr().out


@pytest.mark.slow  # trains (one step)
def test_sft_trainer_says_nothing_when_nothing_was_cut(tokenizer, capsys):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(models.tiny_config(tokenizer, hidden_size=32, num_layers=1, num_heads=2))
    hist = train_sft(model, tokenizer, tasks.instruction_records(4, seed=0),
                     SFTConfig(max_steps=1, per_device_train_batch_size=4, progress=False, eval_exact_match=False))
    assert (hist[0]["truncated_examples"], hist[0]["dropped_examples"]) == (0, 0)
    assert "truncated" not in capsys.readouterr().out


def test_demo_report_line_names_the_counts_and_the_option():
    from llmcourse.demo_report import truncation_line as _truncation_line

    line = _truncation_line({"sft_examples_kept": 90, "sft_examples_truncated": 7, "sft_max_length": 256,
                             "sft_examples_dropped": 3, "reward_pairs_dropped": 2, "reward_max_length": 256})
    assert "90 examples kept, 7 truncated" in line and "truncation = 'drop'" in line and "2 pairs over 256" in line


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["ultrafeedback", "trl_conversational", "hh_rlhf"])
def test_demo_trains_its_reward_model_on_a_compressed_preference_file(tmp_path, shape):
    import gzip

    rows = []
    for i in range(12):
        q, good, bad = f"Repeat the number {i}.", str(i), str(i + 1)
        if shape == "ultrafeedback":
            conv = [{"role": "user", "content": q}]
            rows.append({"prompt": q, "prompt_id": f"id{i}", "chosen": conv + [{"role": "assistant", "content": good}],
                         "rejected": conv + [{"role": "assistant", "content": bad}], "score_chosen": 9.0,
                         "score_rejected": 2.0})
        elif shape == "trl_conversational":
            rows.append({"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": good}],
                         "rejected": [{"role": "assistant", "content": bad}]})
        else:
            rows.append({"chosen": f"\n\nHuman: {q}\n\nAssistant: {good}", "rejected": f"\n\nHuman: {q}\n\nAssistant: {bad}"})
    data = tmp_path / f"{shape}.jsonl.gz"
    data.write_bytes(gzip.compress(("\ufeff" + "".join(json.dumps(r) + "\n" for r in rows)).encode()))
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--data", str(data), "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert "reward model on" in results["data"] and "(11 train / 1 held-out pairs)" in results["data"]  # 12 records: 1 held out
    lead, probe = (out / "report.md").read_text().split("## Task-world probe — not your data")
    assert f"reward model pairwise accuracy on the held-out pairs of {data}" in lead and "DPO implicit-reward" in lead
    # the user's held-out prompt, its preferred answer, and every model's answer to it
    assert "| prompt | preferred | base | SFT | PPO | DPO | GRPO |" in lead and "Repeat the number" in lead
    assert "only 1 held-out pair (a tenth of the file): one pair moves an accuracy by 1.00" in lead
    assert "| model | exact match (greedy)" in probe and "pairwise accuracy" not in probe


@pytest.mark.slow  # runs the quick demo
def test_demo_reports_user_held_out_loss_before_and_after_sft(tmp_path):
    rows = [{"instruction": f"Repeat the word {w}.", "input": "", "output": w}
            for w in ("apple", "river", "stone", "cloud", "green", "table", "light", "north", "piano", "sugar",
                      "tiger", "water")]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--data", str(data), "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    before, after = results["sft_eval_loss_before"], results["sft_eval_loss"]
    assert math.isfinite(before) and math.isfinite(after) and before != after
    report = (out / "report.md").read_text()
    samples = (out / "samples.md").read_text()
    assert f"Held-out records of {data}" in samples and "Repeat the word" in samples  # the user's own prompts
    # the report leads with the user's data; the task-world table follows, labelled as a probe
    lead, probe = report.split("## Task-world probe — not your data")
    assert f"## Measured on your data: {data}" in lead and f"held-out loss on {data}" in lead
    assert "Repeat the word" in lead and "base" in lead and "SFT" in lead  # the user's prompts, answered
    assert "| model | exact match (greedy)" in probe and "| model |" not in lead and "scores ≈ 0" in probe
    assert "reward model held-out pairwise accuracy (task-world pairs)" in probe


def test_demo_warns_when_a_pretrained_model_gets_the_tiny_models_rates(tmp_path, capsys):
    """An unregistered --model with the default (0.8M-model) rates: a note before anything loads."""
    assert cli.main(["demo", "--quick", "--model", str(tmp_path / "no-such-model"), "--output", str(tmp_path / "o")]) == 2
    out = capsys.readouterr().out
    assert "[demo] note:" in out and "2e-5" in out and "collapse" in out
