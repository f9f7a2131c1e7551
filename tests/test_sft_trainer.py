"""train_sft: config validation, the accumulation window, custom loss/collator, pad-token handling,
checkpoints, and the measurable outcome (SFT raises held-out exact match from the base model)."""

import copy
import math
from functools import partial

import pytest
import torch
from transformers import AutoModelForCausalLM

from llmcourse import models, sft, tasks
from llmcourse.sft import SFTConfig, train_sft

QUIET = dict(progress=False, eval_exact_match=False)


def _records(n, seed=0):
    return tasks.instruction_records(n, seed=seed)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("field, value, match", [
    ("learning_rate", 0.0, "learning_rate must be > 0"),
    ("per_device_train_batch_size", 0, "per_device_train_batch_size must be a positive integer"),
    ("max_steps", 0, "max_steps must be positive or -1"),
    ("template", "vicuna", "template must be one of"),
    ("truncation", "left", "truncation must be one of"),
    ("mixed_precision", "fp8", "mixed_precision must be"),
    ("min_lr_ratio", 1.5, r"min_lr_ratio must be in \[0, 1\]"),
])
def test_config_rejects_bad_values_naming_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        SFTConfig(**{field: value})


def test_packing_needs_a_row_length():
    with pytest.raises(ValueError, match="packing=True needs max_length"):
        SFTConfig(packing=True, max_length=None)


def test_config_must_be_an_sft_config(tiny_model, tokenizer):
    with pytest.raises(TypeError, match="config must be an SFTConfig"):
        train_sft(tiny_model, tokenizer, _records(4), {"learning_rate": 1e-3})


def test_collate_fn_with_packing_is_refused(tiny_model, tokenizer):
    with pytest.raises(ValueError, match="collate_fn cannot be combined with packing"):
        train_sft(tiny_model, tokenizer, _records(4), SFTConfig(packing=True, **QUIET),
                  collate_fn=partial(sft.pad_collate, pad_token_id=0))


# --------------------------------------------------------------------------- the loop


def test_history_has_a_row_per_logging_step_and_an_eval_row(tiny_model, tokenizer):
    hist = train_sft(tiny_model, tokenizer, _records(64), SFTConfig(max_steps=6, logging_steps=2, per_device_train_batch_size=8,
                     progress=False, eval_max_new_tokens=4), eval_data=_records(8, seed=9))
    train_rows = [h for h in hist if "loss" in h]
    assert [h["step"] for h in train_rows] == [2, 4, 6]
    assert all(math.isfinite(h["loss"]) and h["target_tokens"] > 0 for h in train_rows)
    (ev,) = [h for h in hist if "eval_loss" in h]
    assert ev["step"] == 6 and 0.0 <= ev["eval_exact_match"] <= 1.0 and math.isfinite(ev["eval_loss"])
    assert not tiny_model.training


def test_training_lowers_the_loss(tiny_model, tokenizer):
    data = _records(16)
    cfg = SFTConfig(max_steps=30, logging_steps=1, per_device_train_batch_size=16, learning_rate=3e-3, **QUIET)
    hist = train_sft(tiny_model, tokenizer, data, cfg)
    assert hist[-1]["loss"] < 0.6 * hist[0]["loss"]


def test_same_seed_same_history(tokenizer):
    def run():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(models.tiny_config(tokenizer, hidden_size=32, num_layers=1, num_heads=2))
        return train_sft(model, tokenizer, _records(32), SFTConfig(max_steps=4, logging_steps=1, per_device_train_batch_size=8, **QUIET))

    a, b = run(), run()
    assert [h["loss"] for h in a] == [h["loss"] for h in b]


def _clone(model):
    return copy.deepcopy(model)


def test_accumulation_over_micro_batches_equals_one_big_batch(tiny_model, tokenizer):
    # one optimizer step on 8 examples at once == 4 micro-batches of 2 with the window normalisation,
    # even though the micro-batches hold different numbers of target tokens
    data = _records(8, seed=4)
    big, small = _clone(tiny_model), _clone(tiny_model)
    common = dict(max_steps=1, learning_rate=1e-2, warmup_steps=0, max_grad_norm=0.0, **QUIET)
    ds = sft.SFTDataset(data, tokenizer)
    assert len({sum(t != -100 for t in it["labels"]) for it in ds.items}) > 1  # uneven target counts
    train_sft(big, tokenizer, ds, SFTConfig(per_device_train_batch_size=8, **common))
    train_sft(small, tokenizer, ds, SFTConfig(per_device_train_batch_size=2, gradient_accumulation_steps=4, **common))
    # Adam's first step is lr·g/(|g| + eps): where |g| is tiny, the rounding of the two summation orders
    # shows at ~1e-5 (seen on some CPUs); a wrong normalisation flips signs, a change of up to 2·lr = 2e-2
    for p, q in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(p, q, atol=1e-4, rtol=1e-4)


def test_a_custom_loss_function_is_used(tiny_model, tokenizer):
    calls = []

    def my_loss(logits, labels):
        calls.append(logits.shape)
        return sft.sft_loss(logits, labels)

    train_sft(tiny_model, tokenizer, _records(8), SFTConfig(max_steps=2, per_device_train_batch_size=4, **QUIET), loss_fn=my_loss)
    assert len(calls) == 2


def test_a_custom_collator_is_used(tiny_model, tokenizer):
    calls = []

    def my_collate(batch):
        calls.append(len(batch))
        return sft.pad_collate(batch, tokenizer.pad_token_id)

    train_sft(tiny_model, tokenizer, _records(8), SFTConfig(max_steps=2, per_device_train_batch_size=4, **QUIET),
              collate_fn=my_collate)
    assert calls == [4, 4]


def test_packing_trains(tiny_model, tokenizer):
    hist = train_sft(tiny_model, tokenizer, _records(64), SFTConfig(max_steps=3, packing=True, max_length=128,
                     per_device_train_batch_size=2, logging_steps=1, **QUIET))
    assert len(hist) == 3 and all(math.isfinite(h["loss"]) for h in hist)


def _tokenizer_without_pad():
    """A word-level tokenizer with BOS/EOS but no pad token and no '<pad>' in its vocabulary."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>"] + [str(d) for d in range(10)] + "Reverse Sort the list . in ascending order".split()
    words += "What is largest number ? How many numbers are Add two Below an instruction".split()
    raw = Tokenizer(WordLevel({w: i for i, w in enumerate(dict.fromkeys(words))}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def test_tokenizer_without_pad_token_gets_one_and_embeddings_are_resized():
    tok = _tokenizer_without_pad()
    assert tok.pad_token_id is None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cfg = models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2)
        model = AutoModelForCausalLM.from_config(cfg)
    n_before = model.get_input_embeddings().weight.shape[0]
    recs = [{"instruction": "Reverse the list .", "input": "3 1 4", "output": "4 1 3"}] * 4
    hist = train_sft(model, tok, recs, SFTConfig(max_steps=1, per_device_train_batch_size=4, template="simple", **QUIET))
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id
    assert model.get_input_embeddings().weight.shape[0] == n_before + 1 == len(tok)
    assert model.config.pad_token_id == tok.pad_token_id and math.isfinite(hist[-1]["loss"])


def test_pad_equal_to_eos_is_replaced_by_a_distinct_pad(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.pad_token = tok.eos_token  # the common "PAD = EOS" shortcut: would mask every EOS out of the labels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(models.tiny_config(tokenizer, hidden_size=32, num_layers=1, num_heads=2))
    train_sft(model, tok, _records(8), SFTConfig(max_steps=1, per_device_train_batch_size=4, **QUIET))
    assert tok.pad_token_id != tok.eos_token_id
    assert model.get_input_embeddings().weight.shape[0] == len(tok)


def test_checkpoint_round_trip_in_safetensors(tiny_model, tokenizer, tmp_path):
    out = tmp_path / "sft"
    train_sft(tiny_model, tokenizer, _records(8), SFTConfig(max_steps=1, per_device_train_batch_size=4, output_dir=str(out), **QUIET))
    assert (out / "model.safetensors").is_file()
    loaded = models.load_model(out)
    ids = torch.tensor([[1, 40, 41, 2]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, tiny_model(ids).logits)


def test_refuses_a_non_empty_output_dir_before_training(tiny_model, tokenizer, tmp_path):
    (tmp_path / "mine.txt").write_text("user file")
    before = [p.clone() for p in tiny_model.parameters()]
    with pytest.raises(FileExistsError, match="not empty"):
        train_sft(tiny_model, tokenizer, _records(8), SFTConfig(max_steps=1, output_dir=str(tmp_path), **QUIET))
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_model.parameters()))  # nothing trained
    assert (tmp_path / "mine.txt").read_text() == "user file"


def test_train_data_from_a_jsonl_file_in_dolly_format(tiny_model, tokenizer, tmp_path):
    import json

    p = tmp_path / "dolly.jsonl"
    rows = [{"instruction": r["instruction"], "context": r["input"], "response": r["output"], "category": "closed_qa"}
            for r in _records(8)]
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    hist = train_sft(tiny_model, tokenizer, str(p), SFTConfig(max_steps=2, per_device_train_batch_size=4, logging_steps=1, **QUIET))
    assert len(hist) == 2


# --------------------------------------------------------------------------- the measurable outcome


@pytest.mark.slow
def test_sft_raises_held_out_exact_match_from_the_base_model():
    # the fast, looser version of the bench figure (bench/bench_sft.py --quality: 700 steps × 16 → 82.5%);
    # 150 steps of 32 reach 67% here with the current base (max and count first), so ≥ 45% leaves room for noise
    tok = models.load_tokenizer()
    model = models.load_model()
    train, test = tasks.split_problems(2000, 100, seed=0)
    train_recs = [tasks.to_record(p) for p in train]
    test_recs = [tasks.to_record(p) for p in test]
    before = sft.evaluate_exact_match(model, tok, test_recs, template="simple", max_new_tokens=16)["exact_match"]
    cfg = SFTConfig(template="simple", max_steps=150, per_device_train_batch_size=32, learning_rate=3e-3,
                    progress=False, eval_max_new_tokens=16)
    hist = train_sft(model, tok, train_recs, cfg, eval_data=test_recs)
    after = hist[-1]["eval_exact_match"]
    assert before <= 0.05 and after >= 0.45, (before, after)


def test_group_by_length_with_packing_trains(tiny_model, tokenizer):
    hist = train_sft(tiny_model, tokenizer, _records(64), SFTConfig(max_steps=2, packing=True, group_by_length=True,
                     max_length=128, per_device_train_batch_size=2, logging_steps=1, **QUIET))
    assert len(hist) == 2 and all(math.isfinite(h["loss"]) for h in hist)


def test_eval_at_start_gives_the_loss_before_training(tiny_model, tokenizer):
    """``eval_at_start``: a step-0 held-out row (the baseline the demo reports for a user's data)."""
    cfg = SFTConfig(max_steps=8, logging_steps=4, per_device_train_batch_size=16, learning_rate=3e-3,
                    eval_at_start=True, eval_exact_match=False, progress=False)
    hist = train_sft(tiny_model, tokenizer, _records(16), cfg, eval_data=_records(8, seed=9))
    evals = [h for h in hist if "eval_loss" in h]
    assert [h["step"] for h in evals] == [0, 8] and hist[0] is evals[0]  # before any training row
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
