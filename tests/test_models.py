import random
import time

import pytest
import torch

from llmcourse import models, templates


def test_tokenizer_has_distinct_special_tokens(tokenizer):
    ids = {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id}
    assert len(ids) == 3 and None not in ids
    assert tokenizer.padding_side == "right"
    assert "PreTrainedTokenizerFast" in type(tokenizer).__name__ or hasattr(tokenizer, "backend_tokenizer")


def test_tokenizer_is_byte_level_and_roundtrips_any_text(tokenizer):
    text = "Bonjour, comment ça va ? 🤖 — 12 + 30"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_tokenizer_build_is_deterministic():
    a, b = models.build_tokenizer(seed=0), models.build_tokenizer(seed=0)
    assert a.get_vocab() == b.get_vocab()


def test_chat_template_renders_roles_and_masks_assistant(tokenizer):
    chat = [{"role": "user", "content": "Reverse the list.\n1 2"}, {"role": "assistant", "content": "2 1"}]
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    assert text.startswith("<bos><|user|>") and text.rstrip().endswith("2 1<eos>")
    out = tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    mask, ids = out["assistant_masks"], out["input_ids"]
    assistant_ids = [i for i, m in zip(ids, mask) if m]
    assert tokenizer.decode(assistant_ids) == "2 1<eos>"


def test_tiny_config_works_as_causal_lm_and_reward_model(tokenizer):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    cfg = models.tiny_config(tokenizer, hidden_size=32, num_layers=1, num_heads=2)
    lm = AutoModelForCausalLM.from_config(cfg)
    rm = AutoModelForSequenceClassification.from_config(models.tiny_config(tokenizer, hidden_size=32, num_layers=1, num_heads=2, num_labels=1))
    ids = torch.tensor([[1, 22, 280, 2]])
    assert lm(input_ids=ids).logits.shape == (1, 4, len(tokenizer))
    assert rm(input_ids=ids).logits.shape == (1, 1)
    with pytest.raises(ValueError, match="divisible"):
        models.tiny_config(tokenizer, hidden_size=30, num_heads=4)


def test_base_model_loads_fast_and_is_in_eval_mode():
    models.base_model_path()  # built (or found) first, so only loading is timed
    t0 = time.perf_counter()
    m = models.load_model()
    assert time.perf_counter() - t0 < 2.0 * 3  # ≤ 2 s goal; ×3 slack for a loaded CI machine
    assert not m.training
    assert 100_000 < models.count_parameters(m) < 5_000_000


def test_base_model_knows_plain_text_but_not_the_instruction_format(base_model, tokenizer):
    from llmcourse import tasks

    _, held = tasks.split_problems(0, 60, seed=99)
    answers = [p.answer for p in held]
    inst = models.generate(base_model, tokenizer, [templates.alpaca_prompt(p.instruction, p.input) for p in held],
                           max_new_tokens=12)
    rng = random.Random(0)
    heads = [tasks.plain_prompt(p, rng) for p in held]
    plain = [" ".join(o.split()[: len(a.split())]) for o, a in
             zip(models.generate(base_model, tokenizer, heads, max_new_tokens=12), answers)]
    assert tasks.exact_match(inst, answers) <= 0.05  # never saw "### Response:"
    assert tasks.exact_match(plain, answers) >= 0.5  # but did learn the operations from plain sentences


def test_pretraining_labels_cover_the_answer_only(tokenizer):
    examples = [("the list 3 1 4 reversed is 4 1 3 .", 26), ("there are 3 numbers in 8 1 9 .", 30)]
    ids, labels = models._encode_pretraining(tokenizer, examples, "answer")
    targets = [tokenizer.decode([t for t in lab if t != -100]) for lab in labels]
    assert targets == [" 4 1 3 .<eos>", "<eos>"]
    assert [len(i) for i in ids] == [len(lab) for lab in labels]
    ids_all, labels_all = models._encode_pretraining(tokenizer, examples, "all")
    assert ids_all == ids and labels_all == ids
    with pytest.raises(ValueError, match="loss_on"):
        models._encode_pretraining(tokenizer, examples, "prompt")


def test_generate_left_pads_and_restores_padding_side(base_model, tokenizer):
    outs = models.generate(base_model, tokenizer, ["the largest of 3 9 4 is", "the largest of 1 2 is"], max_new_tokens=4)
    assert len(outs) == 2 and all(isinstance(o, str) for o in outs)
    assert tokenizer.padding_side == "right"
    # batched and one-at-a-time greedy generation agree: left padding + attention mask are right
    single = [models.generate(base_model, tokenizer, [p], max_new_tokens=4)[0] for p in ["the largest of 3 9 4 is", "the largest of 1 2 is"]]
    assert outs == single


def test_sampling_is_reproducible_with_a_seed_and_leaves_global_rng(base_model, tokenizer):
    torch.manual_seed(5)
    state = torch.get_rng_state()
    a = models.generate(base_model, tokenizer, ["the list 1 2 3"], do_sample=True, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert a == models.generate(base_model, tokenizer, ["the list 1 2 3"], do_sample=True, seed=3)


@pytest.mark.slow
def test_base_model_build_is_reproducible(tmp_path):
    """The build script reproduces the cached base model bit for bit (same machine and versions)."""
    from safetensors.torch import load_file

    facts = models.pretrain_base_model(tmp_path / "again", progress=False)
    fresh = load_file(tmp_path / "again" / "model.safetensors")
    cached = load_file(models.base_model_path() / "model.safetensors")
    assert fresh.keys() == cached.keys()
    for k in fresh:
        torch.testing.assert_close(fresh[k], cached[k], rtol=0, atol=0)
    print(f"base model build: {facts['seconds']} s, {facts['parameters']:,} parameters")


def test_missing_local_model_path_gives_one_line_error(tmp_path):
    with pytest.raises(models.ModelLoadError, match="no such folder"):
        models.load_model(str(tmp_path / "nope" / "model"))


def test_folder_without_a_model_gives_clear_error(tmp_path):
    with pytest.raises(models.ModelLoadError, match="save_pretrained"):
        models.load_model(str(tmp_path))


def test_hub_name_offline_says_it_needs_a_download(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelLoadError, match="needs a download"):
        models.load_tokenizer("some-org/some-model-that-is-not-here")


def test_any_local_hf_model_folder_loads(tmp_path, tiny_model, tokenizer):
    tiny_model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    m = models.load_model(tmp_path / "m")
    tok = models.load_tokenizer(tmp_path / "m", padding_side="left")
    assert tok.padding_side == "left"
    rm = models.load_model(tmp_path / "m", kind="reward")
    assert rm.config.num_labels == 1
    assert models.generate(m, tok, ["1 2"], max_new_tokens=2)


def test_tokenizer_without_pad_gets_a_new_pad_not_eos(tmp_path, tiny_model, tokenizer):
    tok = models.build_tokenizer()
    tok.pad_token = None
    with pytest.raises(models.ModelLoadError, match="no pad token"):
        models.check_tokenizer(tok)
    n = tiny_model.get_input_embeddings().weight.shape[0]
    assert models.ensure_pad_token(tok, tiny_model)
    assert tok.pad_token_id != tok.eos_token_id
    assert tiny_model.get_input_embeddings().weight.shape[0] >= n
    assert tiny_model.config.pad_token_id == tok.pad_token_id


def test_templates_match_alpaca():
    p = templates.alpaca_prompt("Do it.", "x")
    assert p.endswith("### Input:\nx\n\n### Response:\n") and "paired with an input" in p
    assert "Input" not in templates.alpaca_prompt("Do it.", "  ")
    assert templates.simple_prompt("Do it.") == "Instruction: Do it.\nOutput:"
